"""Sums a time-resolved py-spy of a run's process tree, chunk by chunk: where each process's samples went.

    python benchmarks/spy_chunks.py CHUNK.txt [CHUNK.txt ...] [--parent PID] [--top 12] [--functions a,b,c]

Each chunk is a ``py-spy record --subprocesses -f raw`` file: one ``process PID:"cmd";frame;frame… count`` line per
distinct stack, a worker's line starting with its parent's process frame, then its own. For every chunk it prints,
per process role (the parent: ``--parent``, by default the lowest PID seen in every chunk — the forked workers share
its command line — and the workers together), the samples and the functions with the most self and inclusive samples
(a function counted once a stack however often it recurs; the inclusive list only of functions in files under
``--under``, default ``dedup/``); ``--functions``: a table of those functions' inclusive seconds per chunk and role,
matched on the name before the file. At ``-r R`` samples a second, samples / R is seconds on a core (py-spy leaves
idle threads out).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

_PROCESS = re.compile(r'^process (\d+):"')
_FRAME = re.compile(r"^(?P<name>.*?) \((?P<file>[^():]*?)(?::\d+)?\)$")


def frame_key(frame: str) -> str:
    """``function (file.py)``: the frame without its line number and with the file's last two path parts."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = Path(match["file"])
    return f"{match['name']} ({'/'.join(path.parts[-2:])})"


def read_chunk(path: Path) -> dict[int, list[tuple[list[str], int]]]:
    """A chunk's stacks per process: (frames without the process frame, outermost first; samples)."""
    stacks: dict[int, list[tuple[list[str], int]]] = defaultdict(list)
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.rstrip()
        if not line:
            continue
        body, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        pid = 0
        while (match := _PROCESS.match(body)) is not None:  # a forked worker's stack starts with its parents' frames
            pid = int(match.group(1))
            closing = body.find('";', match.end())  # the command line ends at its closing quote and frame separator
            body = body[closing + 2 :] if closing >= 0 else ""
        if not pid:
            continue
        frames = body.split(";") if body else []
        stacks[pid].append(([frame_key(frame) for frame in frames if not frame.startswith("thread ")], int(count)))
    return stacks


def sums(stacks: Iterable[tuple[list[str], int]]) -> tuple[int, Counter[str], Counter[str]]:
    """Total samples, self samples per function, inclusive samples per function."""
    total, own, inclusive = 0, Counter[str](), Counter[str]()
    for frames, count in stacks:
        total += count
        if frames:
            own[frames[-1]] += count
        for key in set(frames):
            inclusive[key] += count
    return total, own, inclusive


def matching(inclusive: Counter[str], name: str) -> int:
    """Inclusive samples of the functions called ``name`` (``Class.name`` too; the most of them: nested calls are in
    one another)."""
    return max((count for key, count in inclusive.items() if key.split(" (")[0].rpartition(".")[2] == name), default=0)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chunks", nargs="+", type=Path)
    parser.add_argument("--parent", type=int, default=0, help="the parent's PID (default: lowest PID in every chunk)")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--rate", type=float, default=10.0, help="samples a second (py-spy -r)")
    parser.add_argument("--functions", default="", help="comma-separated function names: a table of them")
    parser.add_argument("--under", default="dedup/", help="the inclusive list's functions: files under this folder")
    parser.add_argument("--quiet", action="store_true", help="the --functions table only")
    args = parser.parse_args(argv)
    chunks = [(path, read_chunk(path)) for path in sorted(args.chunks)]
    chunks = [(path, stacks) for path, stacks in chunks if stacks]
    if not chunks:
        sys.exit("no samples in the chunks given")
    parent = args.parent or min(set.intersection(*(set(stacks) for _, stacks in chunks)), default=0)
    if not parent:
        parent = min(min(stacks) for _, stacks in chunks)
    names = [name for name in args.functions.split(",") if name]
    table: list[tuple[str, dict[str, int], dict[str, int], int, int]] = []
    for path, stacks in chunks:
        workers = [pid for pid in sorted(stacks) if pid != parent]
        parent_sums = sums(stacks.get(parent, []))
        worker_sums = sums(stack for pid in workers for stack in stacks[pid])
        table.append(
            (
                path.stem,
                {name: matching(parent_sums[2], name) for name in names},
                {name: matching(worker_sums[2], name) for name in names},
                parent_sums[0],
                worker_sums[0],
            )
        )
        if args.quiet:
            continue
        print(
            f"== {path.name}: parent {parent} {parent_sums[0] / args.rate:.0f} s, workers {len(workers)} "
            f"{worker_sums[0] / args.rate:.0f} s"
        )
        for label, (total, own, inclusive) in (("parent", parent_sums), ("workers", worker_sums)):
            if not total:
                continue
            print(f"  {label} self:      " + "; ".join(f"{k} {v / total:.0%}" for k, v in own.most_common(args.top)))
            mine = [(k, v) for k, v in inclusive.most_common() if f"({args.under}" in k][: args.top * 2]
            print(f"  {label} inclusive: " + "; ".join(f"{k} {v / total:.0%}" for k, v in mine))
    if names:
        print("chunk\tparent_s\tworkers_s\t" + "\t".join(f"P:{n}\tW:{n}" for n in names))
        for stem, in_parent, in_workers, parent_total, worker_total in table:
            cells = "\t".join(f"{in_parent[n] / args.rate:.0f}\t{in_workers[n] / args.rate:.0f}" for n in names)
            print(f"{stem}\t{parent_total / args.rate:.0f}\t{worker_total / args.rate:.0f}\t{cells}")


if __name__ == "__main__":
    main()
