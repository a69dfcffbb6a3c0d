"""Candidate pairs: which articles are worth aligning.

Three sources, united: MinHash LSH over whole articles (copies), MinHash LSH over sentence
stem sets (rewrites that reuse a few passages: whole-article Jaccard of a rewrite can be
0.07), and TF-IDF nearest neighbours over article stems (rewrites that hide from
shingles). Candidates are cheap and generous; alignment decides.

The LSH pairs are computed for the whole batch at once (numpy signatures, band by band);
``reference_article_lsh_pairs`` / ``reference_sentence_lsh_pairs`` are the same pairs by
datasketch's ``MinHashLSH``, one query per signature, kept as the tested reference.
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from datasketch import MinHashLSH
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from sparse_dot_topn import sp_matmul_topn

from dedup.clean import CleanArticle
from dedup.copies import band_keys
from dedup.engine import return_free_memory, run_batches
from dedup.sketch import (
    SketchSettings,
    article_shingle_hashes,
    article_shingles,
    hashed_minima,
    minhash,
    permutations,
    sentence_stem_sets,
    stem_hashes,
)


@dataclass(slots=True, frozen=True)
class CandidateSettings:
    article_threshold: float = 0.5
    sentence_threshold: float = 0.4
    # a sentence band collision counts when the two whole signatures agree on sentence_threshold of their positions
    verify_sentence_pairs: bool = True
    # a stock sentence (near-copies in score.stock_min_stories separate stories) is no evidence: it pairs no articles
    skip_stock_sentences: bool = True
    sentence_bucket_cap: int = 0  # >0: a sentence LSH bucket shared by more articles is a stock sentence, skipped
    # > 0: a sentence band bucket of more than this many rows pairs none of its rows on that band (a band value
    # common to many sentences: a few frequent stems that happen to hash low on the band's positions); near-copies
    # still meet on the bands where their bucket is not crowded. The row pairs a band enumerates grow with the
    # square of its buckets: 24.2M at 100k, 84.1M at 200k without; 12.8M and 31.8M at 50, with the same truth pairs
    # among the candidates (75,650 and 152,887), 10k seed 1 and METER dev unchanged (docs/scale.md, stop 23)
    sentence_band_crowd: int = 50
    # > 0: two articles whose verified sentence collisions hold one sentence on either side pair only when those two
    # sentences share this many content stems, estimated from their signatures' agreement J and their stem counts
    # (J / (1 + J) x (|a| + |b|)): one short sentence shared by chance is most sentence pairs of a large run (100k:
    # 300k of the 376k pairs rest on one sentence pair, a median of 5 stems at J 0.45; the 5k such truth pairs a
    # median of 17 stems at J 0.86), and it cannot alone meet the judge's two-unit rule (docs/scale.md, stop 22)
    lone_sentence_min_shared: int = 8
    near_copy_threshold: float = 0.4  # sentence Jaccard of near-copies, for counting a sentence's stories
    tfidf_neighbours: int = 20
    tfidf_threshold: float = 0.2
    # > 0: the pruned TF-IDF search (tfidf_suffix), sure of every neighbour at this cosine or above; 0: the exact
    # search. 0.7: 50k 7x less CPU, 10k F1 and METER held (docs/scale.md, stop 14)
    tfidf_guarantee: float = 0.7
    # smaller corpora take the exact search: it costs seconds there, and the document frequencies of a few articles
    # say little about which stems are common (two articles: every shared stem is the most common)
    tfidf_pruned_from: int = 10_000
    tfidf_pool: int = 40  # the pruned search rescores each article's best this many by the pruned product
    # > 0: the pruned search's product meets, for each stem, only the this-many articles where it weighs most (its
    # posting list capped: the product grows more slowly than the articles' square, not exact); 0: every article.
    # 500: tuned on 10k seed 1 (every figure as without), held on seed 2 and at 100k (every figure within 0.0004);
    # the stage's multiply-adds grow as N^1.9 from 10k to 100k instead of N^2.2 (docs/scale.md, stop 20)
    tfidf_posting_cap: int = 500


Pair = tuple[int, int]


@lru_cache(maxsize=16)
def bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """datasketch's (bands, rows per band) for ``threshold`` and ``num_perm``."""
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return lsh.b, lsh.r


def banded_pairs(
    rows: np.ndarray,
    owners: np.ndarray,
    threshold: float,
    cap: int = 0,
    verify: bool = False,
    sizes: np.ndarray | None = None,
    lone_min_shared: int = 0,
    crowd: int = 0,
    workers: int = 1,
) -> set[Pair]:
    """Pairs of distinct owners with two signature rows equal on at least one LSH band.

    The same pairs as inserting every row into a datasketch ``MinHashLSH`` and querying each.
    ``cap`` > 0 skips a bucket shared by more than ``cap`` owners (a stock sentence, not reuse).
    ``verify``: a band collision counts only when the two whole rows agree on at least ``threshold`` of
    their positions (their estimated Jaccard similarity, datasketch's ``MinHash.jaccard``): LSH at a low
    threshold lets through many pairs far below it, and each would cost an alignment.
    ``lone_min_shared`` > 0 (with ``verify``; ``sizes``: each row's count of content stems): two owners whose
    verified row pairs hold one row on either side pair only when such a row pair shares that many content stems,
    as estimated from the signatures (:func:`evidenced_pair_codes`). ``crowd`` > 0 (with ``verify``): a bucket of
    more than ``crowd`` rows pairs none of them on that band (:func:`verified_row_pairs`; ``workers``: processes
    sharing its bands).
    """
    span = int(owners.max()) + 1 if len(owners) else 1
    codes = banded_pair_codes(rows, owners, threshold, cap, verify, span, sizes, lone_min_shared, crowd, workers)
    return pairs_of_codes(codes, span)


def pair_codes(first: np.ndarray, second: np.ndarray, span: int) -> np.ndarray:
    """Pairs as one int64 code each, ``min * span + max`` (``span``: above every owner): sorted codes are the
    pairs in sorted order, and a union of pairs is a ``np.unique`` of their codes (8 bytes a pair, where a set of
    tuples costs ~150)."""
    first, second = np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)
    return np.minimum(first, second) * span + np.maximum(first, second)


def pairs_of_codes(codes: np.ndarray, span: int) -> set[Pair]:
    """The pairs of :func:`pair_codes` as a set of tuples."""
    return set(zip((codes // span).tolist(), (codes % span).tolist(), strict=True))


def banded_pair_codes(
    rows: np.ndarray | SpilledRows,
    owners: np.ndarray,
    threshold: float,
    cap: int = 0,
    verify: bool = False,
    span: int = 0,
    sizes: np.ndarray | None = None,
    lone_min_shared: int = 0,
    crowd: int = 0,
    workers: int = 1,
) -> np.ndarray:
    """:func:`banded_pairs` as sorted unique :func:`pair_codes` (``span``: above every owner, by default the
    largest owner plus one), each band's pairs merged in as it is done: no Python object per pair. ``rows`` may be
    :class:`SpilledRows` (the same pairs). ``workers``: processes sharing the bands of a verified pass."""
    count, num_perm = rows.shape
    span = span or (int(owners.max()) + 1 if len(owners) else 1)
    if count < 2:
        return np.zeros(0, dtype=np.int64)
    band_count, width = bands(threshold, num_perm)
    if verify:
        if sizes is None and lone_min_shared > 0:
            raise ValueError("lone_min_shared needs the rows' sizes")
        found = verified_row_pairs(rows, owners, threshold, cap, band_count, width, crowd, workers)
        return evidenced_pair_codes(found, count, num_perm, owners, sizes, lone_min_shared, span)
    source = row_source(rows)
    owners = np.asarray(owners, dtype=np.int64)
    codes = np.zeros(0, dtype=np.int64)
    for band in range(band_count):
        bucket = run_numbers(*block_runs(source.band(band, width)))
        sizes = np.bincount(bucket)
        shared = sizes[bucket] > 1
        if not shared.any():
            continue
        # distinct (bucket, owner) in bucket order, then every owner pair within a bucket
        members = sorted_unique(bucket[shared] * span + owners[shared])
        member_bucket, member_owner = members // span, members % span
        starts = _run_starts(member_bucket)
        held = np.diff(starts)
        if cap > 0:  # a bucket of more than ``cap`` owners pairs none of them
            kept = np.repeat(held <= cap, held)
            member_owner = member_owner[kept]
            starts = _run_starts(member_bucket[kept])
        left, right = run_pairs(np.arange(len(member_owner)), starts)
        codes = merged_codes(codes, member_owner[left] * span + member_owner[right])  # owners ascend in a bucket
    return codes


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)`` of a 1-d integer array, by one sort: numpy 2.x's ``np.unique`` without options hashes the
    values first, 10-16x the CPU of a sort on the LSH stage's row and pair codes (1M random int64: 857 against 53 ms;
    200k articles: 5.4 of the sentence pairs' 32 CPU s)."""
    ordered = np.sort(np.asarray(values).ravel())
    if len(ordered) < 2:
        return ordered
    first = np.empty(len(ordered), dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return ordered[first]


def merged_codes(codes: np.ndarray, new: np.ndarray, unique: bool = False) -> np.ndarray:
    """``np.union1d(codes, new)`` for sorted unique ``codes`` (``unique``: ``new`` is sorted unique too, else it is
    made so): the new codes inserted where they belong, in time linear in ``codes``, where ``union1d`` sorts them
    again with the new ones (a large run merges each band's codes into tens of millions: at 1M articles the parent
    spent ~208 s on one core sorting the sentence row pairs again for each of the 16 bands: stop 24's py-spy)."""
    new = np.asarray(new, dtype=np.int64) if unique else sorted_unique(np.asarray(new, dtype=np.int64))
    if not len(codes) or not len(new):
        return new if not len(codes) else codes
    at = np.searchsorted(codes, new)
    fresh = codes[np.minimum(at, len(codes) - 1)] != new
    fresh |= at == len(codes)
    return np.insert(codes, at[fresh], new[fresh])


def reference_band_buckets(rows: np.ndarray, band: int, width: int) -> np.ndarray:
    """For every row, the number of its bucket on ``band`` (rows with an equal band share a number): the readable
    reference of :func:`band_runs`, one ``np.unique`` of the band's values as byte strings."""
    block = np.ascontiguousarray(rows[:, band * width : (band + 1) * width])
    keys = block.view(np.dtype((np.void, block.dtype.itemsize * width))).ravel()
    _, bucket = np.unique(keys, return_inverse=True)
    return bucket.ravel().astype(np.int64)


def band_runs(rows: np.ndarray, band: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows in an order where those with equal values on ``band`` are adjacent (a run), and where each run
    starts in that order (``len(rows)`` appended): the buckets of :func:`reference_band_buckets`.

    Sorted by a 64-bit key of the band's values (:func:`dedup.copies.band_keys`; a sort of byte strings was 4x
    slower, a stable sort 4x slower than this one), then checked: should two different bands share a key, the
    band's buckets come from the reference.
    """
    return block_runs(rows[:, band * width : (band + 1) * width])


def block_runs(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`band_runs` of one band's columns (``rows[:, band * width : (band + 1) * width]``), whichever way they
    are held (:meth:`SpilledRows.band` reads them from a file). Nothing as long as the rows is made but the keys
    and their order: the sorted keys and the check's gathered blocks a chunk of rows at a time."""
    width = block.shape[1]
    keys = band_keys(block, 0, 1, width)[0]
    order = np.argsort(keys)
    starts = _sorted_run_starts(keys, order)
    del keys
    sizes = np.diff(starts)
    for begin in range(0, len(order), _VERIFY_CHUNK):  # every row of a run against its run's first
        end = min(begin + _VERIFY_CHUNK, len(order))
        run = runs_of(starts, begin, end)
        shared = sizes[run] > 1
        if not np.array_equal(block[order[begin:end][shared]], block[order[starts[run[shared]]]]):
            bucket = reference_band_buckets(block, 0, width)
            order = np.argsort(bucket, kind="stable")
            return order, _run_starts(bucket[order])
    return order, starts


def _sorted_run_starts(keys: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``_run_starts(keys[order])``, the sorted keys gathered a chunk at a time."""
    changes = [np.zeros(1, dtype=np.int64)]
    for begin in range(1, len(order), _VERIFY_CHUNK):
        part = keys[order[begin - 1 : begin + _VERIFY_CHUNK]]
        changes.append(np.flatnonzero(part[1:] != part[:-1]) + begin)
    changes.append(np.array([len(order)], dtype=np.int64))
    return np.concatenate(changes).astype(np.int64) if len(order) else np.zeros(1, np.int64)


def runs_of(starts: np.ndarray, begin: int, end: int) -> np.ndarray:
    """The run number of each place ``begin`` … ``end - 1`` of an order whose runs start at ``starts`` (as
    :func:`band_runs` gives them): a chunk of :func:`run_numbers`' ``np.repeat``, in the order's places."""
    first = int(np.searchsorted(starts, begin, side="right")) - 1
    last = int(np.searchsorted(starts, end - 1, side="right")) - 1
    edges = np.clip(starts[first : last + 2], begin, end)
    return np.repeat(np.arange(first, last + 1), np.diff(edges))


def _run_starts(ordered: np.ndarray) -> np.ndarray:
    """Where each run of equal values of ``ordered`` starts, and its length appended."""
    changes = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    return np.concatenate(([0], changes, [len(ordered)])).astype(np.int64) if len(ordered) else np.zeros(1, np.int64)


def run_numbers(order: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """For every row, the number of its run (``order`` and ``starts`` as :func:`band_runs` gives them)."""
    numbers = np.empty(len(order), dtype=np.int64)
    numbers[order] = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    return numbers


_VERIFY_CHUNK = 1 << 16  # row pairs compared at once (a pair of 64-value rows is 512 bytes)
_ENUMERATED_CHUNK = 1 << 22  # row pairs of a band made at once (their two int64 arrays: 64 MB)
_EVIDENCE_CHUNK = 1 << 21  # row codes taken at once by evidenced_pair_codes (~11 int64 working arrays: ~190 MB)


class HeldRows:
    """Signature rows held as one array, as :func:`sentence_groups` and :func:`banded_pair_codes` read them: one
    band's columns at a time (:meth:`band`) and whether row pairs agree on a share of their positions (:meth:`near`).
    The readable side of :class:`SpilledRows`."""

    __slots__ = ("rows",)

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows.shape

    def band(self, band: int, width: int) -> np.ndarray:
        return self.rows[:, band * width : (band + 1) * width]

    def near(self, first: np.ndarray, second: np.ndarray, threshold: float) -> np.ndarray:
        """For each pair of rows, whether they agree on at least ``threshold`` of their positions (the mean of
        their equal positions, datasketch's ``MinHash.jaccard``, exactly)."""
        return self.agreeing(first, second, threshold) / self.rows.shape[1] >= threshold

    def agreeing(self, first: np.ndarray, second: np.ndarray, threshold: float) -> np.ndarray:
        """For each pair of rows, on how many positions they agree (``threshold``: unused, as in
        :meth:`SpilledRows.agreeing`)."""
        return self.exact(first, second)

    def bound(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """An upper bound of :meth:`agreeing` for each pair, from what is held (here: the count itself)."""
        return self.exact(first, second)

    def exact(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """For each pair of rows, on how many positions they agree."""
        rows = self.rows
        return np.count_nonzero(rows[first] == rows[second], axis=1)


_GATHER_ROWS = 1 << 13  # full rows read back from a SpilledRows file at once (2 MB, and their reads' bytes)


class SpilledRows:
    """Signature rows (uint32) held out of the heap, for a large run's sentence LSH: 64 bytes a row in memory where
    the rows are 256 (64 positions), the full rows in files of a temporary folder.

    Taken in a part at a time (:meth:`append`, as each clean batch arrives), then finished (:meth:`finish`). Held: each
    value's low byte (``low``). Written: the rows one after another (``rows``, read back a few at a time for the
    pairs that pass the low bytes' test), and each column (``column-K``, read whole, one band's columns at a time).
    :meth:`near` is :meth:`HeldRows.near` exactly: equal values have equal low bytes, so the low bytes agree on at
    least the positions the values agree on, and a pair whose low bytes agree on less than ``threshold`` of them
    does not agree on ``threshold`` of its values (most band collisions of unrelated sentences); the others are
    decided on their full rows. :meth:`keep` drops rows (the stock sentences) without rewriting the files.
    The folder is removed by :meth:`close` (or when the object is collected).
    """

    __slots__ = ("__weakref__", "_files", "_parts", "_removal", "count", "folder", "index", "low", "width")

    def __init__(self, width: int) -> None:
        self.width = width  # positions a row
        self.count = 0  # rows written
        self.low = np.zeros((0, width), dtype=np.uint8)
        self.index: np.ndarray | None = None  # the held rows' places in the files (None: every row written)
        self.folder: Path | None = None
        self._parts: list[np.ndarray] = []
        self._files: list[Any] = []
        self._removal: weakref.finalize | None = None

    def append(self, rows: np.ndarray) -> None:
        """Take ``rows`` (n × width, uint32) in after those taken before."""
        if rows.shape[1:] != (self.width,) and len(rows):
            raise ValueError(f"rows of {rows.shape[1:]} positions, expected {self.width}")
        if not len(rows):
            return
        if self.folder is None:  # made on first use, in the process that appends (not in forked workers)
            self.folder = Path(tempfile.mkdtemp(prefix="dedup-rows-"))
            self._removal = weakref.finalize(self, shutil.rmtree, str(self.folder), True)
            self._files = [open(self.folder / "rows", "wb")]  # noqa: SIM115 (closed by finish)
            self._files += [open(self.folder / f"column-{k}", "wb") for k in range(self.width)]  # noqa: SIM115
        rows = np.ascontiguousarray(rows, dtype=np.uint32)
        self._files[0].write(rows.tobytes())
        for column in range(self.width):
            self._files[1 + column].write(np.ascontiguousarray(rows[:, column]).tobytes())
        self._parts.append((rows & 0xFF).astype(np.uint8))
        self.count += len(rows)

    def finish(self) -> SpilledRows:
        """Close the files and stack the parts' low bytes (each part freed once copied)."""
        for handle in self._files:
            handle.close()
        self._files = []
        parts, self._parts = self._parts, []
        self.low = np.empty((self.count, self.width), dtype=np.uint8)
        at = 0
        parts.reverse()
        while parts:
            part = parts.pop()
            self.low[at : at + len(part)] = part
            at += len(part)
            del part
        return_free_memory()
        return self

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.low), self.width)

    def __len__(self) -> int:
        return len(self.low)

    def keep(self, kept: np.ndarray) -> None:
        """Hold only the rows where ``kept`` (boolean, one a held row) is true, in order."""
        places = np.flatnonzero(kept) if self.index is None else self.index[kept]
        self.index = places.astype(np.int32 if self.count < 2**31 else np.int64)
        self.low = kept_rows(self.low, kept)

    def band(self, band: int, width: int) -> np.ndarray:
        """The held rows' columns of ``band`` (``width`` columns a band), read from the column files."""
        block = np.empty((len(self.low), width), dtype=np.uint32)
        if not len(block):
            return block
        for at, column in enumerate(range(band * width, (band + 1) * width)):
            values = np.fromfile(self.folder / f"column-{column}", dtype=np.uint32)
            block[:, at] = values if self.index is None else values[self.index]
            del values
        return block

    def near(self, first: np.ndarray, second: np.ndarray, threshold: float) -> np.ndarray:
        """:meth:`HeldRows.near` of the held rows ``first`` and ``second``, the same booleans."""
        return self.agreeing(first, second, threshold) / self.width >= threshold

    def agreeing(self, first: np.ndarray, second: np.ndarray, threshold: float) -> np.ndarray:
        """:meth:`HeldRows.agreeing` for every pair that agrees on ``threshold`` of its positions; for the others an
        upper bound that is still below it (their low bytes' agreement: those rows are never read)."""
        counts = self.bound(first, second)
        maybe = np.flatnonzero(counts / self.width >= threshold)
        if len(maybe):
            counts[maybe] = self.exact(first[maybe], second[maybe])
        return counts

    def bound(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """For each pair of held rows, on how many positions their low bytes agree: at least the positions their
        values agree on (equal values have equal low bytes)."""
        low = self.low
        return np.count_nonzero(low[first] == low[second], axis=1)

    def exact(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """:meth:`HeldRows.exact` of the held rows ``first`` and ``second``, their full rows read from the file."""
        if not len(first):
            return np.zeros(0, dtype=np.intp)
        if self.index is not None:
            first, second = self.index[first], self.index[second]
        places = sorted_unique(np.concatenate((first, second)))
        rows = self.gathered(places)
        first, second = np.searchsorted(places, first), np.searchsorted(places, second)
        return np.count_nonzero(rows[first] == rows[second], axis=1)

    def gathered(self, places: np.ndarray) -> np.ndarray:
        """The full rows written at ``places`` (ascending), read from the file with ``os.pread``: one read a run of
        consecutive places, ``_GATHER_ROWS`` rows at a time. Not through a mapping: a fault on a mapped file maps
        its whole page-cache folio (here ~1 MB a row read at random, ``MADV_RANDOM`` or not), and those pages count
        in the process's PSS while mapped (1M: ~1.2 GB a band worker, stop 27)."""
        size = self.width * 4
        found = np.empty((len(places), self.width), dtype=np.uint32)
        handle = os.open(self.folder / "rows", os.O_RDONLY)
        try:
            for begin in range(0, len(places), _GATHER_ROWS):
                part = places[begin : begin + _GATHER_ROWS].astype(np.int64)
                starts = np.flatnonzero(np.concatenate(([True], part[1:] != part[:-1] + 1)))
                lengths = np.diff(np.append(starts, len(part))) * size
                data = b"".join(
                    map(os.pread, itertools.repeat(handle), lengths.tolist(), (part[starts] * size).tolist())
                )
                if len(data) != len(part) * size:
                    raise OSError(f"rows file {self.folder / 'rows'} shorter than its rows")
                found[begin : begin + len(part)] = np.frombuffer(data, dtype=np.uint32).reshape(len(part), self.width)
                del data
        finally:
            os.close(handle)
        return found

    def close(self) -> None:
        """Remove the files (the held low bytes stay)."""
        for handle in self._files:
            handle.close()
        self._files = []
        if self._removal is not None:
            self._removal()


def row_source(rows: np.ndarray | HeldRows | SpilledRows) -> HeldRows | SpilledRows:
    """``rows`` as :class:`HeldRows` unless they are held some other way already."""
    return rows if isinstance(rows, (HeldRows, SpilledRows)) else HeldRows(np.asarray(rows))


_KEPT_CHUNK = 1 << 16  # rows moved at once by kept_rows


def kept_rows(rows: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``rows[keep]``, made in place of ``rows`` (which it consumes: the kept rows are moved forward a chunk at a
    time, the array shrunk to them), so that the rows are not held twice. Equal to ``rows[keep]`` (tested)."""
    kept = np.flatnonzero(keep)
    if not rows.flags.owndata or not rows.flags.c_contiguous:
        return rows[kept]
    at = 0
    for begin in range(0, len(kept), _KEPT_CHUNK):
        picked = kept[begin : begin + _KEPT_CHUNK]
        rows[at : at + len(picked)] = rows[picked]  # a copy first: every row read later lies beyond those written
        at += len(picked)
    rows.resize((at, *rows.shape[1:]), refcheck=False)  # the caller's name is this array; no view of it exists
    return rows


def verified_row_pairs(
    rows: np.ndarray | SpilledRows,
    owners: np.ndarray,
    threshold: float,
    cap: int,
    band_count: int,
    width: int,
    crowd: int = 0,
    workers: int = 1,
) -> np.ndarray:
    """The row pairs of distinct owners in a shared bucket of some band (not one of more than ``cap`` owners, nor,
    ``crowd`` > 0, one of more than ``crowd`` rows) whose rows agree on ``threshold`` of their positions, with the
    positions they agree on, as sorted unique codes ``(first * rows + second) * (positions + 1) + agreeing``
    (``first < second``; a row pair agrees on the same positions in every band it collides in, so it has one code),
    each band's merged in as it arrives. ``workers`` > 1: the bands shared among that many forked processes (the same
    codes)."""
    source = row_source(rows)
    owners = np.asarray(owners, dtype=np.int64)
    shared = (source, owners, threshold, cap, width, crowd)
    codes = [np.zeros(0, dtype=np.int64)]

    def merged(found: np.ndarray) -> None:
        """A stretch's codes merged in as they arrive, then let go."""
        codes[0] = merged_codes(codes[0], found, unique=True)

    stretches = [tuple(part.tolist()) for part in np.array_split(np.arange(band_count), min(workers, band_count))]
    run_batches(_stretch_row_codes, shared, stretches, workers=len(stretches), each=merged)
    return codes[0]


def _stretch_row_codes(
    shared: tuple[HeldRows | SpilledRows, np.ndarray, float, int, int, int], stretch: tuple[int, ...]
) -> list[np.ndarray]:
    """:func:`verified_row_pairs`' codes of the bands of ``stretch``, one band after another (sorted unique), as a
    one-item list (``run_batches``' form). A row pair found on an earlier band of the stretch is not read again: a
    row pair of near-copies collides in most bands (at 100k the bands found 9.6x the distinct codes), and its code is
    the same in each."""
    positions = shared[0].shape[1]
    found = np.zeros(0, dtype=np.int64)
    for band in stretch:
        found = merged_codes(found, _band_row_codes(shared, band, found // (positions + 1)), unique=True)
    return [found]


def _band_row_codes(
    shared: tuple[HeldRows | SpilledRows, np.ndarray, float, int, int, int],
    band: int,
    known: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`verified_row_pairs`' codes of one band (sorted unique), but for the row pairs in ``known`` (sorted row
    pair codes ``first * rows + second``: found already, their rows not read again)."""
    source, owners, threshold, cap, width, crowd = shared
    count, positions = source.shape
    order, starts = block_runs(source.band(band, width))
    if cap > 0:
        span = int(owners.max()) + 1 if len(owners) else 1
        bucket = run_numbers(order, starts)
        held = sorted_unique(bucket * span + owners) // span  # one entry per (bucket, owner)
        skipped = np.bincount(held, minlength=count)[bucket] > cap
        if crowd > 0:
            skipped |= np.diff(starts)[bucket] > crowd
        bucket = np.where(skipped, -1, bucket)
        del held, skipped
        order = np.argsort(bucket, kind="stable")
        order = order[bucket[order] >= 0]
        starts = _run_starts(bucket[order])
        del bucket
    elif crowd > 0:
        order, starts = uncrowded_runs(order, starts, crowd)
    found: list[np.ndarray] = []
    for left, right in grouped_run_pairs(order, starts, _ENUMERATED_CHUNK):
        apart = owners[left] != owners[right]
        left, right = left[apart], right[apart]
        del apart
        for begin in range(0, len(left), _VERIFY_CHUNK):
            a, b = left[begin : begin + _VERIFY_CHUNK], right[begin : begin + _VERIFY_CHUNK]
            pair = np.minimum(a, b).astype(np.int64) * count + np.maximum(a, b)
            if known is not None and len(known):
                at = np.searchsorted(known, pair)
                fresh = known[np.minimum(at, len(known) - 1)] != pair
                a, b, pair = a[fresh], b[fresh], pair[fresh]
            maybe = source.bound(a, b) / positions >= threshold  # what is held rules most pairs out
            a, b, pair = a[maybe], b[maybe], pair[maybe]
            agreeing = source.exact(a, b)
            near = agreeing / positions >= threshold  # ``source.near``, from the same counts
            found.append(pair[near] * (positions + 1) + agreeing[near])
        del left, right
    return sorted_unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)


def evidenced_pair_codes(
    row_codes: np.ndarray,
    count: int,
    positions: int,
    owners: np.ndarray,
    sizes: np.ndarray | None,
    lone_min_shared: int,
    span: int,
    chunk: int = _EVIDENCE_CHUNK,
) -> np.ndarray:
    """The owner pairs (sorted :func:`pair_codes`) of verified row pairs (:func:`verified_row_pairs`' codes, over
    ``count`` rows of ``positions`` values) that are evidence of reuse: two distinct rows on either side, or a row
    pair that shares ``lone_min_shared`` content stems at least, estimated from the share of positions its rows
    agree on, J (an estimate of the stem sets' Jaccard similarity), and their sizes (``sizes``: each row's count of
    content stems): the intersection of sets a and b is J / (1 + J) × (|a| + |b|), compared in integers as
    ``agreeing × (|a| + |b|) ≥ lone_min_shared × (positions + agreeing)``. One short sentence shared by chance
    ("The company said it sold 4.6 pct.") is what most sentence pairs of a large run rest on, and the judge relates
    no pair on one short unit (``ScoreSettings.min_sentences``) unless it is most of an article, which the
    article LSH and the TF-IDF neighbours find. ``lone_min_shared`` 0: every owner pair (``sizes`` unread).

    Where the owners ascend with the rows (a run's sentence rows are stacked article by article), every owner pair's
    row codes lie in one stretch of the sorted codes (those whose first row is one of its lower owner's), so they are
    taken ``chunk`` codes at a time, each stretch cut where a lower owner's rows end: the same pairs, in the same
    order, with the working arrays (~11 int64 a row code) of one stretch at a time, not of all."""
    if not len(row_codes):
        return np.zeros(0, dtype=np.int64)
    owners = np.asarray(owners, dtype=np.int64)
    if len(row_codes) <= chunk or not np.all(owners[1:] >= owners[:-1]):
        return _evidenced_stretch(row_codes, count, positions, owners, sizes, lone_min_shared, span)
    found = []
    row_code = count * (positions + 1)  # the row codes whose first row is r begin at r * row_code
    begin = 0
    while begin < len(row_codes):
        end = begin + chunk
        if end < len(row_codes):  # back to where the lower owner of the code at ``end`` begins, or on to its end
            owner = owners[row_codes[end] // row_code]
            end = int(np.searchsorted(row_codes, np.searchsorted(owners, owner, side="left") * row_code))
            if end <= begin:
                end = int(np.searchsorted(row_codes, np.searchsorted(owners, owner, side="right") * row_code))
        found.append(_evidenced_stretch(row_codes[begin:end], count, positions, owners, sizes, lone_min_shared, span))
        begin = end
    return np.concatenate(found)


def _evidenced_stretch(
    row_codes: np.ndarray,
    count: int,
    positions: int,
    owners: np.ndarray,
    sizes: np.ndarray | None,
    lone_min_shared: int,
    span: int,
) -> np.ndarray:
    """:func:`evidenced_pair_codes` of row codes that hold every row code of their owner pairs."""
    agreeing, row_pairs = row_codes % (positions + 1), row_codes // (positions + 1)
    first, second = row_pairs // count, row_pairs % count
    if lone_min_shared <= 0 or sizes is None:
        return sorted_unique(pair_codes(owners[first], owners[second], span))
    swap = owners[first] > owners[second]
    first, second = np.where(swap, second, first), np.where(swap, first, second)  # the lower owner's row first
    pairs, pair_of = np.unique(pair_codes(owners[first], owners[second], span), return_inverse=True)
    pair_of = pair_of.reshape(-1).astype(np.int64)
    sides = np.minimum(
        np.bincount(sorted_unique(pair_of * count + first) // count, minlength=len(pairs)),
        np.bincount(sorted_unique(pair_of * count + second) // count, minlength=len(pairs)),
    )
    stems = np.asarray(sizes, dtype=np.int64)
    shares = agreeing * (stems[first] + stems[second]) >= lone_min_shared * (positions + agreeing)
    return pairs[(sides >= 2) | (np.bincount(pair_of[shares], minlength=len(pairs)) > 0)]


def reference_evidenced_pairs(
    row_pairs: Sequence[tuple[int, int, int]],
    positions: int,
    owners: Sequence[int],
    sizes: Sequence[int],
    lone_min_shared: int,
) -> set[Pair]:
    """Readable reference for :func:`evidenced_pair_codes`, over (row, row, positions agreeing) triples: per owner
    pair, the rows seen on each side and the most content stems a row pair shares, J / (1 + J) × (|a| + |b|) with
    J the share of agreeing positions (as an exact fraction)."""
    seen: dict[Pair, tuple[set[int], set[int], Fraction]] = {}
    for a, b, agreeing in row_pairs:
        if owners[a] > owners[b]:
            a, b = b, a
        first, second, most = seen.get((owners[a], owners[b]), (set(), set(), Fraction(0)))
        jaccard = Fraction(agreeing, positions)
        shared = jaccard / (1 + jaccard) * (sizes[a] + sizes[b])
        seen[(owners[a], owners[b])] = (first | {a}, second | {b}, max(most, shared))
    return {
        pair
        for pair, (first, second, most) in seen.items()
        if min(len(first), len(second)) >= 2 or most >= lone_min_shared
    }


def uncrowded_runs(order: np.ndarray, starts: np.ndarray, crowd: int) -> tuple[np.ndarray, np.ndarray]:
    """The runs of ``order`` (``starts`` as :func:`band_runs` gives them) of at most ``crowd`` rows, in the same
    form: the rows of longer runs dropped."""
    sizes = np.diff(starts)
    kept = sizes <= crowd
    if kept.all():
        return order, starts
    return order[np.repeat(kept, sizes)], np.concatenate(([0], np.cumsum(sizes[kept])))


def grouped_run_pairs(order: np.ndarray, starts: np.ndarray, most: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """:func:`run_pairs` of ``order`` and ``starts`` a group of whole runs at a time, each group's pairs at most
    ``most`` unless one run alone holds more: together the same pairs, the arrays of a band's many buckets never
    made all at once."""
    sizes = np.diff(starts)
    pairs = sizes * (sizes - 1) // 2
    ends = np.cumsum(pairs)
    first = 0
    while first < len(sizes):
        last = max(int(np.searchsorted(ends, ends[first] - pairs[first] + most, side="right")), first + 1)
        begin, end = int(starts[first]), int(starts[last])
        if ends[last - 1] > ends[first] - pairs[first]:  # some pair in the group
            yield run_pairs(order[begin:end], starts[first : last + 1] - begin)
        first = last


def run_pairs(order: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of rows within one run (``order`` and ``starts`` as :func:`band_runs` gives them), as (left,
    right) row arrays, left before right in ``order``."""
    sizes = np.diff(starts)
    within = np.arange(len(order)) - np.repeat(starts[:-1], sizes)  # each row's place in its run
    partners = np.repeat(sizes, sizes) - 1 - within  # the rows after it in its run
    left = np.repeat(np.arange(len(order)), partners)
    right = left + np.arange(len(left)) - np.repeat(np.cumsum(partners) - partners, partners) + 1
    return order[left], order[right]


def sentence_groups(rows: np.ndarray | SpilledRows, threshold: float, workers: int = 1) -> np.ndarray:
    """For every signature row, its group of near-copies: the first row it shares an LSH band bucket with
    and whose estimated Jaccard similarity is at least ``threshold``.

    One hop, not the transitive closure: at a low threshold, chains of loosely similar
    sentences would otherwise join unrelated sentences into one group. Equal to
    :func:`reference_sentence_groups` (tested): a bucket's first row is read off :func:`band_runs`, and only the
    rows that are not their bucket's first are compared with it. ``rows`` may be :class:`SpilledRows`.
    ``workers`` > 1: the bands shared among that many forked processes, a stretch of bands each, each stretch's
    groups folded in as they arrive (a row's group is the least over the bands: the same groups).
    """
    source = row_source(rows)
    count, num_perm = source.shape
    leaders = np.arange(count, dtype=np.int64)
    if count == 0:
        return leaders
    band_count, width = bands(threshold, num_perm)

    def fold(found: np.ndarray) -> None:
        members, candidate = found
        leaders[members] = np.minimum(leaders[members], candidate)  # each row once in a stretch's pairs

    stretches = [tuple(part.tolist()) for part in np.array_split(np.arange(band_count), min(workers, band_count))]
    run_batches(_stretch_leaders, (source, threshold, width), stretches, workers=len(stretches), each=fold)
    return leaders


def _stretch_leaders(shared: tuple[HeldRows | SpilledRows, float, int], stretch: tuple[int, ...]) -> list[np.ndarray]:
    """:func:`sentence_groups` over the bands of ``stretch``, one after another: each row that is not its bucket's
    first and agrees with it on ``threshold`` of their positions, with the least such first row (a 2 × n array, as
    a one-item list). A row is compared with a bucket's first only when that row is less than the least near one
    found for it on the stretch's earlier bands (a larger one cannot be its group): near-copies collide in most
    bands, and each is now read once a stretch, not once a band."""
    source, threshold, width = shared
    count = source.shape[0]
    leaders = np.arange(count, dtype=np.int32 if count < 2**31 else np.int64)
    for band in stretch:
        _band_leaders(source, threshold, width, band, leaders)
    moved = np.flatnonzero(leaders != np.arange(count))
    return [np.stack((moved, leaders[moved].astype(np.int64)))]


def _band_leaders(source: HeldRows | SpilledRows, threshold: float, width: int, band: int, leaders: np.ndarray) -> None:
    """:func:`sentence_groups` on one band, folded into ``leaders`` (each row's least near first row so far, or
    itself): each row whose bucket's first is less than its leader so far (so not the row itself) and agrees with it
    on ``threshold`` of their positions takes that first row as its leader."""
    count = source.shape[0]
    order, starts = block_runs(source.band(band, width))
    first = np.minimum.reduceat(order, starts[:-1])  # each run's first row
    # a band collision is a guess: the whole signature must agree on ``threshold`` of its positions; each row
    # compared with its run's first a chunk at a time (a whole band's gathered rows were ~0.5 GB at 100k
    # articles; each row is in one run)
    for begin in range(0, count, _VERIFY_CHUNK):
        end = min(begin + _VERIFY_CHUNK, count)
        members = order[begin:end]
        candidate = first[runs_of(starts, begin, end)]
        later = candidate < leaders[members]  # the first is never above the row: less than its leader, not it
        members, candidate = members[later], candidate[later]
        near = source.near(members, candidate, threshold)
        leaders[members[near]] = candidate[near]


def reference_sentence_groups(rows: np.ndarray, threshold: float) -> np.ndarray:
    """The readable reference of :func:`sentence_groups`: every row compared with its bucket's first."""
    count, num_perm = rows.shape
    leaders = np.arange(count, dtype=np.int64)
    if count == 0:
        return leaders
    band_count, width = bands(threshold, num_perm)
    for band in range(band_count):
        block = np.ascontiguousarray(rows[:, band * width : (band + 1) * width])
        keys = block.view(np.dtype((np.void, block.dtype.itemsize * width))).ravel()
        _, first, bucket = np.unique(keys, return_index=True, return_inverse=True)
        candidate = first[bucket.ravel()]
        near = (rows == rows[candidate]).mean(axis=1) >= threshold
        np.minimum(leaders, np.where(near, candidate, leaders), out=leaders)
    return leaders


def sentence_stories(
    articles: Sequence[CleanArticle], rows: np.ndarray, threshold: float, min_stems: int, at_least: int
) -> tuple[list[list[int]], np.ndarray]:
    """Per article, for each of its units, in how many separate stories of the run its near-copies occur; and
    the same count for each of ``rows`` (the sketched units, in order: ``skip_stock_sentences`` reads it).

    Near-copies: for units with at least ``min_stems`` content stems, the rows of
    ``sentence_signatures(articles, ...)`` (in that order) grouped by :func:`sentence_groups`;
    for shorter units (two stems or more: "Further details were not disclosed.") the same
    stem set. The articles holding a group are one story when they are linked by other groups
    they share (a wire sentence comes with the rest of its story, in every paper that copies
    it), separate stories when they share nothing else (a stock phrase, a results-table frame).
    Groups held by fewer than ``at_least`` articles are not examined: their count is their
    number of articles, an upper bound. The count stops at ``at_least`` (stock: all any reader asks), and below it
    may be an upper bound too (:func:`_story_counts`).
    """
    sizes, short = unit_stem_sizes(articles, min_stems)
    units = np.fromiter((len(article.sentences) for article in articles), dtype=np.int64, count=len(articles))
    counts, sketched = unit_stories(rows, threshold, sizes, short, units, min_stems, at_least)
    flat = counts.tolist()
    bounds = np.concatenate(([0], np.cumsum(units))).tolist()
    return [flat[bounds[k] : bounds[k + 1]] for k in range(len(articles))], sketched


def sentence_row_sizes(articles: Sequence[CleanArticle], min_stems: int) -> np.ndarray:
    """Each sketched unit's count of distinct content stems, in the order of :func:`sentence_signatures`' rows (what
    ``lone_sentence_min_shared`` reads)."""
    sizes = unit_stem_sizes(articles, min_stems)[0]
    return sizes[sizes >= min_stems]


def unit_stem_sizes(
    articles: Sequence[CleanArticle], min_stems: int
) -> tuple[np.ndarray, list[bytes | frozenset[str]]]:
    """What :func:`sentence_stories` reads of the articles' units, so that a worker can take it from a batch: the
    number of distinct content stems of every unit, and the stem set of every short unit (two stems or more, under
    ``min_stems``), in order, as :func:`short_unit_key` (equal keys for equal sets, only). Parts of a run,
    concatenated, give the whole run's."""
    sizes: list[int] = []
    short: list[bytes | frozenset[str]] = []
    for article in articles:
        stems = article.stems
        for sentence in article.sentences:
            # the unit's stem set as ``unit_stem_sets`` makes it (the sketched units are those of sentence_stem_sets,
            # in order), of strings: the same sizes and the same sets, without encoding every stem
            unit = set(stems[sentence.first : sentence.last])
            unit.discard("")
            sizes.append(len(unit))
            if 2 <= len(unit) < min_stems:
                short.append(short_unit_key(unit))
    return np.array(sizes, dtype=np.int64), short


def short_unit_key(stems: set[str]) -> bytes | frozenset[str]:
    """A short unit's stem set as one ``bytes`` (its stems sorted, joined by NUL, UTF-8): ~60 bytes where the
    frozenset with its strings is ~300 (a large run holds ~2 short units an article from cleaning to the sentence
    stories). Two sets give equal keys exactly when they are equal (the key split at NULs is the sorted stems): an
    empty set, or one with an empty stem or a NUL in a stem, stays a frozenset (no bytes key equals one)."""
    if not stems or any(not stem or "\0" in stem for stem in stems):
        return frozenset(stems)
    return "\0".join(sorted(stems)).encode("utf-8", "surrogatepass")


def unit_stories(
    rows: np.ndarray,
    threshold: float,
    sizes: np.ndarray,
    short: Sequence[bytes | frozenset[str]],
    units: np.ndarray,
    min_stems: int,
    at_least: int,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`sentence_stories` from :func:`unit_stem_sizes` of the run (``units``: each article's unit count):
    the stories of every unit of the run, in order, and of every row (``workers``: :func:`sentence_groups`')."""
    leaders = sentence_groups(rows, threshold, workers)
    short_groups: dict[bytes | frozenset[str], int] = {}
    numbers = np.fromiter((short_groups.setdefault(unit, len(short_groups)) for unit in short), np.int64, len(short))
    del short_groups
    size = np.asarray(sizes)  # compared only: any integer type (the run's are 2 bytes a unit)
    # 4 bytes a unit where the numbers fit (a 1M run's ~10 M units), where the groups, owners and rows were int64
    wide = np.int32 if len(leaders) + len(numbers) < 2**31 and len(units) < 2**31 else np.int64
    sketched = size >= min_stems  # the unit of each row
    group_of = np.full(len(size), -1, dtype=wide)  # -1: too short to be evidence of anything
    group_of[sketched] = leaders
    del leaders
    numbers += len(rows)
    group_of[(size >= 2) & ~sketched] = numbers
    del numbers
    counts = _story_counts(group_of, np.repeat(np.arange(len(units), dtype=wide), units), at_least)
    return counts, counts[sketched]


STORY_LINK = 3  # shared sentences that make two articles one story; a sentence common to the run counts 1/3


_STORY_PAIRS = 1 << 22  # holder pairs of the examined groups weighed at once by _story_counts (~0.2 GB of arrays)
_STORY_EDGES = 1 << 22  # (holder, other group) incidences of the examined groups bounded at once (~0.2 GB of arrays)


def _story_counts(
    group: np.ndarray,
    owners: np.ndarray,
    at_least: int,
    most_pairs: int = _STORY_PAIRS,
    most_edges: int = _STORY_EDGES,
) -> np.ndarray:
    """For every unit, the number of separate stories among the articles holding its group (1 if no group), counted
    up to ``at_least``: ``at_least`` when they are that many or more (the sentence is stock, all that the judge and
    the sentence pairs ask: ``stories >= stock_min_stories``), else a number below it and at least the stories (the
    holders of a group held by fewer than ``at_least`` articles).

    Two holders are one story when they share another group held by fewer than ``at_least``
    articles, or ``STORY_LINK`` other groups however common: stock sentences travel in pairs
    ("Further details were not disclosed. Officials did not respond…") and must not vouch for
    each other, while the papers that copy a popular wire story share many of its sentences.

    ``np.minimum(reference_story_counts(...), at_least)`` where that is ``at_least``, at least it elsewhere (tested).
    Each examined group's holders are nodes of one graph, two of a group linked when their articles' shared weight,
    less the group's own, reaches ``STORY_LINK``; a group's stories are the components among its nodes. Two bounds
    decide most groups without comparing their holders pair by pair (:func:`_story_bounds`, linear in the holders'
    groups): holders that share no other group are never linked (at least ``at_least`` components so: stock), and
    holders that share a group of fewer than ``at_least`` articles always are (fewer components so: not stock). The
    rest — 1,183 of 8,166 examined groups at 100k articles, with 67k holder pairs of 4.6M — are counted exactly as the
    reference counts them, a batch of groups at a time, each batch's holder pairs at most ``most_pairs`` (a larger
    group alone). Every holder pair of the examined groups was weighed before (stop 24): the few common groups of
    ~1,100 holders at 100k (~11,000 at 1M, most of them stock) held most of them, ~2 min of the 1M run's parent.
    """
    counts = np.ones(len(group), dtype=np.min_scalar_type(max(at_least, 1)))  # counted up to at_least: 1 byte
    grouped = group >= 0
    if grouped.sum() < 2:
        return counts
    holding, by_group, holders_per_group, weight = _group_holders(group, owners, grouped, at_least)
    stories = holders_per_group.copy()  # the upper bound, refined below for the common groups
    examined = np.flatnonzero(holders_per_group >= max(at_least, 2))
    lower, upper = _story_bounds(holding, by_group, weight, examined, most_edges)
    stories[examined] = np.where(lower >= at_least, at_least, upper)
    examined = examined[(lower < at_least) & (upper >= at_least)]  # the bounds leave them open: counted exactly
    sizes = holders_per_group[examined].astype(np.int64)
    before = np.concatenate(([0], np.cumsum(sizes * (sizes - 1) // 2)))  # holder pairs of the groups before each
    begin = 0
    while begin < len(examined):
        end = max(begin + 1, int(np.searchsorted(before, before[begin] + most_pairs, side="right")) - 1)
        found = _group_stories(holding, by_group, weight, examined[begin:end])
        stories[examined[begin:end]] = np.minimum(found, at_least)
        begin = end
    counts[grouped] = stories[group[grouped]]
    return counts


def _story_bounds(
    holding: sparse.csr_matrix,
    by_group: sparse.csc_matrix,
    weight: np.ndarray,
    examined: np.ndarray,
    most_edges: int = _STORY_EDGES,
) -> tuple[np.ndarray, np.ndarray]:
    """For each of the ``examined`` groups, a lower and an upper bound of the separate stories among its holders
    (:func:`_story_counts`): the components among them when two holders are linked by any other group they share
    (a link needs the weight of other shared groups, so these links are all the links and more: fewer components),
    and when they are linked by another group weighing ``STORY_LINK`` (a group of few holders; each such link is a
    link: more components). Linear in the holders' groups (no holder pair is made): a batch of groups at a time, at
    most ``most_edges`` (holder, group) incidences each (a larger group alone)."""
    lower = np.zeros(len(examined), dtype=np.int64)
    upper = np.zeros(len(examined), dtype=np.int64)
    degree = np.diff(holding.indptr)
    sizes = np.diff(by_group.indptr)[examined].astype(np.int64)
    node_degree = degree[by_group.indices[_member_places(by_group.indptr[examined], sizes)]]
    per_group = np.bincount(np.repeat(np.arange(len(examined)), sizes), node_degree, len(examined))
    incidences = np.concatenate(([0], np.cumsum(per_group.astype(np.int64))))  # of the groups before each
    del node_degree, per_group
    begin = 0
    while begin < len(examined):
        end = max(begin + 1, int(np.searchsorted(incidences, incidences[begin] + most_edges, side="right")) - 1)
        batch = examined[begin:end]
        node_group = np.repeat(np.arange(len(batch)), sizes[begin:end])
        node_article = by_group.indices[_member_places(by_group.indptr[batch], sizes[begin:end])]
        edge_node = np.repeat(np.arange(len(node_article)), degree[node_article])
        edge_group = holding.indices[_member_places(holding.indptr[node_article], degree[node_article])]
        other = edge_group != batch[node_group[edge_node]]
        edge_node, edge_group = edge_node[other], edge_group[other]
        heavy = weight[edge_group] >= STORY_LINK
        for bound, kept in ((lower, slice(None)), (upper, heavy)):
            keys = node_group[edge_node[kept]].astype(np.int64) * len(weight) + edge_group[kept]
            bound[begin:end] = _components_per_group(node_group, len(batch), edge_node[kept], keys)
        begin = end
    return lower, upper


def _member_places(firsts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The places ``firsts[k] … firsts[k] + sizes[k] - 1`` of every k, one after another (a CSR matrix's entries of
    some of its rows)."""
    starts = np.concatenate(([0], np.cumsum(sizes)))
    return np.repeat(np.asarray(firsts, dtype=np.int64) - starts[:-1], sizes) + np.arange(starts[-1])


def _components_per_group(
    node_group: np.ndarray, groups: int, edge_node: np.ndarray, edge_key: np.ndarray
) -> np.ndarray:
    """How many components the nodes of each of ``groups`` groups make (``node_group``: each node's group) when the
    nodes of edges with equal ``edge_key`` are linked (a key: a group and another group its node's article holds)."""
    order = np.argsort(edge_key, kind="stable")
    keys, nodes = edge_key[order], edge_node[order]
    same = np.flatnonzero(keys[1:] == keys[:-1])  # each node linked to the next holder of its key
    count = len(node_group)
    links = sparse.csr_matrix((np.ones(len(same), dtype=np.int8), (nodes[same], nodes[same + 1])), shape=(count, count))
    components, label = connected_components(links, directed=False)
    distinct = sorted_unique(node_group.astype(np.int64) * components + label)  # one entry per (group, component)
    return np.bincount(distinct // components, minlength=groups)


def _group_stories(
    holding: sparse.csr_matrix, by_group: sparse.csc_matrix, weight: np.ndarray, examined: np.ndarray
) -> np.ndarray:
    """The separate stories among the holders of each of the ``examined`` groups (:func:`_story_counts`)."""
    sizes = np.diff(by_group.indptr)[examined]
    starts = np.concatenate(([0], np.cumsum(sizes)))
    node_group = np.repeat(np.arange(len(examined)), sizes)
    node_article = by_group.indices[np.repeat(by_group.indptr[examined] - starts[:-1], sizes) + np.arange(starts[-1])]
    left, right = run_pairs(np.arange(starts[-1]), starts)
    shared = _shared_weights(holding, weight, node_article[left], node_article[right])
    linked = shared - weight[examined[node_group[left]]] >= STORY_LINK  # the group itself does not count
    links = sparse.csr_matrix(
        (np.ones(int(linked.sum()), dtype=np.int8), (left[linked], right[linked])), shape=(starts[-1], starts[-1])
    )
    components, label = connected_components(links, directed=False)
    distinct = sorted_unique(node_group * components + label)  # one entry per (group, component)
    return np.bincount(distinct // components, minlength=len(examined))


_SHARED_CHUNK = 1 << 16  # article pairs whose shared groups are weighed at once


def _group_holders(
    group: np.ndarray, owners: np.ndarray, grouped: np.ndarray, at_least: int
) -> tuple[sparse.csr_matrix, sparse.csc_matrix, np.ndarray, np.ndarray]:
    """Articles × groups (0/1), the same by group, each group's holder count, and its weight as evidence
    that two holders are one story (``STORY_LINK`` for a group held by fewer than ``at_least``, else 1)."""
    shape = (int(owners.max()) + 1, int(group.max()) + 1)
    index = np.int32 if max(shape) < 2**31 and int(grouped.sum()) < 2**31 else np.int64
    owner = owners[grouped]
    if len(owner) > 1 and not (owner[1:] >= owner[:-1]).all():  # the run's owners ascend: no sort
        order = np.argsort(owner, kind="stable")
        owner, columns = owner[order], group[grouped][order].astype(index)
        del order
    else:
        columns = group[grouped].astype(index, copy=False)
    # the rows' pointers from the ascending owners, the columns as they come: sorted, and a group an article holds
    # twice summed, by ``sum_duplicates``, in place (the coordinate form made int64 and int32 copies of both)
    pointers = np.zeros(shape[0] + 1, dtype=index)
    np.cumsum(np.bincount(owner, minlength=shape[0]), out=pointers[1:])
    del owner
    holding = sparse.csr_matrix((np.ones(len(columns), dtype=np.int32), columns, pointers), shape=shape, copy=False)
    holding.sum_duplicates()
    holding.data[:] = 1  # an article holding two near-copies holds the group once
    by_group = holding.tocsc()
    holders_per_group = np.diff(by_group.indptr)
    weight = np.ones(len(holders_per_group), dtype=np.int32)
    weight[holders_per_group < at_least] = STORY_LINK
    return holding, by_group, holders_per_group, weight


def reference_group_holders(
    group: np.ndarray, owners: np.ndarray, grouped: np.ndarray, at_least: int
) -> tuple[sparse.csr_matrix, sparse.csc_matrix, np.ndarray, np.ndarray]:
    """The readable reference of :func:`_group_holders`: the articles × groups matrix from its coordinates."""
    holding = sparse.csr_matrix(
        (np.ones(int(grouped.sum()), dtype=np.int32), (owners[grouped], group[grouped])),
        shape=(int(owners.max()) + 1, int(group.max()) + 1),
    )
    holding.data[:] = 1  # an article holding two near-copies holds the group once
    by_group = holding.tocsc()
    holders_per_group = np.diff(by_group.indptr)
    weight = np.where(holders_per_group < at_least, STORY_LINK, 1).astype(np.int32)
    return holding, by_group, holders_per_group, weight


def _shared_weights(
    holding: sparse.csr_matrix, weight: np.ndarray, first: np.ndarray, second: np.ndarray
) -> np.ndarray:
    """For each article pair, the total ``weight`` of the groups both hold (``holding``: articles × groups, 0/1)."""
    shared = np.zeros(len(first), dtype=np.int64)
    for begin in range(0, len(first), _SHARED_CHUNK):
        part = slice(begin, begin + _SHARED_CHUNK)
        shared[part] = holding[first[part]].multiply(holding[second[part]]) @ weight
    return shared


def reference_story_counts(group: np.ndarray, owners: np.ndarray, at_least: int) -> np.ndarray:
    """The readable reference of :func:`_story_counts`: one group at a time, its holders' other groups as a matrix.

    Two holders are one story when they share another group held by fewer than ``at_least``
    articles, or ``STORY_LINK`` other groups however common: stock sentences travel in pairs
    ("Further details were not disclosed. Officials did not respond…") and must not vouch for
    each other, while the papers that copy a popular wire story share many of its sentences.
    """
    counts = np.ones(len(group), dtype=np.int64)
    grouped = group >= 0
    if grouped.sum() < 2:
        return counts
    holding, by_group, holders_per_group, weight = reference_group_holders(group, owners, grouped, at_least)
    stories = holders_per_group.copy()  # the upper bound, refined below for the common groups
    for number in np.flatnonzero(holders_per_group >= max(at_least, 2)):
        holders = by_group.indices[by_group.indptr[number] : by_group.indptr[number + 1]]
        others = holding[holders]
        others[:, number] = 0
        others.eliminate_zeros()
        shared = others @ others.multiply(weight).T.tocsr()
        links = sparse.csr_matrix(shared >= STORY_LINK)
        stories[number] = connected_components(links, directed=False)[0]
    counts[grouped] = stories[group[grouped]]
    return counts


def article_signatures(articles: Sequence[CleanArticle], sketch: SketchSettings) -> np.ndarray:
    """MinHash signature rows of the articles' shingle sets (rows are independent: batches can be stacked).

    Equal to ``signatures`` of their ``article_shingles`` (tested), hashed as slices of the joined words, all at
    once (``article_shingle_hashes``), instead of a set of joined strings hashed one at a time.
    """
    hashes, sizes = article_shingle_hashes(articles, sketch.shingle_size)
    return hashed_minima(hashes, sizes, *permutations(sketch.num_perm, sketch.seed))


def sentence_signatures(articles: Sequence[CleanArticle], sketch: SketchSettings) -> tuple[np.ndarray, np.ndarray]:
    """MinHash signature rows of the sentence stem sets, and the index in ``articles`` of each row's article.

    Equal to ``signatures`` of their ``sentence_stem_sets`` (tested): the same sets, of strings, their stems hashed
    once per process (``stem_hashes``) instead of encoded and hashed in every unit.
    """
    owners: list[int] = []
    hashes: list[int] = []
    sizes: list[int] = []
    for index, article in enumerate(articles):
        stems = article.stems
        for sentence in article.sentences:
            unit = set(stems[sentence.first : sentence.last])
            unit.discard("")
            if len(unit) >= sketch.min_sentence_stems:
                owners.append(index)
                hashes.extend(stem_hashes(unit))
                sizes.append(len(unit))
    rows = hashed_minima(hashes, np.array(sizes, dtype=np.int64), *permutations(sketch.sentence_num_perm, sketch.seed))
    return rows, np.array(owners, dtype=np.int64)


def article_lsh_pairs(articles: Sequence[CleanArticle], sketch: SketchSettings, threshold: float) -> set[Pair]:
    """Pairs whose whole-article shingle sets are near-duplicates."""
    return banded_pairs(article_signatures(articles, sketch), np.arange(len(articles), dtype=np.int64), threshold)


def sentence_lsh_pairs(
    articles: Sequence[CleanArticle], sketch: SketchSettings, threshold: float, verify: bool = False
) -> set[Pair]:
    """Pairs of articles that have two similar sentences (by content-stem Jaccard)."""
    return banded_pairs(*sentence_signatures(articles, sketch), threshold, verify=verify)


def reference_article_lsh_pairs(
    articles: Sequence[CleanArticle], sketch: SketchSettings, threshold: float
) -> set[Pair]:
    """Readable reference for :func:`article_lsh_pairs`: datasketch, one signature at a time."""
    lsh = MinHashLSH(threshold=threshold, num_perm=sketch.num_perm)
    signatures = []
    for index, article in enumerate(articles):
        signature = minhash(article_shingles(article, sketch.shingle_size), sketch.num_perm, sketch.seed)
        signatures.append(signature)
        lsh.insert(index, signature)
    return {
        _ordered(index, other) for index, sig in enumerate(signatures) for other in lsh.query(sig) if other != index
    }


def reference_sentence_lsh_pairs(
    articles: Sequence[CleanArticle], sketch: SketchSettings, threshold: float, verify: bool = False
) -> set[Pair]:
    """Readable reference for :func:`sentence_lsh_pairs`: datasketch, one signature at a time (``verify``: a
    collision counts when ``MinHash.jaccard`` of the two signatures reaches ``threshold``)."""
    lsh = MinHashLSH(threshold=threshold, num_perm=sketch.sentence_num_perm)
    owners: list[int] = []
    signatures = []
    for index, article in enumerate(articles):
        for stems in sentence_stem_sets(article, sketch.min_sentence_stems):
            signature = minhash(stems, sketch.sentence_num_perm, sketch.seed)
            lsh.insert(len(owners), signature)
            owners.append(index)
            signatures.append(signature)
    pairs: set[Pair] = set()
    for key, signature in enumerate(signatures):
        for other in lsh.query(signature):
            if owners[other] != owners[key] and (not verify or signature.jaccard(signatures[other]) >= threshold):
                pairs.add(_ordered(owners[key], owners[other]))
    return pairs


# scores within this of the threshold or of each other are settled on the exact row (floats of another
# summation order differ by far less: a cosine sums at most a few thousand products of values <= 1)
_SLACK = 1e-9


def tfidf_block_pairs(
    vectors: sparse.csr_matrix,
    begin: int,
    end: int,
    neighbours: int,
    threshold: float,
    transposed: sparse.csr_matrix | None = None,
) -> set[Pair]:
    """The nearest-neighbour pairs of articles ``begin..end-1`` (rows are independent: blocks can run apart).

    Each row's ``neighbours`` best cosines at or above ``threshold``, its own excluded: the same pairs as
    :func:`reference_tfidf_block_pairs`, without the dense block. ``sparse_dot_topn`` keeps the best
    ``neighbours + 2`` of every row; a row whose choice is not clear-cut from them (a near tie at the
    last place, a score near the threshold) is settled as the reference does, on its exact dense row.
    ``transposed``: ``vectors.T.tocsr()`` when the caller already has it. A threshold of 0 or below
    takes the reference's way.
    """
    count = vectors.shape[0]
    k = min(neighbours, count - 1)
    end = min(end, count)
    if k <= 0 or end <= begin:
        return set()
    if threshold <= _SLACK:  # cosines of 0 (no shared stem) count as neighbours too: only the dense rows say which
        return reference_tfidf_block_pairs(vectors, begin, end, neighbours, threshold)
    transposed = vectors.T.tocsr() if transposed is None else transposed
    best = sp_matmul_topn(vectors[begin:end], transposed, top_n=k + 2, threshold=threshold - _SLACK, sort=True)
    pairs: set[Pair] = set()
    for row in range(end - begin):
        index = begin + row
        others = best.indices[best.indptr[row] : best.indptr[row + 1]]
        scores = best.data[best.indptr[row] : best.indptr[row + 1]]
        keep = others != index
        others, scores = others[keep], scores[keep]
        unclear = bool(np.any(np.abs(scores[: k + 1] - threshold) < _SLACK)) or (
            len(scores) > k and scores[k] >= scores[k - 1] - _SLACK
        )
        if unclear:
            exact = (vectors[index] @ transposed).toarray()[0]
            pairs.update(_row_neighbours(exact, index, k, threshold))
        else:
            pairs.update(_ordered(index, int(other)) for other in others[:k][scores[:k] >= threshold])
    return pairs


def _row_neighbours(scores: np.ndarray, index: int, k: int, threshold: float) -> list[Pair]:
    """The reference's choice on one dense row of cosines (its own entry excluded)."""
    scores[index] = -1.0
    top = np.argpartition(-scores, k - 1)[:k]
    return [_ordered(index, int(other)) for other in top if scores[other] >= threshold]


def reference_tfidf_block_pairs(
    vectors: sparse.csr_matrix, begin: int, end: int, neighbours: int, threshold: float
) -> set[Pair]:
    """Readable reference for :func:`tfidf_block_pairs`: the dense block of cosines, row by row."""
    pairs: set[Pair] = set()
    k = min(neighbours, vectors.shape[0] - 1)
    if k <= 0:
        return pairs
    block = (vectors[begin:end] @ vectors.T).toarray()
    for row, scores in enumerate(block):
        pairs.update(_row_neighbours(scores, begin + row, k, threshold))
    return pairs


def tfidf_pairs(
    vectors: sparse.csr_matrix,
    neighbours: int,
    threshold: float,
    chunk: int = 2048,
    guarantee: float = 0.0,
    pool: int = 40,
    posting_cap: int = 0,
) -> set[Pair]:
    """Each article's nearest neighbours by TF-IDF cosine, above ``threshold`` (``guarantee`` > 0: by the
    pruned search, :func:`pruned_tfidf_block_pairs`, its product over :func:`posting_lists` capped to
    ``posting_cap``)."""
    pairs: set[Pair] = set()
    suffix = tfidf_suffix(vectors, guarantee) if guarantee > 0 else None
    transposed = posting_lists(vectors, posting_cap if suffix is not None else 0)
    for begin in range(0, vectors.shape[0], chunk):
        pairs |= neighbour_block_pairs(vectors, suffix, begin, begin + chunk, neighbours, threshold, pool, transposed)
    return pairs


def posting_lists(vectors: sparse.csr_matrix, cap: int = 0) -> sparse.csr_matrix:
    """``vectors.T.tocsr()``: each stem's posting list (its articles and weights), with ``cap`` > 0 kept to the
    ``cap`` articles where the stem weighs most (ties to the lower index). The pruned search's product over capped
    lists costs at most ``cap`` multiply-adds a suffix entry: linear in the articles, where the full lists make it
    grow with each common stem's document frequency (~2.2 power of the articles). Only for the pruned search's
    product (:func:`pruned_tfidf_block_pairs` rescores on the vectors); the exact search needs the full lists.

    Capped, the lists are made a block of stems at a time (a sixteenth of the stored values, at least
    ``POSTING_MIN_BLOCK_VALUES``) and only the kept entries are held: the whole transposed matrix (a copy of the
    vectors) and its kept part copied beside it were the 1M run's highest (stop 28: the parent alone, +2.4 GB).
    Equal, array for array, to :func:`reference_posting_lists` (tested)."""
    if cap <= 0:
        return vectors.T.tocsr()
    rows, columns = vectors.shape
    lengths = np.bincount(vectors.indices, minlength=columns)
    if not (lengths > cap).any():
        return vectors.T.tocsr()
    # the index dtype ``tocsr`` gives the transposed lists (scipy: int32 unless an input array or a count needs 64)
    wide = vectors.indptr.dtype == np.int64 or vectors.indices.dtype == np.int64 or max(vectors.nnz, rows) >= 2**31
    index_type = np.int64 if wide else np.int32
    kept_lengths = np.minimum(lengths, cap)
    indptr = np.zeros(columns + 1, dtype=index_type)
    np.cumsum(kept_lengths, out=indptr[1:])
    data = np.empty(int(indptr[-1]), dtype=vectors.data.dtype)
    indices = np.empty(int(indptr[-1]), dtype=index_type)
    ends = np.cumsum(lengths)
    # a block's working arrays are ~40 bytes a value; each block reads the whole of ``vectors.indices`` to find its
    # stems' entries, so there are a few blocks (their count bounds that reading), not many small ones
    block = max(vectors.nnz // POSTING_BLOCKS, POSTING_MIN_BLOCK_VALUES)
    first = 0
    while first < columns:  # stems [first, last): about a block's values
        last = int(np.searchsorted(ends, (ends[first - 1] if first else 0) + block, side="right"))
        last = min(max(last, first + 1), columns)
        positions = np.concatenate(
            [
                begin + np.flatnonzero((part >= first) & (part < last))
                for begin in range(0, vectors.nnz, block)
                for part in (vectors.indices[begin : begin + block],)
            ]
            or [np.zeros(0, dtype=np.int64)]
        )
        # by stem, each stem's entries in article order (positions ascend with the rows): the transposed lists
        positions = positions[np.argsort(vectors.indices[positions], kind="stable")]
        weights = vectors.data[positions]
        articles = np.searchsorted(vectors.indptr, positions, side="right") - 1
        del positions
        keep = np.ones(len(weights), dtype=bool)
        starts = np.concatenate(([0], np.cumsum(lengths[first:last])))
        for stem in (first + np.flatnonzero(lengths[first:last] > cap)).tolist():
            begin, end = int(starts[stem - first]), int(starts[stem - first + 1])
            keep[begin:end] = _heaviest(weights[begin:end], cap)
        data[indptr[first] : indptr[last]] = weights[keep]
        indices[indptr[first] : indptr[last]] = articles[keep]
        del weights, articles, keep
        first = last
    return sparse.csr_matrix((data, indices, indptr), shape=(columns, rows))


POSTING_BLOCKS = 16  # blocks of stems :func:`posting_lists` makes its capped lists in (at most, above the least)
POSTING_MIN_BLOCK_VALUES = 1 << 20  # stored values of a block at least


def reference_posting_lists(vectors: sparse.csr_matrix, cap: int = 0) -> sparse.csr_matrix:
    """Readable reference for :func:`posting_lists`: the whole transposed matrix, each capped list's heaviest kept."""
    transposed = vectors.T.tocsr()
    lengths = np.diff(transposed.indptr)
    if cap <= 0 or not (lengths > cap).any():
        return transposed
    keep = np.ones(transposed.nnz, dtype=bool)
    for stem in np.flatnonzero(lengths > cap).tolist():
        begin, end = transposed.indptr[stem], transposed.indptr[stem + 1]
        keep[begin:end] = _heaviest(transposed.data[begin:end], cap)
    kept_lengths = np.minimum(lengths, cap)
    indptr = np.zeros(len(lengths) + 1, dtype=transposed.indptr.dtype)
    np.cumsum(kept_lengths, out=indptr[1:])
    data, indices = transposed.data[keep], transposed.indices[keep]
    del transposed, keep
    return sparse.csr_matrix((data, indices, indptr), shape=(vectors.shape[1], vectors.shape[0]))


def _heaviest(weights: np.ndarray, cap: int) -> np.ndarray:
    """Which of ``weights`` (one posting list, by article) are its ``cap`` heaviest, ties to the earlier: the first
    ``cap`` of ``np.argsort(-weights, kind="stable")``, found by a partition (linear) instead of a sort (the 1M run's
    parent sorted the lists of common stems, up to ~10^5 articles each, for ~15 s on one core)."""
    last = -np.partition(-weights, cap - 1)[cap - 1]  # the cap-th heaviest weight
    kept = weights > last
    ties = np.flatnonzero(weights == last)
    kept[ties[: cap - int(kept.sum())]] = True
    return kept


def neighbour_block_pairs(
    vectors: sparse.csr_matrix,
    suffix: sparse.csr_matrix | None,
    begin: int,
    end: int,
    neighbours: int,
    threshold: float,
    pool: int,
    transposed: sparse.csr_matrix | None = None,
) -> set[Pair]:
    """One block's TF-IDF neighbour pairs: the exact search (``suffix`` None) or the pruned one (``suffix``
    from :func:`tfidf_suffix`)."""
    if suffix is None:
        return tfidf_block_pairs(vectors, begin, end, neighbours, threshold, transposed)
    return pruned_tfidf_block_pairs(vectors, suffix, begin, end, neighbours, threshold, pool, transposed)


def tfidf_suffix(vectors: sparse.csr_matrix, guarantee: float, block_values: int | None = None) -> sparse.csr_matrix:
    """Each row without the prefix of its most common stems that cannot carry a cosine of ``guarantee``.

    Prefix filtering (Bayardo, Ma and Srikant, "Scaling up all pairs similarity search", WWW 2007, with
    the L2 bound of Anastasiu and Karypis's L2AP): the stems of a row, most frequent in the corpus first,
    form its prefix while the most they can add to a cosine with any row stays below ``guarantee``: at
    most the sum of weight times the stem's largest weight in any row, and at most the prefix's norm
    (Cauchy-Schwarz; rows have norm 1). So two rows whose cosine reaches ``guarantee`` share a stem of
    the first row's suffix, and the product of the suffixes with the whole vectors finds them, at a
    fraction of the full product's cost: common stems (the product's quadratic part) mostly stay in
    prefixes.

    Made a block of rows at a time (about ``block_values`` stored values each; the column statistics first,
    over all rows): the working arrays are a block's, not ~77 bytes of every stored value at once (0.9 GB at
    100k articles). The running sums carry their totals from block to block, so every bound is the float
    :func:`reference_tfidf_suffix` computes over the whole matrix, and the suffix is equal to it (tested).
    """
    if vectors.nnz == 0:
        return vectors.copy()
    block_values = _SUFFIX_BLOCK_VALUES if block_values is None else block_values
    frequency = np.bincount(vectors.indices, minlength=vectors.shape[1])
    largest = np.zeros(vectors.shape[1])
    np.maximum.at(largest, vectors.indices, vectors.data)
    indptr, rows = vectors.indptr, vectors.shape[0]
    kept = np.zeros(vectors.nnz, dtype=bool)
    kept_lengths = np.zeros(rows, dtype=np.int64)
    carried = (0.0, 0.0)  # the whole matrix's running sums (products, squares) before the block
    begin = 0
    while begin < rows:
        end = int(np.searchsorted(indptr, indptr[begin] + block_values, side="right")) - 1
        end = min(max(end, begin + 1), rows)
        low, high = int(indptr[begin]), int(indptr[end])
        kept[low:high], kept_lengths[begin:end], carried = _suffix_block(
            vectors.data[low:high], vectors.indices[low:high], indptr[begin : end + 1] - low,
            frequency, largest, guarantee, carried,
        )  # fmt: skip
        begin = end
    suffix_indptr = np.zeros(rows + 1, dtype=indptr.dtype)
    np.cumsum(kept_lengths, out=suffix_indptr[1:])
    return sparse.csr_matrix((vectors.data[kept], vectors.indices[kept], suffix_indptr), shape=vectors.shape)


_SUFFIX_BLOCK_VALUES = 1 << 19  # stored values a block of tfidf_suffix works on (~77 bytes each: ~40 MB)


def _suffix_block(
    data: np.ndarray,
    indices: np.ndarray,
    indptr: np.ndarray,
    frequency: np.ndarray,
    largest: np.ndarray,
    guarantee: float,
    carried: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """A block of rows for :func:`tfidf_suffix`: which of its stored values are in the suffix, how many a row, and
    the running sums carried past it."""
    lengths = np.diff(indptr)
    owners = np.repeat(np.arange(len(lengths)), lengths)
    order = np.lexsort((indices, -frequency[indices], owners))  # per row, most common first
    weights, stems = data[order], indices[order]

    def within_rows(values: np.ndarray, before: float) -> tuple[np.ndarray, float]:
        # the whole matrix's running sum (numpy's cumsum adds in order, so carrying the total before the block
        # gives the reference's floats), less its value at each row's start
        total = np.cumsum(np.concatenate(([before], values)))
        return total[1:] - np.repeat(total[indptr[:-1]], lengths), float(total[-1])

    products, carried_products = within_rows(weights * largest[stems], carried[0])
    squares, carried_squares = within_rows(weights**2, carried[1])
    kept = np.zeros(len(data), dtype=bool)
    kept[order] = np.minimum(products, np.sqrt(np.maximum(squares, 0.0))) >= guarantee
    kept &= data != 0  # as eliminate_zeros drops them from the reference's suffix
    return kept, np.bincount(owners[kept], minlength=len(lengths)), (carried_products, carried_squares)


def reference_tfidf_suffix(vectors: sparse.csr_matrix, guarantee: float) -> sparse.csr_matrix:
    """Readable reference for :func:`tfidf_suffix`: the same steps over every stored value at once."""
    if vectors.nnz == 0:
        return vectors.copy()
    frequency = np.bincount(vectors.indices, minlength=vectors.shape[1])
    largest = np.zeros(vectors.shape[1])
    np.maximum.at(largest, vectors.indices, vectors.data)
    lengths = np.diff(vectors.indptr)
    owners = np.repeat(np.arange(vectors.shape[0]), lengths)
    order = np.lexsort((vectors.indices, -frequency[vectors.indices], owners))  # per row, most common first
    weights, stems = vectors.data[order], vectors.indices[order]

    def within_rows(values: np.ndarray) -> np.ndarray:  # running sums restarting at every row
        total = np.cumsum(values)
        return total - np.repeat(np.concatenate(([0.0], total))[vectors.indptr[:-1]], lengths)

    bound = np.minimum(within_rows(weights * largest[stems]), np.sqrt(np.maximum(within_rows(weights**2), 0.0)))
    kept = np.zeros(vectors.nnz, dtype=bool)
    kept[order] = bound >= guarantee
    suffix = sparse.csr_matrix(
        (np.where(kept, vectors.data, 0.0), vectors.indices.copy(), vectors.indptr.copy()), shape=vectors.shape
    )
    suffix.eliminate_zeros()
    return suffix


def pruned_tfidf_block_pairs(
    vectors: sparse.csr_matrix,
    suffix: sparse.csr_matrix,
    begin: int,
    end: int,
    neighbours: int,
    threshold: float,
    pool: int,
    transposed: sparse.csr_matrix | None = None,
) -> set[Pair]:
    """The pruned TF-IDF search's pairs of articles ``begin..end-1`` (rows are independent).

    ``suffix``: :func:`tfidf_suffix` of ``vectors`` at the guarantee ``g``. Each row's ``pool`` best
    partners by the product of its suffix with the vectors are rescored on their exact cosine, and the
    best ``neighbours`` at or above ``threshold`` kept (ties to the lower index). Every partner at cosine
    ``g`` or more shares a suffix stem, so, when fewer than ``pool`` rows share one (or the partner is
    among the best ``pool`` of them), each of the reference's pairs (:func:`tfidf_block_pairs`) at cosine
    ``g`` or more is found; below ``g`` a pair may be missed, or replaced by the next best scored.
    """
    count = vectors.shape[0]
    k = min(neighbours, count - 1)
    end = min(end, count)
    if k <= 0 or end <= begin:
        return set()
    transposed = vectors.T.tocsr() if transposed is None else transposed
    pool_indptr, others = pruned_pools(suffix[begin:end], transposed, min(pool, count))
    rows = np.repeat(np.arange(begin, end), np.diff(pool_indptr))
    others = others.astype(np.int64)
    apart = rows != others
    rows, others = rows[apart], others[apart]
    scores = np.zeros(len(rows))
    for start in range(0, len(rows), _RESCORE_CHUNK):
        part = slice(start, start + _RESCORE_CHUNK)
        scores[part] = np.asarray(vectors[rows[part]].multiply(vectors[others[part]]).sum(axis=1)).ravel()
    near = scores >= threshold
    rows, others, scores = rows[near], others[near], scores[near]
    order = np.lexsort((others, -scores, rows))
    rows, others = rows[order], others[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows)  # place within the row, best first
    top = rank < k
    first, second = rows[top], others[top]
    return set(zip(np.minimum(first, second).tolist(), np.maximum(first, second).tolist(), strict=True))


def pruned_pools(block: sparse.csr_matrix, lists: sparse.csr_matrix, top: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row of ``block`` (suffix rows) with its ``top`` best partners by the product with ``lists`` (the
    posting lists), as an indptr and the partners: the pools of :func:`reference_pruned_pools`, the same partners
    (ties included).

    Compiled (``dedup.tfidf_kernels.pools``: a row's scores summed in a table of its own size, not in arrays as long
    as the corpus, which from ~100k articles no longer fit a core's cache) unless ``DEDUP_KERNELS=0``, numba is
    missing or the kernel does not keep what this platform's library keeps (:func:`_pool_kernels` checks).
    """
    kernels = _pool_kernels()
    if kernels is None or block.shape[0] == 0:
        return reference_pruned_pools(block, lists, top)
    return kernels.pools(
        block.indptr, block.indices, block.data, lists.indptr, lists.indices, lists.data, lists.shape[1], top
    )


def reference_pruned_pools(
    block: sparse.csr_matrix, lists: sparse.csr_matrix, top: int
) -> tuple[np.ndarray, np.ndarray]:
    """Readable reference for :func:`pruned_pools`: ``sparse_dot_topn``'s product keeping each row's ``top`` best
    partners above 0 (of partners tied at the last place, those its heap happens to keep)."""
    best = sp_matmul_topn(block, lists, top_n=top, threshold=0.0)
    return best.indptr.astype(np.int64), best.indices.astype(np.int64)


@lru_cache(maxsize=1)
def _pool_kernels() -> Any:
    """``dedup.tfidf_kernels``, loaded (the first call in a process: call it before forking workers, they inherit
    the loaded code), or None when ``DEDUP_KERNELS=0``, numba is not available, or the kernel's pools differ from
    the library's on a fixture full of ties (the kernel follows ``sparse_dot_topn`` 1.x as built with libstdc++:
    which of tied partners its heap keeps is the library's and the C++ library's detail)."""
    if os.environ.get("DEDUP_KERNELS") == "0":
        return None
    try:
        import dedup.tfidf_kernels as kernels
    except ImportError:  # numba missing or unusable here: the library's product
        return None
    kernels.warm()
    generator = np.random.default_rng(0)
    rows = sparse.random(300, 40, density=0.15, format="csr", random_state=generator)
    rows.data = np.ceil(rows.data * 4) / 4  # few weight levels: many equal scores
    rows = sparse.vstack([rows, rows[:60]], format="csr")  # copies: partners tied at every place
    lists = rows.T.tocsr()
    for top in (1, 2, 5, 40):
        found = kernels.pools(rows.indptr, rows.indices, rows.data, lists.indptr, lists.indices, lists.data, 360, top)
        expected = reference_pruned_pools(rows, lists, top)
        if not np.array_equal(found[0], expected[0]) or not all(
            np.array_equal(np.sort(found[1][a:b]), np.sort(expected[1][a:b]))
            for a, b in zip(expected[0][:-1], expected[0][1:], strict=True)
        ):
            logging.getLogger(__name__).warning(
                "the compiled TF-IDF pools differ from this sparse_dot_topn's on ties: its slower product is used"
            )
            return None
    return kernels


def load_pool_kernels() -> bool:
    """Load the compiled pools now (before a pass forks its workers); whether they are used."""
    return _pool_kernels() is not None


_RESCORE_CHUNK = 1 << 13  # candidate pairs rescored at once (two gathered rows each: ~4 KB a pair at 150 stems)


def candidate_pairs(
    articles: Sequence[CleanArticle],
    vectors: sparse.csr_matrix,
    sketch: SketchSettings,
    settings: CandidateSettings,
) -> list[Pair]:
    """The union of the three candidate sources, sorted (without ``skip_stock_sentences``, which needs the run's
    story counts: ``pipeline.cluster`` applies it)."""
    pairs = article_lsh_pairs(articles, sketch, settings.article_threshold)
    pairs |= banded_pairs(
        *sentence_signatures(articles, sketch),
        settings.sentence_threshold,
        settings.sentence_bucket_cap,
        settings.verify_sentence_pairs,
        sentence_row_sizes(articles, sketch.min_sentence_stems),
        settings.lone_sentence_min_shared,
        settings.sentence_band_crowd,
    )
    pairs |= tfidf_pairs(vectors, settings.tfidf_neighbours, settings.tfidf_threshold)
    return sorted(pairs)


def _ordered(a: int, b: int) -> Pair:
    return (a, b) if a < b else (b, a)
