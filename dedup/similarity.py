"""TF-IDF vectors: character n-grams per sentence (rewrite evidence), word stems per article.

Character n-grams (3-5, within word boundaries) over the normalised words of a sentence
tolerate inflection, British/American spelling and hyphenation ("co-operation",
"cooperation"), which is what reworded wire copy mostly changes. Features are hashed
(``HashingVectorizer``) so vectors of new articles need no refit; IDF is learnt on the
corpus at hand.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Mapping, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.preprocessing import normalize

from dedup.clean import CleanArticle
from dedup.engine import return_free_memory
from dedup.sketch import le_words, rotl
from dedup.text import bounded_map

N_FEATURES = 2**20
_SENTENCE_HASHER = HashingVectorizer(
    analyzer="char_wb", ngram_range=(3, 5), n_features=N_FEATURES, alternate_sign=False, norm=None, lowercase=False
)
_ARTICLE_HASHER = HashingVectorizer(
    analyzer=str.split, n_features=2**20, alternate_sign=False, norm=None, lowercase=False
)


def sentence_strings(article: CleanArticle) -> list[str]:
    """Each evidence sentence as its normalised words joined by spaces."""
    words = article.tokens.words
    return [" ".join(words[s.first : s.last]) for s in article.sentences]


def reference_sentence_counts(articles: Sequence[CleanArticle]) -> sparse.csr_matrix:
    """Readable reference for :func:`sentence_counts`: ``HashingVectorizer`` over the sentence strings."""
    strings = [s for article in articles for s in sentence_strings(article)]
    if not strings:
        return sparse.csr_matrix((0, N_FEATURES))
    return _SENTENCE_HASHER.transform(strings).tocsr()


_WORD_FEATURES: dict[str, np.ndarray] = {}
_WORD_CACHE_SIZE = 300_000
# fewer new words than these go to the hasher itself: the numpy path's fixed cost (~100 µs a call) is more than
# the hasher's below ~10 words (measured: 1 word 103 against 46 µs, 10 words 117 against 117, 100 words 226
# against 820); the same for stems below ~50 (1 stem 58 against 32 µs, 30 76 against 58, 100 88 against 122)
_WORDS_AT_ONCE = 10
_STEMS_AT_ONCE = 50


class WordTable:
    """Words' features (:func:`word_features`' own) in flat arrays, for forked workers to read without writing.

    A dict of word → array is read by reference: every lookup writes the array object's reference count, so a worker
    forked from the process that holds the dict copies every page of it that it touches (and a worker whose cache
    fills clears it, freeing each of its objects: every page). Here a word is looked up by membership of a frozen set
    (which writes nothing) and by its hash (``hash``: the same in the forked workers) among the sorted hashes of the
    table's words, each unique among them (a word whose hash another table word shares stays out of the table); its
    features are the slice ``flat[offsets[k] : offsets[k + 1]]``. ~4 bytes a feature and ~100 a word, where the dict
    held a ~112-byte array object a word and the whole buffer each word's features were a view of.
    """

    __slots__ = ("flat", "hashes", "offsets", "words")

    def __init__(self, features: Mapping[str, np.ndarray], most: int = _WORD_CACHE_SIZE) -> None:
        words = list(itertools.islice(features, most))
        hashes = np.fromiter(map(hash, words), dtype=np.int64, count=len(words))
        order = np.argsort(hashes, kind="stable")
        ordered = hashes[order]
        alone = np.ones(len(order), dtype=bool)
        repeated = ordered[1:] == ordered[:-1]
        alone[1:] &= ~repeated
        alone[:-1] &= ~repeated
        kept = [words[k] for k in order[alone].tolist()]
        self.hashes = ordered[alone]
        self.words = frozenset(kept)
        pieces = [features[word] for word in kept]
        lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
        self.offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        self.flat = np.concatenate(pieces).astype(np.int32) if pieces else np.zeros(0, dtype=np.int32)

    def __len__(self) -> int:
        return len(self.hashes)

    def places(self, words: Sequence[str]) -> np.ndarray:
        """Each of ``words``' place in the table (``-1``: not in it)."""
        held = np.fromiter(map(self.words.__contains__, words), dtype=bool, count=len(words))
        found = np.full(len(words), -1, dtype=np.int64)
        if held.any():
            hashes = np.fromiter(map(hash, itertools.compress(words, held)), dtype=np.int64, count=int(held.sum()))
            found[held] = np.searchsorted(self.hashes, hashes)
        return found

    def items(self) -> Iterator[tuple[str, np.ndarray]]:
        """Every word with its features (as :func:`word_features` gives them)."""
        words = sorted(self.words, key=hash)  # in the order of the hashes
        ends = self.offsets.tolist()
        return ((word, self.flat[ends[k] : ends[k + 1]]) for k, word in enumerate(words))


_WORD_TABLE: WordTable | None = None  # this process's frozen words (:func:`freeze_word_features`); None: none yet


def freeze_word_features() -> None:
    """Move this process's cached word features into a :class:`WordTable` (with the previous table's, up to
    ``_WORD_CACHE_SIZE`` words, the cache's first), for the workers forked later to read; the cache then holds
    only the words met since (and those the table leaves out). The features are the same: only their holder changes."""
    global _WORD_TABLE
    known: dict[str, np.ndarray] = dict(_WORD_FEATURES)
    if _WORD_TABLE is not None:
        for word, features in _WORD_TABLE.items():
            known.setdefault(word, features)
    table = WordTable(known, _WORD_CACHE_SIZE)
    _WORD_FEATURES.clear()
    _WORD_FEATURES.update((word, known[word]) for word in known if word not in table.words)
    del known
    _WORD_TABLE = table


def _cached(words: Sequence[str]) -> dict[str, np.ndarray]:
    """The word-feature cache, holding every one of ``words`` (hashed as needed; a cache the new words would overfill
    is emptied first and every word of the call hashed)."""
    cache = _WORD_FEATURES
    missing = sorted(set(words).difference(cache))
    if missing:
        if len(cache) + len(missing) > _WORD_CACHE_SIZE:
            cache.clear()
            missing = sorted(set(words))
        hashed = char_ngram_features if len(missing) >= _WORDS_AT_ONCE else reference_char_ngram_features
        cache.update(zip(missing, hashed(missing), strict=True))
    return cache


def word_features(words: list[str]) -> list[np.ndarray]:
    """Each word's hashed char n-gram features, repeated by count (cached per word, per process; the words of
    this process's :class:`WordTable`, if any, read from it)."""
    if _WORD_TABLE is None:  # the cache alone: its own arrays
        return list(map(_cached(words).__getitem__, words))
    lengths, flat = word_feature_runs(words)
    bounds = [0, *np.cumsum(lengths).tolist()]
    return [flat[begin:end] for begin, end in itertools.pairwise(bounds)]


def word_feature_runs(words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each of ``words``' feature count (int64) and all their features one word after another (int32): the
    pieces of :func:`reference_word_features` concatenated, gathered at once (from the :class:`WordTable` and the
    cache; the words in neither hashed and cached)."""
    table = _WORD_TABLE
    places = table.places(words) if table is not None else np.full(len(words), -1, dtype=np.int64)
    others = np.flatnonzero(places < 0)
    other_words = [words[k] for k in others.tolist()]
    pieces = list(map(_cached(other_words).__getitem__, other_words))
    held = np.flatnonzero(places >= 0)
    if not len(held):  # the cache's alone, as they come
        lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
        return lengths, np.concatenate(pieces).astype(np.int32, copy=False) if pieces else np.zeros(0, np.int32)
    lengths = np.zeros(len(words), dtype=np.int64)
    if table is not None:
        lengths[held] = table.offsets[places[held] + 1] - table.offsets[places[held]]
    lengths[others] = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
    total = int(lengths.sum())
    flat = np.empty(total, dtype=np.int32)
    starts = np.cumsum(lengths) - lengths
    if table is not None:  # each held word's run copied from the table at once
        flat[_runs(starts[held], lengths[held])] = table.flat[_runs(table.offsets[places[held]], lengths[held])]
    if pieces:
        flat[_runs(starts[others], lengths[others])] = np.concatenate(pieces)
    return lengths, flat


def _runs(firsts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The places ``firsts[k] … firsts[k] + sizes[k] - 1`` of every k, one after another."""
    before = np.cumsum(sizes) - sizes
    return np.repeat(firsts - before, sizes) + np.arange(int(sizes.sum()))


def reference_word_features(words: list[str]) -> list[np.ndarray]:
    """The readable reference of :func:`word_features`: each word hashed on its own by the hasher."""
    return reference_char_ngram_features(words) if words else []


def reference_char_ngram_features(words: list[str]) -> list[np.ndarray]:
    """The readable reference of :func:`char_ngram_features`: each word's ``_SENTENCE_HASHER`` row, its features
    repeated by count."""
    rows = _SENTENCE_HASHER.transform(words).tocsr()
    return [
        np.repeat(rows.indices[begin:end], rows.data[begin:end].astype(np.int64))
        for begin, end in zip(rows.indptr[:-1].tolist(), rows.indptr[1:].tolist(), strict=True)
    ]


_NGRAM_SIZES = (3, 5)  # ``_SENTENCE_HASHER``'s ngram_range


def char_ngram_features(words: list[str]) -> list[np.ndarray]:
    """Each word's ``_SENTENCE_HASHER`` features (int32, ascending, repeated by count): equal to
    :func:`reference_char_ngram_features` (tested), all the words' n-grams hashed at once.

    For a word ``w`` without white space, ``char_wb`` takes ``" " + w + " "`` (``L`` characters) and, for each ``n``
    from 3 to 5 with ``L >= n``, its ``L - n + 1`` character n-grams (a shorter padded word stops the loop after its
    one whole n-gram: ``L == n``); each n-gram's UTF-8 bytes are hashed by MurmurHash3 (x86, 32 bits, seed 0) and the
    feature is the signed hash's absolute value modulo ``N_FEATURES`` (``-2**31``: 0); ``sum_duplicates`` sorts a
    row. Here the padded words are joined in one buffer and every n-gram is a slice of it (:func:`murmur3_slices`).
    Words that hold white space (never a token) or cannot be encoded go to the hasher itself.
    """
    if not words or " ".join(words).split() != words:
        return reference_char_ngram_features(words) if words else []
    padded = " " + "  ".join(words) + " "
    try:
        buffer = np.frombuffer(padded.encode("utf-8"), dtype=np.uint8)
        if padded.isascii():
            byte_at = None
        else:  # each character's first byte
            codes = np.frombuffer(padded.encode("utf-32-le"), dtype=np.uint32)
            widths = 1 + (codes >= 0x80).astype(np.int64) + (codes >= 0x800) + (codes >= 0x10000)
            byte_at = np.concatenate(([0], np.cumsum(widths)))
    except UnicodeEncodeError:
        return reference_char_ngram_features(words)
    chars = np.fromiter(map(len, words), dtype=np.int64, count=len(words)) + 2  # padded
    word_begins = np.cumsum(chars) - chars
    starts, lengths, owners = [], [], []
    low, high = _NGRAM_SIZES
    for size in range(low, high + 1):
        counts = np.maximum(chars - size + 1, 0)
        total = int(counts.sum())
        within = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        first = np.repeat(word_begins, counts) + within
        owners.append(np.repeat(np.arange(len(words), dtype=np.int64), counts))
        if byte_at is None:
            starts.append(first)
            lengths.append(np.full(total, size, dtype=np.int64))
        else:
            starts.append(byte_at[first])
            lengths.append(byte_at[first + size] - byte_at[first])
    features = _hashed_features(murmur3_slices(buffer, np.concatenate(starts), np.concatenate(lengths)))
    keys = np.concatenate(owners) << _FEATURE_BITS | features
    keys.sort()
    flat = (keys & (N_FEATURES - 1)).astype(np.int32)
    ends = np.cumsum(np.bincount(keys >> _FEATURE_BITS, minlength=len(words))).tolist()
    return [flat[begin:end] for begin, end in zip([0, *ends[:-1]], ends, strict=True)]


def _hashed_features(hashes: np.ndarray) -> np.ndarray:
    """``FeatureHasher``'s index of each signed 32-bit hash: ``abs(h) % N_FEATURES`` (int64; ``-2**31`` gives 0,
    as the hasher's special case does for a power of two)."""
    return np.abs(hashes.astype(np.int64)) & (N_FEATURES - 1)


_C1, _C2, _M5, _N1, _F1, _F2 = (
    np.uint32(value) for value in (0xCC9E2D51, 0x1B873593, 5, 0xE6546B64, 0x85EBCA6B, 0xC2B2AE35)
)


def murmur3_slices(buffer: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """MurmurHash3 (x86, 32 bits, seed 0) of every slice ``buffer[starts[k] : starts[k] + lengths[k]]`` of a byte
    array, as signed 32-bit values: ``sklearn.utils.murmurhash3_32`` of each slice's bytes (tested), all at once."""
    padded = np.concatenate((buffer, np.zeros(4, dtype=np.uint8)))

    def word(at: np.ndarray) -> np.ndarray:
        return le_words(padded, at)

    def scrambled(block: np.ndarray) -> np.ndarray:
        return rotl(block * _C1, 15) * _C2

    hashes = np.zeros(len(starts), dtype=np.uint32)
    blocks = lengths // 4
    with np.errstate(over="ignore"):
        for block in range(int(blocks.max(initial=0))):  # the 4-byte blocks
            active = np.flatnonzero(blocks > block)
            hashes[active] = rotl(hashes[active] ^ scrambled(word(starts[active] + 4 * block)), 13) * _M5 + _N1
        tail = lengths & 3  # the last 1-3 bytes, little-endian
        active = np.flatnonzero(tail)
        at = starts[active] + 4 * blocks[active]
        mask = (np.uint32(1) << (8 * tail[active]).astype(np.uint32)) - np.uint32(1)
        hashes[active] ^= scrambled(word(at) & mask)
        hashes ^= lengths.astype(np.uint32)
        hashes ^= hashes >> np.uint32(16)
        hashes *= _F1
        hashes ^= hashes >> np.uint32(13)
        hashes *= _F2
        hashes ^= hashes >> np.uint32(16)
    return hashes.view(np.int32)


def cached_word_features(words: list[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Those of ``words`` this process's cache holds (:func:`word_features` made them), their feature counts and
    their features in one flat array: a few bytes a feature for a clean worker to hand back, so that the parent's
    cache (:func:`remember_word_features`), which later workers inherit, need not hash them again."""
    cache = _WORD_FEATURES
    held = [word for word in words if word in cache]
    pieces = [cache[word] for word in held]
    lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
    flat = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int32)
    return held, lengths, flat


def remember_word_features(words: list[str], lengths: np.ndarray, flat: np.ndarray) -> None:
    """Put ``words``' features (:func:`cached_word_features` of another process) in this process's cache, as views
    of ``flat``, while it has room: processes forked later start with them (at 10k each worker of a pass hashed
    ~40k words again, ~0.4 s). The features are :func:`word_features`' own, so the counts are the same."""
    cache = _WORD_FEATURES
    room = max(0, _WORD_CACHE_SIZE - len(cache))
    ends = np.cumsum(lengths).tolist()
    begin = 0
    for word, end in zip(words, ends, strict=True):
        if word not in cache:
            if not room:
                return
            cache[word] = flat[begin:end]
            room -= 1
        begin = end


def sentence_counts(articles: Sequence[CleanArticle]) -> sparse.csr_matrix:
    """Hashed character n-gram counts of every evidence sentence, in order (rows are independent,
    so the counts of a batch split in parts, stacked, equal the counts of the whole).

    Equal to :func:`reference_sentence_counts` (tested): ``char_wb`` n-grams never cross a space, so a
    sentence's counts are the sum of its words' counts, which are hashed once per word. Every feature
    occurrence is one integer key (sentence number above the feature's 20 bits), sorted once: equal keys
    are one count, and the rows come out with sorted indices, as ``HashingVectorizer`` makes them.
    """
    sentences = [s for article in articles for s in article.sentences]
    if not sentences:
        return sparse.csr_matrix((0, N_FEATURES))
    wanted = list(
        chain.from_iterable(
            article.tokens.words[sentence.first : sentence.last]
            for article in articles
            for sentence in article.sentences
        )
    )
    # each distinct word's features once, gathered for every token (one numpy gather, not a piece a token)
    distinct = {word: number for number, word in enumerate(dict.fromkeys(wanted))}
    lengths, flat = word_feature_runs(list(distinct))
    flat = flat.astype(np.int64)
    word_of_token = np.fromiter(map(distinct.__getitem__, wanted), dtype=np.int64, count=len(wanted))
    per_token = lengths[word_of_token]
    tokens = np.fromiter((s.last - s.first for s in sentences), dtype=np.int64, count=len(sentences))
    # features before each token, and so before each sentence's end (a sentence without tokens has none)
    features_before = np.concatenate(([0], np.cumsum(per_token)))
    per_sentence = np.diff(features_before[np.concatenate(([0], np.cumsum(tokens)))])
    first_of_word = np.cumsum(lengths) - lengths
    features = flat[
        np.repeat(first_of_word[word_of_token] - features_before[:-1], per_token) + np.arange(features_before[-1])
    ]
    keys = np.repeat(np.arange(len(sentences), dtype=np.int64) << _FEATURE_BITS, per_sentence) | features
    keys.sort(kind="stable")  # timsort: the keys come in sentence order, each word's features in ascending runs
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1]))) if len(keys) else keys
    unique = keys[starts]
    index_type = np.int32 if len(unique) < 2**31 else np.int64
    counts = sparse.csr_matrix((len(sentences), N_FEATURES))
    counts.data = np.diff(np.append(starts, len(keys))).astype(np.float64)
    counts.indices = (unique & (N_FEATURES - 1)).astype(index_type)
    row_sizes = np.bincount(unique >> _FEATURE_BITS, minlength=len(sentences))
    counts.indptr = np.concatenate(([0], np.cumsum(row_sizes))).astype(index_type)
    counts.has_sorted_indices = True
    counts.has_canonical_format = True
    return counts


_FEATURE_BITS = N_FEATURES.bit_length() - 1


def sentence_vectors(
    articles: Sequence[CleanArticle], counts: sparse.csr_matrix | None = None
) -> list[sparse.csr_matrix]:
    """L2-normalised TF-IDF rows of every evidence sentence, one matrix per article.

    ``counts``: :func:`sentence_counts` of ``articles`` when already computed.
    """
    weighted, bounds = sentence_matrix(articles, counts)
    return [weighted[bounds[k] : bounds[k + 1]] for k in range(len(articles))]


def sentence_matrix(
    articles: Sequence[CleanArticle], counts: sparse.csr_matrix | list[sparse.csr_matrix] | None = None
) -> tuple[sparse.csr_matrix, np.ndarray]:
    """The rows of :func:`sentence_vectors` in one matrix, and each article's first row (``bounds[k]`` to
    ``bounds[k + 1]``): one set of arrays for a whole corpus instead of a matrix per article.

    ``counts``: :func:`sentence_counts` of ``articles``, or of consecutive parts of them as a list, which is
    emptied as it is stacked. The weights are made in place of the counts (equal to
    :func:`reference_sentence_matrix`, tested): the corpus's counts are held once, not three times (stacked
    parts, their copy, and a copy for the weights; at 3k articles a peak of 0.25 GB above what the stage keeps).
    """
    bounds = np.cumsum([0] + [len(article.sentences) for article in articles])
    if isinstance(counts, list):
        counts = stack_rows(counts)
    counts = sentence_counts(articles) if counts is None else counts
    if counts.shape[0] == 0:
        return sparse.csr_matrix((0, N_FEATURES)), bounds
    frequency = np.zeros(counts.shape[1], dtype=np.int64)
    for begin in range(0, len(counts.indices), _CHUNK):
        frequency += np.bincount(counts.indices[begin : begin + _CHUNK], minlength=counts.shape[1])
    return weigh_sentence_counts(counts, sentence_idf(frequency, counts.shape[0])), bounds


def sentence_frequencies(counts: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """The features held by any row of ``counts`` (canonical :func:`sentence_counts`) and how many rows hold each:
    a part's share of the document frequencies, which add up over parts (a few bytes a feature to carry back from a
    worker instead of the counts)."""
    holders = np.bincount(counts.indices, minlength=counts.shape[1])
    features = np.flatnonzero(holders)
    return features.astype(np.int32), holders[features]


def sentence_idf(frequency: np.ndarray, rows: int) -> np.ndarray:
    """Smoothed idf of every feature from its document frequency over ``rows`` sentences, as ``TfidfTransformer``
    makes it (float64)."""
    idf = np.full(len(frequency), fill_value=rows + 1, dtype=np.float64)
    idf /= frequency.astype(np.float64) + 1.0
    np.log(idf, out=idf)
    idf += 1.0
    return idf


def weigh_sentence_counts(counts: sparse.csr_matrix, idf: np.ndarray) -> sparse.csr_matrix:
    """``counts`` (float64) made L2-normalised TF-IDF rows in place: TfidfTransformer's steps, sublinear tf, the
    idf product (in chunks), l2 rows, then :func:`sentence_matrix`'s second normalisation. Every step is row by row,
    so the rows of a part weighed alone equal the same rows weighed in the whole corpus, bit for bit."""
    if counts.shape[0] == 0:
        return counts
    data, indices = counts.data, counts.indices
    np.log(data, out=data)
    data += 1.0
    for begin in range(0, len(data), _CHUNK):
        data[begin : begin + _CHUNK] *= idf[indices[begin : begin + _CHUNK]]
    weighted = normalize(counts, copy=False)
    return normalize(weighted, copy=False)


_CHUNK = 1 << 20


def reference_sentence_matrix(
    articles: Sequence[CleanArticle], counts: sparse.csr_matrix | None = None
) -> tuple[sparse.csr_matrix, np.ndarray]:
    """The readable reference of :func:`sentence_matrix`: scikit-learn's ``TfidfTransformer`` on a copy."""
    bounds = np.cumsum([0] + [len(article.sentences) for article in articles])
    counts = sentence_counts(articles) if counts is None else counts
    if counts.shape[0] == 0:
        return sparse.csr_matrix((0, N_FEATURES)), bounds
    weighted = TfidfTransformer(sublinear_tf=True).fit_transform(counts)
    return normalize(weighted, copy=False), bounds


class PackedCounts:
    """Stem counts (:func:`article_counts`' rows) held in 4 bytes a stored value instead of 12: each value's
    feature (20 bits) and count (the 12 bits above) in one ``uint32``, the rows' ends as they were. A clean batch's
    counts are held so from the clean workers to the TF-IDF stage (through the candidate stage's peak); :meth:`csr`
    gives the matrix back equal in every array, dtype and flag (tested). :meth:`of` packs only what comes back
    so: float64 counts that are whole numbers from 1 to 4,095, features below 2**20, the CSR flags set."""

    __slots__ = ("indptr", "keys", "shape")
    COUNT_SHIFT = _FEATURE_BITS
    MOST = (1 << (32 - _FEATURE_BITS)) - 1  # the largest count a key holds (4,095)

    def __init__(self, keys: np.ndarray, indptr: np.ndarray, shape: tuple[int, int]) -> None:
        self.keys, self.indptr, self.shape = keys, indptr, shape

    @classmethod
    def of(cls, counts: sparse.csr_matrix) -> PackedCounts | sparse.csr_matrix:
        """``counts`` packed, or ``counts`` itself where a value would not come back the same."""
        data, indices = counts.data, counts.indices
        if (
            not isinstance(counts, sparse.csr_matrix)
            or counts.shape[1] > N_FEATURES
            or data.dtype != np.float64
            or indices.dtype != np.int32
            or counts.indptr.dtype != np.int32
            or len(data) != counts.indptr[-1]
            or not counts.has_sorted_indices
            or not counts.has_canonical_format
            or (len(data) and not (data.min() >= 1 and data.max() <= cls.MOST))
            or not np.array_equal(data, np.floor(data))
            or (len(indices) and not (indices.min() >= 0 and indices.max() < N_FEATURES))
        ):
            return counts
        keys = indices.astype(np.uint32) | (data.astype(np.uint32) << np.uint32(cls.COUNT_SHIFT))
        return cls(keys, counts.indptr, counts.shape)

    @property
    def nnz(self) -> int:
        return len(self.keys)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float64)

    @property
    def nbytes(self) -> int:
        return self.keys.nbytes + self.indptr.nbytes

    def csr(self) -> sparse.csr_matrix:
        """The counts as :func:`article_counts` made them."""
        counts = sparse.csr_matrix(self.shape)
        counts.data = (self.keys >> np.uint32(self.COUNT_SHIFT)).astype(np.float64)
        counts.indices = (self.keys & np.uint32(N_FEATURES - 1)).astype(np.int32)
        counts.indptr = self.indptr
        counts.has_sorted_indices = True
        counts.has_canonical_format = True
        return counts


class SpilledPart:
    """A :class:`PackedCounts` written to a file by :class:`SpilledCounts`: its shape and size held, its arrays read
    back by :meth:`packed` (each once: the file's pages are the kernel's cache, not this process's memory)."""

    __slots__ = ("keys", "path", "rows", "shape")

    def __init__(self, path: Path, keys: tuple[int, int, str], rows: tuple[int, int, str], shape: tuple[int, int]):
        self.path, self.keys, self.rows, self.shape = path, keys, rows, shape  # (offset, count, dtype) of each array

    @property
    def nnz(self) -> int:
        return self.keys[1]

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float64)

    def packed(self) -> PackedCounts:
        def read(offset: int, count: int, dtype: str) -> np.ndarray:
            return np.fromfile(self.path, dtype=np.dtype(dtype), count=count, offset=offset)

        return PackedCounts(read(*self.keys), read(*self.rows), self.shape)


class SpilledCounts:
    """Stem counts held in a file from the clean stage to the TF-IDF stage: a large run's packed counts (4 bytes a
    stored value, ~0.6 KB an article) are read only when the TF-IDF vectors are made, and were held in memory
    through the LSH stage, where the run's memory is highest. :meth:`append` writes a :class:`PackedCounts` part
    out as it arrives (any other part is held as it is); :meth:`taken` gives every part back in order, the written
    ones as :class:`SpilledPart` (read when :func:`stack_rows` comes to them: the same matrix). The file's folder is
    removed by :meth:`close` or when the object is collected."""

    __slots__ = ("__weakref__", "_file", "_removal", "folder", "parts")

    def __init__(self) -> None:
        self.parts: list[sparse.csr_matrix | PackedCounts | SpilledPart] = []
        self.folder: Path | None = None
        self._file: Any = None
        self._removal: weakref.finalize | None = None

    def append(self, counts: sparse.csr_matrix | PackedCounts) -> None:
        if not isinstance(counts, PackedCounts):
            self.parts.append(counts)
            return
        if self._file is None:  # made on first use, in the process that appends
            self.folder = Path(tempfile.mkdtemp(prefix="dedup-counts-"))
            self._removal = weakref.finalize(self, shutil.rmtree, str(self.folder), True)
            self._file = open(self.folder / "counts", "wb")  # noqa: SIM115 (closed by taken or close)
        written = []
        for values in (counts.keys, counts.indptr):
            written.append((self._file.tell(), len(values), values.dtype.str))
            self._file.write(np.ascontiguousarray(values).tobytes())
        self.parts.append(SpilledPart(self.folder / "counts", written[0], written[1], counts.shape))

    def taken(self) -> list[sparse.csr_matrix | PackedCounts | SpilledPart]:
        """Every part, in order (the file closed, to be read; the parts are the caller's now)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        parts, self.parts = self.parts, []
        return parts

    @property
    def nbytes(self) -> int:
        """Bytes held in memory (the parts not written out)."""
        return sum(
            part.data.nbytes + part.indices.nbytes + part.indptr.nbytes for part in self.parts if sparse.issparse(part)
        )

    def close(self) -> None:
        """Remove the file."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._removal is not None:
            self._removal()


def stack_rows(pieces: list[sparse.csr_matrix | PackedCounts | SpilledPart]) -> sparse.csr_matrix:
    """``sparse.vstack(pieces, format="csr")``, emptying ``pieces`` as it goes: each part is freed once copied,
    so the parts and the whole are not all held at once (a :class:`PackedCounts` part unpacked when its turn
    comes, a :class:`SpilledPart` read from its file)."""
    if not pieces:
        return sparse.csr_matrix((0, N_FEATURES))
    width = pieces[0].shape[1]
    rows = sum(piece.shape[0] for piece in pieces)
    nnz = sum(piece.nnz for piece in pieces)
    index_type = np.int32 if max(nnz, width) < 2**31 else np.int64
    data = np.empty(nnz, dtype=np.result_type(*(piece.dtype for piece in pieces)))
    indices = np.empty(nnz, dtype=index_type)
    indptr = np.empty(rows + 1, dtype=index_type)
    indptr[0] = 0
    row = at = 0
    sorted_indices = True
    pieces.reverse()  # popped from the end: the first part first
    while pieces:
        piece = pieces.pop()
        if isinstance(piece, SpilledPart):
            piece = piece.packed()
        if isinstance(piece, PackedCounts):
            piece = piece.csr()
        count = piece.nnz
        data[at : at + count] = piece.data[:count]
        indices[at : at + count] = piece.indices[:count]
        indptr[row + 1 : row + piece.shape[0] + 1] = piece.indptr[1:] + at
        sorted_indices = sorted_indices and piece.has_sorted_indices
        row, at = row + piece.shape[0], at + count
        del piece
        return_free_memory()  # the parts came unpickled from the workers: in the C heap, kept resident once freed
    stacked = sparse.csr_matrix((rows, width), dtype=data.dtype)
    stacked.data, stacked.indices, stacked.indptr = data, indices, indptr  # set: the constructor may copy
    stacked.has_sorted_indices = sorted_indices
    return stacked


def article_documents(articles: Sequence[CleanArticle]) -> list[str]:
    """Each article's content stems of its evidence text, joined by spaces."""
    return [" ".join(article.stems[i] for i in article.evidence_tokens() if article.stems[i]) for article in articles]


def article_counts(articles: Sequence[CleanArticle]) -> sparse.csr_matrix:
    """Hashed content-stem counts of every article (rows are independent: the counts of parts, stacked, equal
    the counts of the whole).

    Equal to :func:`reference_article_counts` (tested, dtypes too): a stem's feature is hashed once per process
    (by ``_ARTICLE_HASHER`` itself, :func:`stem_features`); every occurrence is one integer key (article number
    above the feature's 20 bits), sorted once, equal keys one count, as ``sum_duplicates`` makes the rows.
    """
    if not articles:
        return reference_article_counts(articles)
    pieces = [list(chain.from_iterable(a.stems[s.first : s.last] for s in a.sentences)) for a in articles]
    per_article = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
    stems = list(chain.from_iterable(pieces))
    return counts_of_keys(np.array(stem_features(stems), dtype=np.int64), per_article)


def counts_of_keys(features: np.ndarray, per_article: np.ndarray) -> sparse.csr_matrix:
    """:func:`article_counts` from the feature of every evidence token (-1: none), ``per_article[k]`` of them for
    article ``k`` in order (at least one article)."""
    kept = features >= 0  # "" (not a content word) has none
    keys = (np.repeat(np.arange(len(per_article), dtype=np.int64) << _FEATURE_BITS, per_article) | features)[kept]
    keys.sort()
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1]))) if len(keys) else keys
    unique = keys[starts]
    counts = sparse.csr_matrix((len(per_article), N_FEATURES))
    counts.data = np.diff(np.append(starts, len(keys))).astype(np.float64)
    counts.indices = (unique & (N_FEATURES - 1)).astype(np.int32)
    counts.indptr = np.concatenate(([0], np.cumsum(np.bincount(unique >> _FEATURE_BITS, minlength=len(per_article)))))
    counts.indptr = counts.indptr.astype(np.int32)
    counts.has_sorted_indices = True
    counts.has_canonical_format = True
    return counts


def reference_article_counts(articles: Sequence[CleanArticle]) -> sparse.csr_matrix:
    """The readable reference of :func:`article_counts`: ``HashingVectorizer`` over the joined stems."""
    return _ARTICLE_HASHER.transform(article_documents(articles)).tocsr()


def stem_features(stems: list[str]) -> list[int]:
    """Each stem's ``_ARTICLE_HASHER`` feature, -1 for "" (a bounded per-process memo, :func:`text.bounded_map`; a
    missing stem is hashed by the hasher itself, one stem a row)."""
    return bounded_map(_STEM_FEATURES, _STEM_FEATURE_CACHE_SIZE, _features_of, stems)


def _features_of(stems: list[str]) -> dict[str, int]:
    words = [stem for stem in stems if stem]
    found = {"": -1} if len(words) < len(stems) else {}
    if words:
        hashed = stem_feature_values if len(words) >= _STEMS_AT_ONCE else reference_stem_feature_values
        found.update(zip(words, hashed(words), strict=True))
    return found


def stem_feature_values(stems: list[str]) -> list[int]:
    """Each (non-empty) stem's ``_ARTICLE_HASHER`` feature: equal to :func:`reference_stem_feature_values` (tested).
    A stem without white space is its row's one token: the feature of its UTF-8 bytes' MurmurHash3, all at once."""
    joined = " ".join(stems)
    if joined.split() != stems:
        return reference_stem_feature_values(stems)
    try:
        buffer = np.frombuffer(joined.encode("utf-8"), dtype=np.uint8)
    except UnicodeEncodeError:
        return reference_stem_feature_values(stems)
    lengths = np.fromiter(
        map(len, stems) if joined.isascii() else map(len, map(str.encode, stems)), dtype=np.int64, count=len(stems)
    )
    starts = np.cumsum(lengths + 1) - (lengths + 1)
    return _hashed_features(murmur3_slices(buffer, starts, lengths)).tolist()


def reference_stem_feature_values(stems: list[str]) -> list[int]:
    """The readable reference of :func:`stem_feature_values`: each stem's row of the hasher, its first feature."""
    rows = _ARTICLE_HASHER.transform(stems).tocsr()
    return rows.indices[rows.indptr[:-1]].tolist()


_STEM_FEATURES: dict[str, int] = {"": -1}
_STEM_FEATURE_CACHE_SIZE = 300_000


def article_vectors(articles: Sequence[CleanArticle], counts: sparse.csr_matrix | None = None) -> sparse.csr_matrix:
    """L2-normalised TF-IDF rows of the content stems of every article's evidence text (``counts``: their
    :func:`article_counts`, when made already, CSR: consumed, the rows are weighed in their place)."""
    counts = _ARTICLE_HASHER.transform(article_documents(articles)) if counts is None else counts
    # weighed in place of the counts (``fit_transform`` weighs a copy: the counts were held twice at the peak)
    weighted = TfidfTransformer(sublinear_tf=True).fit(counts).transform(counts, copy=False)
    return normalize(weighted, copy=False).tocsr()
