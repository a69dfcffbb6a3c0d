"""What a forked worker wrote into the pages it copied from its parent: the parent's objects (by type), or free blocks
of the parent's pymalloc pools that the worker filled (with objects of which type).

    python benchmarks/cow_types.py PARENT_PID WORKER_PID [--sample 2000] [--seed 0]

``cow_pages.py`` counts a worker's copied pages; this says what is in them. A sample of the worker's anonymous pages
copied on write (its frame only its own, the parent's page at the same address another frame) is read from both
processes (``/proc/PID/mem``; root, read only) and compared word by word. A page inside a pymalloc pool (CPython
3.11: 16 KiB pools, 1 MiB arenas; the pool's header at the 16 KiB boundary below, checked by its ``maxnextoffset ==
POOL_SIZE - block size``) has its differing words placed in their blocks. A block is *free in the parent* when it is
on the parent's pool's free list or past its ``nextoffset`` (never used): the worker put an object there (its type
read from the worker's memory). Otherwise the worker wrote into one of the parent's live objects (a reference count
taken and given back leaves no difference: such a page is named by the type most of its live blocks in the parent
hold). An object's type is the pointer at the block's start + 8, 24 or 40 (no GC header; a GC header; a GC header
and a managed dict's two words: 3.11's pre-headers), taken when it points to a type object (its own type's
``tp_name`` is ``type`` or ends in ``Meta``/``meta``). One JSON line: pages sampled, their kinds, and per category
the differing words and the pages holding one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import struct
import sys
from collections import Counter
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.cow_pages import _PAGE, frames, mappings, page_counts

POOL_SIZE = 1 << 14  # CPython 3.11 on 64 bits (radix tree: large pools)
POOL_HEADER = 48  # POOL_OVERHEAD: the header rounded up to 16
ALIGNMENT = 16
_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_.]*")


class Memory:
    """Reads of another process's memory, cached by page."""

    def __init__(self, pid: int) -> None:
        self.handle = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
        self.pages: dict[int, bytes] = {}

    def read(self, address: int, size: int) -> bytes:
        out = bytearray()
        if not 0 <= address < 1 << 47:  # not a user-space address (a word that is no pointer)
            return b""
        while size > 0:
            page = address - address % _PAGE
            data = self.pages.get(page)
            if data is None:
                try:
                    data = os.pread(self.handle, _PAGE, page)
                except OSError:
                    data = b""
                self.pages[page] = data
            begin = address - page
            piece = data[begin : begin + size]
            if not piece:
                return bytes(out)
            out += piece
            address += len(piece)
            size -= len(piece)
        return bytes(out)

    def word(self, address: int) -> int | None:
        data = self.read(address, 8)
        return struct.unpack("<Q", data)[0] if len(data) == 8 else None

    def close(self) -> None:
        os.close(self.handle)


class Types:
    """Type names of objects in a process's memory, by the type pointer (cached)."""

    def __init__(self, memory: Memory) -> None:
        self.memory = memory
        self.names: dict[int, str | None] = {}

    def name_at(self, pointer: int) -> str | None:
        """``tp_name`` of the object at ``pointer`` read as a type, or None when it is not readable as one."""
        if pointer < 4096 or pointer % 8:
            return None
        name_pointer = self.memory.word(pointer + 24)
        if not name_pointer or name_pointer < 4096:
            return None
        text = self.memory.read(name_pointer, 80).split(b"\0", 1)[0]
        match = _NAME.fullmatch(text)
        return text.decode() if match else None

    def type_name(self, pointer: int) -> str | None:
        """The name of the type at ``pointer`` if it is a type object (its own type a metatype), else None."""
        if pointer in self.names:
            return self.names[pointer]
        found = None
        name = self.name_at(pointer)
        if name is not None:
            meta = self.memory.word(pointer + 8)
            meta_name = self.name_at(meta) if meta else None
            if meta_name is not None and (meta_name == "type" or meta_name.endswith(("Meta", "meta"))):
                found = name
        self.names[pointer] = found
        return found

    def of_block(self, block: int) -> str:
        for offset in (8, 24, 40):
            pointer = self.memory.word(block + offset)
            if pointer is None:
                break
            name = self.type_name(pointer)
            if name is not None:
                return name
        return "?"


def copied_pages(parent: int, worker: int) -> list[int]:
    """The worker's anonymous private writable pages copied from the parent (addresses)."""
    counts = page_counts()
    parent_map = os.open(f"/proc/{parent}/pagemap", os.O_RDONLY)
    worker_map = os.open(f"/proc/{worker}/pagemap", os.O_RDONLY)
    copied: list[int] = []
    try:
        for start, end, permissions, name in mappings(worker):
            if "w" not in permissions or permissions[3] != "p" or name:
                continue
            mine, theirs = frames(worker_map, start, end), frames(parent_map, start, end)
            present = mine != 0
            alone = np.zeros(len(mine), dtype=bool)
            alone[present] = counts[np.minimum(mine[present], len(counts) - 1).astype(np.int64)] == 1
            pages = np.flatnonzero(alone & (theirs != 0) & (mine != theirs))
            copied.extend((start + pages * _PAGE).tolist())
    finally:
        os.close(parent_map)
        os.close(worker_map)
    return copied


def free_blocks(memory: Memory, pool: int, size: int) -> tuple[set[int], int] | None:
    """The parent's free blocks of ``pool`` (on its free list) and its ``nextoffset`` (blocks from there on were never
    used), or None when the header does not read as a pool's."""
    header = memory.read(pool, POOL_HEADER)
    if len(header) < POOL_HEADER:
        return None
    _, freeblock, _, _, _, szidx, nextoffset, maxnextoffset = struct.unpack("<IxxxxQQQIIII", header)
    if (szidx + 1) * ALIGNMENT != size or maxnextoffset != POOL_SIZE - size or nextoffset > POOL_SIZE:
        return None
    free: set[int] = set()
    at = freeblock
    for _ in range(POOL_SIZE // size + 1):
        if not at or not pool + POOL_HEADER <= at < pool + POOL_SIZE:
            break
        free.add(at)
        at = memory.word(at) or 0
    return free, nextoffset


def pool_size(memory: Memory, pool: int) -> int | None:
    header = memory.read(pool, POOL_HEADER)
    if len(header) < POOL_HEADER:
        return None
    szidx, _, maxnextoffset = struct.unpack_from("<III", header, 36)
    size = (szidx + 1) * ALIGNMENT
    return size if szidx < 32 and maxnextoffset == POOL_SIZE - size else None


def classify(parent: int, worker: int, sample: int, seed: int) -> dict[str, object]:
    copied = copied_pages(parent, worker)
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(copied, min(sample, len(copied)), replace=False).tolist()) if copied else []
    theirs, mine = Memory(parent), Memory(worker)
    their_types, my_types = Types(theirs), Types(mine)
    kinds: Counter[str] = Counter()
    words: Counter[str] = Counter()
    pages: Counter[str] = Counter()
    try:
        for address in chosen:
            a = np.frombuffer(theirs.read(address, _PAGE), dtype=np.uint64)
            b = np.frombuffer(mine.read(address, _PAGE), dtype=np.uint64)
            if len(a) != len(b) or len(a) * 8 != _PAGE:
                kinds["unreadable"] += 1
                continue
            differing = np.flatnonzero(a != b)
            pool = address - address % POOL_SIZE
            size = pool_size(theirs, pool)
            if size is None:
                kinds["not a pymalloc pool"] += 1
                here = {"outside pools"} if len(differing) else {"outside pools, no difference"}
                words["outside pools"] += len(differing)
                for category in here:
                    pages[category] += 1
                continue
            kinds["pymalloc pool"] += 1
            found = free_blocks(theirs, pool, size)
            free, nextoffset = found if found is not None else (set(), POOL_SIZE)
            if not len(differing):  # a reference count taken and given back: name what the page holds most
                first = max(pool + POOL_HEADER, address) - pool - POOL_HEADER
                live = Counter(
                    their_types.of_block(block)
                    for block in range(
                        pool + POOL_HEADER + (first + size - 1) // size * size, address + _PAGE - size + 1, size
                    )
                    if block not in free and block - pool < nextoffset
                )
                pages[f"no difference, mostly {live.most_common(1)[0][0] if live else 'free'}"] += 1
                continue
            here = set()
            for index in differing.tolist():
                at = address + 8 * index
                if at < pool + POOL_HEADER:
                    category = "pool header"
                else:
                    block = pool + POOL_HEADER + (at - pool - POOL_HEADER) // size * size
                    if block in free or block - pool >= nextoffset:
                        category = f"free in parent, now {my_types.of_block(block)}"
                    else:
                        category = f"parent's {their_types.of_block(block)}"
                words[category] += 1
                here.add(category)
            for category in here:
                pages[category] += 1
    finally:
        theirs.close()
        mine.close()
    return {
        "parent": parent,
        "worker": worker,
        "copied_anonymous_pages": len(copied),
        "copied_anonymous_mb": round(len(copied) * _PAGE / 1e6, 1),
        "sampled": len(chosen),
        "kinds": dict(kinds),
        "pages_holding": dict(pages.most_common(40)),
        "differing_words": dict(words.most_common(40)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("parent", type=int)
    parser.add_argument("worker", type=int)
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(json.dumps(classify(args.parent, args.worker, args.sample, args.seed)), flush=True)


if __name__ == "__main__":
    main()
