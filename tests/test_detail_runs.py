"""The compiled detail step (``kernels.detail_runs``: the word-run overlay and the kept words of a pair in one call)
gives what its readable references ``align._overlay_runs`` and ``align._kept_runs`` give: on generated runs over
generated articles, on generated pairs through ``align_sides``, and on real news."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup import align
from dedup.align import AlignSettings, detail_settings, prepare, sentence_cosines
from dedup.clean import clean_article
from dedup.model import Article
from dedup.similarity import sentence_vectors

pytest.importorskip("dedup.kernels")  # numba missing: the Python path is all there is

_DETAIL = detail_settings(AlignSettings())
assert _DETAIL is not None

# content words, names in capitals, figures, stopwords, repeated words: kept words, named words and repeats all occur
_VOCABULARY = ["court", "heard", "man", "jailed", "two", "years", "police", "oil", "prices", "fell", "the", "and"]
_VOCABULARY += ["Smith", "London", "2024", "45", "said", "on", "rose", "Reuters", "bank", "rates", "smith"]
_sentence = st.lists(st.sampled_from(_VOCABULARY), min_size=1, max_size=14).map(lambda w: " ".join(w).capitalize())
_texts = st.lists(_sentence, min_size=1, max_size=5).map(lambda sentences: ". ".join(sentences) + ".")


def _sides(source_text: str, target_text: str) -> list[align.Side]:
    cleaned = [clean_article(Article("s", source_text)), clean_article(Article("t", target_text))]
    return [prepare(a, rows) for a, rows in zip(cleaned, sentence_vectors(cleaned), strict=True)]


@st.composite
def _runs(draw: st.DrawFn, source_tokens: int, target_tokens: int, scores: list[float]) -> list[align.TokenRun]:
    """Token runs as ``align_sides`` hands them on (overlapping ones too: the kernel must not lean on their order)."""
    runs = []
    for _ in range(draw(st.integers(0, 8))):
        t_first = draw(st.integers(0, target_tokens - 1))
        t_end = draw(st.integers(t_first + 1, target_tokens))
        s_first = draw(st.integers(0, source_tokens - 1))
        s_end = draw(st.integers(s_first + 1, source_tokens))
        kind = draw(st.sampled_from(["verbatim", "rewrite", "rewrite"]))
        runs.append(
            (s_first, s_end, t_first, t_end, kind, 1.0 if kind == "verbatim" else draw(st.sampled_from(scores)))
        )
    return runs


@st.composite
def _word_rows(draw: st.DrawFn, source_tokens: int, target_tokens: int) -> list[align.WordRun]:
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        t_from = draw(st.integers(0, target_tokens - 1))
        t_to = draw(st.integers(t_from + 1, target_tokens))
        s_from = draw(st.integers(0, max(0, source_tokens - (t_to - t_from))))
        rows.append((t_from, t_to, s_from, s_from + t_to - t_from, draw(st.sampled_from(["verbatim", "rewrite"]))))
    return rows


@settings(max_examples=300, deadline=None)
@given(_texts, _texts, st.data(), st.booleans(), st.booleans())
def test_detail_runs_equal_overlay_then_kept_runs(source_text, target_text, data, overlay, kept_words):
    """The kernel on generated runs and word runs over generated articles, against the two Python steps."""
    source, target = _sides(source_text, target_text)
    source_tokens, target_tokens = len(source.article.tokens), len(target.article.tokens)
    runs = data.draw(_runs(source_tokens, target_tokens, [0.3172, 0.5, 0.9999]))
    words = data.draw(_word_rows(source_tokens, target_tokens)) if overlay else []
    expected = align._overlay_runs(runs, words, target_tokens) if overlay else runs
    if kept_words:
        expected = align._kept_runs(expected, source, target)
    run_settings = dataclasses.replace(_DETAIL, kept_words=kept_words)
    assert align.use_kernels()
    try:
        rows = align._RUN_CODES
        word_rows = [(a, b, c, d, rows[kind]) for a, b, c, d, kind in words]
        found = align._detail_runs_of(runs, word_rows, source, target, overlay, run_settings)
    finally:
        align.use_kernels(False)
    assert found == expected
    assert all(type(value) is int for run in found for value in run[:4])


_SETTINGS = [
    AlignSettings(),
    _DETAIL,
    dataclasses.replace(_DETAIL, word_min_matches=2, word_min_share=0.2, max_edge_gap=3),
    dataclasses.replace(_DETAIL, min_copied_run=0, word_edge=3),
    dataclasses.replace(_DETAIL, kept_words=False),
    dataclasses.replace(_DETAIL, word_alignment=False),
    dataclasses.replace(_DETAIL, sentence_threshold=0.1, context_threshold=0.05, min_shared_stems=1),
]


def _passages(source_text: str, target_text: str, align_settings: AlignSettings, batched: bool, kernels: bool):
    source, target = _sides(source_text, target_text)
    cosine = sentence_cosines(source, [target])[0] if batched else None
    assert align.use_kernels(kernels) == kernels
    try:
        return align.align_sides(source, target, align_settings, cosine)
    finally:
        align.use_kernels(False)


@settings(max_examples=200, deadline=None)
@given(_texts, _texts, st.sampled_from(_SETTINGS), st.booleans())
def test_align_sides_with_the_kernels_equals_it_without(source_text, target_text, align_settings, batched):
    """Each side prepared afresh for each path (the sides' caches fill as they are read)."""
    without = _passages(source_text, target_text, align_settings, batched, False)
    assert _passages(source_text, target_text, align_settings, batched, True) == without


def test_align_sides_with_the_kernels_equals_it_without_on_news(news_articles):
    """Every ordered pair of the seeds and the first generated articles, under the detail settings."""
    cleaned = [clean_article(article) for article in news_articles[:40]]
    rows = sentence_vectors(cleaned)
    fast = [prepare(a, r) for a, r in zip(cleaned, rows, strict=True)]
    slow = [prepare(a, r) for a, r in zip(cleaned, rows, strict=True)]
    compared = passages = 0
    for i, j in itertools.permutations(range(len(cleaned)), 2):
        (cosine,) = sentence_cosines(slow[i], [slow[j]])
        expected = align.align_sides(slow[i], slow[j], _DETAIL, cosine)
        assert align.use_kernels()
        try:
            found = align.align_sides(fast[i], fast[j], _DETAIL, cosine)
        finally:
            align.use_kernels(False)
        assert found == expected
        compared += 1
        passages += len(found)
    assert compared and passages
