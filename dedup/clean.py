"""Boilerplate marking: which lines of an article are page furniture, not story.

Boilerplate lines (menus, "Advertisement", related-story headlines, share prompts,
copyright lines, wire-service headers) are kept out of similarity evidence. Nothing is
deleted: we keep a list of excluded line spans over the original text, so offsets stay
those of the text as read, and credit lines remain visible to origin inference.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from dedup.credits import find_credits, ignorecase_screen
from dedup.model import Article, Credit
from dedup.text import CLOSERS, Tokens, clauses, content_stems, lines, sentences, tokenize

# furniture lines: every alternative but the last two is anchored at the line's start (they fail at once on prose)
_FURNITURE_ANCHORED = r"""
        advertisement|advertising|sponsored(?:\ content)?|
        no\ menu\ items!?|
        (?:more\ stories|read\ more|related(?:\ (?:articles?|stories|coverage))?|see\ also|recommended|
           most\ (?:read|popular)|trending|top\ stories)\b.*|
        (?:check\ out|sign\ up|subscribe|follow\ us|share\ (?:this|on)|click\ here|download\ our|
           get\ more\ with|learn\ more|join\ us|listen\ to|watch:)\b.*|
        alert:.*|breaking(?:\ news)?:.*|
        (?:©|\(c\)|copyright\b).*|
        photo(?:graph)?:.*|image\ (?:source|caption).*|
        tags?:.*|topics?:.*|filed\ under.*|
        \d{1,2}:\d{2}|                                   # video durations
        -{4,}|={4,}|\*{3,}|                              # rules
        \d{1,2}:\d{2}\ \d\d/\d\d/\d\d.*|                 # PA wire header "14:58 27/01/00: Page 1 ..."
        [a-z]{1,4}<?                                     # PA operator sign-off "mf<"
"""
_FURNITURE_ANYWHERE = r""".*\ball\ rights\ reserved\b.*|.*\((?:photo|image|picture)[^)]*\)"""
_BOILERPLATE_PATTERNS = re.compile(
    r"^(?:" + _FURNITURE_ANCHORED + "|" + _FURNITURE_ANYWHERE + r")$", re.IGNORECASE | re.VERBOSE
)
_ANCHORED_FURNITURE = re.compile(r"^(?:" + _FURNITURE_ANCHORED + r")$", re.IGNORECASE | re.VERBOSE)


def furniture_line(line: str) -> bool:
    """Whether ``line`` (stripped) matches a furniture pattern: ``_BOILERPLATE_PATTERNS.match(line)``, tested.

    The two alternatives that may match anywhere ("... all rights reserved ...", "... (photo: ...)") scan the
    whole line at every position; they are tried only when the line holds their words (case-insensitively,
    as :func:`dedup.credits.ignorecase_screen` lowers a text), the anchored ones always.
    """
    if _ANCHORED_FURNITURE.match(line):
        return True
    if "all rights reserved" in (screened := ignorecase_screen(line)) or (
        line.endswith(")") and ("(photo" in screened or "(image" in screened or "(picture" in screened)
    ):
        return _BOILERPLATE_PATTERNS.match(line) is not None
    return False


_QUOTED = re.compile(r"“[^”]{3,}”|\"[^\"\n]{3,}\"|``.{3,}?''|«[^»]{3,}»", re.DOTALL)
_QUOTE_OPENERS = ("“", '"', "`", "«")  # every match of ``_QUOTED`` starts with one of these


def quoted_spans(text: str) -> list[tuple[int, int]]:
    """The spans of ``_QUOTED.finditer(text)``'s matches (equal to :func:`reference_quoted_spans`, tested).

    Every match starts at an opening mark, so the pattern is tried only there (found by ``str.find``, which runs
    over the text far faster than ``re``'s search tries a character set at every position), left to right, the next
    try past the last match's end: the leftmost matches that ``finditer`` finds.
    """
    places = sorted(place for opener in _QUOTE_OPENERS if opener in text for place in _places(text, opener))
    spans: list[tuple[int, int]] = []
    end = 0
    for place in places:
        if place >= end and (match := _QUOTED.match(text, place)):
            spans.append(match.span())
            end = match.end()
    return spans


def _places(text: str, mark: str) -> list[int]:
    """Every offset of ``mark`` (one character) in ``text``."""
    found: list[int] = []
    place = text.find(mark)
    while place >= 0:
        found.append(place)
        place = text.find(mark, place + 1)
    return found


def reference_quoted_spans(text: str) -> list[tuple[int, int]]:
    """The readable reference of :func:`quoted_spans`: ``_QUOTED`` searched through the text."""
    return [match.span() for match in _QUOTED.finditer(text)]


_SENTENCE_FINAL = re.compile(r"[.!?…:;,][\"'”’»)\]]*$|[\"”’]$")
_FINAL_MARKS = tuple(".!?…:;,")


def sentence_final(line: str) -> bool:
    """Whether ``line`` (stripped: no white space at its end) ends a sentence: a mark and closing quotes or
    brackets, or a closing quote. ``_SENTENCE_FINAL.search(line)`` (tested), read from the line's end instead of
    tried at every mark in it."""
    return line.endswith(('"', "”", "’")) or line.rstrip(CLOSERS).endswith(_FINAL_MARKS)


def boilerplate_lines(
    text: str, repeated: frozenset[str] = frozenset(), *, keep_wrapped_repeated: bool = False
) -> list[tuple[int, int]]:
    """Spans of the lines of ``text`` that are boilerplate.

    A line is boilerplate when it matches a known furniture pattern, is a standalone
    headline-like line (2-16 words, no sentence punctuation, not a wrapped line), or is a
    short line that ``repeated`` says recurs across many articles — unless ``keep_wrapped_repeated`` and the
    line is a piece of a hard-wrapped paragraph (see ``_wrapped_story_line``; off by default, see
    docs/algorithm.md: on METER dev it makes the reported spans more correct but the decisions worse).
    """
    spans = lines(text)
    width = wrap_width(text, spans)
    result = []
    for index, (begin, end) in enumerate(spans):
        line = text[begin:end].strip().rstrip("<").strip()
        if not line:
            continue
        if furniture_line(line) or (
            _normal_line(line) in repeated
            and not (keep_wrapped_repeated and _wrapped_story_line(text, spans, index, width, result))
        ):
            result.append((begin, end))
            continue
        if (
            _is_headline(line)
            and _stands_alone(text, spans, index)
            and not _continues(text, spans, index, result)
            and not (width and len(line) >= WRAPPED_SHARE * width and index + 1 < len(spans))
        ):
            result.append((begin, end))
    return result


def _is_headline(line: str) -> bool:
    words = line.split()
    return 2 <= len(words) <= 16 and not sentence_final(line) and not line.startswith(("•", "-", "*"))


def _stands_alone(text: str, spans: list[tuple[int, int]], index: int) -> bool:
    """Not a hard-wrapped fragment: the next line does not continue it in lower case."""
    for begin, end in spans[index + 1 :]:
        following = text[begin:end].strip()
        if following:
            return not following[0].islower()
    return True


WRAPPED_LINE_CHARS = 40  # a line this long that ends mid-sentence runs on into the next: hard-wrapped text
MAX_WRAP_WIDTH = 100  # hard-wrapped text (wire copy, Reuters-21578) wraps at 60-80 characters
WRAPPED_SHARE = 0.75  # in wrapped text, a line this near the width was cut by the wrap, not ended by its author


def wrap_width(text: str, spans: list[tuple[int, int]]) -> int | None:
    """The width ``text`` is hard-wrapped at, or None: at least four lines within 15% of the longest, ≤ 100 chars."""
    lengths = [len(text[begin:end].strip().rstrip("<")) for begin, end in spans]
    width = max(lengths, default=0)
    if not 0 < width <= MAX_WRAP_WIDTH:
        return None
    return width if sum(length >= 0.85 * width for length in lengths) >= 4 else None


def _continues(text: str, spans: list[tuple[int, int]], index: int, furniture: list[tuple[int, int]]) -> bool:
    """A hard-wrapped fragment: the line before (not furniture) is long and ends mid-sentence.

    Wire copy wraps at a fixed width, so a wrapped line followed by one that starts with a name
    ("...fractured his back after a crane on a support" / "ship lowered a metal frame ... off the coast of" /
    "Denmark.") looks like a headline on its own; its predecessor says it is not. PA marks a paragraph's end
    with ``<``.
    """
    if index == 0:
        return False
    begin, end = spans[index - 1]
    previous = text[begin:end].strip()
    return (
        len(previous) >= WRAPPED_LINE_CHARS
        and not previous.endswith("<")
        and not sentence_final(previous)
        and not (furniture and furniture[-1] == (begin, end))
    )


def _wrapped_story_line(
    text: str, spans: list[tuple[int, int]], index: int, width: int | None, furniture: list[tuple[int, int]]
) -> bool:
    """A line of a hard-wrapped paragraph: story text even when it recurs across articles.

    A wire service sends one story in several versions wrapped identically (PA's ``ba1``, ``ba1sub``,
    ``ba1nl``), so its wrapped lines recur verbatim in three or more texts and would pass for furniture. In
    text hard-wrapped at ``width``, a line is a paragraph's piece when the wrap cut it (near the width, ending
    mid-sentence, with a line after it) or when it carries on the sentence the line before left open. Menus,
    share prompts and "The case continues." neither run on nor are run into, so they stay furniture.
    """
    if width is None:
        return False
    begin, end = spans[index]
    raw = text[begin:end].strip()
    line = raw.rstrip("<").strip()
    cut_by_wrap = (
        len(line) >= WRAPPED_SHARE * width
        and not raw.endswith("<")
        and not sentence_final(line)
        and any(text[b:e].strip() for b, e in spans[index + 1 :])
    )
    return cut_by_wrap or _continues(text, spans, index, furniture)


def _normal_line(line: str) -> str:
    return " ".join(line.casefold().split())


def repeated_lines(texts: Iterable[str], *, min_articles: int = 3, max_words: int = 20) -> frozenset[str]:
    """Short lines that recur verbatim in at least ``min_articles`` articles (site furniture).

    Long lines are never taken: a wire paragraph copied by many outlets is evidence, not
    furniture.
    """
    return frequent_lines(short_line_counts(texts, max_words), min_articles)


def short_line_counts(texts: Iterable[str], max_words: int = 20) -> Counter[str]:
    """For every short line, the number of ``texts`` holding it (counts of parts add up to the whole).

    Equal to :func:`reference_short_line_counts` (tested): a line is split into words once, and ``str.split``
    drops the ``\\r`` that :func:`lines` leaves out.
    """
    counts: Counter[str] = Counter()
    for text in texts:
        seen = set()
        for line in text.split("\n"):  # ``lines``' pieces, a final "\r" left on: white space to ``split``
            words = line.casefold().split()  # joined: the line's ``_normal_line``
            if words and len(words) <= max_words:
                seen.add(" ".join(words))
        counts.update(seen)
    return counts


def reference_short_line_counts(texts: Iterable[str], max_words: int = 20) -> Counter[str]:
    """The readable reference of :func:`short_line_counts`: each line of :func:`lines` normalised, then counted."""
    counts: Counter[str] = Counter()
    for text in texts:
        seen = set()
        for begin, end in lines(text):
            line = _normal_line(text[begin:end])
            if line and len(line.split()) <= max_words:
                seen.add(line)
        counts.update(seen)
    return counts


def frequent_lines(counts: Counter[str], min_articles: int) -> frozenset[str]:
    """The lines of ``counts`` held by at least ``min_articles`` articles."""
    return frozenset(line for line, count in counts.items() if count >= min_articles)


@dataclass(slots=True)
class Sentence:
    """An evidence unit (a sentence, or a clause of a long one): its span and token range ``[first, last)``."""

    span: tuple[int, int]
    first: int
    last: int


@dataclass(slots=True)
class CleanArticle:
    """An article ready for sketching and alignment.

    ``sentences`` cover only evidence text (boilerplate lines left out); ``stems`` holds
    the stem of every token ("" for stopwords); ``quoted`` flags tokens inside quotation
    marks; ``evidence_chars`` is the length of all evidence sentences (the coverage
    denominator); ``sentence_stories`` is, per sentence, in how many separate stories of the run
    its near-copies occur, counted up to ``stock_min_stories`` (the sentence is stock at that count; empty until a
    batch run has counted them, see ``dedup.candidates.sentence_stories``).
    """

    id: str
    text: str
    tokens: Tokens
    stems: list[str]
    quoted: list[bool]
    sentences: list[Sentence]
    boilerplate: list[tuple[int, int]]
    credits: list[Credit]
    evidence_chars: int
    published: str | None = None
    outlet: str | None = None
    sentence_stories: list[int] = field(default_factory=list)

    def evidence_tokens(self) -> list[int]:
        """Indices of the tokens inside evidence sentences, in order."""
        return [index for sentence in self.sentences for index in range(sentence.first, sentence.last)]


def evidence_units(starts: array[int], spans: list[tuple[int, int]]) -> list[Sentence]:
    """The spans that hold tokens, each with its token range (``starts``: the tokens' first offsets, ascending).

    Equal to :func:`reference_evidence_units` (tested): a token range is found by two binary searches,
    not by walking the tokens one at a time.
    """
    found: list[Sentence] = []
    position = 0
    for begin, end in spans:
        first = max(position, bisect_left(starts, begin))
        position = max(first, bisect_left(starts, end))
        if position > first:
            found.append(Sentence((begin, end), first, position))
    return found


def reference_evidence_units(starts: array[int], spans: list[tuple[int, int]]) -> list[Sentence]:
    """The readable reference of :func:`evidence_units`: one token at a time."""
    found: list[Sentence] = []
    position = 0
    for begin, end in spans:
        while position < len(starts) and starts[position] < begin:
            position += 1
        first = position
        while position < len(starts) and starts[position] < end:
            position += 1
        if position > first:
            found.append(Sentence((begin, end), first, position))
    return found


def quoted_tokens(starts: array[int], quotes: list[tuple[int, int]]) -> list[bool]:
    """For every token (``starts``: their first offsets, ascending), whether it starts inside one of ``quotes``
    (ascending spans); equal to :func:`reference_quoted_tokens` (tested)."""
    quoted = [False] * len(starts)
    position = 0
    for begin, end in quotes:
        position = max(position, bisect_left(starts, begin))
        last = max(position, bisect_left(starts, end))
        quoted[position:last] = [True] * (last - position)
        position = last
    return quoted


def reference_quoted_tokens(starts: array[int], quotes: list[tuple[int, int]]) -> list[bool]:
    """The readable reference of :func:`quoted_tokens`: one token at a time."""
    quoted = [False] * len(starts)
    position = 0
    for begin, end in quotes:
        while position < len(starts) and starts[position] < begin:
            position += 1
        while position < len(starts) and starts[position] < end:
            quoted[position] = True
            position += 1
    return quoted


def clean_article(
    article: Article,
    repeated: frozenset[str] = frozenset(),
    *,
    keep_wrapped_repeated: bool = False,
    with_stems: bool = True,
    interned: bool = True,
) -> CleanArticle:
    """Tokenise ``article``, mark its boilerplate, find its sentences and credit lines.

    ``with_stems=False``: ``stems`` left empty, for a caller that finds them once per distinct word of a batch
    (``pipeline.clean_batch``) instead of a lookup per token of every article; ``interned=False``: its words not
    interned (``text.tokenize``), for a clean batch, whose tokens are dropped with it."""
    text = article.text
    boilerplate = boilerplate_lines(text, repeated, keep_wrapped_repeated=keep_wrapped_repeated)
    tokens = tokenize(text, interned=interned)
    spans = [piece for span in sentences(text, frozenset(boilerplate)) for piece in clauses(text, span)]
    found = evidence_units(tokens.starts, spans)
    quoted = quoted_tokens(tokens.starts, quoted_spans(text) if tokens.words else [])
    return CleanArticle(
        id=article.id,
        text=text,
        tokens=tokens,
        stems=content_stems(tokens.words) if with_stems else [],
        quoted=quoted,
        sentences=found,
        boilerplate=boilerplate,
        credits=find_credits(text),
        evidence_chars=sum(end - begin for (begin, end) in (s.span for s in found)),
        published=article.published,
        outlet=article.outlet,
    )
