"""The sentence pairs step (``banded_pair_codes`` over the spilled sentence rows, two band workers) on its own: its
memory, step by step, and how many row codes each band hands back.

    python benchmarks/pairs_memory.py record CORPUS.jsonl N FOLDER   # the run's first N articles, to the step
    python benchmarks/pairs_memory.py replay FOLDER [--workers 2]   # the step again, sampled
    python benchmarks/pairs_memory.py replay FOLDER --step groups --in-process   # the sentence groups, counted

``record`` runs ``pipeline.cluster`` on the first N articles of the corpus and, at the sentence pairs' call, writes
what it is given — the full rows (the spilled rows file), the held rows' places, the owners, the sizes, the call's
settings — and stops. ``replay`` takes the rows in as the run does (:class:`SpilledRows`, a clean part at a time,
the stock rows dropped), calls ``banded_pair_codes`` as the run does, and prints one JSON line: the tree's highest
PSS (sampled every 0.1 s) and the parent's and each worker's highest, the parent's RSS and VmHWM before and after,
the row codes each band handed back and the merged codes (counts), the owner pairs, the parent's and workers' CPU
seconds, and a digest of the pairs (equal digests: equal pairs). ``--evidence-chunk N``: the evidence taken N row
codes at a time (the run's stretches, made to show on a small recording). ``--step groups``: the sentence groups
(``sentence_groups`` over every recorded row, before the stock rows are dropped: the run's call) instead, digest over
the groups. ``--in-process``: the bands' batches as the run splits them for ``--workers``, but run one after
another in this process (``run_batches`` with one worker), so that its CPU seconds are the step's whole CPU and
the counts below are complete: the row pairs whose low bytes were compared (``low_tests``), the rows read back from
the rows file (``rows_read``) and the calls doing so (``gathers``)."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import resource
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.memory import print_result
from dedup import candidates, pipeline
from dedup.candidates import SpilledRows

_PART = 500 * 13  # rows appended at once in the replay (a clean part of 500 articles holds ~13 sentence rows each)


class _Stop(Exception):
    pass


def record(corpus: Path, count: int, folder: Path) -> None:
    from dedup.read.files import stream_path

    folder.mkdir(parents=True, exist_ok=True)
    original = pipeline.banded_pair_codes

    def recorded(rows: Any, owners: np.ndarray, *args: Any, **settings: Any) -> np.ndarray:
        if not isinstance(rows, SpilledRows):  # the article pairs
            return original(rows, owners, *args, **settings)
        shutil.copyfile(rows.folder / "rows", folder / "rows")
        kept = np.arange(rows.count) if rows.index is None else rows.index
        np.savez(folder / "held.npz", index=kept, owners=owners, sizes=settings.pop("sizes"))
        (folder / "call.json").write_text(
            json.dumps({"args": list(args), "settings": settings, "count": rows.count, "width": rows.width}),
            encoding="utf-8",
        )
        raise _Stop

    pipeline.banded_pair_codes = recorded
    articles = stream_path(corpus).articles
    with contextlib.suppress(_Stop):
        pipeline.cluster(itertools.islice(articles, count), keep_pairs=False)


def _status(pid: str = "self") -> dict[str, int]:
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        return {line.split(":")[0]: int(line.split()[1]) * 1024 for line in handle if line.startswith("Vm")}


def _file_pss(pid: int) -> int:
    """``pid``'s PSS of mapped files in bytes (``Pss_File``: the rows file's pages a mapping faulted in; 0 if gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
            return next((int(line.split()[1]) * 1024 for line in handle if line.startswith("Pss_File:")), 0)
    except OSError:
        return 0


class _Sampler:
    """Each process's highest PSS (and of it, mapped files') and the tree's highest sum, every ``interval`` s."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.tree = 0
        self.highest: dict[int, int] = {}
        self.highest_file: dict[int, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        from benchmarks.memory import tree_pss

        while not self.stop.is_set():
            sizes = tree_pss()
            self.tree = max(self.tree, sum(sizes.values()))
            for pid, size in sizes.items():
                self.highest[pid] = max(self.highest.get(pid, 0), size)
                self.highest_file[pid] = max(self.highest_file.get(pid, 0), _file_pss(pid))
            self.stop.wait(self.interval)


class _Counted:
    """The low-byte tests and the rows read back by :class:`SpilledRows`, counted in this process (whichever of
    ``bound`` / ``agreeing`` the checkout's code tests low bytes in)."""

    def __init__(self) -> None:
        self.counts = {"low_tests": 0, "rows_read": 0, "gathers": 0}
        self.originals: dict[str, Any] = {}
        tester = "bound" if hasattr(SpilledRows, "bound") else "agreeing"
        self.wrap(tester, lambda args: ("low_tests", len(args[0])))
        self.wrap("gathered", lambda args: ("rows_read", len(args[0])))

    def wrap(self, name: str, counted: Any) -> None:
        original = getattr(SpilledRows, name)
        self.originals[name] = original
        counts = self.counts

        def method(rows: SpilledRows, *args: Any, **kwargs: Any) -> Any:
            key, number = counted(args)
            counts[key] += number
            if name == "gathered":
                counts["gathers"] += 1
            return original(rows, *args, **kwargs)

        setattr(SpilledRows, name, method)

    def restore(self) -> None:
        for name, original in self.originals.items():
            setattr(SpilledRows, name, original)


def _in_process(function: Any, shared: Any, batches: Any, **options: Any) -> list[Any]:
    """``run_batches`` with the run's batches, one after another in this process."""
    return original_run_batches(function, shared, batches, **{**options, "workers": 1})


original_run_batches = candidates.run_batches


def replay(
    folder: Path, workers: int, evidence_chunk: int = 0, step: str = "pairs", in_process: bool = False
) -> dict[str, Any]:
    call = json.loads((folder / "call.json").read_text(encoding="utf-8"))
    call["settings"].pop("workers", None)  # the replay's own
    held = np.load(folder / "held.npz")
    width, count = call["width"], call["count"]
    full = np.memmap(folder / "rows", dtype=np.uint32, mode="r", shape=(count, width))
    rows = SpilledRows(width)
    for begin in range(0, count, _PART):
        rows.append(np.array(full[begin : begin + _PART]))
    del full
    rows.finish()
    index = held["index"]
    if step == "pairs" and len(index) < count:
        kept = np.zeros(count, dtype=bool)
        kept[index] = True
        rows.keep(kept)
        del kept
    owners, sizes = held["owners"], held["sizes"]
    pipeline.return_free_memory()
    band_codes: list[int] = []
    merged: list[int] = []
    original_merge = candidates.merged_codes

    def merged_codes(codes: np.ndarray, new: np.ndarray, unique: bool = False) -> np.ndarray:
        band_codes.append(len(new))
        out = original_merge(codes, new, unique)
        merged.append(len(out))
        return out

    candidates.merged_codes = merged_codes
    if evidence_chunk and "chunk" in candidates.evidenced_pair_codes.__code__.co_varnames:
        defaults = candidates.evidenced_pair_codes.__defaults__
        candidates.evidenced_pair_codes.__defaults__ = (*defaults[:-1], evidence_chunk)
    before = _status()
    counted = _Counted()
    if in_process:
        candidates.run_batches = _in_process
    sampler = _Sampler(interval=3600 if in_process else 0.1)  # in process: no thread's CPU in the step's
    sampler.thread.start()
    started, cpu = time.perf_counter(), time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    if step == "groups":
        pairs = candidates.sentence_groups(rows, call["args"][0], workers)
    else:
        pairs = candidates.banded_pair_codes(
            rows, owners, *call["args"], sizes=sizes, workers=workers, **call["settings"]
        )
    wall, parent_cpu = time.perf_counter() - started, time.process_time() - cpu
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    sampler.stop.set()
    sampler.thread.join()
    candidates.run_batches = original_run_batches
    counted.restore()
    after = _status()
    me = sampler.highest.pop(next(iter(sampler.highest)))
    me_file = sampler.highest_file.pop(next(iter(sampler.highest_file)), 0)
    rows.close()
    gb = 1e9
    return {
        "step": step,
        "in_process": in_process,
        **(counted.counts if in_process else {}),
        "folder": str(folder),
        "rows": count,
        "held_rows": len(owners),
        "workers": workers,
        "band_row_codes": band_codes,
        "band_row_codes_sum": sum(band_codes),
        "merged_row_codes": merged[-1] if merged else 0,
        "owner_pairs" if step == "pairs" else "grouped_rows": int(np.count_nonzero(pairs != np.arange(len(pairs))))
        if step == "groups"
        else len(pairs),
        "digest": hashlib.sha1(np.ascontiguousarray(pairs).tobytes()).hexdigest(),
        "wall_s": round(wall, 2),
        "parent_cpu_s": round(parent_cpu, 2),
        "workers_cpu_s": round(used.ru_utime + used.ru_stime - children.ru_utime - children.ru_stime, 2),
        "tree_pss_gb": round(sampler.tree / gb, 3),
        "parent_pss_gb": round(me / gb, 3),
        "worker_pss_gb": [round(size / gb, 3) for size in sampler.highest.values()],
        "parent_file_pss_gb": round(me_file / gb, 3),
        "worker_file_pss_gb": [round(size / gb, 3) for size in sampler.highest_file.values()],
        "parent_rss_before_gb": round(before["VmRSS"] / gb, 3),
        "parent_rss_after_gb": round(after["VmRSS"] / gb, 3),
        "parent_hwm_gb": round(after["VmHWM"] / gb, 3),
        "held_low_bytes_gb": round((rows.low.nbytes + (0 if rows.index is None else rows.index.nbytes)) / gb, 3),
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
    again.add_argument("--workers", type=int, default=2)
    again.add_argument("--label", default="")
    again.add_argument("--evidence-chunk", type=int, default=0, help="row codes of evidenced_pair_codes' stretches")
    again.add_argument("--output", type=Path, help="a JSON Lines file the result is appended to")
    again.add_argument("--step", choices=("pairs", "groups"), default="pairs", help="which step to replay")
    again.add_argument("--in-process", action="store_true", help="the workers' batches run in this process, counted")
    args = parser.parse_args()
    if args.command == "record":
        record(args.corpus, args.count, args.folder)
        return
    result = {
        "label": args.label,
        **replay(args.folder, args.workers, args.evidence_chunk, args.step, args.in_process),
    }
    print_result(result, args.output)


if __name__ == "__main__":
    main()
