"""Compiled per-pair kernels (numba, nopython) on integer word ids; the readable references stay in ``dedup.align``.

:func:`unit_tiles` is ``align.unit_tiles`` (``align.tiles``, its ``_select`` and ``_split_at_breaks``) in one call
on numpy arrays: the words of both sides as ids of a per-process vocabulary (:func:`word_ids`: equal words, equal
ids, and different words never share one, so the kernel compares what the reference compares), the source's k-gram
index and the target's k-gram lookup as ``align`` makes them. :func:`kgram_lookup` is ``align.KgramMatches.of`` and
counts the longest run of found keys (``align.may_share_run``). Tested against the references on generated
sequences (``tests/test_kernels.py``); measured in ``benchmarks/kernels.py`` and docs/scale.md (stop 19).

Importing this module imports numba (~0.4 CPU s); :func:`warm` loads the kernels (~0.4 s; ``cache=True``: compiled
once per checkout into ``__pycache__``, ~17 CPU s, loaded from there afterwards). ``align`` imports it only when a run
asks for it (:func:`dedup.align.use_kernels`), before the pipeline forks its workers, so they inherit the loaded code.
"""

from __future__ import annotations

import heapq
import itertools

import numpy as np
from numba import njit

MAX_VOCABULARY = 1_000_000  # words held before :func:`bound_vocabulary` starts a new vocabulary (~0.1 GB)


class _Vocabulary:
    """word -> id in this process (forked workers extend their own copies), and which vocabulary it is: ids of
    different generations are never compared (``align.Side.kernel_arrays`` makes a side's ids again when they are
    of an older one)."""

    __slots__ = ("generation", "ids", "next_ids")

    def __init__(self) -> None:
        self.generation = 0
        self.ids: dict[str, int] = {}
        self.next_ids = itertools.count()  # a new word takes the next value: ids are unique, not dense

    def reset(self) -> None:
        self.generation += 1
        self.ids = {}
        self.next_ids = itertools.count()


_VOCABULARY = _Vocabulary()


def word_ids(words: list[str]) -> np.ndarray:
    """The id of every word in this process's vocabulary (a new word gets a new id), as ``int64``: equal words
    have equal ids and different words different ones, so comparing ids is comparing words (of one
    :func:`vocabulary_generation`)."""
    ids = _VOCABULARY.ids
    return np.fromiter(map(ids.setdefault, words, _VOCABULARY.next_ids), dtype=np.int64, count=len(words))


def vocabulary_generation() -> int:
    """Which vocabulary :func:`word_ids` numbers words in now (changes at each :func:`reset_vocabulary`)."""
    return _VOCABULARY.generation


def vocabulary_size() -> int:
    """How many words the current vocabulary holds."""
    return len(_VOCABULARY.ids)


def reset_vocabulary() -> None:
    """Start a new, empty vocabulary (a run's start: ``align.use_kernels``), freeing the old one's words; ids made
    before are of an older generation from then on."""
    _VOCABULARY.reset()


def bound_vocabulary(most: int | None = None) -> None:
    """A new vocabulary when this one holds more than ``most`` words: a long-lived process (the crawler's index
    aligns pairs for ever) holds at most ``most`` words and one pair's more. Called between pairs, never between
    making two sides' ids for one pair."""
    if len(_VOCABULARY.ids) > (MAX_VOCABULARY if most is None else most):
        _VOCABULARY.reset()


@njit(cache=True, nogil=True)
def _candidate_tiles(
    source: np.ndarray,
    target: np.ndarray,
    min_tile: int,
    index_keys: np.ndarray,
    index_positions: np.ndarray,
    target_keys: np.ndarray,
    low: np.ndarray,
    found: np.ndarray,
) -> np.ndarray:
    """The maximal common runs of at least ``min_tile`` words starting at a k-gram hit (``align.tiles``' loop):
    rows ``(source, target, length)``."""
    count = 0
    capacity = 64
    matches = np.empty((capacity, 3), dtype=np.int64)
    n_source, n_target, n_keys = len(source), len(target), len(index_keys)
    for j in range(len(found)):
        if not found[j]:
            continue
        key = target_keys[j]
        p = low[j]
        while p < n_keys and index_keys[p] == key:
            i = index_positions[p]
            p += 1
            if i > 0 and j > 0 and source[i - 1] == target[j - 1]:
                continue  # not maximal on the left: found from an earlier start
            same = True
            for k in range(min_tile):
                if source[i + k] != target[j + k]:
                    same = False  # another k-gram with the same key
                    break
            if not same:
                continue
            length = min_tile
            while i + length < n_source and j + length < n_target and source[i + length] == target[j + length]:
                length += 1
            if count == capacity:
                capacity *= 2
                grown = np.empty((capacity, 3), dtype=np.int64)
                grown[:count] = matches[:count]
                matches = grown
            matches[count, 0] = i
            matches[count, 1] = j
            matches[count, 2] = length
            count += 1
    return matches[:count]


@njit(cache=True, nogil=True)
def _select(matches: np.ndarray, n_source: int, n_target: int, min_tile: int) -> np.ndarray:
    """``align._select``: tiles longest first (then by target, source), a clipped one re-queued with its longest
    free stretch; rows ``(source, target, length)`` in target order."""
    used_source = np.zeros(n_source, dtype=np.uint8)
    used_target = np.zeros(n_target, dtype=np.uint8)
    pending = [(-matches[k, 2], matches[k, 1], matches[k, 0]) for k in range(len(matches))]
    heapq.heapify(pending)
    chosen = np.empty((len(matches), 3), dtype=np.int64)  # at most one chosen tile per match (a clip replaces it)
    count = 0
    while pending:
        negative, t_begin, s_begin = heapq.heappop(pending)
        length = -negative
        free = True
        for k in range(length):
            if used_source[s_begin + k] or used_target[t_begin + k]:
                free = False
                break
        if free:
            chosen[count, 0] = s_begin
            chosen[count, 1] = t_begin
            chosen[count, 2] = length
            count += 1
            used_source[s_begin : s_begin + length] = 1
            used_target[t_begin : t_begin + length] = 1
            continue
        best_start, best_len, run_start = 0, 0, -1
        for offset in range(length + 1):
            ok = offset < length and not used_source[s_begin + offset] and not used_target[t_begin + offset]
            if ok and run_start < 0:
                run_start = offset
            elif not ok and run_start >= 0:
                if offset - run_start > best_len:
                    best_start, best_len = run_start, offset - run_start
                run_start = -1
        if best_len >= min_tile:
            heapq.heappush(pending, (-best_len, t_begin + best_start, s_begin + best_start))
    chosen = chosen[:count]
    return chosen[np.argsort(chosen[:, 1], kind="mergesort")]  # targets are distinct: any sort gives this order


@njit(cache=True, nogil=True)
def _split(
    chosen: np.ndarray,
    source_breaks: np.ndarray,
    target_breaks: np.ndarray,
    source_pos: np.ndarray,
    target_pos: np.ndarray,
    min_tile: int,
) -> np.ndarray:
    """``align._split_at_breaks`` of every chosen tile, rows ``(s_first, s_end, t_first, t_end)`` in token indices."""
    pieces = np.empty((len(chosen) * 2 + 8, 4), dtype=np.int64)
    count = 0
    for row in range(len(chosen)):
        s_begin, t_begin, length = chosen[row, 0], chosen[row, 1], chosen[row, 2]
        s_low = np.searchsorted(source_breaks, s_begin, side="right")
        s_high = np.searchsorted(source_breaks, s_begin + length, side="left")
        t_low = np.searchsorted(target_breaks, t_begin, side="right")
        t_high = np.searchsorted(target_breaks, t_begin + length, side="left")
        cuts = np.empty(s_high - s_low + t_high - t_low + 1, dtype=np.int64)
        n = 0
        for x in range(s_low, s_high):
            cuts[n] = source_breaks[x] - s_begin
            n += 1
        for x in range(t_low, t_high):
            cuts[n] = target_breaks[x] - t_begin
            n += 1
        ordered = np.sort(cuts[:n])
        cuts[: len(ordered)] = ordered
        cuts[n] = length
        start = 0
        previous = -1
        for c in range(n + 1):
            offset = cuts[c]
            if offset == previous:
                continue  # a cut at a break of both sides counts once
            previous = offset
            if offset - start >= min_tile:
                if count == len(pieces):
                    grown = np.empty((count * 2, 4), dtype=np.int64)
                    grown[:count] = pieces[:count]
                    pieces = grown
                pieces[count, 0] = source_pos[s_begin + start]
                pieces[count, 1] = source_pos[s_begin + offset - 1] + 1
                pieces[count, 2] = target_pos[t_begin + start]
                pieces[count, 3] = target_pos[t_begin + offset - 1] + 1
                count += 1
            start = offset
    return pieces[:count]


@njit(cache=True, nogil=True)
def unit_tiles(
    source: np.ndarray,
    target: np.ndarray,
    min_tile: int,
    index_keys: np.ndarray,
    index_positions: np.ndarray,
    target_keys: np.ndarray,
    low: np.ndarray,
    found: np.ndarray,
    source_breaks: np.ndarray,
    target_breaks: np.ndarray,
    source_pos: np.ndarray,
    target_pos: np.ndarray,
) -> np.ndarray:
    """``align.unit_tiles`` of a pair: its verbatim tiles cut at unit breaks, rows ``(s_first, s_end, t_first,
    t_end)`` in target order. ``source``/``target``: word ids (:func:`word_ids`); ``index_keys``/``index_positions``:
    the source's ``KgramIndex``; ``target_keys``: the target's k-gram keys; ``low``/``found``: their
    ``KgramMatches``; breaks (``Side.unit_breaks``) and token positions (``Side.positions``) as int64 arrays."""
    matches = _candidate_tiles(source, target, min_tile, index_keys, index_positions, target_keys, low, found)
    if len(matches) == 0:
        return np.empty((0, 4), dtype=np.int64)
    chosen = _select(matches, len(source), len(target), min_tile)
    return _split(chosen, source_breaks, target_breaks, source_pos, target_pos, min_tile)


@njit(cache=True, nogil=True)
def kgram_lookup(index_keys: np.ndarray, target_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """``align.KgramMatches.of``: where each target key would sit in the sorted ``index_keys`` (the left end) and
    whether it is there; with the longest run of consecutive target positions whose keys are there (what
    ``align.may_share_run`` asks)."""
    low = np.searchsorted(index_keys, target_keys, side="left")
    found = np.zeros(len(target_keys), dtype=np.bool_)
    last = len(index_keys) - 1
    longest, run = 0, 0
    for j in range(len(target_keys)):
        if last >= 0 and index_keys[min(low[j], last)] == target_keys[j]:
            found[j] = True
            run += 1
            longest = max(longest, run)
        else:
            run = 0
    return low, found, longest


def warm() -> None:
    """Load (or compile, the first time in a checkout) :func:`kgram_lookup` and :func:`unit_tiles` for the argument
    types ``align`` passes, so that the processes forked afterwards inherit the machine code instead of each loading
    it again."""
    words = np.array([1, 2, 3, 1, 2, 3], dtype=np.int64)
    keys = np.array([5, 6, 7, 5], dtype=np.uint64)
    order = np.argsort(keys, kind="stable")
    low = kgram_lookup(keys[order], keys)[0]
    unit_tiles(
        words,
        words,
        3,
        keys[order],
        order,
        keys,
        low,
        np.ones(len(keys), dtype=bool),
        np.array([3], dtype=np.int64),
        np.array([3], dtype=np.int64),
        np.arange(len(words), dtype=np.int32),
        np.arange(len(words), dtype=np.int32),
    )
