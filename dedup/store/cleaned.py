"""A cleaned article as plain bytes, so the index reads it instead of cleaning the text again.

``clean_bytes(cleaned)`` keeps what is costly to find again — evidence units, boilerplate
spans, quoted-token runs, credit lines — as little-endian ``uint32`` arrays and JSON,
zlib-compressed; ``cleaned_from_bytes(data, article)`` rebuilds a ``CleanArticle`` equal to
``clean_article(article, furniture)``. Tokens are not stored: ``clean_article`` takes them from
``text.tokenize(text)`` whatever the furniture, so they are tokenised again (about 0.2 ms; storing
their offsets took ~450 of the ~650 bytes); stems come from the cached Snowball stemmer. The token
count is stored and checked. Never pickle.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable

import numpy as np

from dedup.clean import CleanArticle, Sentence
from dedup.model import Article, Credit
from dedup.store.errors import CorruptIndexError
from dedup.text import Tokens, is_content, stem, tokenize

VERSION = 2  # 1 stored the token offsets
_HEADER = 4 * 5  # five uint32 lengths: tokens, sentences, boilerplate spans, quoted runs, JSON bytes


def _runs(flags: list[bool]) -> list[int]:
    """Flattened ``[begin, end)`` token ranges where ``flags`` is true; equal to :func:`reference_runs` (tested):
    each run's ends found by ``list.index`` instead of a Python step a token."""
    runs: list[int] = []
    end = 0
    while True:
        try:
            start = flags.index(True, end)
        except ValueError:
            return runs
        try:
            end = flags.index(False, start)
        except ValueError:
            end = len(flags)
        runs += [start, end]


def reference_runs(flags: list[bool]) -> list[int]:
    """The readable reference of :func:`_runs`: one token at a time."""
    runs: list[int] = []
    start = None
    for position, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = position
        elif not flag and start is not None:
            runs += [start, position]
            start = None
    return runs


_STEM_OF: dict[str, str] = {}
_STEM_CACHE_SIZE = 500_000


def _stems(words: list[str]) -> list[str]:
    """``clean_article``'s stems ("" for a stopword), one dictionary lookup per known word."""
    known = _STEM_OF
    if len(known) > _STEM_CACHE_SIZE:
        known.clear()
    for word in set(words).difference(known):
        known[word] = stem(word) if is_content(word) else ""
    return [known[word] for word in words]


def clean_bytes(cleaned: CleanArticle) -> bytes:
    """The stored form of ``cleaned`` (its article's text, id, date and outlet are stored apart)."""
    n_tokens = len(cleaned.tokens)
    sentences = [value for s in cleaned.sentences for value in (s.span[0], s.span[1], s.first, s.last)]
    boilerplate = [value for span in cleaned.boilerplate for value in span]
    quoted = _runs(cleaned.quoted)
    extra = json.dumps(
        {
            "v": VERSION,
            "credits": [[c.source, c.own, list(c.span), c.snippet, c.why] for c in cleaned.credits],
            "evidence_chars": cleaned.evidence_chars,
        },
        separators=(",", ":"),
    ).encode("utf-8")
    body = b"".join(
        [
            np.array(
                [n_tokens, len(cleaned.sentences), len(cleaned.boilerplate), len(quoted), len(extra)], "<u4"
            ).tobytes(),
            np.asarray(sentences + boilerplate + quoted, dtype="<u4").tobytes(),
            extra,
        ]
    )
    compressor = zlib.compressobj(*_DEFLATE)
    return compressor.compress(body) + compressor.flush()


# a stored form is a few hundred bytes: zlib's default tables (a 32 KB window, 64K hash heads, cleared for every
# call: ~37 % of a call's instructions) cost more than compressing it. Level 4, a 512-byte window (``wbits`` 9) and
# small tables (``memLevel`` 4: 2K hash heads): −31 % instructions and 0.3 % fewer bytes than level 6 on 500 forms of
# the 10k corpus. Any zlib stream: ``zlib.decompress`` reads the forms of either setting (an index's older ones too).
_DEFLATE = (4, zlib.DEFLATED, 9, 4)


def _decoded(data: bytes) -> tuple[int, list[int], list[int], list[int], dict]:
    """The parts of a stored form: its token count, the flat sentence, boilerplate and quoted-run values, its JSON."""
    try:
        body = zlib.decompress(data)
        n_tokens, n_sentences, n_boilerplate, n_quoted, n_extra = (int(v) for v in np.frombuffer(body, "<u4", count=5))
        offset = _HEADER
        count = 4 * n_sentences + 2 * n_boilerplate + n_quoted
        spans = np.frombuffer(body, "<u4", count=count, offset=offset).tolist()
        offset += 4 * count
        extra = json.loads(body[offset : offset + n_extra].decode("utf-8"))
        if extra.get("v") != VERSION or offset + n_extra != len(body):
            raise ValueError("unknown layout")
    except (zlib.error, ValueError, UnicodeDecodeError, TypeError) as error:
        raise CorruptIndexError(f"a stored cleaned article cannot be decoded: {error}") from None
    return (
        n_tokens,
        spans[: 4 * n_sentences],
        spans[4 * n_sentences : 4 * n_sentences + 2 * n_boilerplate],
        spans[4 * n_sentences + 2 * n_boilerplate :],
        extra,
    )


def _sentences(values: list[int]) -> list[Sentence]:
    return [Sentence((values[k], values[k + 1]), values[k + 2], values[k + 3]) for k in range(0, len(values), 4)]


def _credits(extra: dict) -> list[Credit]:
    return [
        Credit(source, own, (span[0], span[1]), snippet, why) for source, own, span, snippet, why in extra["credits"]
    ]


def cleaned_from_bytes(data: bytes, article: Article) -> CleanArticle:
    """The ``CleanArticle`` stored by :func:`clean_bytes` for ``article``."""
    n_tokens, sentence_values, boilerplate_values, quoted_values, extra = _decoded(data)
    text = article.text
    tokens = tokenize(text)
    if len(tokens) != n_tokens:
        raise CorruptIndexError("a stored cleaned article does not match its text")
    words = tokens.words
    quoted = [False] * n_tokens
    for k in range(0, len(quoted_values), 2):
        quoted[quoted_values[k] : quoted_values[k + 1]] = [True] * (quoted_values[k + 1] - quoted_values[k])
    return CleanArticle(
        id=article.id,
        text=text,
        tokens=tokens,
        stems=_stems(words),
        quoted=quoted,
        sentences=_sentences(sentence_values),
        boilerplate=[(boilerplate_values[k], boilerplate_values[k + 1]) for k in range(0, len(boilerplate_values), 2)],
        credits=_credits(extra),
        evidence_chars=extra["evidence_chars"],
        published=article.published,
        outlet=article.outlet,
    )


class StoredFacts:
    """What origin inference reads of a cleaned article (``dedup.origin``: its credit lines, publication date,
    evidence units and characters; its tokens only to tell a verbatim run), from its stored form without
    tokenizing its text: the attributes of those names equal those of ``cleaned_from_bytes(data, article)``
    (tested); ``tokens`` is made when first read, from ``text()``, as ``cleaned_from_bytes`` makes it."""

    __slots__ = ("_text", "_tokens", "credits", "evidence_chars", "id", "outlet", "published", "sentences")

    def __init__(
        self, data: bytes, key: str, published: str | None, outlet: str | None, text: Callable[[], str]
    ) -> None:
        n_tokens, sentence_values, _, _, extra = _decoded(data)
        self.id, self.published, self.outlet = key, published, outlet
        self.sentences = _sentences(sentence_values)
        self.credits = _credits(extra)
        self.evidence_chars: int = extra["evidence_chars"]
        self._text: Callable[[], str] | None = text
        self._tokens: Tokens | int = n_tokens  # the count, until the tokens are made

    @property
    def tokens(self) -> Tokens:
        if self._text is not None:
            count = self._tokens
            tokens = tokenize(self._text())
            if len(tokens) != count:
                raise CorruptIndexError("a stored cleaned article does not match its text")
            self._tokens, self._text = tokens, None
        return self._tokens  # type: ignore[return-value]
