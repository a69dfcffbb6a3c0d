"""The clean stage's batch paths (``batch_words``, ``pipeline.clean_batch``, quoted spans) against their references."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup import pipeline
from dedup.batch_words import evidence_article_counts, evidence_words, sentence_holders, unit_stems
from dedup.candidates import sentence_signatures, unit_stem_sizes
from dedup.clean import clean_article, quoted_spans, reference_quoted_spans, repeated_lines
from dedup.model import Article
from dedup.similarity import article_counts, sentence_counts, sentence_frequencies
from dedup.sketch import SketchSettings
from dedup.text import content_stems

_WORDS = st.sampled_from(
    ["The", "running", "runs", "ran", "and", "42", "5%", "Über", "co-operation", "a", "said", "Reuters", "ı", "dogs"]
)
_TEXTS = st.lists(
    st.lists(_WORDS, min_size=1, max_size=12).map(" ".join).map(lambda sentence: sentence + "."), max_size=6
).map(" ".join)


def _same(found, expected) -> None:
    if isinstance(expected, np.ndarray):
        assert isinstance(found, np.ndarray) and found.dtype == expected.dtype and found.shape == expected.shape
        assert np.array_equal(found, expected)
    elif hasattr(expected, "indptr"):
        assert type(found) is type(expected) and found.shape == expected.shape
        for name in ("data", "indices", "indptr"):
            _same(getattr(found, name), getattr(expected, name))
        assert found.has_sorted_indices == expected.has_sorted_indices
        assert found.has_canonical_format == expected.has_canonical_format
    elif isinstance(expected, (list, tuple)):
        assert type(found) is type(expected) and len(found) == len(expected)
        for one, other in zip(found, expected, strict=True):
            _same(one, other)
    else:
        assert type(found) is type(expected) and found == expected


def _check(cleaned, sketch: SketchSettings) -> None:
    evidence = evidence_words(cleaned)
    _same(sentence_holders(evidence), sentence_frequencies(sentence_counts(cleaned)))
    held = [article.tokens.words[unit.first : unit.last] for article in cleaned for unit in article.sentences]
    assert evidence.words == list(dict.fromkeys(word for words in held for word in words))
    stems = content_stems(evidence.words)
    if cleaned:
        _same(evidence_article_counts(evidence, stems), article_counts(cleaned))
    sizes, short, rows, owners = unit_stems(evidence, stems, sketch)
    _same((sizes, short), unit_stem_sizes(cleaned, sketch.min_sentence_stems))
    _same((rows, owners), sentence_signatures(cleaned, sketch))


@settings(max_examples=150, deadline=None)
@given(st.lists(_TEXTS, max_size=5), st.integers(2, 6))
def test_the_word_id_paths_equal_their_references(texts: list[str], min_stems: int) -> None:
    cleaned = [clean_article(Article(str(number), text)) for number, text in enumerate(texts)]
    _check(cleaned, SketchSettings(min_sentence_stems=min_stems))


def _batch_fields(part: pipeline.CleanBatch) -> list:
    fields = [getattr(part, name) for name in part.__slots__]
    return [(field.keys, field.indptr, field.shape) if hasattr(field, "COUNT_SHIFT") else field for field in fields]


def test_clean_batches_equal_the_reference_on_news(news_articles: list[Article]) -> None:
    articles = [*news_articles, Article("empty", ""), Article("furniture", "Advertisement\n\nRead more")]
    repeated = repeated_lines([article.text for article in articles], min_articles=3)
    sketch = SketchSettings()
    _check([clean_article(article, repeated) for article in articles], sketch)
    for size in (1, 37, 250):
        for begin in range(0, len(articles), size):
            batch = articles[begin : begin + size]
            shared = (repeated, sketch, False, sketch.min_sentence_stems)
            handed = set(pipeline._WORDS_HANDED_BACK)
            found = pipeline.clean_batch(shared, batch)
            pipeline._WORDS_HANDED_BACK.clear()
            pipeline._WORDS_HANDED_BACK.update(handed)
            expected = pipeline.reference_clean_batch(shared, batch)
            assert len(found) == len(expected) == 1
            assert type(found[0].stem_counts) is type(expected[0].stem_counts)
            _same(_batch_fields(found[0]), _batch_fields(expected[0]))
    assert pipeline.clean_batch((repeated, sketch, False, 3), articles[:5])  # other unit sizes: the reference's


_QUOTE_TEXTS = st.text(st.sampled_from(list("ab \n\"“”«»`'.")), max_size=60)


@settings(max_examples=500, deadline=None)
@given(_QUOTE_TEXTS)
def test_quoted_spans_equal_the_pattern_searched(text: str) -> None:
    assert quoted_spans(text) == reference_quoted_spans(text)


def test_quoted_spans_equal_the_pattern_searched_on_news(news_articles: list[Article]) -> None:
    for article in news_articles:
        assert quoted_spans(article.text) == reference_quoted_spans(article.text)
