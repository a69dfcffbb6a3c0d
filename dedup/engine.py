"""Engines: run a pure stage function over batches, in this process or on several cores.

A stage function takes ``(shared, batch)`` and returns a list; the engine returns the
concatenation of the results in batch order, so the output does not depend on the number
of workers. With ``workers > 1`` the batches go to a process pool started by ``fork``:
``shared`` (the cleaned articles, their vectors…) is inherited by the workers rather than
pickled, and only the batches and their results cross the process boundary. Where
``fork`` is unavailable the engine runs in process.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing
import os
import pickle
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

Batch = TypeVar("Batch")
Item = TypeVar("Item")

_shared: Any = None
_function: Callable[[Any, Any], list[Any]] | None = None
_batches: Sequence[bytes] = ()  # a both-ends pass's batches, each pickled (read by the workers: see run_batches)
_claims: Any = None  # a both-ends pass's lock, next batch from the front, next from the back, workers seen
_pickled = False  # whether the workers hand each batch's results back pickled (run_batches' held_pickled)
_backward: bool | None = None  # this worker process takes its batches from the back (None: not claimed yet)


def return_free_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc ``malloc_trim``; nothing elsewhere).

    Arrays unpickled from the workers' results are freed once used, but glibc raises its mmap threshold
    after the first large free, so later arrays of that size live in the heap and their freed pages stay
    resident unless trimmed (10k: 0.3 GB after the sentence counts are stacked).
    """
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


_LIBC = _load_libc()
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _end_with_parent(parent: int) -> None:
    """A pool worker's first step: Linux ends it (SIGTERM) when the process that forked it dies.

    A parent killed outright (``kill -9``, the out-of-memory killer, a harness's timeout) cannot shut its pool
    down, and its workers would wait forever on a result queue nobody reads, each holding its copy of the
    parent's pages (two workers of a 1M run held 4.3 GB each). Elsewhere, or without ``prctl``, nothing is asked.
    """
    if _LIBC is not None and hasattr(_LIBC, "prctl"):
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request was made
        os._exit(1)


@contextlib.contextmanager
def paused_collection() -> Iterator[None]:
    """The cyclic garbage collector off while a bulk stage builds millions of objects (also a decorator).

    The pipeline's records hold no reference cycles to reclaim, but every few hundred allocations the
    collector runs, and its full collections walk the whole heap, so their cost grows with the corpus
    times the allocations: at 10k articles 10% of the run's CPU, and 3.0 of the 4.5 s that building the
    result document took. Workers forked meanwhile inherit the pause. On exit the collector is as it was.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class FrozenSurvivors:
    """Keeps what a long-running process has built out of the cyclic collector's full scans.

    An index's caches hold hundreds of thousands of small objects (decoded pairs and their passages, tokens,
    prepared articles) besides the libraries' own; CPython's full collection walks all of them whenever the
    objects promoted since the last one reach a quarter of the heap, which cache turnover alone does every
    few dozen checks: 110-220 ms at 9,600 articles, the p99 of a check. ``settle`` (after each operation)
    collects what is not frozen — what the operation made, a small heap — and freezes the survivors
    (``gc.freeze``), so later collections scan only what later operations make. Frozen objects are still
    freed by reference counting (an evicted cache entry, a removed article's rows); only a frozen object
    that becomes part of a garbage cycle would wait, so when the allocated blocks (``sys.getallocatedblocks``)
    have grown by ``growth`` times since the last full collection, ``settle`` thaws and collects everything
    once. Does nothing while the collector is off or when the application froze its own heap first.
    """

    def __init__(self, growth: float = 2.0) -> None:
        self.growth = growth
        self.full_collections = 0  # thaws (full collections of the whole heap) so far
        self._blocks = 0  # allocated blocks after the last full collection
        self._foreign: bool | None = None  # the application froze objects before the first settle
        self._lock = threading.Lock()

    def settle(self) -> None:
        """Collect the unfrozen heap and freeze what survives (see the class)."""
        if not gc.isenabled():
            return
        with self._lock:
            if self._foreign is None:
                self._foreign = gc.get_freeze_count() > 0
            if self._foreign:
                return
            if self._blocks and sys.getallocatedblocks() > self.growth * self._blocks:
                gc.unfreeze()
                self._blocks = 0
            full = not self._blocks
            gc.collect()
            gc.freeze()
            if full:
                self.full_collections += 1
                self._blocks = sys.getallocatedblocks()


frozen_survivors = FrozenSurvivors()


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _run_inherited(batch: Any) -> list[Any] | bytes:
    assert _function is not None
    found = _function(_shared, batch)
    return pickle.dumps(found, protocol=pickle.HIGHEST_PROTOCOL) if _pickled else found


def walks_backward() -> bool:
    """Whether this process takes its batches of a both-ends pass (``run_batches(..., from_both_ends=True)``) from
    the back, in decreasing order; False in this process and in every other pass."""
    return bool(_backward)


def _run_claimed(token: int) -> tuple[int, list[Any] | bytes]:
    """Run the next batch from this worker's end of the list (claimed the first time: workers alternate ends)."""
    global _backward
    assert _function is not None
    lock, front, back, seen = _claims
    with lock:
        if _backward is None:
            _backward = seen.value % 2 == 1
            seen.value += 1
        if _backward:
            number = back.value
            back.value -= 1
        else:
            number = front.value
            front.value += 1
    found = _function(_shared, pickle.loads(_batches[number]))
    return number, pickle.dumps(found, protocol=pickle.HIGHEST_PROTOCOL) if _pickled else found


def run_batches(
    function: Callable[[Any, Batch], list[Item]],
    shared: Any,
    batches: Sequence[Batch],
    *,
    workers: int = 1,
    done: Callable[[Batch], None] | None = None,
    each: Callable[[Item], Any] | None = None,
    from_both_ends: bool = False,
    held_pickled: bool = False,
    ended: Callable[[], None] | None = None,
) -> list[Item]:
    """``function(shared, batch)`` for every batch, results concatenated in batch order.

    ``done`` is called in this process after each batch (progress bars); ``each``, when given, replaces every
    result as its batch arrives (what the caller keeps of it: the rest is freed before the next batch comes).
    ``from_both_ends``: on several workers,
    one worker takes the batches in order from the front and the next in reverse order from the back (a third from
    the front again...), each claiming its next batch when it is free, until they meet: each works through one
    stretch of the list, not every other batch of all of it (a pass ordered so that neighbouring batches read the
    same articles prepares each in one worker, not in both), and they share the work as the pool would. A worker
    asks :func:`walks_backward` which way it goes. The results are the same.
    ``held_pickled``: on several workers, each batch's results come as one pickled ``bytes``, written to an unnamed
    temporary file (``tempfile``: ``TMPDIR``), and are read back and unpickled once the workers have ended: objects
    made in this process while its forked workers run are put in the free space of its heap, pages the workers still
    share, so each page written is copied (the passes' results: held twice, ~1 GB at 1M); held as ``bytes`` they
    were new pages all the same, growing through the pass (1M passages: ~0.06 GB a minute, stop 27), where the file's
    pages are the kernel's cache. The results are the same.
    ``ended``: called in this process once every batch has run (on several workers: once they have ended, before
    held results are read back): what the caller frees there is free space the results are unpickled into, where
    freed before the fork it was free space every worker filled, copying each page it wrote.
    """
    global _shared, _function, _batches, _claims, _pickled
    results: list[Item] = []
    if workers <= 1 or len(batches) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        for batch in batches:
            found = function(shared, batch)
            results.extend(found if each is None else map(each, found))
            if done:
                done(batch)
        if ended is not None:
            ended()
        return results
    context = multiprocessing.get_context("fork")
    # the C heap's free pages handed back before the fork: a page free but resident here is inherited, and both
    # workers (the same allocator state) then write into it, so that it is held three times, the parent's copy
    # too (1M passages pass: ~0.26 GB of heap pages so, stop 26)
    return_free_memory()
    _shared, _function, _pickled = shared, function, held_pickled
    if from_both_ends:  # set before the pool forks its workers, which inherit them
        # each batch pickled, the worker unpickling the one it claims: reading the batches' own objects (a pass's
        # groups: tuples, lists, target ints; 1M passages: ~1.1 M pairs) it wrote their reference counts, so that
        # each worker copied every page of them it read (stop 28); the parent's batches are left untouched
        _batches = [pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL) for batch in batches]
        _claims = (
            context.Lock(),
            context.RawValue("q", 0),  # the next batch from the front
            context.RawValue("q", len(batches) - 1),  # the next from the back
            context.RawValue("q", 0),  # workers that have chosen their end
        )
    # what exists now is read, not freed, by the workers: kept out of the cyclic collector's scans, no
    # process walks (and no child copies, by touching) the shared heap on every full collection
    freeze = gc.get_freeze_count() == 0  # an application that froze its own heap keeps it frozen
    spill = _Spill() if held_pickled else None  # made in this process only: the workers never write to it
    if freeze:
        gc.freeze()
    try:
        with ProcessPoolExecutor(
            max_workers=min(workers, len(batches)),
            mp_context=context,
            initializer=_end_with_parent,
            initargs=(os.getpid(),),
        ) as pool:
            if from_both_ends:
                # one task per batch: each claims the next batch of its worker's end, so every batch runs once
                parts: list[Any] = [None] * len(batches)
                for number, part in pool.map(_run_claimed, range(len(batches))):
                    if spill is not None:
                        parts[number] = spill.put(part)
                    else:
                        parts[number] = part if each is None else list(map(each, part))
                    if done:
                        done(batches[number])
            else:
                parts = []
                for batch, part in zip(batches, pool.map(_run_inherited, batches), strict=True):
                    if spill is not None:
                        parts.append(spill.put(part))
                    else:
                        results.extend(part if each is None else map(each, part))
                    if done:
                        done(batch)
    finally:
        _shared, _function, _batches, _claims, _pickled = None, None, (), None, False
        if freeze:
            gc.unfreeze()
    if ended is not None:
        ended()
    parts.reverse()  # taken from the end: each batch's part freed once its results are out
    try:
        while parts:
            part = parts.pop()
            assert part is not None
            if spill is not None:  # the workers have ended: read back and unpickled now
                part = pickle.loads(spill.get(part))
                if each is not None:
                    part = list(map(each, part))
            results.extend(part)
            del part
    finally:
        if spill is not None:
            spill.close()
    return results


class _Spill:
    """Pickled results held in an unnamed temporary file (``run_batches(held_pickled=True)``): :meth:`put` appends
    one and gives back where it lies, :meth:`get` reads it back (the buffered file writes and reads whole)."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile(prefix="dedup-results-")  # noqa: SIM115 (closed by close)

    def put(self, data: bytes) -> tuple[int, int]:
        offset = self.file.seek(0, os.SEEK_END)
        self.file.write(data)
        return offset, len(data)

    def get(self, place: tuple[int, int]) -> bytes:
        offset, size = place
        self.file.seek(offset)
        found = self.file.read(size)
        if len(found) < size:
            raise OSError(f"the results' file ends at {offset + len(found)}, {size - len(found)} bytes short")
        return found

    def close(self) -> None:
        self.file.close()
