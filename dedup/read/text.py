"""Bytes to text, and the plain-text reader (.txt, .md, and unknown single files).

The decoding helpers live here because every reader starts from bytes: the HTML and JSON
readers import them too.
"""

from __future__ import annotations

import codecs
import logging
from dataclasses import dataclass

from charset_normalizer import from_bytes

from dedup.model import Article, Skipped

logger = logging.getLogger(__name__)

#: How much of the start of a file is inspected for the binary test.
BINARY_SAMPLE_BYTES = 8192
#: A sample with more than this share of control bytes is called binary.
MAX_CONTROL_SHARE = 0.10
#: charset-normalizer's "mess ratio" above which a guessed encoding is not trusted.
MAX_GUESS_MESS = 0.10
#: Candidates this close to the best mess ratio count as a tie (see ``_guess_encoding``).
GUESS_TIE_MESS = 0.03
#: Preferred on a tie: the usual legacy encoding of Western news pages (a superset of Latin-1).
PREFERRED_LEGACY_ENCODING = "cp1252"

# Control bytes that ordinary text does contain: tab, line feed, form feed, carriage return, escape.
_TEXT_CONTROL_BYTES = frozenset({9, 10, 12, 13, 27})
_CONTROL_BYTES = frozenset(range(32)) - _TEXT_CONTROL_BYTES | {127}


class SkipInput(Exception):
    """Raised inside a reader when a whole input must be skipped; the message is the reason."""

    @property
    def reason(self) -> str:
        return str(self.args[0]) if self.args else "unreadable input"


@dataclass(frozen=True, slots=True)
class Source:
    """Where records come from: the id an input file gives its article(s), and the path we report."""

    id: str
    path: str


@dataclass(frozen=True, slots=True)
class Found:
    """An article and where it was found: the file path, or ``path:line`` / ``path#index`` for records."""

    article: Article
    where: str


#: What a reader returns for each record it considered.
Outcome = Found | Skipped


def looks_binary(data: bytes) -> bool:
    """True when the start of ``data`` holds a NUL byte or is mostly control bytes."""
    sample = data[:BINARY_SAMPLE_BYTES]
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    controls = sum(1 for byte in sample if byte in _CONTROL_BYTES)
    return controls / len(sample) > MAX_CONTROL_SHARE


def decode_bytes(data: bytes, path: str = "") -> str:
    """Decode file bytes: UTF-8 (BOM stripped), UTF-16/32 with a BOM, else a confident guess.

    Raises ``SkipInput`` with the reason for binary or undecodable bytes.
    """
    for bom, encoding in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as error:
                reason = f"cannot decode as {encoding.upper()} despite its byte order mark ({error})"
                raise SkipInput(reason) from error
    if looks_binary(data):
        raise SkipInput("binary file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        utf8_error = f"{error.reason} at byte {error.start}"
    guess = _guess_encoding(data)
    if guess is None:
        raise SkipInput(f"cannot decode as UTF-8 ({utf8_error}) and no other encoding fits confidently")
    encoding, text = guess
    logger.info("decoded %s as %s (not valid UTF-8: %s)", path or "input", encoding, utf8_error)
    return text


def _guess_encoding(data: bytes) -> tuple[str, str] | None:
    """Ask charset-normalizer for the encoding; None unless the best guess reads cleanly.

    Short Latin-1 texts fit several single-byte code pages about equally well, and
    charset-normalizer may rank e.g. cp1250 or mac_latin2 first, which turns "naïve" into
    "naďve". So among the candidates tied with the best, windows-1252 wins.
    """
    matches = list(from_bytes(data))
    if not matches:
        return None
    best_mess = min(match.chaos for match in matches)
    if best_mess > MAX_GUESS_MESS:
        return None
    tied = [match for match in matches if match.chaos <= best_mess + GUESS_TIE_MESS]
    chosen = next((match for match in tied if match.encoding == PREFERRED_LEGACY_ENCODING), None)
    if chosen is None:
        chosen = min(tied, key=lambda match: match.chaos)
    try:
        return chosen.encoding, data.decode(chosen.encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def require_text(text: str) -> str:
    """Return ``text`` unchanged, or raise ``SkipInput`` if it is empty or only whitespace."""
    if not text.strip():
        raise SkipInput("empty text")
    return text


def read_text(data: bytes, source: Source) -> list[Outcome]:
    """Read a plain text (or Markdown) file: the whole decoded file is the article text."""
    text = require_text(decode_bytes(data, source.path))
    return [Found(Article(id=source.id, text=text, path=source.path), source.path)]
