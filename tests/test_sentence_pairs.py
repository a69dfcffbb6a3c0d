"""The sentence pairing's fast paths (``_sentence_pairs``, ``alignable_units``: the units' values read without a call,
figures compared only where both units hold some, a row's second look skipped or ended early) give what their
readable references give, on generated pairs and on every ordered pair of real news."""

from __future__ import annotations

import dataclasses
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.align import (
    AlignSettings,
    _sentence_pairs,
    alignable_units,
    detail_settings,
    prepare,
    reference_alignable_units,
    reference_prepare,
    reference_sentence_pairs,
    sentence_cosines,
    unit_tiles,
)
from dedup.clean import clean_article
from dedup.model import Article
from dedup.similarity import sentence_vectors

# names, figures in repeated frames (templates), stopwords and content words
_VOCABULARY = ["court", "heard", "man", "jailed", "two", "years", "police", "oil", "prices", "fell", "the", "and"]
_VOCABULARY += ["Smith", "London", "2024", "45", "7.5", "91", "said", "on", "rose", "to", "bank", "rates", "by"]
_word = st.sampled_from(_VOCABULARY)
_mark = st.sampled_from(["", "", "", ",", "%"])
_sentence = st.lists(st.tuples(_word, _mark), min_size=2, max_size=14).map(
    lambda words: " ".join(word + mark for word, mark in words).capitalize()
)
_texts = st.lists(_sentence, min_size=1, max_size=7).map(lambda sentences: ". ".join(sentences) + ".")
_detail = detail_settings(AlignSettings())
assert _detail is not None
_SETTINGS = [
    AlignSettings(),
    _detail,
    dataclasses.replace(_detail, template_figures=False),
    dataclasses.replace(_detail, min_shared_stems=1),
    dataclasses.replace(_detail, min_shared_stems=0),
    dataclasses.replace(AlignSettings(), sentence_threshold=0.1, context_threshold=0.05, continuation_threshold=0.5),
    dataclasses.replace(AlignSettings(), anchor_threshold=0.6, context_threshold=0.2, min_shared_stems=2),
]


def _cleaned(source_text: str, target_text: str):
    cleaned = [clean_article(Article("s", source_text)), clean_article(Article("t", target_text))]
    return cleaned, sentence_vectors(cleaned)


def _anchors(source, target, align_settings: AlignSettings, extra: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """The pair's anchors as ``align_sides`` finds them, with ``extra`` unit pairs added (anchors anywhere)."""
    found = unit_tiles(source, target, align_settings.min_tile, None)
    long_enough = align_settings.anchor_tile
    anchors = {(source.sentence_of[s0], target.sentence_of[t0]) for s0, s1, t0, _ in found if s1 - s0 >= long_enough}
    return anchors | set(extra)


@settings(max_examples=300, deadline=None)
@given(
    _texts,
    _texts,
    st.sampled_from(_SETTINGS),
    st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=4),
    st.booleans(),
)
def test_sentence_pairs_equal_the_reference(source_text, target_text, align_settings, extra, lazy):
    """Sides prepared afresh for each path (the ``PerUnit`` values fill as they are read); ``lazy`` False: the
    reference preparation's plain lists."""
    make = prepare if lazy else reference_prepare
    cleaned, rows = _cleaned(source_text, target_text)
    source, target = (make(a, r) for a, r in zip(cleaned, rows, strict=True))
    (cosine,) = sentence_cosines(source, [target])
    anchors = _anchors(source, target, align_settings, extra)
    found = _sentence_pairs(source, target, cosine, anchors, align_settings)
    units = alignable_units(source, target, cosine, align_settings)
    source, target = (make(a, r) for a, r in zip(cleaned, rows, strict=True))
    assert found == reference_sentence_pairs(source, target, cosine, anchors, align_settings)
    assert units == reference_alignable_units(source, target, cosine, align_settings)


def test_sentence_pairs_equal_the_reference_on_news(news_articles):
    """Every ordered pair of the seeds and the first generated articles, under the judge's and the detail settings
    (the tiles' anchors, and every unit pair an anchor)."""
    cleaned = [clean_article(article) for article in news_articles[:40]]
    rows = sentence_vectors(cleaned)
    accepted = 0
    for align_settings in (AlignSettings(), _detail):
        fast = [prepare(a, r) for a, r in zip(cleaned, rows, strict=True)]
        slow = [prepare(a, r) for a, r in zip(cleaned, rows, strict=True)]
        for i, j in itertools.permutations(range(len(cleaned)), 2):
            (cosine,) = sentence_cosines(fast[i], [fast[j]])
            every = {(a, b) for a in range(cosine.shape[1]) for b in range(cosine.shape[0])}
            for anchors in (_anchors(fast[i], fast[j], align_settings, []), every):
                found = _sentence_pairs(fast[i], fast[j], cosine, anchors, align_settings)
                assert found == reference_sentence_pairs(slow[i], slow[j], cosine, anchors, align_settings)
                accepted += len(found)
            found_units = alignable_units(fast[i], fast[j], cosine, align_settings)
            assert found_units == reference_alignable_units(slow[i], slow[j], cosine, align_settings)
    assert accepted > 100  # the pairs hold copies and rewrites, not only unrelated articles
