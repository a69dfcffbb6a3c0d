"""What the full run's forked workers hold of their own, page by page: the parent's pages they copied on write (and
how many of those hold the word-feature cache's objects), and the pages they made.

    python benchmarks/fork_pages.py CORPUS.jsonl N [--cache-words K] [--label L] [--output FILE.jsonl]
    python benchmarks/fork_pages.py CORPUS.jsonl N --series passage_groups   # and every sample of that pass

Runs ``pipeline.cluster`` on the first N articles (streamed, no pairs kept: the CLI's path). Before each pass that
forks workers (``pipeline.run_batches`` on two processes: the furniture lines, clean, TF-IDF, judging, passages), it
notes the physical frame of every page of the parent (``/proc/self/pagemap``; root only) and the pages that hold the
word-feature cache's objects (``similarity._WORD_FEATURES``' words and arrays, and a ``WordTable``'s words where
there is one: their addresses are their ``id``); while the pass runs, a thread reads each worker's frames every
``--every`` seconds. A worker page whose frame is the parent's at the fork is shared; another frame where the parent
had a page is a copy the worker made by writing (a reference count, a free slot of a pymalloc pool, an array's
element: when the parent writes, the parent gets the copy and the worker keeps the frame); a page where the parent had
none is the worker's own. Per pass and worker, at its highest (copied + own): MB shared, copied (and copied pages
that hold cache objects), own. ``--cache-words K``: the cache's size (``_WORD_CACHE_SIZE``; a small one makes a 10k
run's cache full, as a 1M run's is, so that the workers clear and refill it). Each pass also notes the allocators'
free space at its fork (pymalloc's arenas, glibc's heap: what the workers fill). ``--series P,…``: the passes (their
functions' names) whose every sample is kept — the tree's and parent's PSS, the parent's pages unchanged, written
and new since the fork, each worker's shared, copied and own — so that a rise through a pass is placed.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.cow_pages import children, frames, mappings
from benchmarks.memory import print_result
from dedup import pipeline, similarity

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _snapshot(pid: int) -> tuple[np.ndarray, np.ndarray]:
    """The page numbers and frames of ``pid``'s resident pages in its writable private mappings (sorted by page)."""
    pages, found = [], []
    handle = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY)
    try:
        for start, end, permissions, _ in mappings(pid):
            if "w" not in permissions or permissions[3] != "p":
                continue
            mine = frames(handle, start, end)
            present = np.flatnonzero(mine)
            pages.append(present.astype(np.int64) + start // _PAGE)
            found.append(mine[present])
    finally:
        os.close(handle)
    return np.concatenate(pages), np.concatenate(found)


def _cache_pages() -> np.ndarray:
    """The pages holding the word-feature cache's objects (each object's first and last byte's page)."""
    objects: list[Any] = []
    for word, features in similarity._WORD_FEATURES.items():
        objects += (word, features)
    table = getattr(similarity, "_WORD_TABLE", None)
    if table is not None:
        objects += list(table.words)
    starts = np.fromiter(map(id, objects), dtype=np.int64, count=len(objects))
    ends = starts + np.fromiter(map(sys.getsizeof, objects), dtype=np.int64, count=len(objects)) - 1
    return np.unique(np.concatenate((starts // _PAGE, ends // _PAGE)))


def _allocators() -> dict[str, float]:
    """This process's allocators at a moment, MB: pymalloc's arenas (``sys._debugmallocstats``: their bytes, the
    bytes of blocks in use, of free blocks in used pools, of unused pools) and glibc's heap (``mallinfo2``: in use,
    free inside the heap, mapped apart). Free space here is what forked workers fill, copying each page they write."""
    import ctypes
    import re
    import tempfile

    found: dict[str, float] = {}
    with tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode("ascii", "replace")
    for name, pattern in (
        ("pymalloc_arenas_mb", r"arenas \* \d+ bytes/arena\s+=\s+([\d,]+)"),
        ("pymalloc_used_mb", r"# bytes in allocated blocks\s+=\s+([\d,]+)"),
        ("pymalloc_free_blocks_mb", r"# bytes in available blocks\s+=\s+([\d,]+)"),
        ("pymalloc_free_pools_mb", r"unused pools \* \d+ bytes\s+=\s+([\d,]+)"),
    ):
        match = re.search(pattern, text)
        if match:
            found[name] = round(int(match.group(1).replace(",", "")) / 1e6, 1)

    class _MallInfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
        ] + [("keepcost", ctypes.c_size_t)]

    try:
        libc = ctypes.CDLL(None)
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
        found.update(
            heap_used_mb=round(info.uordblks / 1e6, 1),
            heap_free_mb=round(info.fordblks / 1e6, 1),
            heap_mapped_mb=round(info.hblkhd / 1e6, 1),
        )
    except (OSError, AttributeError):
        pass
    return found


def _pss(pid: int) -> int:
    """``pid``'s PSS in bytes (0 once it has ended)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
            return next(int(line.split()[1]) * 1024 for line in handle if line.startswith("Pss:"))
    except (OSError, StopIteration):
        return 0


class _Watch:
    """Samples the workers of one pass against the parent's frames at the fork."""

    def __init__(self, name: str, every: float, series: bool = False) -> None:
        self.name = name
        self.every = every
        self.started = time.monotonic()
        self.allocators = _allocators()  # what the workers inherit (the engine trims the C heap after this)
        self.pages, self.frames = _snapshot(os.getpid())
        self.cache = _cache_pages()
        self.highest: dict[int, dict[str, float]] = {}
        self.series: list[dict[str, Any]] | None = [] if series else None  # every sample, when asked
        self.tree = 0  # the highest PSS of the parent and the workers together, bytes
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def _against_fork(self, pid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``pid``'s pages now, and for each whether the parent had it at the fork (``known``) and whether it is still
        on the same frame (``same``: shared, unwritten)."""
        pages, found = _snapshot(pid)
        at = np.searchsorted(self.pages, pages)
        inside = at < len(self.pages)
        known = np.zeros(len(pages), dtype=bool)
        known[inside] = self.pages[at[inside]] == pages[inside]
        same = np.zeros(len(pages), dtype=bool)
        same[known] = self.frames[at[known]] == found[known]
        return pages, known, same

    def classify(self, worker: int) -> dict[str, float]:
        pages, known, same = self._against_fork(worker)
        copied = known & ~same
        in_cache = np.isin(pages[copied], self.cache)
        mb = _PAGE / 1e6
        return {
            "shared_mb": round(int(same.sum()) * mb, 1),
            "copied_mb": round(int(copied.sum()) * mb, 1),
            "copied_cache_pages_mb": round(int(in_cache.sum()) * mb, 1),
            "own_mb": round(int((~known).sum()) * mb, 1),
        }

    def parent_changes(self) -> dict[str, float]:
        """The parent's own pages now against its pages at the fork: unchanged (the same frame), written since (a
        page it had, on another frame now: it wrote into a page its workers share and took the copy), new."""
        _, known, same = self._against_fork(os.getpid())
        mb = _PAGE / 1e6
        return {
            "unchanged_mb": round(int(same.sum()) * mb, 1),
            "written_mb": round(int((known & ~same).sum()) * mb, 1),
            "new_mb": round(int((~known).sum()) * mb, 1),
        }

    def run(self) -> None:
        while not self.stop.wait(self.every):
            workers = children(os.getpid())
            sizes = {pid: _pss(pid) for pid in (os.getpid(), *workers)}
            tree = sum(sizes.values())
            self.tree = max(self.tree, tree)
            sample: dict[str, Any] = {
                "s": round(time.monotonic() - self.started, 1),
                "tree_pss_mb": round(tree / 1e6, 1),
                "parent_pss_mb": round(sizes[os.getpid()] / 1e6, 1),
            }
            if self.series is not None:
                sample["parent"] = self.parent_changes()
                sample["workers"] = []
            for worker in workers:
                try:
                    found = self.classify(worker)
                except (FileNotFoundError, ProcessLookupError, ValueError):
                    continue
                if self.series is not None:
                    sample["workers"].append({"pss_mb": round(sizes[worker] / 1e6, 1), **found})
                known = self.highest.get(worker)
                if known is None or found["copied_mb"] + found["own_mb"] > known["copied_mb"] + known["own_mb"]:
                    self.highest[worker] = found
            if self.series is not None:
                self.series.append(sample)

    def finish(self) -> dict[str, Any]:
        self.stop.set()
        self.thread.join()
        return {
            "pass": self.name,
            "parent_pages_mb": round(len(self.pages) * _PAGE / 1e6, 1),
            "cache_pages_mb": round(len(self.cache) * _PAGE / 1e6, 1),
            "tree_pss_mb": round(self.tree / 1e6, 1),
            "allocators_at_fork": self.allocators,
            "workers": list(self.highest.values()),
            **({"series": self.series} if self.series is not None else {}),
        }


def measure(corpus: Path, count: int, every: float, series: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    from dedup.read.files import stream_path

    passes: list[dict[str, Any]] = []
    original = pipeline.run_batches

    def watched(function: Any, shared: Any, batches: Any, **settings: Any) -> Any:
        if settings.get("workers", 1) <= 1 or len(batches) <= 1:
            return original(function, shared, batches, **settings)
        name = getattr(function, "__name__", str(function))
        pipeline.return_free_memory()  # as run_batches does first: the snapshot is of what the workers inherit
        watch = _Watch(name, every, name in series)
        try:
            return original(function, shared, batches, **settings)
        finally:
            passes.append(watch.finish())

    pipeline.run_batches = watched
    started = time.process_time()
    result = pipeline.cluster(itertools.islice(stream_path(corpus).articles, count), keep_pairs=False, workers=2)
    passes.append({"clusters": len(result.clusters), "parent_cpu_s": round(time.process_time() - started, 1)})
    return passes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("count", type=int)
    parser.add_argument("--cache-words", type=int, default=0, help="the word cache's size (default: the code's)")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between samples of the workers")
    parser.add_argument("--label", default="")
    parser.add_argument(
        "--series",
        default="",
        help="passes (their functions' names, comma-separated: passage_groups) whose every sample is kept, with the "
        "parent's pages written and made since the fork",
    )
    parser.add_argument("--output", type=Path, help="a JSON Lines file the result is appended to")
    args = parser.parse_args()
    if args.cache_words:
        similarity._WORD_CACHE_SIZE = args.cache_words
    result = {"label": args.label, "articles": args.count, "cache_words": similarity._WORD_CACHE_SIZE}
    result["passes"] = measure(args.corpus, args.count, args.every, tuple(filter(None, args.series.split(","))))
    print_result(result, args.output)


if __name__ == "__main__":
    main()
