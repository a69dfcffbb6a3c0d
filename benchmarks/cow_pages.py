"""Which of a forked worker's pages are its parent's pages copied on write, and which are its own.

    python benchmarks/cow_pages.py PARENT_PID [WORKER_PID ...]   # the workers: every child of PARENT by default

For every resident page of each worker's writable private mappings, ``/proc/PID/pagemap`` gives its physical frame
(root only); the parent's page at the same address gives another. Same frame: still shared. Different frame:
copied on write (the worker wrote into a page the parent holds too: a reference count, a slot of a pymalloc pool
the parent left free, an array's element). A page the parent has not (at that address, now): the worker's own.
Pages are counted per kind of mapping (the heap, anonymous mappings, others) and as MB; one JSON line per worker.
Read only: it reads ``/proc`` and nothing else (a 5 GB process's 1.3 M page entries: ~10 MB, read at once).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np

_PAGE = os.sysconf("SC_PAGE_SIZE")
_PRESENT = np.uint64(1 << 63)
_FRAME_MASK = np.uint64((1 << 55) - 1)
_CHUNK_PAGES = 1 << 16  # pagemap entries read at once (512 KB)


def mappings(pid: int) -> list[tuple[int, int, str, str]]:
    """(start, end, permissions, name) of every mapping of ``pid``."""
    found = []
    for line in Path(f"/proc/{pid}/maps").read_text(encoding="ascii", errors="replace").splitlines():
        fields = line.split(maxsplit=5)
        start, end = (int(value, 16) for value in fields[0].split("-"))
        found.append((start, end, fields[1], fields[5] if len(fields) > 5 else ""))
    return found


def frames(handle: int, start: int, end: int) -> np.ndarray:
    """The physical frame of every page in ``[start, end)`` (0: not present), from an open pagemap."""
    pages = (end - start) // _PAGE
    out = np.zeros(pages, dtype=np.uint64)
    for first in range(0, pages, _CHUNK_PAGES):
        count = min(_CHUNK_PAGES, pages - first)
        data = os.pread(handle, 8 * count, 8 * (start // _PAGE + first))
        entries = np.frombuffer(data, dtype=np.uint64)
        out[first : first + len(entries)] = np.where(entries & _PRESENT, entries & _FRAME_MASK, 0)
    return out


def kind(name: str) -> str:
    if name == "[heap]":
        return "heap"
    if not name:
        return "anonymous"
    return "other"


def page_counts() -> np.ndarray:
    """How many mappings each physical frame has (``/proc/kpagecount``, read whole: 8 bytes a frame)."""
    parts = []
    handle = os.open("/proc/kpagecount", os.O_RDONLY)
    try:
        at = 0
        while True:
            try:
                data = os.pread(handle, 1 << 23, at)
            except OSError:  # past the last frame
                break
            if not data:
                break
            parts.append(np.frombuffer(data, dtype=np.uint64))
            at += len(data)
    finally:
        os.close(handle)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)


def compare(parent: int, worker: int, counts: np.ndarray | None = None) -> dict[str, object]:
    """The worker's resident pages of its writable private mappings: shared with the parent (the same frame),
    its own (a frame only it maps) where the parent has a page at that address (a copy on write, or inherited free
    space it filled) or where it has none, and the rest (frames the worker shares with another process but not
    the parent: pages the parent wrote after the fork, still shared by its workers)."""
    counts = page_counts() if counts is None else counts
    found: Counter[str] = Counter()
    parent_map = os.open(f"/proc/{parent}/pagemap", os.O_RDONLY)
    worker_map = os.open(f"/proc/{worker}/pagemap", os.O_RDONLY)
    try:
        for start, end, permissions, name in mappings(worker):
            if "w" not in permissions or permissions[3] != "p":
                continue
            label = kind(name)
            mine = frames(worker_map, start, end)
            theirs = frames(parent_map, start, end)
            present = mine != 0
            alone = np.zeros(len(mine), dtype=bool)
            alone[present] = counts[np.minimum(mine[present], len(counts) - 1).astype(np.int64)] == 1
            found[f"{label} shared"] += int((present & (mine == theirs)).sum())
            found[f"{label} copied"] += int((alone & (theirs != 0)).sum())
            found[f"{label} own"] += int((alone & (theirs == 0)).sum())
            found[f"{label} workers"] += int((present & ~alone & (mine != theirs)).sum())
    finally:
        os.close(parent_map)
        os.close(worker_map)
    megabytes = {key: round(value * _PAGE / 1e6, 1) for key, value in sorted(found.items()) if value}
    for what in ("shared", "copied", "own", "workers"):
        megabytes[f"all {what}"] = round(
            sum(value for key, value in found.items() if key.endswith(what)) * _PAGE / 1e6, 1
        )
    return {"parent": parent, "worker": worker, "mb": megabytes}


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text(encoding="ascii").split()
        found.extend(int(value) for value in text)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("parent", type=int)
    parser.add_argument("workers", type=int, nargs="*")
    args = parser.parse_args()
    counts = page_counts()
    for worker in args.workers or children(args.parent):
        try:
            print(json.dumps(compare(args.parent, worker, counts)), flush=True)
        except (FileNotFoundError, ProcessLookupError) as error:  # the worker ended meanwhile
            print(json.dumps({"worker": worker, "error": str(error)}), file=sys.stderr)


if __name__ == "__main__":
    main()
