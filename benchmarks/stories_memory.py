"""The sentence stories' step after the sentence groups (``candidates.unit_stories``: the short units numbered, the
groups and owners made, the story counts) on its own: the bytes it allocates at its highest, exactly.

    python benchmarks/stories_memory.py record CORPUS.jsonl N FOLDER   # the run's first N articles, to the step
    python benchmarks/stories_memory.py replay FOLDER [--label L] [--output FILE.jsonl]

``record`` runs ``pipeline.cluster`` on the first N articles of the corpus and, at ``unit_stories``' call, writes what
it is given — the unit sizes as the run holds them, the short units' keys, each article's unit count, the settings —
and the sentence groups it computes (``sentence_groups``, two band workers, as the run), and stops. ``replay`` calls
``unit_stories`` on them with ``sentence_groups`` giving the recorded groups, under ``tracemalloc`` (numpy and scipy
report their arrays to it): the highest bytes allocated during the call beyond what was held before it — the step's
transient, independent of the machine's load — with the CPU seconds and a digest of the stories (equal digests:
equal counts). Run the replay from another checkout (``PYTHONPATH=that``) to compare two versions on one recording.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.memory import print_result
from dedup import candidates, pipeline


class _Stop(Exception):
    pass


def record(corpus: Path, count: int, folder: Path) -> None:
    from dedup.read.files import stream_path

    folder.mkdir(parents=True, exist_ok=True)

    def recorded(rows: Any, threshold: float, sizes: Any, short: Any, units: Any, *rest: Any) -> Any:
        leaders = candidates.sentence_groups(rows, threshold, rest[-1] if len(rest) > 2 else 1)
        keys = [key for key in short if isinstance(key, bytes)]
        others = [[number, sorted(key)] for number, key in enumerate(short) if not isinstance(key, bytes)]
        ends = np.cumsum([len(key) for key in keys], dtype=np.int64)
        np.savez(
            folder / "stories.npz",
            leaders=leaders,
            sizes=np.asarray(sizes),
            units=np.asarray(units),
            short_bytes=np.frombuffer(b"".join(keys), dtype=np.uint8),
            short_ends=ends,
            rows=np.array([len(rows)]),
        )
        (folder / "call.json").write_text(
            json.dumps({"threshold": threshold, "rest": list(rest[:2]), "frozen": others, "short": len(short)}),
            encoding="utf-8",
        )
        raise _Stop

    pipeline.unit_stories = recorded
    articles = stream_path(corpus).articles
    with contextlib.suppress(_Stop):
        pipeline.cluster(itertools.islice(articles, count), keep_pairs=False)


class _Rows:
    """Stands for the run's sentence rows: only their count is read once the groups are given."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __len__(self) -> int:
        return self.count


def replay(folder: Path, widened: bool = False) -> dict[str, Any]:
    call = json.loads((folder / "call.json").read_text(encoding="utf-8"))
    held = np.load(folder / "stories.npz")
    data, ends = held["short_bytes"].tobytes(), held["short_ends"].tolist()
    keys = [data[begin:end] for begin, end in zip([0, *ends[:-1]], ends, strict=True)]
    frozen = {number: frozenset(stems) for number, stems in call["frozen"]}
    # rebuilt in order: the bytes keys in their order, the frozensets at their places
    bytes_keys = iter(keys)
    short = [frozen[number] if number in frozen else next(bytes_keys) for number in range(call["short"])]
    original = candidates.sentence_groups
    # the groups in the type this version's sentence_groups makes them (it answers no rows in it)
    kind = original(np.zeros((0, 64), dtype=np.uint32), call["threshold"]).dtype
    leaders = held["leaders"].astype(kind)
    candidates.sentence_groups = lambda rows, threshold, workers=1: leaders.copy()
    sizes, units = held["sizes"], held["units"]
    if widened:  # as the pipeline before stop 26 gave them (made before the call: not in its figure)
        sizes = sizes.astype(np.int64)
    min_stems, at_least = call["rest"]
    rows = _Rows(int(held["rows"][0]))
    try:
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        cpu = time.process_time()
        counts, row_counts = candidates.unit_stories(rows, call["threshold"], sizes, short, units, min_stems, at_least)
        cpu = time.process_time() - cpu
        now, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        candidates.sentence_groups = original
    digest = hashlib.sha1(np.asarray(counts, dtype=np.int64).tobytes())
    digest.update(np.asarray(row_counts, dtype=np.int64).tobytes())
    return {
        "folder": str(folder),
        "units": len(sizes),
        "rows": len(rows),
        "short_units": len(short),
        "articles": len(units),
        "unit_sizes_dtype": str(sizes.dtype),
        "peak_mb": round((peak - base) / 1e6, 1),
        "peak_less_groups_mb": round((peak - base - leaders.nbytes) / 1e6, 1),
        "left_mb": round((now - base) / 1e6, 1),
        "groups_bytes": int(leaders.nbytes),
        "unit_sizes_bytes": int(sizes.nbytes),
        "cpu_s": round(cpu, 2),
        "digest": digest.hexdigest(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("record")
    made.add_argument("corpus", type=Path)
    made.add_argument("count", type=int)
    made.add_argument("folder", type=Path)
    again = commands.add_parser("replay")
    again.add_argument("folder", type=Path)
    again.add_argument("--label", default="")
    again.add_argument("--widened", action="store_true", help="the unit sizes as int64 (the pipeline before stop 26)")
    again.add_argument("--output", type=Path, help="a JSON Lines file the result is appended to")
    args = parser.parse_args()
    if args.command == "record":
        record(args.corpus, args.count, args.folder)
        return
    result = {"label": args.label, **replay(args.folder, args.widened)}
    print_result(result, args.output)


if __name__ == "__main__":
    main()
