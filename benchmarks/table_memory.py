"""The assembly's passage table (``model.PassageTable.gather``): its highest traced bytes for a given number of
passages, with the id map made inside or given by the caller (the pipeline's ``index``).

    python benchmarks/table_memory.py --ids 1000000 --passages 2000000 [--given-index] [--output FILE.jsonl]

Chunks as the assembly gives them (a pair's packed passages, ``pipeline.PackedPassages``: ~20 a pair, spans and
scores drawn at random, a fixed seed), made before tracing starts; then ``gather`` runs under ``tracemalloc``
(numpy's arrays and ``array.array``'s buffers included), and its highest bytes above the start are reported with a
digest of the table's columns (the same digest before and after a change: the same table).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.memory import print_result
from dedup.model import PassageTable
from dedup.pipeline import PackedPassages


def chunks(ids: list[str], passages: int, per_pair: int = 20, seed: int = 0) -> list[PackedPassages]:
    """``passages`` packed passages in pairs of ``per_pair`` between random articles of ``ids``."""
    rng = np.random.default_rng(seed)
    found = []
    pairs = passages // per_pair
    ends = rng.integers(0, 20_000, size=(pairs, per_pair, 4), dtype=np.int32)
    scores = rng.random(size=(pairs, per_pair))
    kinds = rng.integers(0, 2, size=(pairs, per_pair), dtype=np.uint8)
    articles = rng.integers(0, len(ids), size=(pairs, 2))
    for k in range(pairs):
        records = np.zeros(per_pair, dtype=PackedPassages.COLUMNS)
        records["spans"], records["score"], records["kind"] = ends[k], scores[k], kinds[k]
        found.append(PackedPassages(ids[articles[k, 0]], ids[articles[k, 1]], records.tobytes()))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ids", type=int, default=1_000_000)
    parser.add_argument("--passages", type=int, default=2_000_000)
    parser.add_argument("--given-index", action="store_true", help="pass the id map, as the pipeline does now")
    parser.add_argument("--label", default="")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    ids = [f"a{k:07d}" for k in range(args.ids)]
    made = chunks(ids, args.passages)
    index = {key: k for k, key in enumerate(ids)} if args.given_index else None
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    started = time.process_time()
    table = PassageTable.gather(ids, iter(made), index) if index is not None else PassageTable.gather(ids, iter(made))
    cpu = time.process_time() - started
    current, highest = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    digest = hashlib.sha256()
    for column in (table.numbers, table.spans, table.kinds, table.scores):
        digest.update(str(column.dtype).encode() + column.tobytes())
    print_result(
        {
            "label": args.label,
            "ids": args.ids,
            "passages": len(table),
            "highest_mb": round((highest - before) / 1e6, 1),
            "held_after_mb": round((current - before) / 1e6, 1),
            "bytes_a_passage_at_highest": round((highest - before) / max(len(table), 1), 1),
            "cpu_s": round(cpu, 2),
            "digest": digest.hexdigest()[:16],
        },
        args.output,
    )


if __name__ == "__main__":
    main()
