"""Walk a folder or open one file, pick the reader for each file, and gather articles and skips.

Every file considered ends up as article(s) or a ``Skipped`` entry with its reason; only files
with an unsupported extension inside a folder, and hidden files and folders, are left out
(logged at debug level). Ids are unique within a run: a repeated id is skipped.
"""

from __future__ import annotations

import codecs
import gzip
import io
import logging
import os
import stat
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, TextIO

from dedup.errors import InputError
from dedup.model import Article, ReadResult, Skipped
from dedup.read.html import read_html
from dedup.read.jsonrecords import jsonl_outcomes, read_json, read_json_text, read_jsonl, read_jsonl_text, split_lines
from dedup.read.text import (
    BINARY_SAMPLE_BYTES,
    Found,
    Outcome,
    SkipInput,
    Source,
    decode_bytes,
    looks_binary,
    read_text,
)

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 50_000_000

Reader = Callable[[bytes, Source], list[Outcome]]

#: Reader per extension (lower case); each may also be gzip-compressed (``.txt.gz``).
READERS: dict[str, Reader] = {
    ".txt": read_text,
    ".md": read_text,
    ".html": read_html,
    ".htm": read_html,
    ".json": read_json,
    ".jsonl": read_jsonl,
}
GZIP_EXTENSION = ".gz"

#: Collection formats: read whole, with ``max_bytes`` bounding each record (keyword ``max_record_bytes``).
RECORD_LIMITED: frozenset[Callable[..., list[Outcome]]] = frozenset({read_jsonl})


def read_path(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ReadResult:
    """Read a folder (recursively, in sorted path order) or a single file into articles.

    In a folder, an article's id is its path relative to the folder without the extension(s),
    with forward slashes; a single file's id is its name without the extension(s). JSON records
    use their ``id`` field when they have one. Raises ``InputError`` if ``path`` does not exist.
    """
    collector = _Collector()
    for _ in _read_files(_checked(path), str(path), collector, max_bytes, streaming=False):
        pass
    return collector.result()


@dataclass(slots=True)
class ArticleStream:
    """The articles of :func:`stream_path`, made one at a time as ``articles`` is iterated (once), and the
    inputs skipped, filled in as the reading goes."""

    articles: Iterator[Article]
    skipped: list[Skipped]


def stream_path(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ArticleStream:
    """:func:`read_path` one article at a time: the same articles in the same order and the same skips, but a
    JSON Lines file (a crawl dump: gigabytes) is read a chunk at a time instead of whole, so neither the file, its
    text, its lines nor its articles are held at once. Raises ``InputError`` now if ``path`` does not exist."""
    root = _checked(path)
    collector = _Collector()
    return ArticleStream(_read_files(root, str(path), collector, max_bytes, streaming=True), collector.skipped)


def _checked(path: str | Path) -> Path:
    root = Path(path)
    if not root.exists():
        if root.is_symlink():
            raise InputError(f"input path is a broken symbolic link: {root}")
        raise InputError(f"input path does not exist: {root}")
    return root


def _read_files(root: Path, name: str, collector: _Collector, max_bytes: int, *, streaming: bool) -> Iterator[Article]:
    """Read the files of ``root`` into ``collector``; with ``streaming``, each article is yielded (and not kept)
    as soon as it is read, a JSON Lines file's a chunk at a time."""
    if root.is_dir():
        for file_path, relative in _walk(root, collector):
            kind = _split_extension(relative)
            if kind is None:
                logger.debug("ignored %s: unsupported extension", relative)
                continue
            reader, compressed, stem = kind
            if not _is_regular_file(file_path):
                # A FIFO or device inside a folder could block or never end.
                collector.skip(relative, "not a regular file")
                continue
            yield from collector.read_file(
                file_path, Source(id=stem, path=relative), reader, compressed, max_bytes, streaming=streaming
            )
    else:
        kind = _split_extension(root.name)
        if kind is None:
            # A file named explicitly is read as plain text whatever its extension.
            compressed = root.name.lower().endswith(GZIP_EXTENSION)
            base = root.name[: -len(GZIP_EXTENSION)] if compressed else root.name
            kind = (read_text, compressed, PurePosixPath(base).stem)
        reader, compressed, stem = kind
        yield from collector.read_file(
            root, Source(id=stem, path=name), reader, compressed, max_bytes, streaming=streaming
        )


def read_stream(stream: TextIO | BinaryIO, name: str = "-", *, max_bytes: int = DEFAULT_MAX_BYTES) -> ReadResult:
    """Read JSON Lines (one article object per line) from a text or binary stream such as stdin.

    ``max_bytes`` bounds each JSON Lines record, as in a .jsonl file.
    A stream whose first non-blank character is ``[`` is read as one JSON list of objects.
    Record ids default to ``<name>#<line number>`` (or ``<name>#<index>`` for a list).
    """
    collector = _Collector()
    source = Source(id=name, path=name)
    try:
        data = stream.read()
        document = decode_bytes(data, name) if isinstance(data, bytes) else data
        if document.lstrip().startswith("["):
            outcomes = read_json_text(document, source)
        else:
            outcomes = read_jsonl_text(document, source, max_record_bytes=max_bytes)
    except SkipInput as skip:
        collector.skip(name, skip.reason)
    except (OSError, UnicodeDecodeError) as error:
        collector.skip(name, f"cannot read stream: {error}")
    else:
        for _ in collector.add_all(outcomes):
            pass
    return collector.result()


def _split_extension(name: str) -> tuple[Reader, bool, str] | None:
    """(reader, gzip-compressed?, name without the extensions) for a supported file name, else None."""
    compressed = name.lower().endswith(GZIP_EXTENSION)
    base = name[: -len(GZIP_EXTENSION)] if compressed else name
    suffix = PurePosixPath(base).suffix
    reader = READERS.get(suffix.lower())
    if reader is None:
        return None
    return reader, compressed, base[: -len(suffix)]


def _walk(root: Path, collector: _Collector) -> Iterator[tuple[Path, str]]:
    """Yield (file path, relative posix path) under ``root``, sorted by relative path.

    Hidden entries are left out; symbolic links to folders are followed once each, so a
    link cycle cannot loop. Sub-folders that cannot be listed are reported to ``collector``
    as skipped; an input folder that cannot be listed raises ``InputError``.
    """

    def on_error(error: OSError) -> None:
        failed = Path(error.filename) if error.filename else root
        if failed == root:
            raise InputError(f"cannot list input folder {root}: {error.strerror or error}")
        collector.skip(_relative(failed, root), f"cannot list folder: {error.strerror or error}")

    visited = {os.path.realpath(root)}
    found: list[tuple[str, Path]] = []
    for directory, subdirectories, file_names in os.walk(root, onerror=on_error, followlinks=True):
        kept = []
        for subdirectory in subdirectories:
            if subdirectory.startswith("."):
                logger.debug("ignored hidden folder %s", os.path.join(directory, subdirectory))
                continue
            real = os.path.realpath(os.path.join(directory, subdirectory))
            if real in visited:
                logger.info("not reading %s again: it links to a folder already read", subdirectory)
                continue
            visited.add(real)
            kept.append(subdirectory)
        subdirectories[:] = sorted(kept)
        for file_name in file_names:
            file_path = Path(directory) / file_name
            if file_name.startswith("."):
                logger.debug("ignored hidden file %s", file_path)
                continue
            found.append((_relative(file_path, root), file_path))
    found.sort()
    for relative, file_path in found:
        yield file_path, relative


def _relative(file_path: Path, root: Path) -> str:
    """``file_path`` relative to ``root``, with forward slashes."""
    return file_path.relative_to(root).as_posix()


def _load_bytes(file_path: Path, compressed: bool, max_bytes: int | None) -> bytes:
    """The file's bytes (decompressed for gzip), at most ``max_bytes`` (None: any size); raises ``SkipInput``."""
    limit = -1 if max_bytes is None else max_bytes + 1
    try:
        with open(file_path, "rb") as handle:
            status = os.fstat(handle.fileno())
            if max_bytes is not None and stat.S_ISREG(status.st_mode) and status.st_size > max_bytes:
                raise SkipInput(f"file too large ({status.st_size} bytes > max {max_bytes})")
            data = handle.read(limit)
    except OSError as error:
        raise SkipInput(f"cannot read file: {error.strerror or error}") from error
    if max_bytes is not None and len(data) > max_bytes:
        raise SkipInput(f"file too large (more than max {max_bytes} bytes)")
    if not compressed:
        return data
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as unzipped:
            data = unzipped.read(limit)
    except (OSError, EOFError, zlib.error) as error:
        raise SkipInput(f"corrupt gzip file: {error}") from error
    if max_bytes is not None and len(data) > max_bytes:
        raise SkipInput(f"file too large (decompressed size more than max {max_bytes} bytes)")
    return data


class _Collector:
    """Gathers articles and skips in input order, keeping the first article of each id."""

    def __init__(self) -> None:
        self.articles: list[Article] = []
        self.skipped: list[Skipped] = []
        self._first_seen: dict[str, str] = {}

    def read_file(
        self, file_path: Path, source: Source, reader: Reader, compressed: bool, max_bytes: int, *, streaming: bool
    ) -> Iterator[Article]:
        """Read one file with ``reader``; any problem becomes a skip, never an exception. With ``streaming``, each
        article is yielded instead of kept, and a UTF-8 JSON Lines file is read a chunk at a time.

        A collection format (``RECORD_LIMITED``: JSON Lines, a crawl dump of millions of records) is read whole
        (or streamed), and ``max_bytes`` bounds each of its records instead.
        """
        if streaming and reader is read_jsonl and _plain_utf8(file_path, compressed):
            lines = split_lines(_decoded_chunks(file_path, compressed))
            empty = True
            try:
                for outcome in jsonl_outcomes(lines, source, max_record_bytes=max_bytes):
                    empty = False
                    yield from self.add_all([outcome], streaming=True)
            except (OSError, EOFError, zlib.error, UnicodeDecodeError) as error:  # changed while being read
                self.skip(source.path, f"cannot read file: {error}")
                return
            if empty:
                self.skip(source.path, "empty text")
            return
        try:
            if reader in RECORD_LIMITED:
                outcomes = reader(_load_bytes(file_path, compressed, None), source, max_record_bytes=max_bytes)
            else:
                outcomes = reader(_load_bytes(file_path, compressed, max_bytes), source)
        except SkipInput as skip:
            self.skip(source.path, skip.reason)
            return
        yield from self.add_all(outcomes, streaming=streaming)

    def add_all(self, outcomes: list[Outcome], *, streaming: bool = False) -> Iterator[Article]:
        """Take ``outcomes`` in; with ``streaming``, each new article is yielded instead of kept."""
        for outcome in outcomes:
            if isinstance(outcome, Skipped):
                self.skip(outcome.path, outcome.reason)
            elif self.add(outcome, keep=not streaming):
                yield outcome.article

    def add(self, found: Found, *, keep: bool = True) -> bool:
        """Take an article in (kept when ``keep``); False for a repeated id (skipped)."""
        first = self._first_seen.get(found.article.id)
        if first is not None:
            self.skip(found.where, f"duplicate id {found.article.id} (first seen in {first})")
            return False
        self._first_seen[found.article.id] = found.where
        if keep:
            self.articles.append(found.article)
        return True

    def skip(self, path: str, reason: str) -> None:
        logger.warning("skipped %s: %s", path, reason)
        self.skipped.append(Skipped(path, reason))

    def result(self) -> ReadResult:
        return ReadResult(articles=self.articles, skipped=self.skipped)


CHUNK_BYTES = 1 << 20  # a streamed JSON Lines file is read this much at a time


def _opened(file_path: Path, compressed: bool) -> BinaryIO:
    return gzip.open(file_path, "rb") if compressed else open(file_path, "rb")


def _plain_utf8(file_path: Path, compressed: bool) -> bool:
    """Whether the file decodes as UTF-8 (no UTF-16/32 mark, not binary), checked a chunk at a time: then it is
    read as ``decode_bytes`` would read it whole. Anything else (a guessed encoding, a problem to report) is left
    to the whole-file path."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        with _opened(file_path, compressed) as handle:
            start = handle.read(BINARY_SAMPLE_BYTES)
            boms = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
            if start.startswith(boms) or looks_binary(start):
                return False
            decoder.decode(start)
            while chunk := handle.read(CHUNK_BYTES):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError):
        return False
    return True


def _decoded_chunks(file_path: Path, compressed: bool) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    with _opened(file_path, compressed) as handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield decoder.decode(chunk)
        yield decoder.decode(b"", final=True)


def _is_regular_file(file_path: Path) -> bool:
    """True for a regular file (following symbolic links), False for FIFOs, sockets and devices."""
    try:
        return stat.S_ISREG(file_path.stat().st_mode)
    except OSError:
        # Let the read report the precise reason (e.g. a dangling link: no such file).
        return True
