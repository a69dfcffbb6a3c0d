"""Alignment: the fast tiler agrees with the textbook one; small real-shaped decisions."""

from __future__ import annotations

import dataclasses
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.align import (
    AlignSettings,
    Tile,
    _select,
    align,
    attach_punctuation,
    attached_span,
    common_subsequence,
    detail_settings,
    monotone_matches,
    reference_common_subsequence,
    reference_tiles,
    tiles,
)
from dedup.clean import clean_article
from dedup.model import Article
from dedup.similarity import sentence_vectors
from dedup.text import tokenize
from tests.spans import word_spans

words = st.lists(
    st.sampled_from(["the", "court", "heard", "a", "man", "was", "jailed", "for", "two", "years"]), max_size=40
)


def _covered(found) -> tuple[set[int], set[int]]:
    return (
        {t.source + k for t in found for k in range(t.length)},
        {t.target + k for t in found for k in range(t.length)},
    )


@settings(max_examples=300, deadline=None)
@given(words, words, st.integers(min_value=2, max_value=5))
def test_fast_tiles_equal_reference(source, target, min_tile):
    fast = tiles(source, target, min_tile)
    slow = reference_tiles(source, target, min_tile)
    assert sum(t.length for t in fast) == sum(t.length for t in slow)
    for tile in fast:
        assert source[tile.source : tile.source + tile.length] == target[tile.target : tile.target + tile.length]
        assert tile.length >= min_tile
    source_cover, target_cover = _covered(fast)
    assert len(source_cover) == len(target_cover) == sum(t.length for t in fast)  # no overlaps


def _pair(source: str, target: str):
    a, b = clean_article(Article("a", source)), clean_article(Article("b", target))
    va, vb = sentence_vectors([a, b])
    return align(a, b, va, vb, AlignSettings())


def test_verbatim_survives_case_and_punctuation():
    source = "A man who attacked a pensioner with a hammer was jailed for eight years at Leeds Crown Court today."
    target = "A MAN who attacked a pensioner with a hammer was jailed for eight years at Leeds Crown Court yesterday!"
    passages = _pair(source, target)
    assert [p.kind for p in passages] == ["verbatim"]
    assert target[slice(*passages[0].target_span)].startswith("A MAN who attacked")


def test_rewrite_is_found_and_new_sentence_is_not_swallowed():
    source = (
        "The singer told the court she had been stalked for three years by the former soldier. "
        "Judge Peter Smith said the defendant had shown no remorse at all."
    )
    target = (
        "For three years the ex-soldier stalked the singer, the court was told. "
        "Her neighbours said they had never seen him near the house. "
        "The defendant showed no remorse, said Judge Peter Smith."
    )
    passages = _pair(source, target)
    new_sentence = target.index("Her neighbours")
    # reworded sentences are rewrites; a short phrase kept word for word ("Judge Peter Smith") may be verbatim
    assert sum(p.kind == "rewrite" for p in passages) >= 2
    assert all(p.kind == "rewrite" or len(target[slice(*p.target_span)].split()) <= 4 for p in passages)
    assert not any(p.target_span[0] <= new_sentence < p.target_span[1] for p in passages)


def test_stock_phrase_alone_is_not_a_passage():
    source = "Beijing wants to push global governance in a more just and reasonable direction, the spokesman said."
    target = "Oil prices fell sharply on Monday as traders moved in a more just and reasonable direction than expected."
    assert _pair(source, target) == []


def _lcs_length(a: list[str], b: list[str]) -> int:
    """The textbook LCS length, row by row (the reference for ``monotone_matches``)."""
    previous = [0] * (len(b) + 1)
    for x in a:
        row = [0]
        for y, word in enumerate(b):
            row.append(previous[y] + 1 if x == word else max(previous[y + 1], row[y]))
        previous = row
    return previous[-1]


@settings(max_examples=300, deadline=None)
@given(words, words)
def test_monotone_matches_is_a_longest_common_subsequence(target, source):
    pairs = monotone_matches(target, source)
    assert len(pairs) == _lcs_length(target, source)
    assert all(target[x] == source[y] for x, y in pairs)
    assert all(x0 < x1 and y0 < y1 for (x0, y0), (x1, y1) in itertools.pairwise(pairs))


@settings(max_examples=500, deadline=None)
@given(words, st.lists(st.sampled_from(["the", "court", "heard", "a", "man", "was", "jailed"]), max_size=90))
def test_bit_parallel_common_subsequence_equals_the_reference(target, source):
    # the same pairs, not only the same length: the walk's choices between equally long subsequences too
    # (sources longer than 64 words: rows of several machine words)
    assert common_subsequence(target, source) == reference_common_subsequence(target, source)


def _detailed(source: str, target: str, **changes):
    a, b = clean_article(Article("a", source)), clean_article(Article("b", target))
    va, vb = sentence_vectors([a, b])
    detailed = detail_settings(dataclasses.replace(AlignSettings(), **changes))
    assert detailed is not None
    return align(a, b, va, vb, detailed)


def _kind_at(passages, target: str, word: str) -> str:
    """The kind of the passage covering the first occurrence of ``word`` in ``target`` ("new" when none)."""
    begin = target.index(word)
    kinds = [p.kind for p in passages if p.target_span[0] <= begin < p.target_span[1]]
    return kinds[0] if kinds else "new"


def _assert_tight_and_true(found, source: str, target: str) -> None:
    spans = sorted(p.target_span for p in found)
    assert all(end <= begin for (_, end), (begin, _) in itertools.pairwise(spans))  # no overlaps on the target
    for p in found:  # every verbatim passage is the same words on both sides
        if p.kind == "verbatim":  # the punctuation written on them may differ ("Nottingham," / "Nottingham -")
            assert tokenize(target[slice(*p.target_span)]).words == tokenize(source[slice(*p.source_span)]).words


def test_word_alignment_labels_a_merged_sentence_word_by_word():
    # a newspaper sentence merging two wire sentences, with an inserted clause: its names and figures
    # are the wire's, the rest a rewording
    source = (
        "Stephen Warner, 33, of Wollaton, Nottingham, today admitted possession of half a kilo of very pure "
        "heroin with intent to supply. He was jailed for five years. The judge praised the police."
    )
    target = (
        "Stephen Warner, 33, of Wollaton, Nottingham - described in court as one of the dealer's lieutenants "
        "- who had half a kilo of heroin was caged for five years. Neighbours said the street was quiet now."
    )

    def kind_at(passages, word: str) -> str:
        return _kind_at(passages, target, word)

    without = _detailed(source, target, detail_word_alignment=False, detail_kept_words=False)
    found = _detailed(source, target)
    # a word kept inside a reworded stretch: rewrite with the sentence-level labelling, verbatim word by word
    assert kind_at(without, "heroin") == "rewrite" and kind_at(found, "heroin") == "verbatim"
    assert kind_at(found, "Wollaton") == "verbatim" and kind_at(found, "lieutenants") == "rewrite"
    assert kind_at(found, "Neighbours") == "new"  # the new sentence stays new
    _assert_tight_and_true(found, source, target)


def test_kept_words_of_a_rewritten_sentence_are_verbatim_in_any_order():
    # a wire sentence reworded with its facts moved around: the words it kept are verbatim (METER's annotators
    # mark them so, in whatever order), the reworded ones and its stopwords rewrite, a new sentence new
    source = (
        "A harbour pilot who slipped from a rusty ladder at Dover was awarded 40,000 pounds by the High Court "
        "today. The port had been warned about the ladder in 1997. Inspectors later found rust on every rung. "
        "Mr Justice Hale said the port authority had ignored warnings."
    )
    target = (
        "Dover's harbour pilot has won 40,000 pounds in damages from the High Court as Hale blamed the port for a "
        "fall from a rusty ladder. Fishermen said the quay was busy."
    )

    def kind_at(passages, word: str) -> str:
        return _kind_at(passages, target, word)

    without = _detailed(source, target, detail_kept_words=False)
    found = _detailed(source, target)
    assert kind_at(without, "Dover") == "rewrite" and kind_at(found, "Dover") == "verbatim"  # moved, still kept
    assert kind_at(found, "damages") == "rewrite" and kind_at(found, "won") == "rewrite"  # reworded
    assert kind_at(found, "from the") == "rewrite"  # a stopword alone is no evidence of keeping
    assert kind_at(found, "Fishermen") == "new" and kind_at(found, "quay") == "new"  # the new sentence stays new
    # a name is kept wherever the wire has it: here from its last sentence, three sentences from the aligned one
    assert kind_at(without, "Hale") == "rewrite" and kind_at(found, "Hale") == "verbatim"
    hale = next(p for p in found if p.target_span[0] == target.index("Hale"))
    assert hale.source_span[0] == source.index("Hale")
    _assert_tight_and_true(found, source, target)


def test_a_sentence_merging_two_distant_wire_sentences_is_aligned_part_by_part():
    # the paper's lead merges the wire's first and last sentences (three sentences apart, out of reach of one
    # window): the second part is found on its own, the first part's words alone are too few for the whole
    source = (
        "A pub landlord who served drinks after hours was fined 2,000 pounds by magistrates in Leeds today. "
        "The court heard that police found 40 customers in the bar at two in the morning. "
        "His solicitor said the landlord had been celebrating his daughter's wedding. "
        "Officers said the pub had been warned twice before. "
        "The city council will now review the licence of the pub at a hearing next month, a spokesman confirmed."
    )
    target = (
        "Magistrates in Leeds fined a pub landlord 2,000 pounds for serving drinks after hours before the "
        "council reconsiders the licence for his pub when it meets next month. "
        "Regulars said the village would miss the pub."
    )

    def kind_at(passages, word: str) -> str:
        return _kind_at(passages, target, word)

    found = _detailed(source, target)
    assert kind_at(found, "council") == "verbatim" and kind_at(found, "licence") == "verbatim"
    assert kind_at(found, "reconsiders") == "rewrite" and kind_at(found, "when it meets") == "rewrite"
    council = next(p for p in found if p.target_span[0] == target.index("council"))
    assert source[slice(*council.source_span)] == "council"  # from the wire's last sentence
    assert kind_at(found, "Regulars") == "new" and kind_at(found, "village") == "new"  # the new sentence stays new
    assert kind_at(found, "serving") == "rewrite"  # the wire's "served": the stem kept, the word reworded
    _assert_tight_and_true(found, source, target)


def _select_with_lists(matches, source_len, target_len, min_tile):
    """The tile selection written plainly: a sorted queue, lists of flags, the longest free stretch re-queued."""
    used_source, used_target = [False] * source_len, [False] * target_len
    pending = sorted(matches, key=lambda t: (-t.length, t.target, t.source))
    chosen = []
    while pending:
        tile = pending.pop(0)
        free = [not (used_source[tile.source + k] or used_target[tile.target + k]) for k in range(tile.length)]
        if all(free):
            chosen.append(tile)
            for k in range(tile.length):
                used_source[tile.source + k] = used_target[tile.target + k] = True
            continue
        best_start = best_len = 0
        for start, group in itertools.groupby(enumerate(free), key=lambda item: item[1]):
            run = list(group)
            if start and len(run) > best_len:
                best_start, best_len = run[0][0], len(run)
        if best_len >= min_tile:
            pending.append(Tile(tile.source + best_start, tile.target + best_start, best_len))
            pending.sort(key=lambda t: (-t.length, t.target, t.source))
    return sorted(chosen, key=lambda t: t.target)


@settings(max_examples=300, deadline=None)
@given(words, words, st.integers(min_value=2, max_value=5), st.data())
def test_tile_selection_equals_the_plain_one(source, target, min_tile, data):
    # every common run of at least min_tile words from every start (not only the maximal ones), so that tiles
    # overlap and get clipped
    matches = [
        Tile(i, j, length)
        for i in range(len(source))
        for j in range(len(target))
        for length in range(min_tile, min(len(source) - i, len(target) - j) + 1)
        if source[i : i + length] == target[j : j + length]
    ]
    matches = data.draw(st.permutations(matches)) if len(matches) < 40 else matches
    expected = _select_with_lists(matches, len(source), len(target), min_tile)
    assert _select(matches, len(source), len(target), min_tile, source, target) == expected


def test_the_punctuation_written_on_copied_words_is_part_of_the_passage():
    # a paper copies names, an age and a quoted statement from the wire into sentences of its own: the comma after
    # the age, the quotes around the statement and its full stop are written on copied words, so they are copied
    # text too (METER's annotators mark "Aaron Lee Martin, 25, " verbatim)
    source = (
        "The jury found Aaron Lee Martin, 25, not guilty of the murder of Brian Hagland, 28, a British postman. "
        'His fiancee said: "I had hoped that on my evidence we would get murder." Sentencing was adjourned.'
    )
    target = (
        "Yesterday Aaron Lee Martin, 25, was cleared by a jury in Sydney of the murder of Brian Hagland, 28 - a "
        'tourist. Connie Casey told reporters "I had hoped that on my evidence we would get murder." Neighbours wept.'
    )

    def kind_of(passages, position: int) -> str:
        kinds = [p.kind for p in passages if p.target_span[0] <= position < p.target_span[1]]
        return kinds[0] if kinds else "new"

    found = _detailed(source, target)
    plain = _detailed(source, target, detail_attach_punctuation=False)
    marks = [
        target.index("25,") + 2,
        target.index('"I had'),
        target.index('murder."') + 6,
        target.index('murder."') + 7,
    ]
    for position in marks:
        assert kind_of(plain, position) == "new"  # outside every passage made of words only
        assert kind_of(found, position) == "verbatim"
    assert _kind_at(found, target, "Neighbours") == "new"
    _assert_tight_and_true(found, source, target)
    # nothing but punctuation is added: the same words are covered, with the same kinds
    assert sorted((tokenize(target[slice(*p.target_span)]).words, p.kind) for p in found) == sorted(
        (tokenize(target[slice(*p.target_span)]).words, p.kind) for p in plain
    )


def test_attached_span_takes_marks_written_on_the_words_only():
    text = 'He said: "Aaron Lee Martin, 25," and £82,000 - "Hagland\'s" (fiance).'
    name = (text.index("Aaron"), text.index("Martin") + len("Martin"))
    assert text[slice(*attached_span(text, name))] == '"Aaron Lee Martin,'
    age = (text.index("25"), text.index("25") + 2)
    assert text[slice(*attached_span(text, age))] == '25,"'
    money = (text.index("82"), text.index("000") + 3)
    assert text[slice(*attached_span(text, money))] == "£82,000"
    said = (text.index("He"), text.index("said") + 4)
    assert text[slice(*attached_span(text, said))] == "He said:"
    inner = (text.index("Lee"), text.index("Lee") + 3)  # no mark next to it: unchanged
    assert attached_span(text, inner) == inner
    fiance = (text.index("fiance"), text.index("fiance") + 6)
    assert text[slice(*attached_span(text, fiance))] == "(fiance)."


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet="ab ,.\"'(-", max_size=40),
    st.lists(st.tuples(st.integers(0, 40), st.integers(1, 6)), max_size=6),
)
def test_attached_punctuation_adds_marks_only_and_keeps_passages_apart(text, cuts):
    from dedup.model import Passage

    passages = [Passage("s", "t", span, span, "verbatim", 1.0) for span in word_spans(text, cuts)]
    found = attach_punctuation(passages, text, text)
    assert len(found) == len(passages)
    for before, after in zip(passages, found, strict=True):
        b0, e0 = before.target_span
        b1, e1 = after.target_span
        assert b1 <= b0 and e0 <= e1
        added = text[b1:b0] + text[e0:e1]
        assert not any(ch.isalnum() or ch.isspace() for ch in added)
    assert all(a.target_span[1] <= b.target_span[0] for a, b in itertools.pairwise(found))
