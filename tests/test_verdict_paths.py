"""The verdict's fast paths (``score._judge_counted``: each side's units found from its passages by binary search;
``names_kept``: the passages' units from the sides' unit bounds) give what their readable references give — the same
verdict, evidence in the same order — on generated articles with random passages and on every aligned ordered pair
of the seed articles."""

from __future__ import annotations

import dataclasses

from hypothesis import example, given, settings
from hypothesis import strategies as st

from dedup import score
from dedup.align import AlignSettings, align_sides, detail_settings, prepare, sentence_cosines
from dedup.clean import clean_article
from dedup.model import Article, Passage
from dedup.score import (
    ScoreSettings,
    _judge_counted,
    _unit_names,
    judge,
    names_kept,
    reference_judge_counted,
    reference_names_kept,
    reference_unit_names,
    unit_bounds,
)
from dedup.similarity import sentence_vectors

_VOCABULARY = ["court", "heard", "Smith", "jailed", "two", "years", "Police", "oil", "London", "fell", "the", "and"]
_VOCABULARY += ["Reuters", "2024", "45", "said", "on", "rose", "Bank", "rates", "by", "Mr", "Jones", "AP"]
_sentence = st.lists(st.sampled_from(_VOCABULARY), min_size=2, max_size=12).map(lambda words: " ".join(words) + ".")
_text = st.lists(_sentence, min_size=1, max_size=8).map(lambda sentences: " ".join(s.capitalize() for s in sentences))
_spans = st.lists(st.tuples(st.integers(-5, 400), st.integers(0, 80)), min_size=0, max_size=10)
_SETTINGS = [
    ScoreSettings(),
    dataclasses.replace(ScoreSettings(), min_sentence_share=0.0, min_name_share=0.0),
    dataclasses.replace(ScoreSettings(), min_sentence_share=1.0, brief_coverage=0.2, min_sentences=1),
    dataclasses.replace(ScoreSettings(), min_sentences=0, derived_coverage=0.0),  # related without a passage
]


def _same(found, expected) -> None:
    assert found == expected
    assert repr(found) == repr(expected)  # the evidence in the same order, the floats bit for bit


def _passages(a, b, source_spans, target_spans, kinds, scores) -> list[Passage]:
    def clipped(begin: int, length: int, text: str) -> tuple[int, int]:
        begin = max(0, min(begin, len(text)))
        return begin, min(len(text), begin + length)

    return [
        Passage(a.id, b.id, clipped(*s, a.text), clipped(*t, b.text), kind, value)
        for s, t, kind, value in zip(source_spans, target_spans, kinds, scores, strict=False)
    ]


def _check(a, b, passages, chosen: ScoreSettings) -> None:
    source, target = (prepare(article, rows) for article, rows in zip((a, b), sentence_vectors([a, b]), strict=True))
    expected = reference_judge_counted(a, b, passages, chosen)
    _same(_judge_counted(a, b, passages, chosen), expected)
    _same(_judge_counted(a, b, passages, chosen, (source, target)), expected)
    bounds = (unit_bounds(a), unit_bounds(b))
    _same(_judge_counted(a, b, passages, chosen, None, bounds), expected)
    assert names_kept(a, b, passages) == reference_names_kept(a, b, passages)
    assert names_kept(a, b, passages, (source, target)) == reference_names_kept(a, b, passages)


@settings(max_examples=300, deadline=None)
@given(
    _text,
    _text,
    _spans,
    _spans,
    st.lists(st.sampled_from(["verbatim", "rewrite"]), min_size=10, max_size=10),
    st.lists(st.floats(0.0, 1.0), min_size=10, max_size=10),
    st.sampled_from(_SETTINGS),
)
@example("Smith said. The court heard.", "Smith said. The court heard.", [(0, 0)], [(3, 0)], ["verbatim"] * 10,
         [0.5] * 10, ScoreSettings(min_sentence_share=0.0))  # fmt: skip
def test_judge_counted_equals_the_reference_on_random_passages(
    source_text, target_text, source_spans, target_spans, kinds, scores, chosen
):
    a = clean_article(Article("a", source_text + " Reporting by AP."))
    b = clean_article(Article("b", "(Reuters) - " + target_text))
    _check(a, b, _passages(a, b, source_spans, target_spans, kinds, scores), chosen)


@settings(max_examples=100, deadline=None)
@given(_text, _text, _spans, _spans, st.lists(st.integers(0, 10), min_size=8, max_size=8))
def test_judge_with_stock_sentences_equals_the_reference(source_text, target_text, source_spans, target_spans, stories):
    """``judge`` (stock passages left out, then all of them) with the fast path and with the reference."""
    a = clean_article(Article("a", source_text))
    b = clean_article(Article("b", target_text))
    a.sentence_stories = stories[: len(a.sentences)]
    b.sentence_stories = stories[::-1][: len(b.sentences)]
    passages = _passages(a, b, source_spans, target_spans, ["verbatim"] * 10, [0.75] * 10)
    found = judge(a, b, passages, ScoreSettings())
    fast = score._judge_counted
    score._judge_counted = lambda a, b, passages, settings, sides=None, bounds=None: reference_judge_counted(
        a, b, passages, settings, sides
    )
    try:
        expected = judge(a, b, passages, ScoreSettings())
    finally:
        score._judge_counted = fast
    _same(found, expected)


def test_judge_counted_equals_the_reference_on_the_seed_pairs(seed_texts):
    """Every ordered pair of the seed articles, aligned as the judging pass and the detail alignment align them."""
    cleaned = [clean_article(Article(key, text)) for key, text in sorted(seed_texts.items())]
    sides = [prepare(article, rows) for article, rows in zip(cleaned, sentence_vectors(cleaned), strict=True)]
    plain = AlignSettings()
    detailed = detail_settings(plain)
    related = 0
    for source in sides:
        for target, cosine in zip(sides, sentence_cosines(source, sides), strict=True):
            if target is source:
                continue
            for chosen in (plain, detailed):
                found = align_sides(source, target, chosen, cosine)
                a, b = source.article, target.article
                for settings_ in _SETTINGS:
                    expected = reference_judge_counted(a, b, found, settings_)
                    _same(_judge_counted(a, b, found, settings_, (source, target)), expected)
                    _same(_judge_counted(a, b, found, settings_), expected)
                related += expected.relation != "unrelated"
    assert related


_NAME_PIECES = [" ", '"', "'", "\x19", "\n", "-", "&", ".", "5", "x", "A", "I", "Mr", "S's", "A's", "O'Neil", "B-"]
_NAME_PIECES += ["Q&A", "said", "The", "London", "'s", "É", "Corp", "McDonald", "AT&T-", "reuters", "Reuters'", "es-"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_NAME_PIECES), max_size=25).map("".join), st.integers(0, 200), st.integers(0, 200))
@example("\x19 'Mr Smith' said", 0, 17)
@example(" \"London's", 0, 10)
def test_unit_names_equal_the_reference(text, begin, length):
    """Any unit of any text (lead characters, a capitalised or lower first word, one-letter and stop names)."""
    begin = min(begin, len(text))
    span = (begin, min(len(text), begin + length))
    assert _unit_names(text, span) == reference_unit_names(text, span)


def test_unit_names_equal_the_reference_on_the_seed_units(seed_texts):
    """Every evidence unit of the seed articles."""
    named = 0
    for key, text in sorted(seed_texts.items()):
        article = clean_article(Article(key, text))
        for unit in article.sentences:
            found = _unit_names(article.text, unit.span)
            assert found == reference_unit_names(article.text, unit.span)
            named += bool(found)
    assert named > 20
