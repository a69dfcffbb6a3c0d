"""The clean stage's sentence n-gram holders, compiled (numba, nopython); the reference is the numpy path of
``batch_words.sentence_holders`` (and, behind it, ``similarity.sentence_frequencies(sentence_counts(...))``).

:func:`feature_holders` counts, for every sentence n-gram feature, the units of a batch that hold it: the units'
tokens in order, each token's word's features (``similarity.word_features``, ascending, repeated by count) read
from one flat array, and a feature counted for a unit the first time the unit meets it (the unit it was last
counted for is kept a feature). The numpy path makes every (unit, feature) occurrence an integer key (~6k an
article), sorts them and counts the distinct ones: the gathers, the sort and the count were ~13 % of the clean
stage's instructions; here one pass over the occurrences, in the order they come. The same counts (tested in
``tests/test_batch_words.py``). Loaded by ``batch_words.load_kernels`` before the clean workers fork.

The batch's article shingles too (``batch_words.article_rows``): :func:`xxh32_slices` hashes them a slice at a time,
where ``sketch.xxh32_slices`` runs each step of XXH32 over all slices in numpy (four byte gathers a word, a
``flatnonzero`` a step). The same hashes (tested). (A compiled running minimum for the MinHash rows did not pay:
numpy's AVX2 permuted block and ``minimum.reduceat`` take fewer instructions; docs/scale.md, stop 27.)
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def feature_holders(
    features: np.ndarray,
    first_of_word: np.ndarray,
    word_lengths: np.ndarray,
    word_of_token: np.ndarray,
    unit_tokens: np.ndarray,
    n_features: int,
) -> np.ndarray:
    """How many units hold each feature (int64, ``n_features`` long): unit ``u`` has ``unit_tokens[u]`` tokens,
    the next ones of ``word_of_token``; word ``w``'s features are ``features[first_of_word[w]:][:word_lengths[w]]``."""
    holders = np.zeros(n_features, dtype=np.int64)
    counted_for = np.full(n_features, -1, dtype=np.int32)  # the unit each feature was last counted for
    token = 0
    for unit in range(len(unit_tokens)):
        for _ in range(unit_tokens[unit]):
            word = word_of_token[token]
            token += 1
            begin = first_of_word[word]
            for place in range(begin, begin + word_lengths[word]):
                feature = features[place]
                if counted_for[feature] != unit:
                    counted_for[feature] = unit
                    holders[feature] += 1
    return holders


def warm() -> None:
    """Load (or compile, the first time in a checkout) the kernels for the argument types ``batch_words`` passes
    (int32 features, int64 offsets and ids, read-only uint8 bytes), before the workers fork."""
    one = np.array([1], dtype=np.int64)
    feature_holders(np.array([3], dtype=np.int32), np.array([0], dtype=np.int64), one, one - 1, one, 8)
    xxh32_slices(np.frombuffer(b"abcd", dtype=np.uint8), one - 1, one)  # a read-only buffer, as ``sketch`` passes


_MASK = np.uint64(0xFFFFFFFF)
_P1, _P2, _P3, _P4, _P5 = (np.uint64(value) for value in (0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F, 0x165667B1))


@njit(cache=True, nogil=True, inline="always")
def _rotl(value: np.uint64, bits: int) -> np.uint64:
    return ((value << np.uint64(bits)) | (value >> np.uint64(32 - bits))) & _MASK


@njit(cache=True, nogil=True, inline="always")
def _le_word(buffer: np.ndarray, at: int) -> np.uint64:
    return (
        np.uint64(buffer[at])
        | np.uint64(buffer[at + 1]) << np.uint64(8)
        | np.uint64(buffer[at + 2]) << np.uint64(16)
        | np.uint64(buffer[at + 3]) << np.uint64(24)
    )


@njit(cache=True, nogil=True)
def xxh32_slices(buffer: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """XXH32 (seed 0) of every slice ``buffer[starts[k] : starts[k] + lengths[k]]`` of a byte array: what
    ``sketch.xxh32_slices`` (numpy, a step of the specification at a time over all the slices; tested) gives, one
    slice at a time. Values are kept in 64 bits and masked to 32 after each step."""
    hashes = np.empty(len(starts), dtype=np.uint32)
    for k in range(len(starts)):
        at = starts[k]
        end = at + lengths[k]
        if lengths[k] >= 16:
            v1 = (_P1 + _P2) & _MASK
            v2 = _P2
            v3 = np.uint64(0)
            v4 = (np.uint64(0x100000000) - _P1) & _MASK
            while at + 16 <= end:
                v1 = (_rotl((v1 + _le_word(buffer, at) * _P2) & _MASK, 13) * _P1) & _MASK
                v2 = (_rotl((v2 + _le_word(buffer, at + 4) * _P2) & _MASK, 13) * _P1) & _MASK
                v3 = (_rotl((v3 + _le_word(buffer, at + 8) * _P2) & _MASK, 13) * _P1) & _MASK
                v4 = (_rotl((v4 + _le_word(buffer, at + 12) * _P2) & _MASK, 13) * _P1) & _MASK
                at += 16
            value = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & _MASK
        else:
            value = _P5
        value = (value + np.uint64(lengths[k])) & _MASK
        while at + 4 <= end:
            value = (_rotl((value + _le_word(buffer, at) * _P3) & _MASK, 17) * _P4) & _MASK
            at += 4
        while at < end:
            value = (_rotl((value + np.uint64(buffer[at]) * _P5) & _MASK, 11) * _P1) & _MASK
            at += 1
        value ^= value >> np.uint64(15)
        value = (value * _P2) & _MASK
        value ^= value >> np.uint64(13)
        value = (value * _P3) & _MASK
        value ^= value >> np.uint64(16)
        hashes[k] = np.uint32(value)
    return hashes
