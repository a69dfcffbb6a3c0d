"""What the index derives from one article: cleaning, sentence counts, sketches, band keys.

Everything here is a pure function of the article text and its *furniture* (the short lines
of the article that recur in at least ``boilerplate_min_articles`` articles of the index),
so the index stores the text and recomputes the rest, and a batch run over the same
articles computes exactly the same values:

- the cleaned article is ``clean_article(article, furniture lines)``, as in the batch run;
- sentence counts are the batch's hashed character n-grams (``similarity._SENTENCE_HASHER``);
  :func:`weight_sentences` turns them into the batch's TF-IDF rows given the index-wide
  document frequencies (rows = sentences, as ``TfidfTransformer`` counts them);
- MinHash signatures are computed for all shingle sets of an article at once with numpy,
  and are equal to ``sketch.minhash`` (xxhash32 + datasketch ``affine32``): the tests check it;
- LSH band keys use datasketch ``MinHashLSH``'s band layout for the batch thresholds, so two
  articles share a key exactly when the batch LSH would pair them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xxhash
from datasketch import MinHashLSH
from scipy import sparse
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2

from dedup.align import Side, kgram_keys
from dedup.align import prepare as prepare_side
from dedup.candidates import evidenced_pair_codes
from dedup.clean import CleanArticle, clean_article, repeated_lines
from dedup.model import Article
from dedup.pipeline import Settings
from dedup.similarity import _ARTICLE_HASHER, _SENTENCE_HASHER, sentence_strings, word_features
from dedup.similarity import sentence_counts as batch_sentence_counts
from dedup.sketch import article_shingles, permutations, permuted_minima, sentence_stem_sets

N_FEATURES = 2**20
KEY_BITS = 47  # band keys fit SQLite's 6-byte integers; ~2e-3 false candidates per check at 1M articles
HASHING = "xxh32+affine32 minhash; xxh64 band keys (47 bits); xxh64 line keys (63 bits)"
_KEY_MASK = (1 << KEY_BITS) - 1
_LINE_MASK = (1 << 63) - 1
_ARTICLE_KIND = b"a"
_SENTENCE_KIND = b"s"
_TERM_KIND = b"t"
_NO_VECTORS = sparse.csr_matrix((0, 0))  # a side template's vectors: its vectors come with each use


def line_key(line: str) -> int:
    """A 63-bit key for a normalised line (fits a signed 64-bit integer)."""
    return xxhash.xxh64_intdigest(line.encode("utf-8")) & _LINE_MASK


def short_lines(text: str, max_words: int = 20) -> dict[int, str]:
    """The article's distinct short normalised lines by key: those the batch counts for boilerplate."""
    return {line_key(line): line for line in repeated_lines([text], min_articles=1, max_words=max_words)}


@dataclass(slots=True, frozen=True)
class Banding:
    """Permutations and band layout of one MinHash LSH (article or sentence level)."""

    num_perm: int
    bands: int
    rows: int
    a: np.ndarray = field(repr=False, compare=False)
    b: np.ndarray = field(repr=False, compare=False)

    @classmethod
    def make(cls, num_perm: int, seed: int, threshold: float) -> Banding:
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        a, b = permutations(num_perm, seed)
        return cls(num_perm, lsh.b, lsh.r, a, b)


def signatures(sets: list[Iterable[bytes]], banding: Banding) -> np.ndarray:
    """MinHash signatures (uint32, one row per set) of every set at once; equal to ``sketch.minhash``."""
    return permuted_minima(sets, banding.a, banding.b)


def band_keys(rows: np.ndarray, banding: Banding, kind: bytes) -> list[int]:
    """The LSH band keys of signature ``rows``: equal keys ⇔ an equal band (up to 47-bit hash collisions)."""
    keys = []
    for row in rows:
        data = row.astype("<u4").tobytes()
        width = banding.rows * 4
        for band in range(banding.bands):
            digest = xxhash.xxh64_intdigest(data[band * width : (band + 1) * width], seed=band)
            keys.append((digest ^ (kind[0] << 40)) & _KEY_MASK)
    return keys


@dataclass(slots=True)
class Prepared:
    """An article with everything the index derives from it."""

    article: Article
    furniture: tuple[int, ...]  # line keys of its short lines that are boilerplate by repetition
    cleaned: CleanArticle
    counts: sparse.csr_matrix  # hashed char n-gram counts, one row per evidence sentence
    sketching: tuple[Banding, Banding, int, int]  # article and sentence banding, shingle size, min stems
    band_keys_: list[int] | None = None
    sketch_: Sketch | None = None
    features_: tuple[np.ndarray, np.ndarray] | None = None
    stem_counts_: sparse.csr_matrix | None = None
    side_: Side | None = None  # its alignment side without vectors (``side``)

    # computed when first asked: a candidate only needs ``cleaned`` and ``counts``
    @property
    def features(self) -> np.ndarray:
        """Distinct features over the rows (int64), sorted."""
        return self._features()[0]

    @property
    def feature_rows(self) -> np.ndarray:
        """Number of rows holding each feature (the article's document frequencies)."""
        return self._features()[1]

    def _features(self) -> tuple[np.ndarray, np.ndarray]:
        if self.features_ is None:
            features, rows = np.unique(self.counts.indices, return_counts=True)
            self.features_ = (features.astype(np.int64), rows.astype(np.int64))
        return self.features_

    @property
    def stem_counts(self) -> sparse.csr_matrix:
        """Hashed content-stem counts of the evidence text (one row)."""
        if self.stem_counts_ is None:
            self.stem_counts_ = stem_counts(self.cleaned)
        return self.stem_counts_

    @property
    def n_rows(self) -> int:
        return int(self.counts.shape[0])

    @property
    def stem_features(self) -> np.ndarray:
        return self.stem_counts.indices.astype(np.int64)

    @property
    def keys(self) -> list[int]:
        """Distinct band keys, article and sentence level (sketched when first asked: candidates never need them)."""
        if self.band_keys_ is None:
            self.band_keys_ = sorted(set(self.sketch.article_keys) | set(self.sketch.sentence_keys))
        return self.band_keys_

    def side(self, vectors: sparse.csr_matrix) -> Side:
        """``align.prepare(self.cleaned, vectors)``: what it makes from the cleaned article alone (words, units, stems,
        figures, and the k-gram keys and indexes alignment adds to it) is made once and shared by every side of it,
        so a candidate met again is not prepared again; only the vectors (this moment's statistics) differ."""
        if self.side_ is None:
            self.side_ = prepare_side(self.cleaned, _NO_VECTORS)
        return dataclasses.replace(self.side_, vectors=vectors)

    @property
    def sketch(self) -> Sketch:
        """Its band keys by level and its sentence signature rows."""
        if self.sketch_ is None:
            self.sketch_ = sketch_article(self.cleaned, *self.sketching)
        return self.sketch_


@dataclass(slots=True, frozen=True)
class Sketch:
    """An article's LSH band keys, article and sentence level apart, and its sentence signature rows."""

    article_keys: list[int]
    sentence_keys: list[int]
    sentence_rows: np.ndarray  # uint32, one row per sketched evidence unit (``sentence_stem_sets``)


def sketch_article(
    cleaned: CleanArticle, article_banding: Banding, sentence_banding: Banding, shingle_size: int, min_stems: int
) -> Sketch:
    """MinHash of the article's word shingles and of each evidence unit's stems, and their band keys."""
    article_rows = signatures([article_shingles(cleaned, shingle_size)], article_banding)
    sentence_rows = sentence_signature_rows(cleaned, sentence_banding, min_stems)
    return Sketch(
        band_keys(article_rows, article_banding, _ARTICLE_KIND),
        band_keys(sentence_rows, sentence_banding, _SENTENCE_KIND),
        sentence_rows,
    )


def sentence_signature_rows(cleaned: CleanArticle, sentence_banding: Banding, min_stems: int) -> np.ndarray:
    """The MinHash signature of each sketched evidence unit's stems (the rows the batch's sentence LSH bands)."""
    return signatures(sentence_stem_sets(cleaned, min_stems), sentence_banding)


def sentences_agree(rows: np.ndarray, others: np.ndarray, banding: Banding, threshold: float) -> bool:
    """Whether the batch's verified sentence LSH pairs the owners of two sets of signature rows.

    ``candidates.banded_pairs(..., verify=True)`` pairs two articles when some row of one and some row of
    the other are equal on an LSH band *and* agree on at least ``threshold`` of their positions.
    :func:`reference_sentences_agree` is the loop.
    """
    return sentences_agree_each(rows, [others], banding, threshold)[0]


def sentences_agree_each(rows: np.ndarray, others: list[np.ndarray], banding: Banding, threshold: float) -> list[bool]:
    """:func:`sentences_agree` of ``rows`` with each of ``others``, every row pair in one comparison (rows stacked;
    a few dozen sentences a side).

    Each band of a row is compared as one value (its bytes), and only the row pairs equal on a band have their
    positions counted: the same count over the same number of positions, the same float division.
    """
    return near_copies(rows, others, banding, threshold).any(axis=0).tolist()


def _band_values(rows: np.ndarray, banding: Banding) -> np.ndarray:
    """Each band of each row as one value (its bytes: an unsigned integer when one holds them, else ``void``):
    equal values ⇔ rows equal on that band."""
    used = np.ascontiguousarray(rows[:, : banding.bands * banding.rows])
    size = used.itemsize * banding.rows
    return used.view(np.dtype(f"<u{size}") if size in (1, 2, 4, 8) else np.dtype((np.void, size)))


def low_bytes(rows: np.ndarray) -> np.ndarray:
    """The low byte of each signature value (b-bit MinHash with b = 8): equal values have equal low bytes, so
    the low bytes of two rows agree on every position the full values agree on (and on ~1/256 of the others)."""
    return rows.astype(np.uint8)  # an unsigned cast keeps the value modulo 256


def pack_low_bytes(rows: np.ndarray) -> bytes:
    """An article's sentence signature rows as stored: their low bytes, row after row (``num_perm`` bytes a row)."""
    return low_bytes(rows).tobytes()


def unpack_low_bytes(data: bytes, num_perm: int) -> np.ndarray:
    """The low-byte rows of :func:`pack_low_bytes` (shape: sentences × ``num_perm``)."""
    return np.frombuffer(data, dtype=np.uint8).reshape(-1, num_perm)


def sentences_may_agree_each(
    rows: np.ndarray, others: list[np.ndarray], banding: Banding, threshold: float
) -> list[bool]:
    """An exact superset of :func:`sentences_agree_each` from the low bytes of the signatures.

    ``others`` are low-byte rows (:func:`unpack_low_bytes`), ``rows`` full rows. Where two full rows are equal on a
    band, their low bytes are too, and the low bytes agree on at least the positions the full values agree on, so
    every pair :func:`sentences_agree_each` accepts is accepted here: ``False`` means the full test says ``False``.
    """
    return sentences_agree_each(low_bytes(rows), others, banding, threshold)


def near_copies(rows: np.ndarray, others: list[np.ndarray], banding: Banding, threshold: float) -> np.ndarray:
    """For each of ``rows`` (an article's signature rows, here low bytes) and each of ``others`` (stored articles' rows,
    here :func:`unpack_low_bytes`), whether the article holds a near-copy of that row: some row equal to it on an LSH
    band and agreeing on ``threshold`` of the positions (the batch's ``sentence_groups`` test, on low bytes: a
    superset of it, as :func:`sentences_may_agree_each`). Boolean, ``len(rows)`` × ``len(others)``."""
    near = np.zeros((len(rows), len(others)), dtype=bool)
    mine, owner, _, _ = _verified_row_pairs(rows, others, banding, threshold)
    near[mine, owner] = True
    return near


def sentences_evidence_each(
    rows: np.ndarray,
    sizes: np.ndarray,
    others: list[np.ndarray],
    other_sizes: list[np.ndarray],
    banding: Banding,
    threshold: float,
    lone_min_shared: int,
) -> list[bool]:
    """:func:`sentences_agree_each` under the batch's ``lone_sentence_min_shared``: whether the verified row pairs
    of ``rows`` with each of ``others`` are evidence by ``candidates.evidenced_pair_codes`` (the batch's own rule:
    the new article is owner 0, the k-th of ``others`` owner k + 1; ``sizes``, ``other_sizes``: each row's count of
    content stems)."""
    mine, _, theirs, agreeing = _verified_row_pairs(rows, others, banding, threshold)
    if not len(mine):
        return [False] * len(others)
    stacked_sizes = np.concatenate([np.asarray(item, dtype=np.int64) for item in other_sizes])
    count, positions = len(rows) + len(stacked_sizes), rows.shape[1]
    row_codes = (mine.astype(np.int64) * count + len(rows) + theirs) * (positions + 1) + agreeing
    owners = np.concatenate(
        (np.zeros(len(rows), dtype=np.int64), np.repeat(np.arange(1, len(others) + 1), [len(item) for item in others]))
    )
    sizes_all = np.concatenate((np.asarray(sizes, dtype=np.int64), stacked_sizes))
    paired = evidenced_pair_codes(row_codes, count, positions, owners, sizes_all, lone_min_shared, len(others) + 1)
    found = np.zeros(len(others) + 1, dtype=bool)
    found[paired] = True  # codes 0 × span + (k + 1): the new article is the lower owner of every pair
    return found[1:].tolist()


def _verified_row_pairs(
    rows: np.ndarray, others: list[np.ndarray], banding: Banding, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The row pairs of ``rows`` with the rows of each of ``others`` that are equal on an LSH band and agree on
    ``threshold`` of their positions: (row of ``rows``, which of ``others``, row in ``others`` stacked, positions
    agreeing)."""
    sizes = [len(item) for item in others]
    if not len(rows) or not sum(sizes):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty
    stacked = np.vstack([item for item in others if len(item)])
    band_equal = (_band_values(rows, banding)[:, None, :] == _band_values(stacked, banding)[None, :, :]).any(axis=2)
    mine, theirs = np.nonzero(band_equal)
    agreeing = np.count_nonzero(rows[mine] == stacked[theirs], axis=1)
    hit = agreeing / rows.shape[1] >= threshold
    mine, theirs, agreeing = mine[hit], theirs[hit], agreeing[hit]
    return mine, np.repeat(np.arange(len(others)), sizes)[theirs], theirs, agreeing


def stock_rows(near: np.ndarray, stories_of: list[Any], at_least: int, link: int) -> np.ndarray:
    """Which of an article's sentence rows are *stock*: their near-copies sit in at least ``at_least`` separate
    stories of the index with the article (the batch's ``candidates.sentence_stories`` for a new article).

    ``near`` is :func:`near_copies` (rows × stored holders), ``stories_of`` a story label per holder (its related
    component, or a label of its own when it has none): holders of one component are one story. The article joins
    a holder's story as in the batch's ``_story_counts``: when the other rows they share weigh ``link`` or more,
    a row held by fewer than ``at_least`` articles weighing ``link``, a common one 1. A row held by fewer than
    ``at_least`` articles (the article included) is never stock. (The batch links two stored holders by the
    sentence groups they share; the index, which keeps no groups, by the related pairs that join them.)
    """
    stock = np.zeros(len(near), dtype=bool)
    held = near.sum(axis=1) + 1  # the article itself holds each of its rows
    examined = np.flatnonzero(held >= max(at_least, 2))
    if not len(examined):
        return stock
    weight = np.where(held < at_least, link, 1)
    shared = weight @ near  # each holder: the weight of all the article's rows it holds
    for row in examined.tolist():
        holders = np.flatnonzero(near[row])
        linked = shared[holders] - weight[row] >= link  # the row itself does not count
        everyone = {stories_of[k] for k in holders.tolist()}
        joined = {stories_of[k] for k in holders[linked].tolist()}
        stock[row] = len(everyone - joined) + 1 >= at_least
    return stock


def reference_sentences_agree(rows: np.ndarray, others: np.ndarray, banding: Banding, threshold: float) -> bool:
    """Readable reference for :func:`sentences_agree`: row pair by row pair, band by band."""
    width = banding.rows
    for row in rows:
        for other in others:
            collide = any(
                np.array_equal(row[band * width : (band + 1) * width], other[band * width : (band + 1) * width])
                for band in range(banding.bands)
            )
            if collide and (row == other).mean() >= threshold:
                return True
    return False


def reference_sentence_counts(cleaned: CleanArticle) -> sparse.csr_matrix:
    """Hashed character n-gram counts of the evidence sentences, as in ``similarity.sentence_vectors``."""
    strings = sentence_strings(cleaned)
    if not strings:
        return sparse.csr_matrix((0, N_FEATURES))
    return _SENTENCE_HASHER.transform(strings).tocsr()


def warm_word_features(words: list[str]) -> None:
    """Hash the char n-grams of every new word of ``words`` in one call (a batch of articles at once)."""
    word_features(words)


def sentence_counts(cleaned: CleanArticle) -> sparse.csr_matrix:
    """Equal to :func:`reference_sentence_counts`: ``similarity.sentence_counts`` of one article (per-word cache)."""
    return batch_sentence_counts([cleaned])


def word_runs(cleaned: CleanArticle, length: int) -> list[tuple[str, ...]]:
    """Every run of ``length`` consecutive evidence words (the runs a verbatim tile of that length is made of)."""
    words = cleaned.tokens.words
    sequence = [words[index] for index in cleaned.evidence_tokens()]
    return list(zip(*(sequence[k:] for k in range(length)), strict=False))


def word_run_keys(cleaned: CleanArticle, length: int) -> np.ndarray:
    """A 64-bit key of each of ``word_runs(cleaned, length)``: equal runs have equal keys (within one process;
    different runs may share one, so a shared key means a run *may* be shared)."""
    words = cleaned.tokens.words
    return kgram_keys([words[index] for unit in cleaned.sentences for index in range(unit.first, unit.last)], length)


def stem_counts(cleaned: CleanArticle) -> sparse.csr_matrix:
    """Hashed content-stem counts of the evidence text, as in ``similarity.article_vectors``."""
    document = " ".join(cleaned.stems[i] for i in cleaned.evidence_tokens() if cleaned.stems[i])
    counts = _ARTICLE_HASHER.transform([document]).tocsr()
    counts.sort_indices()
    return counts


def term_keys(features: Iterable[int]) -> list[int]:
    """Keys of an article's signature terms (its highest-weighted stems) in the band table."""
    return [
        (xxhash.xxh64_intdigest(int(f).to_bytes(4, "little"), seed=7) ^ (_TERM_KIND[0] << 40)) & _KEY_MASK
        for f in features
    ]


def top_terms(vector: sparse.csr_matrix, count: int) -> np.ndarray:
    """The ``count`` features of largest weight in a one-row vector (ties by feature)."""
    order = np.lexsort((vector.indices, -vector.data))[:count]
    return vector.indices[order]


_STEM_BUCKET_BITS = 16  # a 20-bit feature is its bucket (high 4 bits, counted) and its low 16 bits
_STEM_BUCKETS = N_FEATURES >> _STEM_BUCKET_BITS


def pack_stems(counts: sparse.csr_matrix, radius: float = 0.0) -> bytes:
    """A stem-count row (sorted features) as little-endian bytes, about 2.1 bytes a stem before zlib.

    Layout: ``uint32`` stem count, one byte (1: counts are ``uint8``, 2: ``uint16``), the number of
    features in each of the 16 high-bit buckets (``uint16``), each feature's low 16 bits (``uint16``),
    the counts (saturated at 65535, as before), then the article's TF-IDF *radius* (``float64``: the
    cosine of its ``tfidf_neighbours``-th nearest stored article when it was added, 0 if it had fewer;
    see ``Index._neighbours``).
    """
    features = counts.indices.astype(np.int64)
    if len(features) > 1 and np.any(np.diff(features) <= 0):
        order = np.argsort(features, kind="stable")
        features, values = features[order], counts.data[order]
    else:
        values = counts.data
    values = np.minimum(values, 65535)
    width = 1 if not len(values) or values.max() < 256 else 2
    buckets = np.bincount(features >> _STEM_BUCKET_BITS, minlength=_STEM_BUCKETS)
    return b"".join(
        [
            len(features).to_bytes(4, "little"),
            bytes([width]),
            buckets.astype("<u2").tobytes(),
            (features & 0xFFFF).astype("<u2").tobytes(),
            values.astype("<u1" if width == 1 else "<u2").tobytes(),
            np.float64(radius).astype("<f8").tobytes(),
        ]
    )


def stem_radii(packed: list[bytes]) -> np.ndarray:
    """The radius of each ``pack_stems`` row (their last 8 bytes; ``stems_matrix`` checks their layout)."""
    return np.frombuffer(b"".join(data[-8:] for data in packed), dtype="<f8").astype(np.float64)


def stem_radius(data: bytes) -> float:
    """The radius stored with a ``pack_stems`` row."""
    _stem_parts(data)
    return float(np.frombuffer(data, dtype="<f8", count=1, offset=len(data) - 8)[0])


def _stem_parts(data: bytes) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """(stem count, bucket sizes, low 16 bits, counts) of a ``pack_stems`` row, as views of ``data``."""
    size = int.from_bytes(data[:4], "little")
    width = data[4] if len(data) > 4 else 0
    if width not in (1, 2) or len(data) != 5 + 2 * _STEM_BUCKETS + (2 + width) * size + 8:
        raise ValueError("broken stem vector")
    buckets = np.frombuffer(data, dtype="<u2", count=_STEM_BUCKETS, offset=5)
    low = np.frombuffer(data, dtype="<u2", count=size, offset=5 + 2 * _STEM_BUCKETS)
    values = np.frombuffer(
        data, dtype="<u1" if width == 1 else "<u2", count=size, offset=5 + 2 * _STEM_BUCKETS + 2 * size
    )
    return size, buckets, low, values


def stems_matrix(packed: list[bytes]) -> sparse.csr_matrix:
    """Packed stem-count rows (``pack_stems``) as one CSR matrix: every row's parts gathered from one buffer by
    computed positions, no Python step per row beyond its length (equal to :func:`reference_stems_matrix`)."""
    if not packed:
        return sparse.csr_matrix((0, N_FEATURES))
    count = len(packed)
    lengths = np.fromiter(map(len, packed), dtype=np.int64, count=count)
    if lengths.min() < 5 + 2 * _STEM_BUCKETS + 8:
        raise ValueError("broken stem vector")
    raw = np.frombuffer(b"".join(packed), dtype=np.uint8)
    starts = np.zeros(count, dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])

    def little(positions: np.ndarray, width: int) -> np.ndarray:
        """The little-endian unsigned integers of ``width`` bytes starting at ``positions``."""
        value = raw[positions].astype(np.int64)
        for byte in range(1, width):
            value |= raw[positions + byte].astype(np.int64) << (8 * byte)
        return value

    sizes, widths = little(starts, 4), raw[starts + 4].astype(np.int64)
    if np.any((widths != 1) & (widths != 2)) or np.any(lengths != 5 + 2 * _STEM_BUCKETS + (2 + widths) * sizes + 8):
        raise ValueError("broken stem vector")
    buckets = little(starts[:, None] + 5 + 2 * np.arange(_STEM_BUCKETS), 2)
    if not np.array_equal(buckets.sum(axis=1), sizes):
        raise ValueError("broken stem vector")
    indptr = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(sizes, out=indptr[1:])
    owner = np.repeat(np.arange(count), sizes)
    within = np.arange(indptr[-1]) - indptr[owner]
    lows = starts[owner] + 5 + 2 * _STEM_BUCKETS
    values = little(lows + 2 * sizes[owner] + widths[owner] * within, 1)
    wide = widths[owner] == 2
    values[wide] = little(lows[wide] + 2 * sizes[owner][wide] + 2 * within[wide], 2)
    high = np.repeat(np.tile(np.arange(_STEM_BUCKETS, dtype=np.int32) << _STEM_BUCKET_BITS, count), buckets.ravel())
    features = high | little(lows + 2 * within, 2).astype(np.int32)
    return sparse.csr_matrix((values.astype(np.float64), features, indptr), shape=(count, N_FEATURES))


def reference_stems_matrix(packed: list[bytes]) -> sparse.csr_matrix:
    """Readable reference for :func:`stems_matrix`: each row's parts read apart, then stacked."""
    if not packed:
        return sparse.csr_matrix((0, N_FEATURES))
    parts = [_stem_parts(data) for data in packed]
    sizes = np.fromiter((part[0] for part in parts), dtype=np.int64, count=len(parts))
    buckets = np.concatenate([part[1] for part in parts]).astype(np.int64)
    if not np.array_equal(buckets.reshape(len(parts), _STEM_BUCKETS).sum(axis=1), sizes):
        raise ValueError("broken stem vector")
    high = np.repeat(np.tile(np.arange(_STEM_BUCKETS, dtype=np.int32) << _STEM_BUCKET_BITS, len(parts)), buckets)
    features = high | np.concatenate([part[2] for part in parts]).astype(np.int32)
    values = np.concatenate([part[3].astype(np.float64) for part in parts])
    indptr = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(sizes, out=indptr[1:])
    return sparse.csr_matrix((values, features, indptr), shape=(len(packed), N_FEATURES))


def unpack_stems(data: bytes) -> sparse.csr_matrix:
    return stems_matrix([data])


def rank_holders(lists: Iterable[np.ndarray], limit: int) -> list[int]:
    """The ``limit`` keys found in most of ``lists`` (each a list of distinct keys: the holders of one band-table
    key), most first, ties by the larger key first."""
    found = [held for held in lists if len(held)]
    if not found:
        return []
    keys, counts = np.unique(np.concatenate(found), return_counts=True)
    return keys[np.lexsort((-keys, -counts))[:limit]].tolist()


def row_dots(matrix: sparse.csr_matrix, vector: sparse.csr_matrix) -> np.ndarray:
    """``(matrix @ vector.T).toarray().ravel()`` for a one-row ``vector`` with sorted indices.

    scipy's CSR product adds, row by row and in the row's index order, each entry times the
    vector's entry of the same feature; ``bincount`` adds the same products in the same order,
    so the floats are identical, without the transposes over 2**20 columns.
    """
    rows = matrix.shape[0]
    if not vector.nnz or not matrix.nnz:
        return np.zeros(rows)
    positions = np.searchsorted(vector.indices, matrix.indices)
    np.minimum(positions, vector.nnz - 1, out=positions)
    hit = vector.indices[positions] == matrix.indices
    owner = np.repeat(np.arange(rows), np.diff(matrix.indptr))
    return np.bincount(owner[hit], weights=matrix.data[hit] * vector.data[positions[hit]], minlength=rows)


def prepare(
    article: Article,
    furniture: Mapping[int, str],
    article_banding: Banding,
    sentence_banding: Banding,
    *,
    shingle_size: int,
    min_sentence_stems: int,
    cleaned: CleanArticle | None = None,
    keep_wrapped_repeated: bool = False,
) -> Prepared:
    """Clean and sketch ``article`` with ``furniture`` (line key → normalised line) as repeated lines.

    ``cleaned``, when given, must be ``clean_article(article, furniture lines)`` (the index's stored form).
    """
    if cleaned is None:
        cleaned = clean_article(article, frozenset(furniture.values()), keep_wrapped_repeated=keep_wrapped_repeated)
    return Prepared(
        article=article,
        furniture=tuple(sorted(furniture)),
        cleaned=cleaned,
        counts=sentence_counts(cleaned),
        sketching=(article_banding, sentence_banding, shingle_size, min_sentence_stems),
    )


def idf(df: np.ndarray, n_rows: int, features: np.ndarray) -> np.ndarray:
    """Smoothed IDF of ``features`` exactly as ``TfidfTransformer`` computes it (float64)."""
    values = np.full(len(features), float(n_rows + 1), dtype=np.float64)
    values /= df[features].astype(np.float64) + 1.0
    np.log(values, out=values)
    values += 1.0
    return values


def weight_rows(counts: sparse.csr_matrix, df: np.ndarray, n_rows: int) -> sparse.csr_matrix:
    """The batch's TF-IDF rows from raw counts and index-wide document frequencies.

    The same operations as ``TfidfTransformer(sublinear_tf=True)`` then ``normalize`` in
    ``similarity.sentence_vectors`` / ``article_vectors``, in the same order, so the floats are
    identical (``n_rows`` counts sentences for sentence rows, articles for article rows).
    """
    if counts.shape[0] == 0:
        return sparse.csr_matrix((0, N_FEATURES))
    weighted = sparse.csr_matrix(counts, dtype=np.float64, copy=True)
    if weighted.nnz:
        np.log(weighted.data, weighted.data)
        weighted.data += 1.0
        weighted.data *= idf(df, n_rows, weighted.indices)
    # ``normalize(X, norm="l2")`` on a float64 CSR matrix is this in-place kernel after input checks that
    # change nothing here; calling it directly saves those checks (the tests compare bit for bit)
    inplace_csr_row_normalize_l2(weighted)
    inplace_csr_row_normalize_l2(weighted)
    return weighted


def settings_banding(settings: Settings) -> tuple[Banding, Banding]:
    """The article and sentence bandings of a batch run with ``settings``."""
    sketch, candidates = settings.sketch, settings.candidates
    return (
        Banding.make(sketch.num_perm, sketch.seed, candidates.article_threshold),
        Banding.make(sketch.sentence_num_perm, sketch.seed, candidates.sentence_threshold),
    )
