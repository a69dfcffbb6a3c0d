"""Compiled per-pair kernels (numba, nopython) on integer word ids; the readable references stay in ``dedup.align``.

:func:`unit_tiles` is ``align.unit_tiles`` (``align.tiles``, its ``_select`` and ``_split_at_breaks``) in one call
on numpy arrays: the words of both sides as ids of a per-process vocabulary (:func:`word_ids`: equal words, equal
ids, and different words never share one, so the kernel compares what the reference compares), the source's k-gram
index and the target's k-gram lookup as ``align`` makes them. :func:`kgram_lookup` is ``align.KgramMatches.of`` and
counts the longest run of found keys (``align.may_share_run``). :func:`word_runs` is ``align._word_runs`` (the
passages pass's word alignment inside target units: stretch alignments, longest common subsequences, word labels) on
the ids of every token's word and stem. Tested against the references on generated
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


@njit(cache=True, nogil=True)
def _common_subsequence(target: np.ndarray, source: np.ndarray) -> np.ndarray:
    """``align.reference_common_subsequence`` on ids: rows ``(x, y)``."""
    n, m = len(target), len(source)
    pairs = np.empty((min(n, m), 2), dtype=np.int64)
    if n == 0 or m == 0:
        return pairs[:0]
    longest = np.zeros((n + 1, m + 1), dtype=np.int32)
    for x in range(n - 1, -1, -1):
        for y in range(m - 1, -1, -1):
            if target[x] == source[y]:
                longest[x, y] = longest[x + 1, y + 1] + 1
            else:
                longest[x, y] = max(longest[x + 1, y], longest[x, y + 1])
    count, x, y = 0, 0, 0
    while x < n and y < m:
        if target[x] == source[y] and longest[x, y] == longest[x + 1, y + 1] + 1:
            pairs[count, 0] = x
            pairs[count, 1] = y
            count += 1
            x += 1
            y += 1
        elif longest[x + 1, y] >= longest[x, y + 1]:
            x += 1
        else:
            y += 1
    return pairs[:count]


@njit(cache=True, nogil=True)
def _contains(ordered: np.ndarray, value: int) -> bool:
    at = np.searchsorted(ordered, value)
    return at < len(ordered) and ordered[at] == value


@njit(cache=True, nogil=True)
def _monotone_matches(target: np.ndarray, source: np.ndarray) -> np.ndarray:
    """``align.monotone_matches`` on ids: the values both hold kept, then their common subsequence, rows
    ``(target index, source index)``."""
    in_source, in_target = np.unique(source), np.unique(target)
    target_at = np.empty(len(target), dtype=np.int64)
    source_at = np.empty(len(source), dtype=np.int64)
    n = m = 0
    for x in range(len(target)):
        if _contains(in_source, target[x]):
            target_at[n] = x
            n += 1
    for y in range(len(source)):
        if _contains(in_target, source[y]):
            source_at[m] = y
            m += 1
    pairs = _common_subsequence(target[target_at[:n]], source[source_at[:m]])
    for row in range(len(pairs)):
        pairs[row, 0] = target_at[pairs[row, 0]]
        pairs[row, 1] = source_at[pairs[row, 1]]
    return pairs


@njit(cache=True, nogil=True)
def _window(unit: int, firsts: np.ndarray, lasts: np.ndarray) -> np.ndarray:
    """``align.Side.window(unit).tokens``: the tokens of units ``unit - 1`` to ``unit + 1``."""
    low, high = max(0, unit - 1), min(len(firsts) - 1, unit + 1)
    size = 0
    for u in range(low, high + 1):
        size += lasts[u] - firsts[u]
    tokens = np.empty(size, dtype=np.int64)
    n = 0
    for u in range(low, high + 1):
        for k in range(firsts[u], lasts[u]):
            tokens[n] = k
            n += 1
    return tokens


@njit(cache=True, nogil=True)
def _needed(stems: np.ndarray, begin: int, end: int, min_matches: int, min_share: float) -> float:
    """``align._needed``."""
    content = 0
    for k in range(begin, end):
        if stems[k] >= 0:
            content += 1
    return max(float(min_matches), min_share * content)


@njit(cache=True, nogil=True)
def _most_shared(
    target_stems: np.ndarray, begin: int, end: int, source_stems: np.ndarray, firsts: np.ndarray, lasts: np.ndarray
) -> np.ndarray:
    """``align._most_shared`` (two units)."""
    wanted = np.unique(target_stems[begin:end])
    if len(wanted) and wanted[0] < 0:
        wanted = wanted[1:]
    best = np.empty(2, dtype=np.int64)
    if not len(wanted):
        return best[:0]
    best_count = np.zeros(2, dtype=np.int64)
    found = 0
    for unit in range(len(firsts)):
        shared = 0
        for stem in np.unique(source_stems[firsts[unit] : lasts[unit]]):
            if stem >= 0 and _contains(wanted, stem):
                shared += 1
        if shared == 0:
            continue
        if found < 2:
            best[found], best_count[found] = unit, shared
            found += 1
            if found == 2 and best_count[1] > best_count[0]:
                best[0], best[1] = best[1], best[0]
                best_count[0], best_count[1] = best_count[1], best_count[0]
        elif shared > best_count[0]:
            best[1], best_count[1] = best[0], best_count[0]
            best[0], best_count[0] = unit, shared
        elif shared > best_count[1]:
            best[1], best_count[1] = unit, shared
    return best[:found]


@njit(cache=True, nogil=True)
def _stretch_alignment(
    target_stems: np.ndarray,
    begin: int,
    end: int,
    nearest: np.ndarray,
    source_stems: np.ndarray,
    firsts: np.ndarray,
    lasts: np.ndarray,
    needed: float,
    max_edge_gap: int,
    min_matches: int,
) -> tuple[np.ndarray, np.ndarray, int]:
    """``align._stretch_alignment``: the stem matches ``(target token, window position)`` kept, the window's tokens
    and the count before trimming; no rows when ``align`` says None."""
    none = (np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=np.int64), 0)
    content = np.empty(end - begin, dtype=np.int64)
    n = 0
    for k in range(begin, end):
        if target_stems[k] >= 0:
            content[n] = k
            n += 1
    if n == 0:
        return none
    content = content[:n]
    unit_stems = target_stems[content]
    ordered_unit = np.sort(unit_stems)
    best = np.empty((0, 2), dtype=np.int64)
    best_window = np.empty(0, dtype=np.int64)
    for i in nearest:
        tokens = _window(i, firsts, lasts)
        window_content = np.empty(len(tokens), dtype=np.int64)
        m = 0
        for y in range(len(tokens)):
            if source_stems[tokens[y]] >= 0:
                window_content[m] = y
                m += 1
        window_content = window_content[:m]
        window_stems = source_stems[tokens[window_content]]
        ordered_window = np.sort(window_stems)
        bound, x, y = 0, 0, 0  # the common multiset's size: an exact bound on the common subsequence
        while x < len(ordered_unit) and y < len(ordered_window):
            if ordered_unit[x] < ordered_window[y]:
                x += 1
            elif ordered_unit[x] > ordered_window[y]:
                y += 1
            else:
                bound += 1
                x += 1
                y += 1
        if bound < needed:
            continue
        found = _monotone_matches(unit_stems, window_stems)
        if len(found) > len(best):
            best = np.empty((len(found), 2), dtype=np.int64)
            for row in range(len(found)):
                best[row, 0] = content[found[row, 0]]
                best[row, 1] = window_content[found[row, 1]]
            best_window = tokens
    if len(best) < needed:
        return none
    count = len(best)
    low, high = 0, len(best)
    while high - low > 2 and best[low + 1, 0] - best[low, 0] > max_edge_gap:
        low += 1
    while high - low > 2 and best[high - 1, 0] - best[high - 2, 0] > max_edge_gap:
        high -= 1
    if high - low < min_matches:
        return none
    return best[low:high].copy(), best_window, count


REWRITE, VERBATIM = 0, 1  # the kind column of :func:`word_runs`' rows


@njit(cache=True, nogil=True)
def _append(rows: np.ndarray, count: int, t_from: int, t_to: int, s_from: int, s_to: int, kind: int) -> np.ndarray:
    if count == len(rows):
        grown = np.empty((2 * len(rows) + 8, 5), dtype=np.int64)
        grown[:count] = rows[:count]
        rows = grown
    rows[count, 0], rows[count, 1], rows[count, 2], rows[count, 3], rows[count, 4] = t_from, t_to, s_from, s_to, kind
    return rows


@njit(cache=True, nogil=True)
def _edge_run(
    rows: np.ndarray, count: int, window: np.ndarray, token: int, position: int, bound: int, limit: int, before: bool
) -> tuple[np.ndarray, int]:
    """``align._edge_run``."""
    words = token - bound if before else bound - 1 - token
    if words <= 0 or words > limit:
        return rows, count
    step = -1 if before else 1
    far = position
    while (
        0 <= far + step < len(window)
        and abs(far + step - position) <= words
        and window[far + step] == window[far] + step
    ):
        far += step
    if far == position:
        s_from, s_to = window[position], window[position] + 1
    elif before:
        s_from, s_to = window[far], window[position]
    else:
        s_from, s_to = window[position] + 1, window[far] + 1
    t_from, t_to = (bound, token) if before else (token + 1, bound)
    return _append(rows, count, t_from, t_to, s_from, s_to, REWRITE), count + 1


@njit(cache=True, nogil=True)
def _label_words(
    rows: np.ndarray,
    count: int,
    target_words: np.ndarray,
    source_words: np.ndarray,
    anchors: np.ndarray,
    window: np.ndarray,
) -> tuple[np.ndarray, int]:
    """``align._label_words``: its runs appended to ``rows``."""
    first, last = anchors[0, 0], anchors[len(anchors) - 1, 0]
    matched = np.full(last - first + 3, -1, dtype=np.int64)  # token first - 1 + x -> window position, or -1
    for row in range(len(anchors)):
        matched[anchors[row, 0] - first + 1] = anchors[row, 1]
    for row in range(len(anchors) - 1):
        t0, p0, t1, p1 = anchors[row, 0], anchors[row, 1], anchors[row + 1, 0], anchors[row + 1, 1]
        if t1 - t0 < 2 or p1 - p0 < 2:
            continue
        found = _monotone_matches(target_words[t0 + 1 : t1], source_words[window[p0 + 1 : p1]])
        keep = np.zeros(len(found), dtype=np.bool_)
        for x in range(len(found)):
            k = t0 + 1 + found[x, 0]
            keep[x] = (
                matched[k - 1 - first + 1] >= 0
                or matched[k + 1 - first + 1] >= 0
                or (x > 0 and t0 + 1 + found[x - 1, 0] == k - 1)
                or (x + 1 < len(found) and t0 + 1 + found[x + 1, 0] == k + 1)
            )
        for x in range(len(found)):
            if keep[x]:
                matched[t0 + 1 + found[x, 0] - first + 1] = p0 + 1 + found[x, 1]
    start = count  # this call's runs: rows[start:count]
    after = anchors[0, 1] + 1
    for k in range(first, last + 1):
        position = matched[k - first + 1]
        previous = count > start and rows[count - 1, 1] == k
        if position >= 0 and target_words[k] != source_words[window[position]]:
            if previous and rows[count - 1, 4] == REWRITE:
                rows[count - 1, 1] = k + 1
            else:
                rows = _append(rows, count, k, k + 1, window[position], window[position] + 1, REWRITE)
                count += 1
            after = position + 1
        elif position >= 0:
            s = window[position]
            if previous and rows[count - 1, 4] == VERBATIM and rows[count - 1, 3] == s:
                rows[count - 1, 1] = k + 1
                rows[count - 1, 3] = s + 1
            else:
                rows = _append(rows, count, k, k + 1, s, s + 1, VERBATIM)
                count += 1
            after = position + 1
        elif previous and rows[count - 1, 4] == REWRITE:
            rows[count - 1, 1] = k + 1
        else:
            n = k + 1
            while matched[n - first + 1] < 0:
                n += 1
            following = matched[n - first + 1]
            begin = following
            while begin > after and window[begin - 1] == window[begin] - 1:
                begin -= 1
            end = max(window[following], window[begin] + 1) if begin < following else window[following] + 1
            rows = _append(rows, count, k, k + 1, window[begin], end, REWRITE)
            count += 1
    return rows, count


@njit(cache=True, nogil=True)
def word_runs(
    target_words: np.ndarray,
    target_stems: np.ndarray,
    target_firsts: np.ndarray,
    target_lasts: np.ndarray,
    source_words: np.ndarray,
    source_stems: np.ndarray,
    source_firsts: np.ndarray,
    source_lasts: np.ndarray,
    cosine: np.ndarray,
    top: np.ndarray,
    verbatim: np.ndarray,
    skip_verbatim: bool,
    min_cosine: float,
    min_matches: int,
    min_share: float,
    max_edge_gap: int,
    word_edge: int,
) -> np.ndarray:
    """``align._word_runs`` of a pair on ids: rows ``(t_from, t_to, s_from, s_to, kind)`` (kind :data:`VERBATIM` or
    :data:`REWRITE`). Words and stems: the ids of every token's word and stem (-1: no stem) of both articles
    (``align.Side.token_ids``); firsts/lasts: each unit's tokens; ``top``: each target unit's two nearest source units
    by cosine (``argsort`` as ``_word_runs`` sorts); ``verbatim``: a byte per target token, read when
    ``skip_verbatim``."""
    rows = np.empty((16, 5), dtype=np.int64)
    count = 0
    for j in range(len(target_firsts)):
        unit_first, unit_last = target_firsts[j], target_lasts[j]
        if skip_verbatim:
            covered = True
            for k in range(unit_first, unit_last):
                if verbatim[k] == 0:
                    covered = False
                    break
            if covered:
                continue
        nearest = np.empty(top.shape[1], dtype=np.int64)
        n = 0
        for i in top[j]:
            if cosine[j, i] >= min_cosine:
                nearest[n] = i
                n += 1
        needed = _needed(target_stems, unit_first, unit_last, min_matches, min_share)
        whole = _stretch_alignment(
            target_stems,
            unit_first,
            unit_last,
            nearest[:n],
            source_stems,
            source_firsts,
            source_lasts,
            float(min_matches),  # the whole unit needs the fewest matches; its parts together ``needed``
            max_edge_gap,
            min_matches,
        )
        if len(whole[0]) == 0:
            continue
        parts = [(unit_first, unit_last, whole[0], whole[1], whole[2])]
        edges = ((unit_first, whole[0][0, 0]), (whole[0][len(whole[0]) - 1, 0] + 1, unit_last))
        for begin, end in edges:
            if end - begin > word_edge:
                found = _stretch_alignment(
                    target_stems,
                    begin,
                    end,
                    _most_shared(target_stems, begin, end, source_stems, source_firsts, source_lasts),
                    source_stems,
                    source_firsts,
                    source_lasts,
                    _needed(target_stems, begin, end, min_matches, min_share),
                    max_edge_gap,
                    min_matches,
                )
                if len(found[0]):
                    parts.append((begin, end, found[0], found[1], found[2]))
        total = 0
        for part in parts:
            total += part[4]
        if total < needed:
            continue
        for begin, end, matches, window, _ in parts:
            last = len(matches) - 1
            rows, count = _edge_run(rows, count, window, matches[0, 0], matches[0, 1], begin, word_edge, True)
            rows, count = _label_words(rows, count, target_words, source_words, matches, window)
            rows, count = _edge_run(rows, count, window, matches[last, 0], matches[last, 1], end, word_edge, False)
    return rows[:count]


@njit(cache=True, nogil=True)
def _push(
    rows: np.ndarray,
    scores: np.ndarray,
    count: int,
    s_first: int,
    s_end: int,
    t_first: int,
    t_end: int,
    kind: int,
    score: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Row ``count`` of a :func:`detail_runs` result set (both arrays grown when full)."""
    if count == len(rows):
        grown = np.empty((2 * len(rows) + 8, 5), dtype=np.int64)
        grown[:count] = rows[:count]
        rows = grown
        grown_scores = np.empty(len(grown), dtype=np.float64)
        grown_scores[:count] = scores[:count]
        scores = grown_scores
    rows[count, 0], rows[count, 1], rows[count, 2], rows[count, 3], rows[count, 4] = (
        s_first,
        s_end,
        t_first,
        t_end,
        kind,
    )
    scores[count] = score
    return rows, scores


@njit(cache=True, nogil=True)
def _overlay(
    runs: np.ndarray, scores: np.ndarray, words: np.ndarray, target_tokens: int, word_rewrite_score: float
) -> tuple[np.ndarray, np.ndarray, int]:
    """``align._overlay_runs`` on rows ``(s_first, s_end, t_first, t_end, kind)`` and their scores; ``words``:
    :func:`word_runs`' rows. Each target token's kind (0 none, 1 verbatim, 2 rewrite) and whether a word run took it
    a byte, as the reference has them."""
    kind_at = np.zeros(target_tokens, dtype=np.uint8)
    for r in range(len(runs)):
        code = 1 if runs[r, 4] == VERBATIM else 2
        for k in range(runs[r, 2], runs[r, 3]):
            kind_at[k] = code
    overridden = np.zeros(target_tokens, dtype=np.uint8)
    added = np.empty((len(words) + 8, 5), dtype=np.int64)
    added_scores = np.empty(len(added), dtype=np.float64)
    added_count = 0
    for w in range(len(words)):
        t_from, t_to, s_from, s_to, kind = words[w, 0], words[w, 1], words[w, 2], words[w, 3], words[w, 4]
        verbatim = kind == VERBATIM
        code = 1 if verbatim else 2
        begin = -1
        for k in range(t_from, t_to + 1):  # a token is free or not before this run marks it (the reference's list)
            free = k < t_to and (kind_at[k] != 1 if verbatim else kind_at[k] == 0)
            if free:
                if begin < 0:
                    begin = k
                overridden[k] = 1
                if kind_at[k] == 0:
                    kind_at[k] = code
            elif begin >= 0:
                if verbatim:
                    offset = begin - t_from
                    added, added_scores = _push(
                        added,
                        added_scores,
                        added_count,
                        s_from + offset,
                        s_from + offset + k - begin,
                        begin,
                        k,
                        kind,
                        1.0,
                    )
                else:
                    added, added_scores = _push(
                        added, added_scores, added_count, s_from, s_to, begin, k, kind, word_rewrite_score
                    )
                added_count += 1
                begin = -1
    rows = np.empty((len(runs) + added_count + 8, 5), dtype=np.int64)
    kept_scores = np.empty(len(rows), dtype=np.float64)
    count = 0
    for r in range(len(runs)):
        s_first, s_end, t_first, t_end, kind = runs[r, 0], runs[r, 1], runs[r, 2], runs[r, 3], runs[r, 4]
        touched = False
        if kind == REWRITE:
            for k in range(t_first, t_end):
                if overridden[k]:
                    touched = True
                    break
        if not touched:
            rows, kept_scores = _push(rows, kept_scores, count, s_first, s_end, t_first, t_end, kind, scores[r])
            count += 1
            continue
        begin = -1
        for k in range(t_first, t_end + 1):
            if k < t_end and not overridden[k]:
                if begin < 0:
                    begin = k
            elif begin >= 0:
                rows, kept_scores = _push(rows, kept_scores, count, s_first, s_end, begin, k, kind, scores[r])
                count += 1
                begin = -1
    for a in range(added_count):
        rows, kept_scores = _push(
            rows,
            kept_scores,
            count,
            added[a, 0],
            added[a, 1],
            added[a, 2],
            added[a, 3],
            added[a, 4],
            added_scores[a],
        )
        count += 1
    return rows, kept_scores, count


@njit(cache=True, nogil=True)
def _kept(
    runs: np.ndarray,
    scores: np.ndarray,
    count: int,
    target_words: np.ndarray,
    target_stems: np.ndarray,
    target_named: np.ndarray,
    source_words: np.ndarray,
    source_stems: np.ndarray,
    source_firsts: np.ndarray,
    source_lasts: np.ndarray,
    sentence_of: np.ndarray,
    names: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, int]:
    """``align._kept_runs`` on the first ``count`` rows: a rewrite's target tokens whose content word its source units
    hold (the first token of the first unit holding it, as ``Side.unit_content_words`` merged in unit order), or whose
    name (``target_named``) the source names (``names``: the token of each of ``Side.named_words``), each a verbatim
    one-word row, the rest of the rewrite cut around them."""
    rows = np.empty((count + 8, 5), dtype=np.int64)
    kept_scores = np.empty(len(rows), dtype=np.float64)
    out = 0
    source_count = len(source_words)
    for r in range(count):
        s_first, s_end, t_first, t_end, kind = runs[r, 0], runs[r, 1], runs[r, 2], runs[r, 3], runs[r, 4]
        if kind != REWRITE:
            rows, kept_scores = _push(rows, kept_scores, out, s_first, s_end, t_first, t_end, kind, scores[r])
            out += 1
            continue
        touched = sentence_of[s_first : min(max(s_first + 1, s_end), source_count)]
        units = np.unique(touched[touched >= 0])  # ascending: the first unit holding a word gives its token
        at = np.full(t_end - t_first, -1, dtype=np.int64)
        found = 0
        for k in range(t_first, t_end):
            if target_stems[k] < 0:
                continue
            word = target_words[k]
            where = -1
            for unit in units:
                for i in range(source_firsts[unit], source_lasts[unit]):
                    if source_stems[i] >= 0 and source_words[i] == word:
                        where = i
                        break
                if where >= 0:
                    break
            if where < 0 and target_named[k]:
                for i in names:
                    if source_words[i] == word:
                        where = i
                        break
            if where >= 0:
                at[k - t_first] = where
                found += 1
        if not found:
            rows, kept_scores = _push(rows, kept_scores, out, s_first, s_end, t_first, t_end, kind, scores[r])
            out += 1
            continue
        for k in range(t_first, t_end):  # one row a word: words next to each other on both sides are merged later
            where = at[k - t_first]
            if where >= 0:
                rows, kept_scores = _push(rows, kept_scores, out, where, where + 1, k, k + 1, VERBATIM, 1.0)
                out += 1
        begin = -1
        for k in range(t_first, t_end + 1):
            if k < t_end and at[k - t_first] < 0:
                if begin < 0:
                    begin = k
            elif begin >= 0:
                rows, kept_scores = _push(rows, kept_scores, out, s_first, s_end, begin, k, kind, scores[r])
                out += 1
                begin = -1
    return rows, kept_scores, out


@njit(cache=True, nogil=True)
def detail_runs(
    runs: np.ndarray,
    scores: np.ndarray,
    words: np.ndarray,
    overlay: bool,
    kept_words: bool,
    word_rewrite_score: float,
    target_words: np.ndarray,
    target_stems: np.ndarray,
    target_named: np.ndarray,
    source_words: np.ndarray,
    source_stems: np.ndarray,
    source_firsts: np.ndarray,
    source_lasts: np.ndarray,
    sentence_of: np.ndarray,
    names: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``align._overlay_runs`` (when ``overlay``) then ``align._kept_runs`` (when ``kept_words``) of a pair in one
    call: ``runs`` rows ``(s_first, s_end, t_first, t_end, kind)`` (kind :data:`VERBATIM` or :data:`REWRITE`) with
    their ``scores``, ``words`` :func:`word_runs`' rows; ids as :func:`word_runs` reads them; ``target_named``: a
    byte a target token, 1 when written as a name or a figure (``align._named``); ``sentence_of``: each source
    token's unit (-1 outside evidence). Returns the rows and their scores, in the references' order."""
    count = len(runs)
    if overlay:
        runs, scores, count = _overlay(runs, scores, words, len(target_words), word_rewrite_score)
    if kept_words:
        runs, scores, count = _kept(
            runs,
            scores,
            count,
            target_words,
            target_stems,
            target_named,
            source_words,
            source_stems,
            source_firsts,
            source_lasts,
            sentence_of,
            names,
        )
    return runs[:count], scores[:count]


@njit(cache=True, nogil=True)
def _hull(
    stems: np.ndarray, first: int, last: int, other: np.ndarray, other_first: int, other_last: int, max_gap: int
) -> tuple[int, int]:
    """``align._hull`` of tokens ``[first, last)`` of ``stems`` against the unit ``[other_first, other_last)`` of
    ``other``: a stem is shared when it is a content stem (id >= 0) of both units. ``(-1, -1)`` when no hull."""
    hits = np.empty(last - first, dtype=np.int64)
    count = 0
    for k in range(first, last):
        stem = stems[k]
        if stem < 0:
            continue
        for i in range(other_first, other_last):
            if other[i] == stem:
                hits[count] = k
                count += 1
                break
    if count < 2:
        return -1, -1
    low, high = 0, count - 1
    while high - low + 1 > 2 and hits[low + 1] - hits[low] > max_gap:
        low += 1
    while high - low + 1 > 2 and hits[high] - hits[high - 1] > max_gap:
        high -= 1
    return hits[low], hits[high] + 1


@njit(cache=True, nogil=True)
def _copied(
    rows: np.ndarray,
    scores: np.ndarray,
    count: int,
    source_words: np.ndarray,
    target_words: np.ndarray,
    sentence_first: int,
    sentence_last: int,
    start: int,
    end: int,
    s_begin: int,
    s_end: int,
    min_run: int,
    score: float,
) -> tuple[np.ndarray, np.ndarray, int]:
    """``align._copied_runs`` of the target stretch ``[start, end)`` against the source unit
    ``[sentence_first, sentence_last)``, appended as rows ``(s_from, s_to, t_from, t_to, kind)`` (verbatim score 1.0,
    rewrite ``score``)."""
    if min_run <= 0:
        rows, scores = _push(rows, scores, count, s_begin, s_end, start, end, REWRITE, score)
        return rows, scores, count + 1
    first_row = count
    k = start
    reach = sentence_first  # copied runs follow the source order; a moved phrase is part of the rewrite
    while k < end:
        best_length, best_at = 0, -1
        word = target_words[k]
        for i in range(reach, sentence_last):  # the source unit's occurrences of the word from ``reach`` on
            if source_words[i] != word:
                continue
            length = 0
            while k + length < end and i + length < sentence_last:
                if source_words[i + length] != target_words[k + length]:
                    break
                length += 1
            if length > best_length:
                best_length, best_at = length, i
        if best_length >= min_run:
            rows, scores = _push(rows, scores, count, best_at, best_at + best_length, k, k + best_length, VERBATIM, 1.0)
            count += 1
            reach = best_at + best_length
            k += best_length
            continue
        if count > first_row and rows[count - 1, 4] == REWRITE and rows[count - 1, 3] == k:
            rows[count - 1, 3] = k + 1
        else:
            rows, scores = _push(rows, scores, count, s_begin, s_end, k, k + 1, REWRITE, score)
            count += 1
        k += 1
    return rows, scores, count


@njit(cache=True, nogil=True)
def rewrite_runs(
    tiles: np.ndarray,
    pairs: np.ndarray,
    pair_scores: np.ndarray,
    covered: np.ndarray,
    source_words: np.ndarray,
    source_stems: np.ndarray,
    source_firsts: np.ndarray,
    source_lasts: np.ndarray,
    target_words: np.ndarray,
    target_stems: np.ndarray,
    target_firsts: np.ndarray,
    target_lasts: np.ndarray,
    max_edge_gap: int,
    min_copied_run: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The token runs ``align.align_sides`` builds before its detail steps, in its order: the kept verbatim ``tiles``
    ``(s_first, s_end, t_first, t_end)`` (score 1.0), then ``align._rewrite_runs`` of every accepted sentence pair
    (``pairs``: source unit, target unit; ``pair_scores``: its similarity rounded to 4 places), as rows ``(s_first,
    s_end, t_first, t_end, kind)`` and scores. ``covered``: a byte a target token and one more, 1 under a tile (the
    caller's ``in_tiles``); worked on in a copy. Ids as :func:`word_runs` reads them."""
    target_tokens = len(target_words)
    covered = covered.copy()
    tile_at = np.full(target_tokens + 1, -1, dtype=np.int64)  # the last tile over each target token
    rows = np.empty((len(tiles) + 4 * len(pairs) + 8, 5), dtype=np.int64)
    scores = np.empty(len(rows), dtype=np.float64)
    count = 0
    for r in range(len(tiles)):
        s_first, s_end, t_first, t_end = tiles[r, 0], tiles[r, 1], tiles[r, 2], tiles[r, 3]
        for k in range(t_first, t_end):
            tile_at[k] = r
        rows, scores = _push(rows, scores, count, s_first, s_end, t_first, t_end, VERBATIM, 1.0)
        count += 1
    for p in range(len(pairs)):
        unit, target_unit = pairs[p, 0], pairs[p, 1]
        s_unit_first, s_unit_last = source_firsts[unit], source_lasts[unit]
        t_unit_first, t_unit_last = target_firsts[target_unit], target_lasts[target_unit]
        s_hull_first, s_hull_end = _hull(
            source_stems, s_unit_first, s_unit_last, target_stems, t_unit_first, t_unit_last, max_edge_gap
        )
        if s_hull_first < 0:
            continue
        t_hull_first, t_hull_end = _hull(
            target_stems, t_unit_first, t_unit_last, source_stems, s_unit_first, s_unit_last, max_edge_gap
        )
        if t_hull_first < 0:
            continue
        start = t_hull_first
        while start < t_hull_end:  # each maximal stretch of the hull no run covers yet, in order
            if covered[start]:
                start += 1
                continue
            position = start + 1
            while position < t_hull_end and not covered[position]:
                position += 1
            content = False
            for k in range(start, position):
                if target_stems[k] >= 0:
                    content = True
                    break
            if content:  # ``align._source_between`` of the tiles on either side
                s_begin, s_end = s_hull_first, s_hull_end
                left = tile_at[start - 1] if start > 0 else -1
                if left >= 0 and s_hull_first <= tiles[left, 1] <= s_hull_end:
                    s_begin = tiles[left, 1]
                right = tile_at[position]
                if right >= 0 and s_hull_first <= tiles[right, 0] <= s_hull_end:
                    s_end = tiles[right, 0]
                if s_end <= s_begin:
                    s_begin, s_end = s_hull_first, s_hull_end
                if s_end > s_begin:
                    for k in range(start, position):
                        covered[k] = 1
                    rows, scores, count = _copied(
                        rows,
                        scores,
                        count,
                        source_words,
                        target_words,
                        s_unit_first,
                        s_unit_last,
                        start,
                        position,
                        s_begin,
                        s_end,
                        min_copied_run,
                        pair_scores[p],
                    )
            start = position
    return rows[:count], scores[:count]


@njit(cache=True, nogil=True)
def sentence_product(
    indptr: np.ndarray,
    columns: np.ndarray,
    values: np.ndarray,
    source_indptr: np.ndarray,
    source_columns: np.ndarray,
    source_values: np.ndarray,
) -> np.ndarray:
    """``align.sentence_cosines``' product of the stacked targets (CSR ``indptr``, ``columns``, ``values``) by the
    transposed source (CSR ``source_*``), with the floats of the library's sparse-by-dense product that
    ``sentence_cosines`` makes with the kernels off: every output value summed from 0.0 over the target row's
    entries in stored order, ``value * dense[column, source row]`` (no fused multiply-add: numba contracts none),
    ``dense`` being the source's transposed rows with each cell summed from 0.0 in stored order.

    Only the terms whose cell holds a source value are added. Every other term is ``value * 0.0``, a zero for
    finite values, and adding a zero changes no sum: ``x + 0.0 == x + -0.0 == x``, and a sum started at ``+0.0``
    is never ``-0.0`` (round to nearest gives ``+0.0`` for any exact zero sum of two values). So the source is
    held by column (its rows and summed values, rows ascending) behind an open-addressing table of its columns
    (16 bytes a place, at least twice as many places as source entries: ~100 KB for a typical source, where the
    4 MB renumbering table missed the cache), a target entry whose column the source lacks adds nothing, and the
    work is the terms that count, not every source row for every entry."""
    count = len(source_indptr) - 1
    held = len(source_columns)
    bits = 4
    while (1 << bits) < 2 * held:
        bits += 1
    mask = (1 << bits) - 1
    keys = np.full(1 << bits, -1, dtype=np.int64)  # the source's columns (-1: an empty place), found by hashing
    slots = np.empty(1 << bits, dtype=np.int64)  # each one's number, in order of first appearance
    sizes = np.zeros(held + 1, dtype=np.int64)
    slot_of = np.empty(held, dtype=np.int64)
    found = 0
    for entry in range(held):
        column = source_columns[entry]
        at = ((column * 2654435761) & 0xFFFFFFFF) >> (32 - bits)
        while keys[at] != -1 and keys[at] != column:
            at = (at + 1) & mask
        if keys[at] == -1:
            keys[at] = column
            slots[at] = found
            found += 1
        slot_of[entry] = slots[at]
        sizes[slots[at] + 1] += 1
    for slot in range(found):  # each column's first place in the by-column arrays
        sizes[slot + 1] += sizes[slot]
    ends = sizes[:found].copy()
    source_rows = np.empty(held, dtype=np.int64)
    source_sums = np.empty(held)
    for row in range(count):
        for entry in range(source_indptr[row], source_indptr[row + 1]):
            slot = slot_of[entry]
            end = ends[slot]
            if end > sizes[slot] and source_rows[end - 1] == row:  # a column twice in a row: one cell, summed
                source_sums[end - 1] += source_values[entry]
            else:
                source_rows[end] = row
                source_sums[end] = 0.0 + source_values[entry]
                ends[slot] = end + 1
    rows = len(indptr) - 1
    out = np.zeros(rows * count)  # flat, indexed flat: a row view a term would cost a reference count
    for row in range(rows):
        first = row * count
        for entry in range(indptr[row], indptr[row + 1]):
            column = columns[entry]
            at = ((column * 2654435761) & 0xFFFFFFFF) >> (32 - bits)
            while keys[at] != column and keys[at] != -1:
                at = (at + 1) & mask
            if keys[at] != column:  # a column the source lacks: its terms are zeros
                continue
            slot = slots[at]
            value = values[entry]
            for place in range(sizes[slot], ends[slot]):
                out[first + source_rows[place]] += value * source_sums[place]
    return out.reshape(rows, count)


def warm() -> None:
    """Load (or compile, the first time in a checkout) :func:`kgram_lookup`, :func:`unit_tiles`, :func:`word_runs`,
    :func:`rewrite_runs`, :func:`detail_runs` and :func:`sentence_product` for every argument type ``align`` passes
    them (each a signature of its own: a read-only array is another type than a writable one), so that the processes
    forked afterwards inherit the machine code instead of each loading or compiling it again (tested: a warmed
    process compiles nothing more on the seeds)."""
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
    firsts, lasts = np.array([0, 3], dtype=np.int64), np.array([3, 6], dtype=np.int64)
    cosine, top = np.ones((2, 2)), np.zeros((2, 2), dtype=np.int64)
    in_tiles = np.zeros(7, np.uint8)
    # ``verbatim`` as ``align_sides`` passes it (writable) and as ``align.word_runs`` does from bytes (read-only): two
    # signatures
    for verbatim in (in_tiles, np.frombuffer(bytes(7), dtype=np.uint8)):
        word_runs(
            words, words, firsts, lasts, words, words, firsts, lasts, cosine, top, verbatim, True, 0.1, 1, 0.3, 6, 10
        )
    tiles = np.array([[0, 3, 0, 3]], dtype=np.int64)
    rewrite_runs(
        tiles,
        np.array([[1, 1]], dtype=np.int64),
        np.ones(1),
        in_tiles,
        words,
        words,
        firsts,
        lasts,
        words,
        words,
        firsts,
        lasts,
        6,
        2,
    )
    runs = np.array([[0, 3, 0, 3, REWRITE], [3, 6, 3, 6, VERBATIM]], dtype=np.int64)
    detail_runs(
        runs,
        np.ones(2),
        runs[:1].copy(),
        True,
        True,
        0.5,
        words,
        words,
        np.ones(len(words), dtype=np.uint8),
        words,
        words,
        firsts,
        lasts,
        np.zeros(len(words), dtype=np.int32),
        np.array([0], dtype=np.int64),
    )
    pointers, columns = np.array([0, 1, 2], dtype=np.int64), np.array([3, 5], dtype=np.int32)
    sentence_product(pointers, columns, np.ones(2), pointers.astype(np.int32), columns, np.ones(2))
