"""The token-range path of ``align_sides`` gives what its readable reference gives (each step's ``Passage`` made and
its tokens found again from its character spans), on generated pairs and on real news."""

from __future__ import annotations

import dataclasses
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.align import (
    AlignSettings,
    _merge_adjacent,
    align_sides,
    attach_punctuation,
    detail_settings,
    prepare,
    reference_align_sides,
    reference_attach_punctuation,
    reference_merge_adjacent,
    sentence_cosines,
)
from dedup.clean import clean_article
from dedup.model import Article, Passage
from dedup.similarity import sentence_vectors
from tests.spans import word_spans

# names, figures, stopwords and content words: tiles, rewrites, kept words and named words all occur
_VOCABULARY = ["court", "heard", "man", "jailed", "two", "years", "police", "oil", "prices", "fell", "the", "and"]
_VOCABULARY += ["Smith", "London", "2024", "45", "said", "on", "rose", "Reuters", "bank", "rates"]
_word = st.sampled_from(_VOCABULARY)
_mark = st.sampled_from(["", "", "", ",", ";", '"', "'s", "%"])
_sentence = st.lists(st.tuples(_word, _mark), min_size=2, max_size=16).map(
    lambda words: " ".join(word + mark for word, mark in words).capitalize()
)
_texts = st.lists(_sentence, min_size=1, max_size=6).map(lambda sentences: ". ".join(sentences) + ".")
_detail = detail_settings(AlignSettings())
assert _detail is not None
_settings = st.sampled_from(
    [
        AlignSettings(),
        _detail,
        dataclasses.replace(_detail, word_min_matches=2, word_min_share=0.2, max_edge_gap=3),
        dataclasses.replace(_detail, min_copied_run=0, word_edge=3),
        dataclasses.replace(_detail, sentence_threshold=0.1, context_threshold=0.05, min_shared_stems=1),
    ]
)


def _sides(source_text: str, target_text: str):
    cleaned = [clean_article(Article("s", source_text)), clean_article(Article("t", target_text))]
    return [prepare(a, rows) for a, rows in zip(cleaned, sentence_vectors(cleaned), strict=True)]


@settings(max_examples=250, deadline=None)
@given(_texts, _texts, _settings, st.booleans())
def test_token_range_passages_equal_the_reference(source_text, target_text, align_settings, batched):
    """Each side prepared afresh for each path (the sides' caches fill as they are read)."""
    source, target = _sides(source_text, target_text)
    cosine = sentence_cosines(source, [target])[0] if batched else None
    found = align_sides(source, target, align_settings, cosine)
    source, target = _sides(source_text, target_text)
    assert found == reference_align_sides(source, target, align_settings, cosine)


def test_token_range_passages_equal_the_reference_on_news(news_articles):
    """Every ordered pair of the seeds and the first generated articles, under the judge's and the detail settings."""
    cleaned = [clean_article(article) for article in news_articles[:40]]
    rows = sentence_vectors(cleaned)
    compared = passages = 0
    for align_settings in (AlignSettings(), _detail):
        fast = [prepare(a, r) for a, r in zip(cleaned, rows, strict=True)]
        slow = [prepare(a, r) for a, r in zip(cleaned, rows, strict=True)]
        for i, j in itertools.permutations(range(len(cleaned)), 2):
            (cosine,) = sentence_cosines(fast[i], [fast[j]])
            found = align_sides(fast[i], fast[j], align_settings, cosine)
            assert found == reference_align_sides(slow[i], slow[j], align_settings, cosine)
            compared += 1
            passages += len(found)
    assert passages > 100  # the pairs hold copies and rewrites, not only unrelated articles


_spans = st.lists(st.tuples(st.integers(0, 6), st.integers(1, 6)), max_size=8)


def _passages(text: str, target_cuts, source_cuts, kinds) -> list[Passage]:
    """Non-overlapping passages in order on both sides, each span from a word character to a word character."""
    found = [word_spans(text, target_cuts), word_spans(text, source_cuts)]
    return [
        Passage("s", "t", source, target, kind, score)
        for target, source, (kind, score) in zip(found[0], found[1], kinds, strict=False)
    ]


_kinds = st.lists(st.tuples(st.sampled_from(["verbatim", "rewrite"]), st.sampled_from([1.0, 0.5, 0.4321])))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab ,.\"'(-£", max_size=50), _spans, _spans, _kinds)
def test_punctuation_attached_inline_equals_the_reference(text, target_cuts, source_cuts, kinds):
    passages = _passages(text, target_cuts, source_cuts, kinds)
    assert attach_punctuation(passages, text, text[::-1]) == reference_attach_punctuation(passages, text, text[::-1])
    assert attach_punctuation(passages, text, text) == reference_attach_punctuation(passages, text, text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab ,.;-", max_size=50), _spans, _spans, _kinds)
def test_adjacent_passages_merge_as_the_reference_merges_them(text, target_cuts, source_cuts, kinds):
    passages = sorted(_passages(text, target_cuts, source_cuts, kinds), key=lambda p: (p.target_span, p.source_span))
    assert _merge_adjacent(passages, text) == reference_merge_adjacent(passages, text)
