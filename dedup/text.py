"""Tokens and sentences with offsets into the original text.

Tokens are runs of letters/digits (``%`` counts as the word "percent"), case-folded; each
keeps its ``[begin, end)`` offsets so that every span we report points into the text as
read. Sentences are found with a small rule set (paragraph breaks, terminal punctuation,
common abbreviations) that also copes with hard-wrapped wire copy (PA's ``<`` line ends).
We keep our own rules rather than a library splitter (pysbd) because we need offsets and
the wire-copy rules; the speed of the two has not been compared yet.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate, repeat
from operator import add, sub
from sys import intern
from typing import Any

import numpy as np
import snowballstemmer
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from dedup.wordruns import code_points, token_bounds, word_flags

_TOKEN = re.compile(r"[^\W_]+|%")
_TOKEN_SPLIT = re.compile(r"([^\W_]+|%)")  # the same pattern as one group: ``split`` keeps the tokens
_TERMINAL = re.compile(r"[.!?…][\"'”’»)\]]*\s*<?\s*$")
# a sentence's end: marks, closing quotes or brackets, then space and a capital or digit (the readable form; the pattern
# used, ``_SENTENCE_END``, is the same one written to start with a character class, ``[.!?…]+`` as
# ``[.!?…][.!?…]*``: re then finds the places a match may start by a fast scan for the class's characters instead of
# trying the whole pattern at every position of a paragraph, ~10 % of the clean stage's instructions; tested equal)
_SENTENCE_END_AS_WRITTEN = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s+[\"'“‘«(\[]*[A-Z0-9])")
_SENTENCE_END = re.compile(r"[.!?…][.!?…]*[\"'”’»)\]]*(?=\s+[\"'“‘«(\[]*[A-Z0-9])")
# the same where the searched range holds no "!", "?" or "…" (most paragraphs): a pattern starting with the literal
# ".", whose places re finds by a tight loop over the characters instead of a call of its class test at each (tested)
_SENTENCE_END_AT_PERIODS = re.compile(r"\.\.*[\"'”’»)\]]*(?=\s+[\"'“‘«(\[]*[A-Z0-9])")
_OTHER_ENDS = ("!", "?", "…")  # the marks of ``_SENTENCE_END``'s class but "."
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "st",
        "jr",
        "sr",
        "prof",
        "gen",
        "col",
        "lt",
        "sgt",
        "capt",
        "gov",
        "sen",
        "rep",
        "rev",
        "corp",
        "inc",
        "ltd",
        "co",
        "no",
        "vs",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "u.s",
        "u.k",
        "e.g",
        "i.e",
        "etc",
        "approx",
    ]
)
STOPWORDS = frozenset(ENGLISH_STOP_WORDS | {"s", "t", "said", "says", "mr", "mrs", "ms", "percent"})
_stemmer = snowballstemmer.stemmer("english")


@dataclass(slots=True)
class Tokens:
    """Case-folded word tokens of a text with their character offsets.

    Words are interned (but where a clean batch tokenizes: ``tokenize(text, interned=False)``) and offsets are
    32-bit arrays: a large run holds every article's tokens at once, and a list of Python ints costs 36 bytes a token
    where an array costs 4 (texts are far below 2**31 characters).
    """

    words: list[str]
    starts: array[int]
    ends: array[int]

    def __len__(self) -> int:
        return len(self.words)


_SPACE = 32
_WORD_LATIN1 = np.array([chr(code).isalnum() for code in range(256)], dtype=np.uint8)  # ``[^\\W_]``: isalnum
_WORD_FLAGS_LATIN1 = bytes(_WORD_LATIN1.tolist())  # the same as a ``bytes.translate`` table
_SPACED_LATIN1 = bytes(code if _WORD_LATIN1[code] else _SPACE for code in range(256))  # non-word: a space
_PERCENT = 0x25
_SPACED_PERCENT_LATIN1 = bytes(code if _WORD_LATIN1[code] or code == _PERCENT else _SPACE for code in range(256))
# the same, each word character also case-folded: every one below 256 folds to one character below 256 but these two
# ("µ" to Greek mu, "ß" to "ss"), so a text without them is folded by the table, without a ``str.casefold`` call
_UNFOLDABLE_LATIN1 = (b"\xb5", b"\xdf")
_FOLDED_LATIN1 = bytes(
    ord(chr(code).casefold()) if _WORD_LATIN1[code] and bytes([code]) not in _UNFOLDABLE_LATIN1 else code
    for code in range(256)
)
_SPACED_FOLDED_LATIN1 = _SPACED_LATIN1.translate(_FOLDED_LATIN1)
_SPACED_FOLDED_PERCENT_LATIN1 = _SPACED_PERCENT_LATIN1.translate(_FOLDED_LATIN1)
_WORD_BMP: np.ndarray | None = None  # the same for every code point below 0x10000, made when first needed


def _word_bmp() -> np.ndarray:
    global _WORD_BMP
    if _WORD_BMP is None:
        _WORD_BMP = np.array([chr(code).isalnum() for code in range(0x10000)], dtype=np.uint8)
    return _WORD_BMP


def tokenize(text: str, *, interned: bool = True) -> Tokens:
    """Split ``text`` into case-folded word tokens with offsets; ``%`` becomes "percent".

    Equal to :func:`reference_tokenize` (tested). The offsets come from the word flag of every character (a
    token is a run of word characters, each ``%`` a token of its own: alternating classes, so ``%%`` is two).
    The words: where the text has no ``%``, every other character becomes a space and the text is case-folded
    once and split (a case fold is per character and never yields a space); else each token is sliced and
    folded. Where every code point is below 256 (most news prose) the flags and the spaced text are two
    ``bytes.translate`` calls over its Latin-1 bytes, the second folding the case too where the text holds neither
    "µ" nor "ß"; else :func:`_wide_tokenize`. ``interned=False``: the words not interned, for tokens that live
    only as long as a clean batch (interning looks every token up in the process's table of interned strings, which
    holds every word it met: the largest part of tokenizing, and a cache miss a token).
    """
    try:
        encoded = text.encode("latin-1")
    except UnicodeEncodeError:
        return _wide_tokenize(text, interned)
    flags = bytearray(1)  # padded with a non-word character at both ends, as ``token_bounds`` wants
    flags += encoded.translate(_WORD_FLAGS_LATIN1)
    flags.append(0)
    percent = "%" in text
    first, last = token_bounds(np.frombuffer(flags, dtype=np.uint8), np.frombuffer(encoded, dtype=np.uint8), percent)
    if _UNFOLDABLE_LATIN1[0] in encoded or _UNFOLDABLE_LATIN1[1] in encoded:  # folded by ``str.casefold``
        if percent:  # each ``%`` a word of its own between spaces: the same split (a case fold never yields a ``%``)
            spaced = encoded.translate(_SPACED_PERCENT_LATIN1).decode("latin-1").replace("%", " % ")
            return _tokens(text, first, last, spaced, percent=True, interned=interned)
        return _tokens(text, first, last, encoded.translate(_SPACED_LATIN1).decode("latin-1"), interned=interned)
    if percent:
        spaced = encoded.translate(_SPACED_FOLDED_PERCENT_LATIN1).decode("latin-1").replace("%", " % ")
        return _tokens(text, first, last, spaced, percent=True, folded=True, interned=interned)
    spaced = encoded.translate(_SPACED_FOLDED_LATIN1).decode("latin-1")
    return _tokens(text, first, last, spaced, folded=True, interned=interned)


def _tokens(
    text: str,
    first: np.ndarray,
    last: np.ndarray,
    spaced: str | None = None,
    percent: bool = False,
    folded: bool = False,
    interned: bool = True,
) -> Tokens:
    """The tokens of ``text`` at offsets ``[first, last)``; ``spaced``: the text with every character outside them
    a space (``percent``: and each ``%`` a word between spaces), split instead of slicing each token (``folded``:
    ``spaced`` is case-folded already; ``interned``: the words interned)."""
    starts, ends = array("i"), array("i")
    starts.frombytes(first.astype(np.int32).tobytes())
    ends.frombytes(last.astype(np.int32).tobytes())
    if spaced is None:
        words = list(map(str.casefold, map(text.__getitem__, map(slice, starts, ends))))
        words = ["percent" if word == "%" else word for word in words]
    else:
        words = (spaced if folded else spaced.casefold()).split()
        if percent:
            words = ["percent" if word == "%" else word for word in words]
    return Tokens(list(map(intern, words)) if interned else words, starts, ends)


def _wide_tokenize(text: str, interned: bool = True) -> Tokens:
    """:func:`tokenize` of a text with code points past 255: the flags from one array of its code points, through
    a table of the Basic Multilingual Plane; past it, :func:`_split_tokenize`."""
    codes = code_points(text)
    if int(codes.max()) > 0xFFFF:
        return _split_tokenize(text, interned)
    classes = word_flags(codes)
    np.take(_word_bmp(), codes, out=classes[1:-1])
    percent = "%" in text
    first, last = token_bounds(classes, codes, percent)
    if percent:
        return _tokens(text, first, last, interned=interned)
    spaced = np.where(classes[1:-1] != 0, codes, codes.dtype.type(_SPACE)).tobytes().decode("utf-32-le")
    return _tokens(text, first, last, spaced, interned=interned)


def _split_tokenize(text: str, interned: bool = True) -> Tokens:
    """:func:`tokenize` by one regex split: ``_TOKEN`` never matches the empty string, so splitting on it (one
    capturing group) alternates gaps and tokens, and the offsets are the running sums of the pieces' lengths."""
    pieces = _TOKEN_SPLIT.split(text)
    offsets = list(accumulate(map(len, pieces), initial=0))
    words = list(map(str.casefold, pieces[1::2]))
    if "%" in text:
        words = ["percent" if word == "%" else word for word in words]
    if interned:
        words = list(map(intern, words))
    return Tokens(words, array("i", offsets[1:-1:2]), array("i", offsets[2:-1:2]))


def reference_tokenize(text: str) -> Tokens:
    """The readable reference of :func:`tokenize`: one regex match at a time (words not interned)."""
    words: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for match in _TOKEN.finditer(text):
        word = match.group()
        words.append("percent" if word == "%" else word.casefold())
        starts.append(match.start())
        ends.append(match.end())
    return Tokens(words, array("i", starts), array("i", ends))


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """The Snowball (Porter 2) stem of a case-folded word."""
    return _stemmer.stemWord(word)


@lru_cache(maxsize=200_000)
def content_stem(word: str) -> str:
    """The stem of a content word, "" for any other token (one cached call per token)."""
    return stem(word) if is_content(word) else ""


def bounded_map(cache: dict[str, Any], most: int, fill: Callable[[list[str]], dict[str, Any]], keys: list[str]) -> list:
    """``[cache[key] for key in keys]``, the keys not in ``cache`` first added by ``fill(missing keys, sorted)``; a
    per-process memo bounded at ``most`` entries (cleared when it would pass it). One ``map`` where every key is held
    already, as nearly every word is after a few hundred articles."""
    try:
        return list(map(cache.__getitem__, keys))
    except KeyError:
        missing = set(keys).difference(cache)
        if len(cache) + len(missing) > most:
            cache.clear()
            missing = set(keys)
        cache.update(fill(sorted(missing)))
        return list(map(cache.__getitem__, keys))


def content_stems(words: list[str]) -> list[str]:
    """``[content_stem(word) for word in words]`` (tested) through a bounded per-process memo."""
    return bounded_map(_CONTENT_STEMS, _CONTENT_STEM_CACHE_SIZE, _content_stems_of, words)


def _content_stems_of(words: list[str]) -> dict[str, str]:
    return {word: content_stem(word) for word in words}


_CONTENT_STEMS: dict[str, str] = {}
_CONTENT_STEM_CACHE_SIZE = 300_000


def is_content(word: str) -> bool:
    """Whether a token carries meaning (not a stopword, not a lone letter)."""
    return (len(word) > 1 and word not in STOPWORDS) or word.isdigit()


def lines(text: str) -> list[tuple[int, int]]:
    """The ``[begin, end)`` spans of the lines of ``text`` (without their newline: ``\\n`` or ``\\r\\n``).

    Equal to :func:`reference_lines` (tested): the pieces between ``\\n``, a piece before a newline losing its
    final ``\\r``; no Python call per line but the one building each span.
    """
    pieces = text.split("\n")
    lengths = list(map(len, pieces))
    begins = list(accumulate(map((1).__add__, lengths[:-1]), initial=0))  # a piece and its newline
    ends = list(map(add, begins, lengths))
    if "\r" in text:
        ends[:-1] = map(sub, ends[:-1], map(str.endswith, pieces[:-1], repeat("\r")))
    return list(zip(begins, ends, strict=True))


def reference_lines(text: str) -> list[tuple[int, int]]:
    """The readable reference of :func:`lines`: one regex match per newline."""
    spans = []
    begin = 0
    for match in re.finditer(r"\r?\n", text):
        spans.append((begin, match.start()))
        begin = match.end()
    spans.append((begin, len(text)))
    return spans


def paragraphs(text: str, skip: frozenset[tuple[int, int]] = frozenset()) -> list[tuple[int, int]]:
    """Paragraph spans: blank lines, ``<`` line ends and sentence-final line ends break.

    A line that does not end a sentence continues into the next one when the next line
    starts in lower case or the line is long (hard-wrapped text); short unpunctuated lines
    (headlines, captions) stand alone. Lines in ``skip`` (boilerplate) count as blank.
    """
    result: list[tuple[int, int]] = []
    current: tuple[int, int] | None = None
    line_spans = lines(text)
    stripped_lines = [text[begin:end].strip() for begin, end in line_spans]  # each line's, once
    stripped_lines.append("")  # the line after the last
    for index, (begin, end) in enumerate(line_spans):
        stripped = stripped_lines[index]
        if not stripped or (begin, end) in skip:
            if current:
                result.append(current)
            current = None
            continue
        line = text[begin:end]
        lead = begin + (len(line) - len(line.lstrip()))
        tail = lead + len(stripped)
        current = (current[0], tail) if current else (lead, tail)
        following = line_spans[index + 1] if index + 1 < len(line_spans) else (0, 0)
        next_line = "" if following in skip else stripped_lines[index + 1]
        ends_paragraph = (
            stripped.endswith("<")
            or terminal(stripped)
            or not next_line
            or (len(stripped) < 60 and not next_line[:1].islower())
        )
        if ends_paragraph:
            result.append(current)
            current = None
    if current:
        result.append(current)
    return result


CLOSERS = "\"'”’»)]"  # closing quotes and brackets after a sentence's mark
_TERMINALS = tuple(".!?…")


def terminal(line: str) -> bool:
    """Whether ``line`` (stripped, not ending in ``<``) ends in a terminal mark and closing quotes or brackets:
    ``_TERMINAL.search(line)`` for such a line (tested), read from its end instead of tried at every mark."""
    return line.rstrip(CLOSERS).endswith(_TERMINALS)


def sentences(text: str, skip: frozenset[tuple[int, int]] = frozenset()) -> list[tuple[int, int]]:
    """Sentence spans of ``text`` outside the ``skip`` lines, trimmed of surrounding whitespace.

    Equal to :func:`reference_sentences` (tested): a paragraph without "!", "?" or "…" is searched with
    ``_SENTENCE_END_AT_PERIODS``, which finds the same ends there (its class holds only "." in that range).
    """
    result: list[tuple[int, int]] = []
    others = [mark for mark in _OTHER_ENDS if mark in text]
    for para_begin, para_end in paragraphs(text, skip):
        pattern = _SENTENCE_END_AT_PERIODS
        for mark in others:
            if text.find(mark, para_begin, para_end) >= 0:
                pattern = _SENTENCE_END
                break
        _paragraph_sentences(text, para_begin, para_end, pattern, result)
    return [(b, e) for b, e in result if e > b]


def reference_sentences(text: str, skip: frozenset[tuple[int, int]] = frozenset()) -> list[tuple[int, int]]:
    """The readable reference of :func:`sentences`: every paragraph searched with the pattern as written."""
    result: list[tuple[int, int]] = []
    for para_begin, para_end in paragraphs(text, skip):
        _paragraph_sentences(text, para_begin, para_end, _SENTENCE_END_AS_WRITTEN, result)
    return [(b, e) for b, e in result if e > b]


def _paragraph_sentences(
    text: str, para_begin: int, para_end: int, pattern: re.Pattern[str], result: list[tuple[int, int]]
) -> None:
    """Append the trimmed sentence spans of one paragraph to ``result``: cut after each ``pattern`` match but a
    period after an abbreviation or a single letter."""
    begin = para_begin
    for match in pattern.finditer(text, para_begin, para_end):
        before = text[max(para_begin, match.start() - 6) : match.start()].split()
        last_word = before[-1].lower().rstrip(".") if before else ""
        if match.group().startswith(".") and (last_word in _ABBREVIATIONS or len(last_word) == 1):
            continue
        result.append(_trim(text, begin, match.end()))
        begin = match.end()
    if begin < para_end:
        result.append(_trim(text, begin, para_end))


_CLAUSE_BREAK = re.compile(
    r"(?<=[,;:—–])[\"'”’]?\s+(?=(?:and|but|while|whereas|although|though|which|so|yet)\b)|(?<=[;—–])\s+"
)


# the same breaks, each after the mark its lookbehind looks at, which the pattern now consumes: a match starts with
# one of a few characters, which re finds by a fast scan instead of trying every position (the pattern must start with
# that character class for re to scan for it: the two alternatives share it, the second's narrower class a lookbehind)
_MARKED_CLAUSE_BREAK = re.compile(
    r"[,;:—–](?:(?P<at>[\"'”’]?\s+(?=(?:and|but|while|whereas|although|though|which|so|yet)\b))|(?<=[;—–])(?P<after>\s+))"
)


# the same where the searched range holds no ";", ":", "—" or "–" (most sentences): every break there is a comma's
# "at" break, and a pattern starting with the literal "," is searched by re's tight loop (no class test a character);
# its "after" group never takes part in a match (tested)
_COMMA_CLAUSE_BREAK = re.compile(
    r",(?:(?P<at>[\"'”’]?\s+(?=(?:and|but|while|whereas|although|though|which|so|yet)\b))|(?P<after>(?!)))"
)
_OTHER_BREAKS = (";", ":", "—", "–")  # the marks of ``_MARKED_CLAUSE_BREAK``'s class but ","


def clauses(text: str, span: tuple[int, int], min_chars: int = 60) -> list[tuple[int, int]]:
    """Split a long sentence at clause boundaries ("; ", ", and ", ", while ", " — ").

    Pieces shorter than ``min_chars`` stay with their neighbour, so short clauses never
    stand alone as evidence. Equal to :func:`reference_clauses` (tested): a break ends in white space, so the
    mark before the next one is not inside it, and the breaks found after their marks are ``_CLAUSE_BREAK``'s
    (``_COMMA_CLAUSE_BREAK``'s where the sentence holds no other mark).
    """
    begin, end = span
    if end - begin < 2 * min_chars:
        return [span]
    pieces: list[tuple[int, int]] = []
    start = begin
    first = max(begin - 1, 0)
    pattern = _COMMA_CLAUSE_BREAK
    for mark in _OTHER_BREAKS:
        if text.find(mark, first, end) >= 0:
            pattern = _MARKED_CLAUSE_BREAK
            break
    for match in pattern.finditer(text, first, end):
        at, after = match.span("at") if match.group("at") is not None else match.span("after")
        if at - start >= min_chars and end - after >= min_chars:
            pieces.append(_trim(text, start, at))
            start = after
    pieces.append(_trim(text, start, end))
    return pieces


def reference_clauses(text: str, span: tuple[int, int], min_chars: int = 60) -> list[tuple[int, int]]:
    """The readable reference of :func:`clauses`: ``_CLAUSE_BREAK`` searched through the sentence."""
    begin, end = span
    if end - begin < 2 * min_chars:
        return [span]
    pieces: list[tuple[int, int]] = []
    start = begin
    for match in _CLAUSE_BREAK.finditer(text, begin, end):
        if match.start() - start >= min_chars and end - match.end() >= min_chars:
            pieces.append(_trim(text, start, match.start()))
            start = match.end()
    pieces.append(_trim(text, start, end))
    return pieces


def _trim(text: str, begin: int, end: int) -> tuple[int, int]:
    while begin < end and text[begin].isspace():
        begin += 1
    while end > begin and (text[end - 1].isspace() or text[end - 1] == "<"):
        end -= 1
    return begin, end
