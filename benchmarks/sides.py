"""The judging pass's side preparations, replayed without the work: how often an article is prepared under a pass
order, a number of workers and the bound on held sides.

    python benchmarks/sides.py PAIRS.npy [--orders rcm,stories] [--workers 2] [--most 2000] [--output X.json]

``PAIRS.npy``: a run's candidate pairs (``benchmarks/stages.py --pairs``). Each order builds the pass's batches as
``pipeline._local_batches`` does (``--orders``: ``rcm`` the reverse Cuthill-McKee
order of stops 14-18, ``regions`` the pipeline's: :func:`dedup.pipeline.pass_order`); the real ``PreparedArticles`` code
schedules them and drops sides, with preparation itself replaced by a count. Workers are simulated on one clock:
the pool hands the next batch to whichever worker is free (``pool``), or each worker claims from its end
(``both``, ``engine.run_batches(from_both_ends=True)``); a batch costs ``--pair-ms`` a pair plus ``--side-ms`` a
side it prepares (10k real runs: ~0.45 and ~0.7 ms). Prints and writes, per order and dealing: preparations (and
per article), each worker's modelled busy time and how long the first one waits for the last at the end.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import reverse_cuthill_mckee

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dedup import engine
from dedup.pipeline import Group, Pair, PreparedArticles, _groups, _local_batches


def rcm_batches(pairs: list[Pair], batch_pairs: int, count: int) -> list[list[Group]]:
    """Stop 14-18's pass order (``pipeline._local_batches`` before stop 19): whole (source, targets) groups by the
    earliest of their articles in a reverse Cuthill-McKee order of the candidate graph."""
    groups = _groups(pairs, len(pairs) + 1)[0]
    edges = np.array(pairs, dtype=np.int64)
    graph = sparse.csr_matrix((np.ones(len(edges), dtype=np.int8), (edges[:, 0], edges[:, 1])), shape=(count, count))
    rank = np.empty(count, dtype=np.int64)
    rank[reverse_cuthill_mckee((graph + graph.T).tocsr(), symmetric_mode=True)] = np.arange(count)
    key = [min(rank[source], *(rank[target] for target in targets)) for source, targets in groups]
    batches: list[list[Group]] = []
    size = batch_pairs
    for k in np.argsort(key, kind="stable").tolist():
        if size >= batch_pairs:
            batches.append([])
            size = 0
        batches[-1].append(groups[k])
        size += len(groups[k][1])
    return batches


class CountedSides(PreparedArticles):
    """``PreparedArticles`` whose preparation only marks a side held and counts it."""

    def __init__(self, count: int, most: int) -> None:
        super().__init__(range(count), most)  # type: ignore[arg-type]  # only its length is read

    def prepare(self, indices: Sequence[int]) -> None:  # type: ignore[override]
        missing = sorted({index for index in indices if self.sides[index] is None})
        for index in missing:
            self.sides[index] = True  # type: ignore[call-overload]
        self.held.update(missing)
        self.prepared += len(missing)


def replay(
    batches: list, count: int, workers: int, most: int, both_ends: bool, pair_ms: float, side_ms: float
) -> dict[str, object]:
    """Preparations and modelled busy seconds of each worker over ``batches``."""
    template = CountedSides(count, most)
    numbered = template.schedule(batches)
    sides = [copy.deepcopy(template) for _ in range(workers)]
    clock = [0.0] * workers
    taken = [0] * workers
    front, back = 0, len(numbered) - 1
    backward = [both_ends and w % 2 == 1 for w in range(workers)]
    while front <= back:
        worker = min(range(workers), key=clock.__getitem__)
        if backward[worker]:
            number, back = back, back - 1
        else:
            number, front = front, front + 1
        groups = numbered[number][1]
        before = sides[worker].prepared
        engine._backward = backward[worker]
        sides[worker].prepare_groups(groups)
        sides[worker].done(number)
        engine._backward = None
        pairs = sum(len(targets) for _, targets in groups)
        clock[worker] += (pairs * pair_ms + (sides[worker].prepared - before) * side_ms) / 1000
        taken[worker] += 1
    prepared = [side.prepared for side in sides]
    return {
        "prepared": prepared,
        "per_article": round(sum(prepared) / count, 3),
        "batches": taken,
        "busy_s": [round(value, 1) for value in clock],
        "idle_at_end_s": round(max(clock) - min(clock), 1),
    }


def live_peak(batches: list, count: int) -> int:
    """The most articles live at once (between their first batch and their last) in this order."""
    first = np.full(count, len(batches), dtype=np.int64)
    last = np.full(count, -1, dtype=np.int64)
    for number, batch in enumerate(batches):
        used = np.unique(np.array([index for source, targets in batch for index in (source, *targets)]))
        first[used] = np.minimum(first[used], number)
        last[used] = number
    used = last >= 0
    change = np.zeros(len(batches) + 1, dtype=np.int64)
    np.add.at(change, first[used], 1)
    np.add.at(change, last[used] + 1, -1)
    return int(np.cumsum(change).max())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", type=Path)
    parser.add_argument("--orders", default="rcm,regions")
    parser.add_argument("--articles", type=int, default=0, help="the corpus's articles (default: the largest + 1)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--most", type=int, default=2000)
    parser.add_argument("--pair-ms", type=float, default=0.45)
    parser.add_argument("--side-ms", type=float, default=0.7)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    array = np.load(args.pairs)
    pairs = [tuple(pair) for pair in array.tolist()]
    count = args.articles or (int(array.max()) + 1 if len(array) else 0)
    batch_pairs = max(16, min(256, len(pairs) // (8 * args.workers) + 1))
    rows = []
    for order in args.orders.split(","):
        started = time.process_time()
        if order == "rcm":
            batches = rcm_batches(pairs, batch_pairs, count)
        else:
            batches = _local_batches(pairs, batch_pairs, count)[0]
        order_s = time.process_time() - started
        row: dict[str, object] = {
            "order": order,
            "order_cpu_s": round(order_s, 2),
            "batches": len(batches),
            "live_peak": live_peak(batches, count),
        }
        for dealing in ("pool", "both"):
            row[dealing] = replay(
                batches, count, args.workers, args.most, dealing == "both", args.pair_ms, args.side_ms
            )
        print(json.dumps(row), flush=True)
        rows.append(row)
    result = {"pairs_file": str(args.pairs), "pairs": len(pairs), "articles": count, "most": args.most, "rows": rows}
    if args.output:
        args.output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
