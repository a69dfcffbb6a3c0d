"""JSON readers: one article object or a list of them (.json), one object per line (.jsonl, stdin).

A record's text is the first non-empty string among ``text``, ``body``, ``content``; the
known metadata fields are mapped onto ``Article``; every other field goes to ``extra``
untouched, so nothing the user gave is lost.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from dedup.model import Article, Skipped
from dedup.read.text import Found, Outcome, SkipInput, Source, decode_bytes, require_text

TEXT_FIELDS = ("text", "body", "content")
TITLE_FIELDS = ("title",)
URL_FIELDS = ("url",)
OUTLET_FIELDS = ("outlet", "source", "publisher")
PUBLISHED_FIELDS = ("published", "date", "published_at", "datePublished", "publishedAt")

NO_TEXT_FIELD = f"JSON record has no text field (expected one of {', '.join(TEXT_FIELDS)})"


def read_json(data: bytes, source: Source) -> list[Outcome]:
    """Read a .json file: one article object, or a list of article objects."""
    return read_json_text(decode_bytes(data, source.path), source)


def read_json_text(document: str, source: Source) -> list[Outcome]:
    """Read one JSON document: an article object, or a list of them.

    A lone object's id defaults to the source's; list items' to ``<source id>#<index>`` (from 0).
    """
    if not document.strip():
        raise SkipInput("empty text")
    try:
        value = json.loads(document)
    except json.JSONDecodeError as error:
        raise SkipInput(f"invalid JSON: {error.msg} (line {error.lineno}, column {error.colno})") from error
    if isinstance(value, dict):
        return [_record_or_skip(value, source.id, source.path, source.path)]
    if isinstance(value, list):
        if not value:
            raise SkipInput("empty JSON list")
        return [
            _record_or_skip(item, f"{source.id}#{index}", source.path, f"{source.path}#{index}")
            for index, item in enumerate(value)
        ]
    raise SkipInput(f"JSON top level is {_json_type(value)}, expected an object or a list of objects")


def read_jsonl(data: bytes, source: Source, *, max_record_bytes: int | None = None) -> list[Outcome]:
    """Read a .jsonl file: one article object per line; a bad or too long line skips only that line."""
    return read_jsonl_text(decode_bytes(data, source.path), source, max_record_bytes=max_record_bytes)


def read_jsonl_text(document: str, source: Source, *, max_record_bytes: int | None = None) -> list[Outcome]:
    """Read JSON Lines text. Blank lines are ignored; ids default to ``<source id>#<line number>``.

    A line longer than ``max_record_bytes`` in UTF-8 (when given) is skipped with its reason.
    """
    results = list(jsonl_outcomes(document.splitlines(), source, max_record_bytes=max_record_bytes))
    if not results:
        raise SkipInput("empty text")
    return results


def jsonl_outcomes(lines: Iterable[str], source: Source, *, max_record_bytes: int | None = None) -> Iterator[Outcome]:
    """The article or skip of each non-blank line of JSON Lines (numbered from 1), one at a time."""
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source.path}:{line_number}"
        if max_record_bytes is not None and (size := _utf8_size(line, max_record_bytes)) > max_record_bytes:
            yield Skipped(where, f"record too large ({size} bytes > max {max_record_bytes})")
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            reason = f"invalid JSON: {error.msg} (line {line_number}, column {error.colno})"
            yield Skipped(where, reason)
            continue
        yield _record_or_skip(value, f"{source.id}#{line_number}", source.path, where)


def split_lines(chunks: Iterable[str]) -> Iterator[str]:
    """The lines ``"".join(chunks).splitlines()`` gives (every line break Python knows, ``\\r\\n`` split across
    two chunks included), without joining the chunks: a line is held, never the whole text."""
    carry = ""
    for chunk in chunks:
        pieces = (carry + chunk).splitlines(keepends=True)
        carry = pieces.pop() if pieces else ""  # perhaps not ended yet (or "\\r" before a "\\n")
        for piece in pieces:
            yield piece.splitlines()[0]
    if carry:
        yield carry.splitlines()[0]


def _record_or_skip(value: Any, default_id: str, path: str, where: str) -> Outcome:
    """The article for one JSON value, or why it is skipped (reported at ``where``)."""
    if not isinstance(value, dict):
        return Skipped(where, f"JSON record is {_json_type(value)}, expected an object")
    try:
        return Found(record_to_article(value, default_id=default_id, path=path), where)
    except SkipInput as skip:
        return Skipped(where, skip.reason)


def record_to_article(record: dict[str, Any], *, default_id: str, path: str | None) -> Article:
    """Map one JSON object onto an ``Article``; raises ``SkipInput`` if it holds no usable text."""
    extra = dict(record)
    text = _take_text(extra)
    record_id = _take_id(extra, default_id)
    title = _take_string(extra, TITLE_FIELDS)
    url = _take_string(extra, URL_FIELDS)
    outlet = _take_outlet(extra)
    published = _take_string(extra, PUBLISHED_FIELDS)
    return Article(
        id=record_id,
        text=text,
        title=title,
        url=url,
        outlet=outlet,
        published=normalise_date(published) if published is not None else None,
        path=path,
        extra=extra,
    )


def _take_text(fields: dict[str, Any]) -> str:
    """Remove and return the first non-empty string among the text fields."""
    present = [name for name in TEXT_FIELDS if name in fields]
    for name in present:
        value = fields[name]
        if isinstance(value, str) and value.strip():
            del fields[name]
            return value
    if not present:
        raise SkipInput(NO_TEXT_FIELD)
    if any(isinstance(fields[name], str) for name in present):
        return require_text("")
    name = present[0]
    raise SkipInput(f"JSON field {name!r} is {_json_type(fields[name])}, expected a string")


def _take_id(fields: dict[str, Any], default_id: str) -> str:
    """Remove and return the record's ``id`` as a string, or ``default_id`` when it has none."""
    value = fields.get("id")
    if value is None or value == "":
        return default_id
    del fields["id"]
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def _take_string(fields: dict[str, Any], names: tuple[str, ...]) -> str | None:
    """Remove and return the first non-empty string among ``names``; other values stay in ``fields``."""
    for name in names:
        value = fields.get(name)
        if isinstance(value, str) and value.strip():
            del fields[name]
            return value.strip()
    return None


def _take_outlet(fields: dict[str, Any]) -> str | None:
    """The outlet name: a string field, or the ``name`` of an object such as NewsAPI's ``source``.

    An object is left in ``extra`` as well, since its other keys (ids, URLs) would be lost otherwise.
    """
    for name in OUTLET_FIELDS:
        value = fields.get(name)
        if isinstance(value, str) and value.strip():
            del fields[name]
            return value.strip()
        if isinstance(value, dict) and isinstance(value.get("name"), str) and value["name"].strip():
            return value["name"].strip()
    return None


def normalise_date(value: str) -> str:
    """An ISO 8601 date or datetime for ISO or RFC 2822 input; anything else is kept as given."""
    if "T" not in value:  # a date alone never holds the time separator; datetimes are the common input
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    try:
        return datetime.fromisoformat(value).isoformat()
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(value).isoformat()
    except (TypeError, ValueError, IndexError):
        return value


def _json_type(value: Any) -> str:
    """The JSON name of a value's type, with an article, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _utf8_size(line: str, limit: int) -> int:
    """The UTF-8 size of ``line`` if it could exceed ``limit`` (a character is 1–4 bytes), else its length (≤ limit)."""
    return len(line) if 4 * len(line) <= limit else len(line.encode("utf-8", "surrogatepass"))
