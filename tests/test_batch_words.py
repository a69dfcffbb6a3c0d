"""The clean stage's batch paths (``batch_words``, ``pipeline.clean_batch``, quoted spans) against their references."""

from __future__ import annotations

import contextlib
import re

import numpy as np
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup import batch_words, pipeline
from dedup.batch_words import evidence_article_counts, evidence_words, sentence_holders, unit_stems
from dedup.candidates import article_signatures, sentence_signatures, unit_stem_sizes
from dedup.clean import clean_article, quoted_spans, reference_quoted_spans, repeated_lines
from dedup.model import Article
from dedup.similarity import article_counts, sentence_counts, sentence_frequencies
from dedup.sketch import SketchSettings, xxh32_slices
from dedup.text import (
    _COMMA_CLAUSE_BREAK,
    _MARKED_CLAUSE_BREAK,
    _SENTENCE_END,
    _SENTENCE_END_AS_WRITTEN,
    _SENTENCE_END_AT_PERIODS,
    clauses,
    content_stems,
    reference_clauses,
    reference_sentences,
    sentences,
)

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
    other = SketchSettings(min_sentence_stems=3)  # other unit sizes
    for size, sketched in ((1, sketch), (37, sketch), (250, sketch), (37, other)):
        for begin in range(0, len(articles), size):
            batch = articles[begin : begin + size]
            shared = (repeated, sketched, False)
            handed = set(pipeline._WORDS_HANDED_BACK)
            found = pipeline.clean_batch(shared, batch)
            pipeline._WORDS_HANDED_BACK.clear()
            pipeline._WORDS_HANDED_BACK.update(handed)
            expected = pipeline.reference_clean_batch(shared, batch)
            assert len(found) == len(expected) == 1
            assert type(found[0].stem_counts) is type(expected[0].stem_counts)
            _same(_batch_fields(found[0]), _batch_fields(expected[0]))


_QUOTE_TEXTS = st.text(st.sampled_from(list("ab \n\"“”«»`'.")), max_size=60)


@settings(max_examples=500, deadline=None)
@given(_QUOTE_TEXTS)
def test_quoted_spans_equal_the_pattern_searched(text: str) -> None:
    assert quoted_spans(text) == reference_quoted_spans(text)


def test_quoted_spans_equal_the_pattern_searched_on_news(news_articles: list[Article]) -> None:
    for article in news_articles:
        assert quoted_spans(article.text) == reference_quoted_spans(article.text)


_SENTENCE_TEXTS = st.text(st.sampled_from(list("ab A9 \n\t.!?…\"'”’»)]“‘«([,;:—–")), max_size=50)


@settings(max_examples=1000, deadline=None)
@given(_SENTENCE_TEXTS, st.integers(0, 50), st.integers(0, 50))
def test_sentence_ends_found_by_the_scanned_pattern_are_the_written_ones(text: str, begin: int, end: int) -> None:
    found = [(m.span(), m.group()) for m in _SENTENCE_END.finditer(text, begin, end)]
    assert found == [(m.span(), m.group()) for m in _SENTENCE_END_AS_WRITTEN.finditer(text, begin, end)]


@settings(max_examples=1000, deadline=None)
@given(
    _SENTENCE_TEXTS.map(lambda text: "".join(c for c in text if c not in "!?…")), st.integers(0, 50), st.integers(0, 50)
)
def test_sentence_ends_without_other_marks_found_by_the_period_pattern_are_the_written_ones(
    text: str, begin: int, end: int
) -> None:
    found = [(m.span(), m.group()) for m in _SENTENCE_END_AT_PERIODS.finditer(text, begin, end)]
    assert found == [(m.span(), m.group()) for m in _SENTENCE_END_AS_WRITTEN.finditer(text, begin, end)]


# sentence pieces: words and abbreviations (with and without their period), every end mark, closing and opening
# quotes and brackets, capitals, digits, white space of several kinds (no-break space, tab, line breaks, blank lines),
# PA's "<" line ends, and Unicode punctuation that ends no sentence here
_SENTENCE_PIECES = st.sampled_from(
    [
        " ",
        " ",
        "\n",
        "\n\n",
        "\t",
        "\xa0",
        "<\n",
        "word",
        "The",
        "A",
        "x",
        "9",
        "42",
        "Mr",
        "Mr.",
        "U.S.",
        "e.g.",
        "Dr.",
        "etc.",
        "Inc.",
        "J.",
        ".",
        "..",
        "...",
        "!",
        "?",
        "?!",
        "…",
        '."',
        ".”",
        "?’",
        "!»",
        ".)",
        ".]",
        '"',
        "“",
        "‘",
        "«",
        "(",
        "[",
        "'",
        "’",
        ",",
        ";",
        ":",
        "—",
        "–",
        "。",
        "¿",
        "‼",
        "؟",
        "Über",
        "ÉTÉ",
        "é",
    ]
)


@settings(max_examples=1500, deadline=None)
@given(st.lists(_SENTENCE_PIECES, max_size=40).map("".join))
def test_sentences_equal_the_reference(text: str) -> None:
    assert sentences(text) == reference_sentences(text)
    for skipped in ({(0, text.find("\n"))} if "\n" in text else set(), {(0, len(text))}):
        assert sentences(text, frozenset(skipped)) == reference_sentences(text, frozenset(skipped))


def test_sentences_on_news_equal_the_reference(news_articles: list[Article]) -> None:
    for article in news_articles:
        assert sentences(article.text) == reference_sentences(article.text)


@settings(max_examples=1000, deadline=None)
@given(_SENTENCE_TEXTS.map(lambda text: text.replace("b", " and ")), st.integers(0, 60), st.integers(0, 60))
def test_clause_breaks_found_by_the_scanned_pattern_are_the_written_ones(text: str, begin: int, end: int) -> None:
    found = [(m.span(), m.span("at"), m.span("after")) for m in _MARKED_CLAUSE_BREAK.finditer(text, begin, end)]
    written = re.compile(
        r"[,;:—–](?P<at>[\"'”’]?\s+(?=(?:and|but|while|whereas|although|though|which|so|yet)\b))|[;—–](?P<after>\s+)"
    )  # the pattern before it was made to start with its character class
    assert found == [(m.span(), m.span("at"), m.span("after")) for m in written.finditer(text, begin, end)]


@settings(max_examples=1000, deadline=None)
@given(
    _SENTENCE_TEXTS.map(lambda text: "".join(c for c in text if c not in ";:—–").replace("b", " and ")),
    st.integers(0, 60),
    st.integers(0, 60),
)
def test_clause_breaks_without_other_marks_found_by_the_comma_pattern_are_the_marked_ones(
    text: str, begin: int, end: int
) -> None:
    found = [(m.span(), m.span("at"), m.span("after")) for m in _COMMA_CLAUSE_BREAK.finditer(text, begin, end)]
    assert found == [(m.span(), m.span("at"), m.span("after")) for m in _MARKED_CLAUSE_BREAK.finditer(text, begin, end)]


# long sentences: words, conjunctions, every clause mark, quotes before the space, white space of several kinds
_CLAUSE_PIECES = st.sampled_from(
    [
        " ",
        " ",
        "\xa0",
        "\n",
        "word",
        "Longer words here",
        "and",
        "but",
        "which",
        "yet",
        "sandy",
        ",",
        ", ",
        ";",
        ":",
        "—",
        "–",
        '"',
        "’",
        "”",
        ", and ",
        "; ",
        " — ",
        ".",
        "A",
    ]
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(_CLAUSE_PIECES, max_size=60).map("".join), st.integers(0, 3), st.sampled_from([10, 20, 60]))
def test_clauses_equal_the_reference(text: str, begin: int, min_chars: int) -> None:
    span = (min(begin, len(text)), len(text))
    assert clauses(text, span, min_chars) == reference_clauses(text, span, min_chars)


def test_sentences_and_clauses_on_news_equal_the_written_patterns(news_articles: list[Article]) -> None:
    for article in news_articles:
        text = article.text
        assert [m.span() for m in _SENTENCE_END.finditer(text)] == [
            m.span() for m in _SENTENCE_END_AS_WRITTEN.finditer(text)
        ]
        for span in sentences(text):
            assert clauses(text, span) == reference_clauses(text, span)


@contextlib.contextmanager
def _compiled_holders(on: bool):
    """``batch_words.sentence_holders`` with the compiled kernel loaded (``on``) or not, as before afterwards."""
    saved = batch_words._KERNELS
    try:
        if on:
            assert batch_words.load_kernels()
        else:
            batch_words._KERNELS = None
        yield
    finally:
        batch_words._KERNELS = saved


def _holders_both_ways(cleaned) -> None:
    evidence = evidence_words(cleaned)
    with _compiled_holders(False):
        expected = sentence_holders(evidence)
    with _compiled_holders(True):
        found = sentence_holders(evidence)
    _same(found, expected)
    _same(found, sentence_frequencies(sentence_counts(cleaned)))


@settings(max_examples=150, deadline=None)
@given(st.lists(_TEXTS, max_size=5))
def test_compiled_sentence_holders_equal_the_sorted_keys(texts: list[str]) -> None:
    _holders_both_ways([clean_article(Article(str(number), text)) for number, text in enumerate(texts)])


def test_compiled_sentence_holders_and_clean_batches_on_news(news_articles: list[Article]) -> None:
    repeated = repeated_lines([article.text for article in news_articles], min_articles=3)
    cleaned = [clean_article(article, repeated) for article in news_articles]
    for size in (1, 37, len(cleaned)):
        for begin in range(0, len(cleaned), size):
            _holders_both_ways(cleaned[begin : begin + size])
    shared = (repeated, SketchSettings(), False)
    handed = set(pipeline._WORDS_HANDED_BACK)
    with _compiled_holders(True):
        found = pipeline.clean_batch(shared, news_articles)
    pipeline._WORDS_HANDED_BACK.clear()
    pipeline._WORDS_HANDED_BACK.update(handed)
    expected = pipeline.reference_clean_batch(shared, news_articles)
    pipeline._WORDS_HANDED_BACK.clear()
    pipeline._WORDS_HANDED_BACK.update(handed)
    _same(_batch_fields(found[0]), _batch_fields(expected[0]))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.lists(st.tuples(st.integers(0, 200), st.integers(0, 70)), max_size=40))
def test_compiled_shingle_hashes_equal_numpys_and_xxhash(data: bytes, slices: list[tuple[int, int]]) -> None:
    with _compiled_holders(True):
        kernels = batch_words._KERNELS
    buffer = np.frombuffer(data + b"\x00", dtype=np.uint8)  # read-only, as ``article_shingle_hashes`` passes it
    starts = np.array([min(start, len(data)) for start, _ in slices], dtype=np.int64)
    lengths = np.array(
        [min(length, len(data) - start) for start, (_, length) in zip(starts, slices, strict=True)], dtype=np.int64
    )
    found = kernels.xxh32_slices(buffer, starts, lengths)
    assert found.dtype == np.uint32
    assert np.array_equal(found, xxh32_slices(buffer, starts, lengths))
    assert found.tolist() == [
        xxhash.xxh32_intdigest(data[start : start + length]) for start, length in zip(starts, lengths, strict=True)
    ]


def test_compiled_article_rows_equal_the_signatures_on_news(news_articles: list[Article]) -> None:
    cleaned = [clean_article(article) for article in [*news_articles, Article("empty", ""), Article("one", "One.")]]
    for sketch in (SketchSettings(), SketchSettings(num_perm=64, shingle_size=3)):
        expected = article_signatures(cleaned, sketch)
        with _compiled_holders(True):
            _same(batch_words.article_rows(cleaned, sketch), expected)
        with _compiled_holders(False):
            _same(batch_words.article_rows(cleaned, sketch), expected)
