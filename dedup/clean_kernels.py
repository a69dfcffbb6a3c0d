"""The clean stage's sentence n-gram holders, compiled (numba, nopython); the reference is the numpy path of
``batch_words.sentence_holders`` (and, behind it, ``similarity.sentence_frequencies(sentence_counts(...))``).

:func:`feature_holders` counts, for every sentence n-gram feature, the units of a batch that hold it: the units'
tokens in order, each token's word's features (``similarity.word_features``, ascending, repeated by count) read
from one flat array, and a feature counted for a unit the first time the unit meets it (the unit it was last
counted for is kept a feature). The numpy path makes every (unit, feature) occurrence an integer key (~6k an
article), sorts them and counts the distinct ones: the gathers, the sort and the count were ~13 % of the clean
stage's instructions; here one pass over the occurrences, in the order they come. The same counts (tested in
``tests/test_batch_words.py``). Loaded by ``batch_words.load_kernels`` before the clean workers fork.
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
    """Load (or compile, the first time in a checkout) :func:`feature_holders` for the argument types
    ``batch_words.sentence_holders`` passes (int32 features, int64 offsets and ids), before the workers fork."""
    one = np.array([1], dtype=np.int64)
    feature_holders(np.array([3], dtype=np.int32), np.array([0], dtype=np.int64), one, one - 1, one, 8)
