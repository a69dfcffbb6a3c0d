"""The clean stage's feature hashing at once (``similarity.char_ngram_features``, ``stem_feature_values``,
``murmur3_slices``) against the hasher it replaces (``HashingVectorizer``, ``sklearn.utils.murmurhash3_32``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sklearn.utils import murmurhash3_32

from dedup.similarity import (
    char_ngram_features,
    murmur3_slices,
    reference_char_ngram_features,
    reference_stem_feature_values,
    stem_feature_values,
)
from dedup.text import content_stems, tokenize

_SEEDS = Path(__file__).resolve().parent.parent / "seeds"
# word characters of every UTF-8 width, and the casefolds that leave a combining mark ("i̇")
_WORD_CHARACTERS = st.sampled_from([*"abcxyz0189éßüøπжİı中𝔘ᾈ", "i\u0307"])
_TOKENS = st.lists(_WORD_CHARACTERS, min_size=1, max_size=9).map("".join)


def _same_rows(found: list[np.ndarray], expected: list[np.ndarray]) -> None:
    assert len(found) == len(expected)
    for row, reference in zip(found, expected, strict=True):
        assert row.dtype == reference.dtype == np.int32 and np.array_equal(row, reference)


@settings(max_examples=150, deadline=None)
@given(st.lists(_TOKENS, max_size=40, unique=True))
@example(["a", "ab", "abc", "abcd", "abcde", "percent", "𝔘"])
def test_char_ngram_features_equal_the_hasher_on_tokens(words):
    _same_rows(char_ngram_features(words), reference_char_ngram_features(words) if words else [])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8), max_size=12))
def test_char_ngram_features_equal_the_hasher_on_any_strings(words):
    # white space, empty strings and repeats: the hasher's own path (or the same rows)
    _same_rows(char_ngram_features(words), reference_char_ngram_features(words) if words else [])


@settings(max_examples=150, deadline=None)
@given(st.lists(_TOKENS, min_size=1, max_size=40))
def test_stem_feature_values_equal_the_hasher(stems):
    assert stem_feature_values(stems) == reference_stem_feature_values(stems)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=80), st.lists(st.tuples(st.integers(0, 80), st.integers(0, 25)), max_size=30))
def test_murmur3_slices_equal_murmurhash3_32(data, slices):
    slices = [(start, min(length, len(data) - start)) for start, length in slices if start <= len(data)]
    starts = np.array([start for start, _ in slices], dtype=np.int64)
    lengths = np.array([length for _, length in slices], dtype=np.int64)
    found = murmur3_slices(np.frombuffer(data, dtype=np.uint8), starts, lengths)
    assert found.dtype == np.int32
    assert found.tolist() == [murmurhash3_32(data[start : start + length], 0) for start, length in slices]


def test_the_seed_articles_words_and_stems_hash_as_the_hasher_hashes_them():
    words = sorted({word for path in sorted(_SEEDS.glob("*.txt")) for word in tokenize(path.read_text()).words})
    assert len(words) > 500
    _same_rows(char_ngram_features(words), reference_char_ngram_features(words))
    stems = sorted({stem for stem in content_stems(words) if stem})
    assert stem_feature_values(stems) == reference_stem_feature_values(stems)
