"""Credit lines: which outlet an article names as its own, and which sources it credits.

Own credits: a dateline "(Bloomberg) —", a copyright line "©2022 Bloomberg L.P.", a byline
"By Jane Doe, PA News". Credits of others: "According to Bloomberg", "obtained by
Bloomberg", "With information from AFP", "the official Xinhua news agency reported".
Sources are recognised from a list of wire services and large outlets (with aliases), so
"according to a Foreign Ministry statement" credits nobody.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from dedup.model import Credit

SOURCES: dict[str, tuple[str, ...]] = {
    "Bloomberg": ("Bloomberg News", "Bloomberg"),
    "Reuters": ("Thomson Reuters", "Reuters"),
    "AFP": ("Agence France-Presse", "Agence France Presse", "AFP"),
    "AP": ("The Associated Press", "Associated Press", "AP"),
    "PA": ("Press Association", "PA Media", "PA News", "PA"),
    "Xinhua": ("Xinhua",),
    "Tass": ("TASS", "Tass", "ITAR-Tass"),
    "Interfax": ("Interfax",),
    "RIA Novosti": ("RIA Novosti", "RIA"),
    "dpa": ("Deutsche Presse-Agentur", "dpa", "DPA"),
    "EFE": ("EFE",),
    "ANSA": ("ANSA",),
    "Kyodo": ("Kyodo News", "Kyodo"),
    "Yonhap": ("Yonhap",),
    "UPI": ("United Press International", "UPI"),
    "Dow Jones": ("Dow Jones Newswires", "Dow Jones"),
    "CGTN": ("CGTN",),
    "CNN": ("CNN",),
    "BBC": ("BBC News", "BBC"),
    "Anadolu": ("Anadolu Agency", "Anadolu"),
    "Al Jazeera": ("Al Jazeera",),
    "Nikkei": ("Nikkei Asia", "Nikkei"),
    "Financial Times": ("Financial Times",),
    "Wall Street Journal": ("The Wall Street Journal", "Wall Street Journal"),
    "New York Times": ("The New York Times", "New York Times"),
}
WIRE_SERVICES = frozenset(
    {
        "Bloomberg",
        "Reuters",
        "AFP",
        "AP",
        "PA",
        "Xinhua",
        "Tass",
        "Interfax",
        "RIA Novosti",
        "dpa",
        "EFE",
        "ANSA",
        "Kyodo",
        "Yonhap",
        "UPI",
        "Dow Jones",
        "Anadolu",
    }
)
_ALIAS_TO_SOURCE = {alias.casefold(): name for name, aliases in SOURCES.items() for alias in aliases}
_NAME = (
    "(?P<name>"
    + "|".join(
        re.escape(alias)
        for alias in sorted({a for aliases in SOURCES.values() for a in aliases}, key=len, reverse=True)
    )
    + r")\b"
)
_FILLER = r"(?:[\w’'-]+\s+){0,3}?"  # "the official ", "Russia's state ", ...

# Each pattern with the words one of which every match holds, in lower case: a text whose
# :func:`ignorecase_screen` holds none of them is not searched; () for none. Then the words one of which every match
# starts with, for the case-insensitive patterns (they try every position of a text, slowly): only where the
# screened text holds one is a match tried.
_Pattern = tuple[re.Pattern[str], str, tuple[str, ...], tuple[str, ...]]
_BYLINE = re.compile(r"(?m)^[^\w\n]*By\s+[A-Z][\w.'’ -]{1,60}?,\s*" + _NAME)
_OWN_PATTERNS: list[_Pattern] = [
    (re.compile(r"\(\s*" + _NAME + r"\s*\)\s*[—–-]+"), "the outlet's own dateline credit", (), ()),
    (
        re.compile(r"(?:©|\(c\)|copyright)\s*(?:\d{4}\s*)?" + _NAME + r"(?:\s+L\.P\.)?", re.IGNORECASE),
        "the outlet's own copyright line",
        ("©", "(c)", "copyright"),
        ("©", "(c)", "copyright"),
    ),
    (_BYLINE, "the outlet's own byline", (), ()),
]
# a case-sensitive word every match of a pattern holds: a text without it is not searched (the byline's "By", in
# ~6 % of the corpus texts; the pattern tries every position of a text, a line start at a time)
_CASED_WORDS = {_BYLINE: "By"}
# Wire copy as transmitted carries the service's slug header instead of a byline on every take:
# PA's "11:29 01/03/00: Page 1 (HHH) COURTS Chemists" (time, date, take, priority, section, catchline).
_WIRE_HEADERS: list[tuple[re.Pattern[str], str, str, tuple[str, ...]]] = [
    (
        re.compile(r"(?m)^[ \t]*\d{1,2}:\d{2} \d{2}/\d{2}/\d{2}: Page \d+ \([A-Z]+\) [A-Z][^\n]*$"),
        "PA",
        "the wire service's own transmission header",
        (": page ",),
    ),
]
_REPORTED_BY = ("obtained", "reported", "seen", "cited", "quoted", "published")
_OTHER_PATTERNS: list[_Pattern] = [
    (re.compile(r"(?i:according\s+to)\s+" + _FILLER + _NAME), "credits a source", ("according",), ("according",)),
    (
        re.compile(r"(?i:(?:obtained|reported|seen|cited|quoted|published)\s+by)\s+" + _FILLER + _NAME),
        "credits a source",
        _REPORTED_BY,
        _REPORTED_BY,
    ),
    (
        re.compile(
            r"(?i:(?:with\s+)?(?:additional\s+)?(?:information|reporting|material)\s+(?:from|by))\s+" + _FILLER + _NAME
        ),
        "credits a source",
        ("information", "reporting", "material"),
        ("with", "additional", "information", "reporting", "material"),
    ),
    (re.compile(r"\((?i:with|from|via|source:?)\s+" + _NAME + r"\s*\)"), "credits a source", (), ()),
    (
        re.compile(r"(?i:source|via|citing):?\s+" + _FILLER + _NAME),
        "credits a source",
        ("source", "via", "citing"),
        ("source", "via", "citing"),
    ),
    (
        re.compile(_NAME + r"(?:\s+(?i:news\s+(?:agency|service)))?\s+(?i:reported|reports|said\s+in\s+a\s+report)"),
        "credits a source",
        ("report",),
        (),
    ),
]


_ANY_NAME = re.compile(_NAME)


def _implied(alias: str, aliases: set[str]) -> bool:
    """Whether a text holding ``alias`` followed by a word boundary holds another of ``aliases`` followed by one:
    one ends where it ends, or before a character of it that is not a word character (the aliases end in one)."""
    for other in aliases - {alias}:
        place = alias.find(other)
        while place >= 0:
            end = place + len(other)
            if end == len(alias) or not (alias[end].isalnum() or alias[end] == "_"):
                return True
            place = alias.find(other, place + 1)
    return False


def _trie(words: list[str]) -> str:
    """A pattern matching exactly ``words`` (literals), their common beginnings factored out: re tries a branch of
    a few first letters, then the rest of the few names that start with the one found, not every name in turn."""
    groups: dict[str, list[str]] = {}
    for word in words:
        groups.setdefault(word[:1], []).append(word[1:])
    parts = [re.escape(first) + _trie(rest) for first, rest in sorted(groups.items()) if first]
    body = "" if not parts else parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"
    return f"(?:{body})?" if "" in groups and body else body


_ALIASES = {alias for aliases in SOURCES.values() for alias in aliases}
# whether a text names a source at all (``_ANY_NAME.search``): the aliases another one implies left out, the rest
# as a trie; the same texts (tested): ~3 % of the clean stage's instructions went to ``_ANY_NAME``'s 47-name branch
_NAMES_A_SOURCE = re.compile(_trie(sorted(alias for alias in _ALIASES if not _implied(alias, _ALIASES))) + r"\b")


def names_a_source(text: str) -> bool:
    """Whether ``text`` names any source: ``_ANY_NAME.search(text) is not None`` (tested), by a pattern of fewer
    names, factored."""
    return _NAMES_A_SOURCE.search(text) is not None


# re's IGNORECASE matches a letter to every character whose lower case is that letter, and to these three too
_FOLD = str.maketrans({"İ": "i", "ı": "i", "ſ": "s"})


def ignorecase_screen(text: str) -> str:
    """``text`` in lower case, with every character that a case-insensitive pattern matches to an ASCII letter
    made that letter: a match's words, screened, are in the screened text."""
    if "İ" in text or "ı" in text or "ſ" in text:
        text = text.translate(_FOLD)
    return text.lower()


def find_credits(text: str) -> list[Credit]:
    """Every credit line in ``text``, own credits first, in text order; one per span.

    Equal to :func:`reference_find_credits` (tested): patterns that cannot match are skipped, those whose source
    name is case-sensitive when the text names no source, and those whose words the text does not hold.
    """
    return _credits(text, names_a_source(text), ignorecase_screen(text))


def reference_find_credits(text: str) -> list[Credit]:
    """The readable reference of :func:`find_credits`: every pattern searched."""
    return _credits(text, True, None)


def _credits(text: str, named: bool, screened: str | None) -> list[Credit]:
    """:func:`find_credits`, skipping the patterns with a case-sensitive source name unless ``named``, and those
    whose words ``screened`` (:func:`ignorecase_screen` of the text, or None: search every pattern) does not hold."""

    def may_match(words: tuple[str, ...]) -> bool:
        return screened is None or not words or any(word in screened for word in words)

    found: list[Credit] = []
    taken: list[tuple[int, int]] = []
    for own, patterns in ((True, _OWN_PATTERNS), (False, _OTHER_PATTERNS)):
        for pattern, why, words, starts in patterns:
            if not (named or pattern.flags & re.IGNORECASE) or not may_match(words):
                continue
            if screened is not None and pattern in _CASED_WORDS and _CASED_WORDS[pattern] not in text:
                continue
            for match in _matches(pattern, text, screened, starts):
                span = match.span()
                if any(b < span[1] and span[0] < e for b, e in taken):
                    continue
                source = _ALIAS_TO_SOURCE.get(match.group("name").casefold())
                if source is None:
                    continue
                taken.append(span)
                found.append(Credit(source=source, own=own, span=span, snippet=match.group(), why=why))
    for pattern, source, why, words in _WIRE_HEADERS:
        if not may_match(words):
            continue
        for match in pattern.finditer(text):
            span = (match.start() + len(match.group()) - len(match.group().lstrip()), match.end())
            if not any(b < span[1] and span[0] < e for b, e in taken):
                taken.append(span)
                found.append(Credit(source=source, own=True, span=span, snippet=text[span[0] : span[1]], why=why))
    found.sort(key=lambda credit: (not credit.own, credit.span))
    return found


def _matches(
    pattern: re.Pattern[str], text: str, screened: str | None, starts: tuple[str, ...]
) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text)``, tried only where ``screened`` (:func:`ignorecase_screen` of the text: the same
    length, a match's words in lower case at the same places) holds one of ``starts``, the words every match starts
    with; the same matches: the leftmost match from each place on, the next one tried after its end."""
    if screened is None or not starts:
        yield from pattern.finditer(text)
        return
    places: set[int] = set()
    for word in starts:
        place = screened.find(word)
        while place >= 0:
            places.add(place)
            place = screened.find(word, place + 1)
    end = 0
    for place in sorted(places):
        if place >= end and (match := pattern.match(text, place)) is not None:
            yield match
            end = max(match.end(), place + 1)


_SLUG = re.compile(r"(?m)^[ \t]*\d{1,2}:\d{2} (\d{2}/\d{2}/\d{2}): Page \d+ \([A-Z]+\) ([A-Z][\w&'-]*)[ \t]+([\w&'-]+)")


def wire_slug(text: str) -> str | None:
    """The story a wire take belongs to, from its transmission header: date, section and catchline.

    Wires send one story as several takes, updates and write-throughs under one slug
    ("01/03/00 COURTS Chemists" for "... Page 2 ... COURTS Chemists Nightlead"); texts with the
    same slug are versions of one story even where they share no sentence.
    """
    match = _SLUG.search(text)
    return " ".join(group.casefold() for group in match.groups()) if match else None


def own_outlets(credits: list[Credit]) -> set[str]:
    """The outlets an article names as its own."""
    return {credit.source for credit in credits if credit.own}


def credited_sources(credits: list[Credit]) -> set[str]:
    """The sources an article credits (other than its own outlet)."""
    return {credit.source for credit in credits if not credit.own} - own_outlets(credits)
