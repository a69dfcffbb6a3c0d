"""Boilerplate marking: furniture lines out of evidence, hard-wrapped story lines kept in."""

from __future__ import annotations

import re
import sys
from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.clean import (
    _BOILERPLATE_PATTERNS,
    boilerplate_lines,
    clean_article,
    evidence_units,
    furniture_line,
    quoted_tokens,
    reference_evidence_units,
    reference_quoted_tokens,
    repeated_lines,
    wrap_width,
)
from dedup.credits import _ANY_NAME, SOURCES, find_credits, ignorecase_screen, names_a_source, reference_find_credits
from dedup.model import Article
from dedup.text import (
    clauses,
    content_stem,
    content_stems,
    lines,
    reference_clauses,
    reference_lines,
    reference_tokenize,
    tokenize,
)

# PA wire copy as METER holds it: wrapped at ~78 characters, "<" ending a paragraph, \x19 starting one
WIRE = (
    "  ------------------------------------------------------------------------\n"
    "                  15:51 01/03/00: Page 1 (HHH) COURTS Diver\n"
    "  ------------------------------------------------------------------------\n"
    "DIVER IN HORROR ACCIDENT SETTLES FOR #115,000<\n"
    "\x19By Mark Wilkinson, PA News<\n"
    "\x19A deep-sea diver who suffered a broken back in an accident hundreds of feet\n"
    "under the North Sea has received #115,000 in an out-of-court settlement, it was\n"
    "revealed today.<\n"
    "\x19Andrew Binney, 46, fractured his back in two places after a crane on a support\n"
    "ship lowered a metal lifting frame on top of him while working off the coast of\n"
    "Denmark.<\n"
    "\x19He returned to work six months after the accident in 1992 but after two years\n"
    "of experiencing back pain and discomfort on dives, doctors declared him unfit.<\n"
    "\x19He took out a civil action against his former employer, Aberdeen-based\n"
    "Rockwater, claiming #300,000 in lost earnings.<\n"
)


def marked(text: str) -> list[str]:
    return [text[begin:end].strip() for begin, end in boilerplate_lines(text)]


def test_wrapped_wire_lines_that_run_into_a_name_stay_evidence() -> None:
    found = marked(WIRE)
    assert "ship lowered a metal lifting frame on top of him while working off the coast of" not in found
    assert "\x19He took out a civil action against his former employer, Aberdeen-based" not in found
    # the furniture is still furniture: header, rules, headline, byline
    assert "DIVER IN HORROR ACCIDENT SETTLES FOR #115,000<" in found
    assert "\x19By Mark Wilkinson, PA News<" in found
    assert "15:51 01/03/00: Page 1 (HHH) COURTS Diver" in found
    cleaned = clean_article(Article("pa/diver1.txt", WIRE))
    sentences = [WIRE[s.span[0] : s.span[1]] for s in cleaned.sentences]
    assert any("support\nship lowered" in s and "coast of\nDenmark." in s for s in sentences)
    assert any("Aberdeen-based\nRockwater, claiming" in s for s in sentences)


def test_wrap_width_is_found_only_in_hard_wrapped_text() -> None:
    assert wrap_width(WIRE, lines(WIRE)) is not None
    web = (
        "Pharmacists fined over baby's death\n"
        "A pharmacist and a trainee were fined yesterday after a four-day-old baby died from a cure for wind "
        "made up twenty times too strong at a branch of Boots in Runcorn, Cheshire, a court heard.\n"
        "The judge said the death was a terrible tragedy which could have been avoided.\n"
    )
    assert wrap_width(web, lines(web)) is None
    assert marked(web) == ["Pharmacists fined over baby's death"]


def test_headline_of_unwrapped_text_followed_by_a_name_is_still_furniture() -> None:
    text = (
        "Share this article\n"
        "Court fines Boots staff over baby death\n"
        "Matthew Young was four days old when he was given peppermint water made up twenty times too strong.\n"
    )
    assert marked(text) == ["Share this article", "Court fines Boots staff over baby death"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aZ9_ %ßİǅ½²\u00e9\u0301-.,'\n\u2019\u00a0ﬁΣς")), max_size=80))
def test_fast_tokenize_equals_the_reference(text: str) -> None:
    fast, reference = tokenize(text), reference_tokenize(text)
    assert (fast.words, fast.starts, fast.ends) == (reference.words, reference.starts, reference.ends)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aZ9_ %%%ßµÿ½²é-.,'\n\u00a0\x85\x1c")), max_size=80))
def test_fast_tokenize_of_latin1_text_with_percent_signs_equals_the_reference(text: str) -> None:
    # the one-byte path with '%' (each a word between spaces in the split text): 'ß' and 'µ' fold to other lengths
    # or planes, '\xa0', '\x85' and '\x1c' are white space to ``str.split``
    fast, reference = tokenize(text + "%"), reference_tokenize(text + "%")
    assert (fast.words, fast.starts, fast.ends) == (reference.words, reference.starts, reference.ends)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.characters(max_codepoint=255), max_size=80),
    st.sampled_from(["", "%", "µ", "ß", "ÀÉÞ Ý%"]),
)
def test_fast_tokenize_of_any_latin1_text_equals_the_reference(text: str, tail: str) -> None:
    # every code point below 256, capitals of both halves too: folded by the translate table unless "µ" or "ß" is in
    # the text (then by ``str.casefold``), with and without '%'
    for whole in (text, text + tail, tail + text.upper()):
        fast, reference = tokenize(whole), reference_tokenize(whole)
        assert (fast.words, fast.starts, fast.ends) == (reference.words, reference.starts, reference.ends)
        assert tokenize(whole, interned=False).words == reference.words


def test_fast_tokenize_of_latin1_news_text_equals_the_reference() -> None:
    for text in (
        "ZÜRICH (Reuters) - Nestlé's ÉLAN fell 5% to 3.2 BILLION Francs; Ärger über Ölpreise",
        "STRAßE µ-Meter: 10% ÆØÅ",
        "Plain ASCII text, UPPER and lower.",
    ):
        fast, reference = tokenize(text), reference_tokenize(text)
        assert (fast.words, fast.starts, fast.ends) == (reference.words, reference.starts, reference.ends)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_fast_tokenize_equals_the_reference_on_any_text(text: str) -> None:
    fast, reference = tokenize(text), reference_tokenize(text)
    assert (fast.words, fast.starts, fast.ends) == (reference.words, reference.starts, reference.ends)
    plain = tokenize(text, interned=False)  # a clean batch's tokens: the same words, not interned
    assert (plain.words, plain.starts, plain.ends) == (reference.words, reference.starts, reference.ends)


def test_tokenize_of_text_past_the_basic_plane_and_with_percent_signs_equals_the_reference() -> None:
    # one byte a character, four, and the regex split for code points past 0xFFFF; '%' as its own tokens
    for text in ("Rates 5%% up, 10%off", "Zürich \u201cquoted\u201d 7%", "\U0001d400bc 5%% x\u00df", "", "%"):
        fast, reference = tokenize(text), reference_tokenize(text)
        assert (fast.words, fast.starts, fast.ends) == (reference.words, reference.starts, reference.ends)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["the", "said", "running", "runs", "x", "42", "percent", "co-operation", "Über"])))
def test_content_stems_equal_each_words_content_stem(words: list[str]) -> None:
    # the dictionary may hold any of them from an earlier example, or none
    assert content_stems(words) == [content_stem(word) for word in words]


def test_content_stems_start_again_when_the_cache_is_full(monkeypatch) -> None:
    import dedup.text

    monkeypatch.setattr(dedup.text, "_CONTENT_STEM_CACHE_SIZE", 3)
    bound = 3  # a call's own words are held whole even when they are more than the size
    for words in (["running", "the", "cats"], ["dogs", "running", "walked", "the"], [], ["cats"]):
        assert content_stems(words) == [content_stem(word) for word in words]
        bound = max(bound, len(set(words)))
        assert len(dedup.text._CONTENT_STEMS) <= bound


# One PA story sent in three versions wrapped identically (as ``ba1``, ``ba1sub``, ``ba1nl``): the wrapped lines of
# its paragraphs recur verbatim in three texts, like furniture, but they are story text.
_PARAGRAPHS = (
    "\x19British Airways was accused today of paying travel agents secret bonuses to\n"
    "steer passengers away from rival airlines, in a case brought by the European\n"
    "Commission.<\n"
    "\x19The Commission said the scheme rewarded agents whose sales of BA tickets rose\n"
    "year on year, so that agents feared losing their commission unless they kept\n"
    "selling the national carrier first.<\n"
)
WIRE_VERSIONS = [
    f"  ----\n                  {time} 14/07/99: Page 1 (HHH) CITY BA\n  ----\n{head}<\n"
    f"\x19By Anne Smith, PA News<\n{_PARAGRAPHS}{tail}\x19end<\n"
    for time, head, tail in (
        ("10:02", "BA ACCUSED OVER AGENTS' BONUSES", ""),
        ("11:40", "BA ACCUSED OVER AGENTS' BONUSES (SUB)", "\x19A BA spokesman said it would fight the case.<\n"),
        ("12:15", "BA FACES EUROPEAN CASE OVER BONUSES (NEWS LEAD)", "\x19Rivals welcomed the move.<\n"),
    )
]
# Three pages of one website: the same menu line and "Advertisement" around different stories.
WEB_PAGES = [
    f"Home | News | Sport | Weather\nAdvertisement\n{story}\nThe case continues.\n"
    for story in (
        "A man who stole a lorry full of pancake mix was jailed for two years at Leeds Crown Court yesterday.",
        "A woman who lied about a lottery win to buy a house has been told she faces prison, a court heard.",
        "Two brothers accused of a burglary at a stately home told the jury they had been out fishing.",
    )
]


def test_wrapped_wire_lines_repeated_across_versions_stay_story_text() -> None:
    texts = WIRE_VERSIONS + WEB_PAGES
    repeated = repeated_lines(texts)
    wrapped = "year on year, so that agents feared losing their commission unless they kept"
    assert " ".join(wrapped.split()) in repeated  # recurs in three texts: would pass for furniture
    for text in WIRE_VERSIONS:
        found = [
            text[begin:end].strip() for begin, end in boilerplate_lines(text, repeated, keep_wrapped_repeated=True)
        ]
        assert not any(line in found for line in _PARAGRAPHS.splitlines())
        assert "\x19By Anne Smith, PA News<" in found and found[3].startswith("BA ")
        cleaned = clean_article(Article("pa/ba1.txt", text), repeated, keep_wrapped_repeated=True)
        sentences = [text[s.span[0] : s.span[1]] for s in cleaned.sentences]
        assert any("kept\nselling the national carrier first." in s for s in sentences)
        # the default (``Settings.keep_wrapped_repeated_lines`` off) still marks them: see docs/algorithm.md
        assert wrapped in [text[begin:end].strip() for begin, end in boilerplate_lines(text, repeated)]
    for text in WEB_PAGES:
        for keep in (False, True):
            found = [text[b:e].strip() for b, e in boilerplate_lines(text, repeated, keep_wrapped_repeated=keep)]
            assert found == ["Home | News | Sport | Weather", "Advertisement", "The case continues."]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab \r\n\u2028")), max_size=40))
def test_fast_lines_equal_the_reference(text: str) -> None:
    assert lines(text) == reference_lines(text)


_offsets = st.lists(st.integers(min_value=0, max_value=60), max_size=25).map(sorted)
_spans = st.lists(st.tuples(st.integers(min_value=0, max_value=60), st.integers(min_value=0, max_value=12)), max_size=8)


@settings(max_examples=300, deadline=None)
@given(_offsets, _spans)
def test_token_ranges_by_binary_search_equal_the_reference(starts: list[int], spans: list[tuple[int, int]]) -> None:
    tokens = array("i", starts)
    ascending = sorted((begin, begin + length) for begin, length in spans)
    assert evidence_units(tokens, ascending) == reference_evidence_units(tokens, ascending)
    assert quoted_tokens(tokens, ascending) == reference_quoted_tokens(tokens, ascending)


_CREDIT_PIECES = [
    "according to ",
    "ACCORDING TO ",
    "reported by ",
    "ſeen by ",
    "İnformation from ",
    "ınformation from ",
    "with reporting by ",
    "(with ",
    "Source: ",
    "via ",
    "citing ",
    "© 2022 ",
    "(C) ",
    "Copyright ",
    "By Jane Doe, ",
    "BY Jane Doe, ",
    "by Jane Doe, ",
    "Reuters",
    "Bloomberg",
    "AFP",
    "the official ",
    "Xinhua news agency",
    " reported",
    ")",
    " — ",
    ".",
    "\n",
    "12:05 01/03/00: Page 1 (HHH) COURTS Pies",
    "Page ",
    "materıal by ",
    "With additional information from ",
    "WITH ",
    "additional ",
    " news agency reports",
    " said in a report",
    "Viacom ",
    "  ",
    " ",
    "x",
]


@settings(max_examples=800, deadline=None)
@given(st.lists(st.sampled_from(_CREDIT_PIECES), max_size=14).map("".join))
def test_screened_credit_patterns_equal_the_reference(text: str) -> None:
    assert find_credits(text) == reference_find_credits(text)


def test_the_credit_screen_keeps_every_character_an_ignorecase_letter_matches() -> None:
    # re matches a letter, case-insensitively, to these characters: the screen must make each of them that letter
    letter = re.compile("(?i)[a-z]")
    for character in map(chr, range(sys.maxunicode + 1)):
        if letter.fullmatch(character):
            screened = ignorecase_screen(character)
            assert len(screened) == 1 and re.fullmatch(f"(?i){screened}", character), character


_FURNITURE_PIECES = [
    "All Rights Reserved",
    "all rights reſerved",
    "(Photo: Reuters)",
    "(IMAGE",
    "(pictures",
    ")",
    " ",
    "Advertisement",
    "© 2022 ",
    "Read more",
    "12:30",
    "----",
    "mf<",
    "The minister said",
    ".",
    "x",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_FURNITURE_PIECES), max_size=6).map("".join))
def test_furniture_line_equals_the_whole_pattern(line: str) -> None:
    assert furniture_line(line) == (_BOILERPLATE_PATTERNS.match(line) is not None)


_CLAUSE_PIECES = [
    ", and ",
    "; ",
    ";",
    " — ",
    "—",
    ": ",
    ",” while ",
    ", so",
    " which ",
    "\n",
    "  ",
    "word ",
    "sentence",
]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(_CLAUSE_PIECES), max_size=40).map("".join),
    st.integers(min_value=0, max_value=6),
    st.sampled_from([5, 20, 60]),
)
def test_clauses_equal_the_reference(text: str, begin: int, min_chars: int) -> None:
    span = (min(begin, len(text)), len(text))
    assert clauses(text, span, min_chars) == reference_clauses(text, span, min_chars)


_NAME_PIECES = st.sampled_from(
    [
        *sorted({alias for aliases in SOURCES.values() for alias in aliases}),
        "Pa",
        "PAR",
        "AP_",
        "Tas",
        "Wall Street",
        "Bloomberg",
        "News",
        "-",
        "_",
        " ",
        "x",
        "é",
        "7",
        ".",
        "ᾈ",
        "\n",
    ]
)


@settings(max_examples=1500, deadline=None)
@given(st.lists(_NAME_PIECES, max_size=8).map("".join))
def test_names_a_source_equals_any_name_searched(text: str) -> None:
    assert names_a_source(text) == (_ANY_NAME.search(text) is not None)


def test_names_a_source_equals_any_name_searched_on_each_alias_and_the_seeds(seed_texts: dict[str, str]) -> None:
    for alias in sorted({alias for aliases in SOURCES.values() for alias in aliases}):
        for text in (alias, f"x{alias}", f"{alias}x", f"{alias}_", f"{alias} ", f"{alias}é", alias[:-1], alias[1:]):
            assert names_a_source(text) == (_ANY_NAME.search(text) is not None), text
    for text in seed_texts.values():
        assert names_a_source(text) == (_ANY_NAME.search(text) is not None)
        for begin in range(0, len(text), 97):  # the texts cut at many places: names found, or not, anywhere
            assert names_a_source(text[begin:]) == (_ANY_NAME.search(text[begin:]) is not None)
