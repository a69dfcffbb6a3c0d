"""Band-key postings packed into rows of key ranges (the SQLite store's ``postings`` table, schema 9).

A posting is (band key, article key): the article holds that LSH band key. Until schema 8 each posting was one row
of a ``WITHOUT ROWID`` table (~15 bytes a posting in pages: a 6-byte key, the article, a record header and a cell).
Since schema 9 the key space ``[0, 2**KEY_BITS)`` is cut into ranges, one table row each: the row's ``lo`` (its
rowid, the smallest key it may hold) and a blob of its postings sorted by (key, article). A key belongs to the row
with the largest ``lo`` not above it, so every posting of one key is in one row, and a lookup reads one row a key.
A row that grows past ``ROW_MAX`` postings is cut in two or more at key boundaries (a key held by more than
``ROW_MAX // 2`` articles gets a row of its own); a row left empty by removals is deleted (its keys fall to the row
before). The blob (``encode_row``): one byte ``wk``, one byte ``wa``, then each posting's key minus the previous key
(the first: minus ``lo``) as ``wk`` little-endian bytes, then each article key as ``wa`` bytes, each width the
fewest bytes that hold the row's largest value (``wk`` 0 when every key is ``lo``). About 6 bytes a posting.

``encode_row`` / ``decode_row`` are the readable reference; ``decode_rows`` / ``encode_rows`` do many rows with a
constant number of numpy operations (hypothesis-tested equal to the reference).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from dedup.store.errors import CorruptIndexError
from dedup.store.features import KEY_BITS

KEY_LIMIT = 1 << KEY_BITS
ROW_MAX = 32  # postings a row holds before it is cut: a lookup decodes at most this many for a key not crowded
_SPLIT = ROW_MAX // 2  # the size of the pieces a row is cut into
_COLUMNS = np.arange(8)


def width(value: int) -> int:
    """The fewest bytes that hold ``value`` (0 for 0)."""
    return (int(value).bit_length() + 7) // 8


# --- the readable reference ----------------------------------------------------------------------------------------
def encode_row(lo: int, keys: Sequence[int], articles: Sequence[int]) -> bytes:
    """One row's blob; ``keys``/``articles`` are its postings sorted by (key, article), every key ≥ ``lo``."""
    deltas = [key - before for key, before in zip(keys, [lo, *keys[:-1]], strict=True)]
    key_width = width(max(deltas, default=0))
    article_width = width(max(articles, default=0))
    return (
        bytes([key_width, article_width])
        + b"".join(delta.to_bytes(key_width, "little") for delta in deltas)
        + b"".join(int(article).to_bytes(article_width, "little") for article in articles)
    )


def decode_row(lo: int, blob: bytes) -> list[tuple[int, int]]:
    """The postings (key, article) of one row, in stored order."""
    key_width, article_width, count = _header(blob)
    keys, key = [], lo
    for number in range(count):
        at = 2 + number * key_width
        key += int.from_bytes(blob[at : at + key_width], "little")  # b"" (width 0) is 0
        keys.append(key)
    begin = 2 + count * key_width
    articles = [
        int.from_bytes(blob[at : at + article_width], "little")
        for at in range(begin, begin + count * article_width, article_width)
    ]
    return list(zip(keys, articles, strict=True))


def _header(blob: bytes) -> tuple[int, int, int]:
    if len(blob) < 2 or not 0 < blob[1] <= 8 or blob[0] > 8 or (len(blob) - 2) % (blob[0] + blob[1]):
        raise CorruptIndexError("a stored postings row is damaged")
    return blob[0], blob[1], (len(blob) - 2) // (blob[0] + blob[1])


def split_points(keys: Sequence[int]) -> list[int]:
    """Where a row with sorted ``keys`` is cut (positions, 0 first): into about ``len(keys) // (ROW_MAX // 2)`` pieces
    of equal size (a row of 33 in two of ~17, not in 16, 16 and 1), never between two postings of one key: each cut
    moves back to the start of the key it falls in or, when that is the previous cut, on past that key (so a key
    with many postings ends up alone in its piece)."""
    count = len(keys)
    if count <= ROW_MAX:
        return [0]
    target = -(-count // (count // _SPLIT))
    points = [0]
    for wanted in range(target, count, target):
        if wanted <= points[-1]:
            continue
        cut = wanted
        while cut > points[-1] and keys[cut] == keys[cut - 1]:
            cut -= 1
        if cut == points[-1]:
            cut = wanted
            while cut < count and keys[cut] == keys[cut - 1]:
                cut += 1
        if cut < count:
            points.append(cut)
    return points


def cut_points(keys: np.ndarray, size: int) -> np.ndarray:
    """Positions where sorted ``keys`` are cut into rows of about ``size`` postings (0 first), each at the first
    posting of a key (the migration from schema 8 packs every posting this way)."""
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    wanted = np.searchsorted(starts, np.arange(0, len(keys), size))
    return np.unique(starts[np.minimum(wanted, len(starts) - 1)])


# --- many rows at once -------------------------------------------------------------------------------------------
def decode_rows(rows: Sequence[tuple[int, bytes]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keys, articles, row numbers) of every posting of ``rows`` ((lo, blob) each), row by row in stored order;
    ``decode_row`` for each row, with a constant number of numpy operations (no Python step a row or a posting)."""
    layout = _Layout(rows)
    return layout.keys, layout.articles(), layout.row_of


def find_postings(rows: Sequence[tuple[int, bytes]], wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(keys, articles) of the postings of ``rows`` ((lo, blob) by ``lo``) whose key is in ``wanted`` (sorted,
    distinct), in stored order; only their articles are decoded. Compiled (``postings_kernels.find_in_rows``) unless
    ``DEDUP_KERNELS=0`` or numba is missing; the same as :func:`reference_find`."""
    kernels = _kernels()
    if kernels is None:
        return reference_find(rows, wanted)
    los, blobs = zip(*rows, strict=True) if rows else ((), ())
    lengths = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs))
    try:
        return kernels.find_in_rows(
            np.frombuffer(b"".join(blobs), dtype=np.uint8),
            np.cumsum(lengths) - lengths,
            lengths,
            np.array(los, dtype=np.int64),
            np.asarray(wanted, dtype=np.int64),
        )
    except ValueError:
        raise CorruptIndexError("a stored postings row is damaged") from None


def reference_find(rows: Sequence[tuple[int, bytes]], wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Readable reference for :func:`find_postings` (numpy: every key of the rows decoded, the wanted ones kept)."""
    layout = _Layout(rows)
    if not len(wanted):
        return layout.keys[:0], layout.keys[:0]
    places = np.minimum(np.searchsorted(wanted, layout.keys), len(wanted) - 1)
    mask = wanted[places] == layout.keys
    return layout.keys[mask], layout.articles(mask)


class _Layout:
    """Where each posting of some rows is in their joined bytes, and their keys."""

    def __init__(self, rows: Sequence[tuple[int, bytes]]) -> None:
        blobs = [blob for _, blob in rows]
        lengths = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs))
        self.data = np.frombuffer(b"".join(blobs) + bytes(8), dtype=np.uint8)  # 8 spare bytes: gathers stay inside
        starts = np.cumsum(lengths) - lengths
        if (lengths < 2).any():
            raise CorruptIndexError("a stored postings row is damaged")
        key_widths = self.data[starts].astype(np.int64)
        article_widths = self.data[starts + 1].astype(np.int64)
        sizes = key_widths + article_widths
        if (key_widths > 8).any() or (article_widths < 1).any() or (article_widths > 8).any():
            raise CorruptIndexError("a stored postings row is damaged")
        if ((lengths - 2) % sizes).any():
            raise CorruptIndexError("a stored postings row is damaged")
        counts = (lengths - 2) // sizes
        self.row_of = row_of = np.repeat(np.arange(len(rows), dtype=np.int64), counts)
        first = np.cumsum(counts) - counts
        number = np.arange(len(row_of), dtype=np.int64) - first[row_of]  # each posting's place in its row
        key_width = key_widths[row_of]
        body = starts[row_of] + 2
        self._article_width = article_widths[row_of]
        self._article_at = body + counts[row_of] * key_width + number * self._article_width
        running = np.cumsum(_gather(self.data, body + number * key_width, key_width))
        before = np.concatenate(([0], running))[first]  # the running sum before each row
        los = np.fromiter((lo for lo, _ in rows), dtype=np.int64, count=len(rows))
        self.keys = running - before[row_of] + los[row_of]

    def articles(self, mask: np.ndarray | None = None) -> np.ndarray:
        if mask is None:
            return _gather(self.data, self._article_at, self._article_width)
        return _gather(self.data, self._article_at[mask], self._article_width[mask])


def _gather(data: np.ndarray, positions: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """The little-endian integers of ``widths`` bytes at ``positions`` of ``data``."""
    matrix = data[positions[:, None] + _COLUMNS]
    matrix *= widths[:, None] > _COLUMNS
    return matrix.view("<u8").ravel().astype(np.int64)


def encode_rows(los: np.ndarray, keys: np.ndarray, articles: np.ndarray, counts: np.ndarray) -> list[bytes]:
    """``encode_row`` for consecutive rows: postings ``keys``/``articles`` (sorted within each row), ``counts`` a row
    (each at least 1), ``los`` their ``lo``; with a constant number of numpy operations and a join a row."""
    starts = np.cumsum(counts) - counts
    deltas = np.diff(keys, prepend=0)
    deltas[starts] = keys[starts] - los
    key_widths = _widths(np.maximum.reduceat(deltas, starts))
    article_widths = _widths(np.maximum.reduceat(articles, starts))
    row_of = np.repeat(np.arange(len(counts)), counts)
    key_bytes = _pack(deltas, key_widths[row_of])
    article_bytes = _pack(articles, article_widths[row_of])
    key_ends = np.cumsum(counts * key_widths).tolist()
    article_ends = np.cumsum(counts * article_widths).tolist()
    blobs, key_at, article_at = [], 0, 0
    for key_width, article_width, key_end, article_end in zip(
        key_widths.tolist(), article_widths.tolist(), key_ends, article_ends, strict=True
    ):
        blobs.append(
            bytes((key_width, article_width)) + key_bytes[key_at:key_end] + article_bytes[article_at:article_end]
        )
        key_at, article_at = key_end, article_end
    return blobs


def _widths(values: np.ndarray) -> np.ndarray:
    """The fewest bytes that hold each of ``values`` (non-negative, below 2**56)."""
    bits = np.zeros(len(values), dtype=np.int64)
    rest = values.astype(np.int64)
    for shift in (32, 16, 8, 4, 2, 1):
        big = rest >= (1 << shift)
        bits[big] += shift
        rest = np.where(big, rest >> shift, rest)
    bits += rest > 0  # bits = bit length
    return (bits + 7) // 8


def _pack(values: np.ndarray, widths: np.ndarray) -> bytes:
    """Each of ``values`` as its ``widths`` low little-endian bytes, one after the other."""
    matrix = values.astype("<u8").view(np.uint8).reshape(-1, 8)
    return matrix[widths[:, None] > _COLUMNS].tobytes()


def cut_rows(los: list[int], keys: np.ndarray, articles: np.ndarray, counts: list[int]) -> list[tuple[int, bytes]]:
    """Rows to store, (lo, blob) each: rows ``los`` with ``counts`` of the postings ``keys``/``articles`` (sorted
    within each row), those above ``ROW_MAX`` postings cut (``split_points``)."""
    final_los, final_counts = los, counts
    if max(counts) > ROW_MAX:
        final_los, final_counts = [], []
        begin = 0
        for lo, count in zip(los, counts, strict=True):
            if count > ROW_MAX:
                row_keys = keys[begin : begin + count].tolist()
                points = split_points(row_keys)
                final_los += [lo] + [row_keys[point] for point in points[1:]]
                final_counts += np.diff([*points, count]).tolist()
            else:
                final_los.append(lo)
                final_counts.append(count)
            begin += count
    blobs = encode_rows(np.array(final_los, dtype=np.int64), keys, articles, np.array(final_counts, dtype=np.int64))
    return list(zip(final_los, blobs, strict=True))


# --- an add ----------------------------------------------------------------------------------------------------
def add_to_rows(
    rows: Sequence[tuple[int, bytes]], wanted: list[int], article: int
) -> tuple[list[int], list[tuple[int, bytes]]]:
    """The posting (key, ``article``) added for each of ``wanted`` (sorted, distinct keys) to ``rows`` ((lo, blob)
    by ``lo``: the rows that hold those keys): each key's postings after it, and the rows to store ((lo, blob): the
    changed rows, cut past ``ROW_MAX``; a key below every row makes a row at 0). A posting already stored is not
    added again. Compiled (``postings_kernels.add_to_rows``) unless ``DEDUP_KERNELS=0`` or numba is missing; the same
    as :func:`reference_add`."""
    kernels = _kernels()
    if kernels is None:
        return reference_add(rows, wanted, article)
    los, blobs = zip(*rows, strict=True) if rows else ((), ())
    lengths = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs))
    try:
        counts, data, written_los, starts, ends, _ = kernels.add_to_rows(
            np.frombuffer(b"".join(blobs), dtype=np.uint8),
            np.cumsum(lengths) - lengths,
            lengths,
            np.array(los, dtype=np.int64),
            np.array(wanted, dtype=np.int64),
            article,
            ROW_MAX,
            _SPLIT,
        )
    except ValueError:
        raise CorruptIndexError("a stored postings row is damaged") from None
    written = data.tobytes()
    return counts.tolist(), [
        (lo, written[start:end])
        for lo, start, end in zip(written_los.tolist(), starts.tolist(), ends.tolist(), strict=True)
    ]


def reference_add(
    rows: Sequence[tuple[int, bytes]], wanted: list[int], article: int
) -> tuple[list[int], list[tuple[int, bytes]]]:
    """Readable reference for :func:`add_to_rows` (numpy: the rows decoded, the new postings merged in by a sort)."""
    keys, articles, row_of = decode_rows(rows)
    wanted_array = np.array(wanted, dtype=np.int64)
    counted = np.isin(keys, wanted_array)
    counts = dict.fromkeys(wanted, 0)
    found, found_counts = np.unique(keys[counted], return_counts=True)
    counts.update(zip(found.tolist(), found_counts.tolist(), strict=True))
    held = set(keys[counted & (articles == article)].tolist())
    new = np.array([k for k in wanted if k not in held], dtype=np.int64)  # INSERT OR IGNORE: a posting once
    for band_key in new.tolist():
        counts[band_key] += 1
    if not len(new):
        return list(counts.values()), []
    los = np.array([lo for lo, _ in rows], dtype=np.int64)
    new_rows = np.searchsorted(los, new, side="right") - 1  # -1: below every row, a new row at 0
    if (new_rows < 0).any():
        los = np.concatenate(([0], los))
        new_rows += 1
        row_of = row_of + 1
    changed = np.unique(new_rows)
    old = np.isin(row_of, changed)
    all_rows = np.concatenate((row_of[old], new_rows))
    all_keys = np.concatenate((keys[old], new))
    all_articles = np.concatenate((articles[old], np.full(len(new), article, dtype=np.int64)))
    order = np.lexsort((all_articles, all_keys))  # rows are key ranges: key order is row order
    all_rows, all_keys, all_articles = all_rows[order], all_keys[order], all_articles[order]
    row_numbers, row_counts = np.unique(all_rows, return_counts=True)
    return list(counts.values()), cut_rows(los[row_numbers].tolist(), all_keys, all_articles, row_counts.tolist())


def load_kernels() -> bool:
    """Load the compiled postings code now (numba's import and the cached machine code: about a second of CPU, tens
    of seconds on a starved machine); whether it is used. A writer calls this before it takes the write lock, so that
    its first add does not hold the lock while the code loads."""
    return _kernels() is not None


@lru_cache(maxsize=1)
def _kernels() -> Any:
    """``dedup.store.postings_kernels``, loaded (:func:`load_kernels`, or the first use in a process), or None when
    ``DEDUP_KERNELS=0`` or numba is not available (then :func:`reference_add` does the work)."""
    if os.environ.get("DEDUP_KERNELS") == "0":
        return None
    try:
        import dedup.store.postings_kernels as kernels
    except ImportError:
        return None
    kernels.warm()
    return kernels
