"""Shingles and MinHash signatures for articles and for their sentences.

Article sketches use word 5-gram shingles of the evidence text (copies). Sentence sketches
use the set of content stems of each evidence unit, which survives reordering and light
rewording, so a rewrite that reuses a few sentences still collides. Hashing is xxhash
(32-bit) with datasketch's ``affine32`` permutation scheme, stored with every signature.
``signatures`` computes the signatures of a whole batch of sets with numpy; ``minhash``
(datasketch, one set at a time) is the reference it is tested against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain

import numpy as np
import xxhash
from datasketch import MinHash

from dedup.clean import CleanArticle

SCHEME = "affine32"


@dataclass(slots=True, frozen=True)
class SketchSettings:
    num_perm: int = 128
    seed: int = 1
    shingle_size: int = 5
    sentence_num_perm: int = 64
    min_sentence_stems: int = 4


def _hash(value: bytes) -> int:
    return xxhash.xxh32_intdigest(value)


def article_shingles(article: CleanArticle, size: int) -> set[bytes]:
    """Word ``size``-gram shingles over the evidence tokens."""
    words = [article.tokens.words[i] for i in article.evidence_tokens()]
    if len(words) < size:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[k : k + size]).encode() for k in range(len(words) - size + 1)}


def unit_stem_sets(article: CleanArticle) -> list[set[bytes]]:
    """The content-stem set of every evidence unit, in order."""
    return [{s.encode() for s in article.stems[sentence.first : sentence.last] if s} for sentence in article.sentences]


def sentence_stem_sets(article: CleanArticle, min_stems: int) -> list[set[bytes]]:
    """The content-stem set of every evidence unit with at least ``min_stems`` stems (the sketched units)."""
    return [stems for stems in unit_stem_sets(article) if len(stems) >= min_stems]


def minhash(values: set[bytes], num_perm: int, seed: int) -> MinHash:
    """A datasketch MinHash of ``values`` (xxhash32 + affine32 scheme)."""
    signature = MinHash(num_perm=num_perm, seed=seed, hashfunc=_hash, scheme=SCHEME)
    signature.update_batch(sorted(values))
    return signature


@lru_cache(maxsize=16)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's ``affine32`` permutation parameters ``(a, b)`` for ``num_perm`` and ``seed``."""
    a, b = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME).permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def _fmix32(values: np.ndarray) -> np.ndarray:
    """The MurmurHash3 finalizer datasketch applies to every hash before permuting it."""
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


def signatures(sets: Sequence[Iterable[bytes]], num_perm: int, seed: int, chunk: int = 1 << 16) -> np.ndarray:
    """MinHash signatures (uint32, one row per set) of every set at once; row k equals
    ``minhash(sets[k], num_perm, seed).hashvalues`` (an empty set keeps datasketch's empty value).

    The permuted values are reduced in chunks of about ``chunk`` values so memory stays bounded.
    """
    a, b = permutations(num_perm, seed)
    return permuted_minima(sets, a, b, chunk)


def permuted_minima(sets: Sequence[Iterable[bytes]], a: np.ndarray, b: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """``signatures`` with the permutation parameters ``(a, b)`` given (as ``permutations`` returns them)."""
    hashes: list[int] = []
    sizes = np.zeros(len(sets), dtype=np.int64)
    for row, values in enumerate(sets):
        before = len(hashes)
        hashes.extend(map(xxhash.xxh32_intdigest, values))
        sizes[row] = len(hashes) - before
    return hashed_minima(hashes, sizes, a, b, chunk)


def hashed_minima(
    hashes: Sequence[int] | np.ndarray, sizes: np.ndarray, a: np.ndarray, b: np.ndarray, chunk: int = 1 << 16
) -> np.ndarray:
    """:func:`permuted_minima` of the sets whose xxhash32 values are ``hashes``, ``sizes[k]`` of them for set ``k``
    in order (a value may repeat within a set: the minima are the same)."""
    num_perm = len(a)
    result = np.full((len(sizes), num_perm), np.uint32(0xFFFFFFFF), dtype=np.uint32)
    if not len(hashes):
        return result
    mixed = _fmix32(np.array(hashes, dtype=np.uint32))
    ends = np.cumsum(sizes)
    starts = ends - sizes
    buffer = np.empty((num_perm, 0), dtype=np.uint32)  # one block of permuted values for every chunk, not two each
    row = 0
    while row < len(sizes):
        last = int(np.searchsorted(ends, ends[row - 1] + chunk if row else chunk, side="right"))
        last = max(last, row + 1)
        filled = row + np.flatnonzero(sizes[row:last])
        if len(filled):
            begin, end = int(starts[filled[0]]), int(ends[filled[-1]])
            if buffer.shape[1] < end - begin:
                buffer = np.empty((num_perm, end - begin), dtype=np.uint32)
            permuted = buffer[:, : end - begin]
            with np.errstate(over="ignore"):  # (permutation, value): reduceat along axis 1 is the fast one
                np.multiply(a[:, None], mixed[None, begin:end], out=permuted)
                permuted += b[:, None]
            result[filled] = np.minimum.reduceat(permuted, starts[filled] - begin, axis=1).T
        row = last
    return result


def article_shingle_hashes(
    articles: Sequence[CleanArticle],
    size: int,
    hasher: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The xxhash32 of every shingle of each article's :func:`article_shingles` (a repeated shingle repeated: tested
    equal as sets), and how many each article has.

    The evidence words of all the articles are joined once; a shingle is the slice from its first word's start
    to its last word's end, and all the slices are hashed at once (:func:`xxh32_slices`, or ``hasher``: the same
    function compiled, ``clean_kernels.xxh32_slices``).
    """
    evidence = [
        list(chain.from_iterable(article.tokens.words[s.first : s.last] for s in article.sentences))
        for article in articles
    ]
    per_article = np.fromiter(map(len, evidence), dtype=np.int64, count=len(articles))
    words = list(chain.from_iterable(evidence))
    text = " ".join(words)
    lengths = np.fromiter(  # in bytes
        map(len, words) if text.isascii() else map(len, map(str.encode, words)), dtype=np.int64, count=len(words)
    )
    begins = np.cumsum(lengths + 1) - (lengths + 1)
    counts = np.where(per_article > 0, np.maximum(per_article - size + 1, 1), 0)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)  # a shingle's place in its article
    first = np.repeat(np.cumsum(per_article) - per_article, counts) + within
    last = first + np.repeat(np.minimum(per_article, size), counts) - 1
    starts = begins[first]
    return (hasher or xxh32_slices)(
        np.frombuffer(text.encode(), dtype=np.uint8), starts, begins[last] + lengths[last] - starts
    ), counts


_PRIME1, _PRIME2, _PRIME3, _PRIME4, _PRIME5 = (
    np.uint32(value) for value in (0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F, 0x165667B1)
)


def le_words(padded: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The little-endian 32-bit word at each byte offset ``at`` of a byte array (``padded``: 3 zero bytes or more
    after the last offset read), for the hashes of slices computed all at once."""
    return (
        padded[at].astype(np.uint32)
        | padded[at + 1].astype(np.uint32) << np.uint32(8)
        | padded[at + 2].astype(np.uint32) << np.uint32(16)
        | padded[at + 3].astype(np.uint32) << np.uint32(24)
    )


def rotl(values: np.ndarray, bits: int) -> np.ndarray:
    """Each uint32 value rotated left by ``bits``."""
    return (values << np.uint32(bits)) | (values >> np.uint32(32 - bits))


def xxh32_slices(buffer: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """XXH32 (seed 0) of every slice ``buffer[starts[k] : starts[k] + lengths[k]]`` of a byte array, all at once:
    ``xxhash.xxh32_intdigest`` of each (tested), following the XXH32 specification step by step."""
    padded = np.concatenate((buffer, np.zeros(4, dtype=np.uint8)))

    def word(at: np.ndarray) -> np.ndarray:
        return le_words(padded, at)

    stripes = lengths // 16
    hashes = np.full(len(starts), _PRIME5, dtype=np.uint32)  # a slice under 16 bytes starts from seed + PRIME5
    with np.errstate(over="ignore"):
        long = np.flatnonzero(stripes)
        if len(long):  # four lanes over the 16-byte stripes
            lanes = np.zeros((4, len(long)), dtype=np.uint32)
            lanes[0], lanes[1], lanes[3] = _PRIME1 + _PRIME2, _PRIME2, np.uint32(0) - _PRIME1
            for stripe in range(int(stripes.max())):
                active = np.flatnonzero(stripes[long] > stripe)
                at = starts[long[active]] + 16 * stripe
                for lane in range(4):
                    lanes[lane, active] = rotl(lanes[lane, active] + word(at + 4 * lane) * _PRIME2, 13) * _PRIME1
            hashes[long] = rotl(lanes[0], 1) + rotl(lanes[1], 7) + rotl(lanes[2], 12) + rotl(lanes[3], 18)
        hashes += lengths.astype(np.uint32)
        position = starts + 16 * stripes
        left = lengths - 16 * stripes
        for _ in range(3):  # the remaining 4-byte words
            active = np.flatnonzero(left >= 4)
            hashes[active] = rotl(hashes[active] + word(position[active]) * _PRIME3, 17) * _PRIME4
            position[active] += 4
            left[active] -= 4
        for _ in range(3):  # the remaining bytes
            active = np.flatnonzero(left >= 1)
            hashes[active] = rotl(hashes[active] + padded[position[active]].astype(np.uint32) * _PRIME5, 11) * _PRIME1
            position[active] += 1
            left[active] -= 1
        hashes ^= hashes >> np.uint32(15)
        hashes *= _PRIME2
        hashes ^= hashes >> np.uint32(13)
        hashes *= _PRIME3
        hashes ^= hashes >> np.uint32(16)
    return hashes


def stem_hashes(stems: Iterable[str]) -> list[int]:
    """The xxhash32 of each stem's UTF-8 bytes (a cache per process: stems recur across units and articles)."""
    cache = _STEM_HASHES
    if len(cache) > _STEM_CACHE_SIZE:
        cache.clear()
    return [
        cache[stem] if stem in cache else cache.setdefault(stem, xxhash.xxh32_intdigest(stem.encode()))
        for stem in stems
    ]


_STEM_HASHES: dict[str, int] = {}
_STEM_CACHE_SIZE = 300_000
