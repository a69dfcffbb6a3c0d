"""Compiled (numba, nopython) postings work of an add; the readable reference is ``dedup.store.postings``.

:func:`add_to_rows` is ``postings.reference_add`` in one call: the rows holding an article's band keys decoded, each
key's posting of the article merged in at its place (none when the row already has it), the changed rows cut past
``ROW_MAX`` (``postings.split_points``) and encoded again (``postings.encode_row``), and each key's postings counted.
An add touches ~170 rows of ~24 postings; in numpy that was ~60 calls and a Python step a row (~3 ms an add at 8,200
articles), here it is one call. Tested against the reference in ``tests/test_postings.py``.

:func:`find_in_rows` is ``postings.reference_find`` (a lookup: the postings of the wanted keys of some rows), without
the ~25 numpy calls of the reference.

``cache=True``: compiled once per checkout into ``__pycache__`` (a few CPU seconds), loaded from there afterwards
(``postings._kernels`` loads it on the first lookup or add of a process, ~0.8 CPU s with numba's import).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _width(value: int) -> int:
    count = 0
    while value > 0:
        count += 1
        value >>= 8
    return count


@njit(cache=True, nogil=True)
def _split_points(keys: np.ndarray, count: int, row_max: int, piece: int, points: np.ndarray) -> int:
    """``postings.split_points`` of ``keys[:count]`` into ``points``; returns how many."""
    points[0] = 0
    made = 1
    if count <= row_max:
        return made
    parts = count // piece
    target = (count + parts - 1) // parts
    for wanted in range(target, count, target):
        if wanted <= points[made - 1]:
            continue
        cut = wanted
        while cut > points[made - 1] and keys[cut] == keys[cut - 1]:
            cut -= 1
        if cut == points[made - 1]:
            cut = wanted
            while cut < count and keys[cut] == keys[cut - 1]:
                cut += 1
        if cut < count:
            points[made] = cut
            made += 1
    return made


@njit(cache=True, nogil=True)
def _encode(lo: int, keys: np.ndarray, articles: np.ndarray, begin: int, end: int, out: np.ndarray, at: int) -> int:
    """``postings.encode_row(lo, keys[begin:end], articles[begin:end])`` written at ``out[at:]``; returns the end."""
    largest_delta = 0
    largest_article = 0
    before = lo
    for i in range(begin, end):
        delta = keys[i] - before
        before = keys[i]
        if delta > largest_delta:
            largest_delta = delta
        if articles[i] > largest_article:
            largest_article = articles[i]
    key_width = _width(largest_delta)
    article_width = _width(largest_article)
    out[at] = key_width
    out[at + 1] = article_width
    at += 2
    before = lo
    for i in range(begin, end):
        delta = keys[i] - before
        before = keys[i]
        for b in range(key_width):
            out[at] = (delta >> (8 * b)) & 0xFF
            at += 1
    for i in range(begin, end):
        value = articles[i]
        for b in range(article_width):
            out[at] = (value >> (8 * b)) & 0xFF
            at += 1
    return at


@njit(cache=True, nogil=True)
def _posting_count(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> int:
    """The postings the rows hold (each row's blob at ``data[starts[r]:starts[r] + lengths[r]]``: two bytes of sizes,
    then whole postings); a row whose header or length does not fit is damaged (``ValueError``)."""
    total = 0
    for r in range(len(starts)):
        if lengths[r] < 2 or data[starts[r]] > 8 or not 0 < data[starts[r] + 1] <= 8:
            raise ValueError("a stored postings row is damaged")
        size = data[starts[r]] + data[starts[r] + 1]
        if (lengths[r] - 2) % size:
            raise ValueError("a stored postings row is damaged")
        total += (lengths[r] - 2) // size
    return total


@njit(cache=True, nogil=True)
def add_to_rows(
    data: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    los: np.ndarray,
    wanted: np.ndarray,
    article: int,
    row_max: int,
    piece: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The posting (key, ``article``) added for each of ``wanted`` (sorted, distinct) to the rows (``los`` sorted,
    each row's blob at ``data[starts[r]:starts[r] + lengths[r]]``) that hold them (a key below every row: a new row at
    0). Returns (each wanted key's postings after it, the bytes of the rows written, each written row's lo, start and
    end in those bytes, and whether it is a row stored before (1) or a new one (0)). Rows where nothing is added are
    not written."""
    rows = len(los)
    total = _posting_count(data, starts, lengths)
    bound = total + len(wanted)
    counts = np.zeros(len(wanted), dtype=np.int64)
    out = np.empty(bound * 18 + 2, dtype=np.uint8)
    out_los = np.empty(bound + 1, dtype=np.int64)
    out_starts = np.empty(bound + 1, dtype=np.int64)
    out_ends = np.empty(bound + 1, dtype=np.int64)
    out_stored = np.empty(bound + 1, dtype=np.int64)
    old_keys = np.empty(bound, dtype=np.int64)
    old_articles = np.empty(bound, dtype=np.int64)
    new_keys = np.empty(bound, dtype=np.int64)
    new_articles = np.empty(bound, dtype=np.int64)
    points = np.empty(bound + 1, dtype=np.int64)
    written = 0
    at = 0
    w = 0
    while w < len(wanted):
        row = np.searchsorted(los, wanted[w], side="right") - 1  # -1: below every row
        group_end = w + 1
        while group_end < len(wanted) and (row + 1 >= rows or wanted[group_end] < los[row + 1]):
            group_end += 1
        count = 0
        lo = 0
        if row >= 0:
            lo = los[row]
            begin = starts[row]
            key_width = data[begin]
            article_width = data[begin + 1]
            count = (lengths[row] - 2) // (key_width + article_width)
            key = lo
            position = begin + 2
            for i in range(count):
                delta = 0
                for b in range(key_width):
                    delta |= np.int64(data[position + b]) << (8 * b)
                position += key_width
                key += delta
                old_keys[i] = key
            for i in range(count):
                value = 0
                for b in range(article_width):
                    value |= np.int64(data[position + b]) << (8 * b)
                position += article_width
                old_articles[i] = value
        i = 0
        made = 0
        changed = False
        for j in range(w, group_end):
            band_key = wanted[j]
            while i < count and old_keys[i] < band_key:
                new_keys[made] = old_keys[i]
                new_articles[made] = old_articles[i]
                made += 1
                i += 1
            holders = 0
            held = False
            placed = False
            while i < count and old_keys[i] == band_key:
                if not placed and old_articles[i] >= article:
                    placed = True
                    if old_articles[i] == article:
                        held = True
                    else:
                        new_keys[made] = band_key
                        new_articles[made] = article
                        made += 1
                new_keys[made] = old_keys[i]
                new_articles[made] = old_articles[i]
                made += 1
                i += 1
                holders += 1
            if not placed:
                new_keys[made] = band_key
                new_articles[made] = article
                made += 1
            counts[j] = holders if held else holders + 1
            if not held:
                changed = True
        while i < count:
            new_keys[made] = old_keys[i]
            new_articles[made] = old_articles[i]
            made += 1
            i += 1
        if changed:
            pieces = _split_points(new_keys, made, row_max, piece, points)
            for p in range(pieces):
                first = points[p]
                last = points[p + 1] if p + 1 < pieces else made
                piece_lo = lo if p == 0 else new_keys[first]
                out_los[written] = piece_lo
                out_starts[written] = at
                at = _encode(piece_lo, new_keys, new_articles, first, last, out, at)
                out_ends[written] = at
                out_stored[written] = 1 if (p == 0 and row >= 0) else 0
                written += 1
        w = group_end
    return counts, out[:at], out_los[:written], out_starts[:written], out_ends[:written], out_stored[:written]


@njit(cache=True, nogil=True)
def find_in_rows(
    data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, los: np.ndarray, wanted: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``postings.reference_find``: (keys, articles) of the postings of the rows (as in :func:`add_to_rows`, by
    ``lo``) whose key is in ``wanted`` (sorted, distinct), in stored order; a posting's article decoded only when its
    key is wanted."""
    rows = len(los)
    total = _posting_count(data, starts, lengths)
    found_keys = np.empty(total, dtype=np.int64)
    found_articles = np.empty(total, dtype=np.int64)
    found = 0
    for r in range(rows):
        begin = starts[r]
        key_width = data[begin]
        article_width = data[begin + 1]
        count = (lengths[r] - 2) // (key_width + article_width)
        articles_at = begin + 2 + count * key_width
        key = los[r]
        position = begin + 2
        w = np.searchsorted(wanted, key)  # rows are key ranges by lo: keys only grow
        # a row's keys are below the next row's lo: once the next wanted key is not, the rest is not decoded
        bound = los[r + 1] if r + 1 < rows else np.int64(1) << 62
        for i in range(count):
            if w == len(wanted) or wanted[w] >= bound:
                break
            delta = 0
            for b in range(key_width):
                delta |= np.int64(data[position + b]) << (8 * b)
            position += key_width
            key += delta
            while w < len(wanted) and wanted[w] < key:
                w += 1
            if w < len(wanted) and wanted[w] == key:
                value = 0
                at = articles_at + i * article_width
                for b in range(article_width):
                    value |= np.int64(data[at + b]) << (8 * b)
                found_keys[found] = key
                found_articles[found] = value
                found += 1
    return found_keys[:found], found_articles[:found]


def warm() -> None:
    """Load (or compile, the first time in a checkout) :func:`add_to_rows` and :func:`find_in_rows` for the
    argument types the store passes."""
    empty = np.zeros(0, dtype=np.int64)
    data = np.frombuffer(bytes(8), dtype=np.uint8)  # read-only, as the store passes it
    add_to_rows(data, empty, empty, empty, np.array([5], dtype=np.int64), 1, 32, 16)
    find_in_rows(data, empty, empty, empty, np.array([5], dtype=np.int64))
