"""The clean stage's fast paths against their readable references: stem counts, quoted-token runs, word gathers."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup import similarity as similarity_module
from dedup.clean import (
    _SENTENCE_FINAL,
    clean_article,
    reference_short_line_counts,
    sentence_final,
    short_line_counts,
)
from dedup.model import Article
from dedup.similarity import article_counts, reference_article_counts, reference_sentence_counts, sentence_counts
from dedup.store.cleaned import _runs, reference_runs
from dedup.text import _TERMINAL, terminal

_WORDS = st.sampled_from(["The", "running", "runs", "ran", "and", "42", "5%", "Über", "co-operation", "a", "said"])
_TEXTS = st.lists(
    st.lists(_WORDS, min_size=1, max_size=12).map(" ".join).map(lambda sentence: sentence + "."), max_size=6
).map(" ".join)


def _same_matrix(found, expected) -> None:
    assert type(found) is type(expected) and found.shape == expected.shape
    for name in ("data", "indices", "indptr"):
        assert getattr(found, name).dtype == getattr(expected, name).dtype, name
        assert np.array_equal(getattr(found, name), getattr(expected, name)), name
    assert found.has_sorted_indices == expected.has_sorted_indices


def test_article_counts_equal_the_hashing_vectorizer_on_the_seeds(seed_texts):
    cleaned = [clean_article(Article(key, text)) for key, text in sorted(seed_texts.items())]
    _same_matrix(article_counts(cleaned), reference_article_counts(cleaned))
    _same_matrix(article_counts(cleaned[:1]), reference_article_counts(cleaned[:1]))


@settings(max_examples=100, deadline=None)
@given(st.lists(_TEXTS, min_size=1, max_size=5), st.booleans())
def test_article_counts_equal_the_hashing_vectorizer(texts: list[str], small_cache: bool) -> None:
    cleaned = [clean_article(Article(str(number), text)) for number, text in enumerate(texts)]
    saved = dict(similarity_module._STEM_FEATURES), similarity_module._STEM_FEATURE_CACHE_SIZE
    try:
        if small_cache:  # cleared on the way: the stems of the call are hashed again
            similarity_module._STEM_FEATURE_CACHE_SIZE = 3
        _same_matrix(article_counts(cleaned), reference_article_counts(cleaned))
        _same_matrix(article_counts(cleaned), reference_article_counts(cleaned))  # every stem held now
    finally:
        similarity_module._STEM_FEATURES.clear()
        similarity_module._STEM_FEATURES.update(saved[0])
        similarity_module._STEM_FEATURE_CACHE_SIZE = saved[1]


@settings(max_examples=100, deadline=None)
@given(st.lists(_TEXTS, min_size=1, max_size=5))
def test_sentence_counts_gathered_per_distinct_word_equal_the_hashing_vectorizer(texts: list[str]) -> None:
    cleaned = [clean_article(Article(str(number), text)) for number, text in enumerate(texts)]
    found, expected = sentence_counts(cleaned), reference_sentence_counts(cleaned)
    assert found.shape == expected.shape
    for name in ("data", "indices", "indptr"):
        assert np.array_equal(getattr(found, name), getattr(expected, name)), name


@settings(max_examples=300, deadline=None)
@given(st.lists(st.booleans(), max_size=40))
def test_quoted_runs_equal_the_reference(flags: list[bool]) -> None:
    assert _runs(flags) == reference_runs(flags)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(alphabet=st.sampled_from(list("aB \t\r\n\x1c\u2028\u00a0ßΣ.")), max_size=60), max_size=4),
    st.integers(1, 4),
)
def test_short_line_counts_equal_the_reference(texts: list[str], max_words: int) -> None:
    assert short_line_counts(texts, max_words) == reference_short_line_counts(texts, max_words)


_LINE = st.text(alphabet=st.sampled_from(list("ab .!?…:;,\"'”’»)]<\u00a0\r\t“(")), max_size=12).map(str.strip)


@settings(max_examples=500, deadline=None)
@given(_LINE)
def test_sentence_final_equals_the_pattern(line: str) -> None:
    assert sentence_final(line) == bool(_SENTENCE_FINAL.search(line))


@settings(max_examples=500, deadline=None)
@given(_LINE.filter(lambda line: not line.endswith("<")))
def test_terminal_equals_the_pattern(line: str) -> None:
    assert terminal(line) == bool(_TERMINAL.search(line))
