"""Plain encodings of what the index stores: zlib JSON, little-endian numpy bytes. Never pickle."""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import numpy as np

from dedup.model import Article, PairVerdict, Passage
from dedup.store.errors import CorruptIndexError


def pack_json(value: Any) -> bytes:
    """Compact, key-sorted JSON, zlib-compressed."""
    return zlib.compress(json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8"), 6)


def unpack_json(data: bytes) -> Any:
    try:
        return json.loads(zlib.decompress(data).decode("utf-8"))
    except (zlib.error, UnicodeDecodeError, ValueError) as error:
        raise CorruptIndexError(f"a stored record cannot be decoded: {error}") from None


def pack_ints(values: Any, dtype: str = "<i8") -> bytes:
    return np.asarray(values, dtype=dtype).tobytes()


def pack_term_features(features: Any) -> bytes:
    """Signature-term features (below ``2**24``; ``N_FEATURES`` is ``2**20``), 3 little-endian bytes each, in order."""
    values = np.asarray(features, dtype="<u4")
    if len(values) and int(values.max()) >= 1 << 24:
        raise ValueError("a signature-term feature does not fit in 3 bytes")
    return values.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()


def unpack_term_features(data: bytes) -> list[int]:
    """The features ``pack_term_features`` stored, in order."""
    if len(data) % 3:
        raise CorruptIndexError("stored signature terms have a broken length")
    return [int.from_bytes(data[k : k + 3], "little") for k in range(0, len(data), 3)]


def unpack_ints(data: bytes | None, dtype: str = "<i8") -> tuple[int, ...]:
    if not data:
        return ()
    if len(data) % np.dtype(dtype).itemsize:
        raise CorruptIndexError("a stored integer array has a broken length")
    return tuple(int(v) for v in np.frombuffer(data, dtype=dtype))


def article_record(article: Article) -> dict[str, Any]:
    return {
        "id": article.id,
        "text": article.text,
        "title": article.title,
        "url": article.url,
        "outlet": article.outlet,
        "published": article.published,
        "extra": article.extra,
    }


def record_article(record: dict[str, Any]) -> Article:
    try:
        return Article(
            id=record["id"],
            text=record["text"],
            title=record.get("title"),
            url=record.get("url"),
            outlet=record.get("outlet"),
            published=record.get("published"),
            extra=record.get("extra") or {},
        )
    except (KeyError, TypeError) as error:
        raise CorruptIndexError(f"a stored article record is incomplete: {error}") from None


_VERDICT_VERSION = 1
# a preset dictionary for zlib (RFC 1950): the strings every pair record repeats cost nothing
_VERDICT_ZDICT = (
    b'"stock_passages":"credit_link":false,"credit_link":true,"longest_verbatim_tokens":'
    b'"reused_sentences":"unquoted_verbatim_tokens":"unrelated""same-story""duplicate""derived"'
)
_KINDS = ("verbatim", "rewrite")


def _passage_bytes(passages: list[Passage]) -> bytes:
    spans = np.array([[*p.source_span, *p.target_span] for p in passages], dtype="<u4").reshape(-1, 4)
    kinds = bytes(_KINDS.index(p.kind) for p in passages)
    scores = np.array([p.score for p in passages], dtype="<f8")
    return spans.tobytes() + kinds + scores.tobytes()


# ``Passage`` is a frozen dataclass: its ``__init__`` sets each field through ``object.__setattr__``. A stored pair is
# decoded each time a cluster holding it is rebuilt (thousands of passages for a large story), so the decoder fills
# the slots directly (half the time; tested equal to ``Passage(...)``).
_PASSAGE_SLOTS = tuple(
    getattr(Passage, name).__set__ for name in ("source", "target", "source_span", "target_span", "kind", "score")
)


def _passages_from(body: bytes, offset: int, count: int, source: str, target: str) -> tuple[list[Passage], int]:
    """The ``count`` passages stored at ``offset`` of ``body`` (raises ``struct.error``, ``IndexError``): equal to
    :func:`reference_passages_from` (tested), in one ``struct`` call per array instead of numpy views."""
    if count <= 0:
        return [], offset
    spans = struct.unpack_from(f"<{4 * count}I", body, offset)
    offset += 16 * count
    kinds = body[offset : offset + count]
    offset += count
    scores = struct.unpack_from(f"<{count}d", body, offset)
    offset += 8 * count
    set_source, set_target, set_source_span, set_target_span, set_kind, set_score = _PASSAGE_SLOTS
    make = object.__new__
    passages = []
    for number in range(count):
        passage = make(Passage)
        set_source(passage, source)
        set_target(passage, target)
        set_source_span(passage, (spans[4 * number], spans[4 * number + 1]))
        set_target_span(passage, (spans[4 * number + 2], spans[4 * number + 3]))
        set_kind(passage, _KINDS[kinds[number]])
        set_score(passage, scores[number])
        passages.append(passage)
    return passages, offset


def reference_passages_from(
    body: bytes, offset: int, count: int, source: str, target: str
) -> tuple[list[Passage], int]:
    """The readable reference of :func:`_passages_from`."""
    spans = np.frombuffer(body, "<u4", count=4 * count, offset=offset).reshape(-1, 4).tolist()
    offset += 16 * count
    kinds = body[offset : offset + count]
    offset += count
    scores = np.frombuffer(body, "<f8", count=count, offset=offset).tolist()
    offset += 8 * count
    passages = [
        Passage(source, target, (s0, s1), (t0, t1), _KINDS[kind], score)
        for (s0, s1, t0, t1), kind, score in zip(spans, kinds, scores, strict=True)
    ]
    return passages, offset


def pack_verdict(verdict: PairVerdict, reverse: list[Passage] | None = None) -> bytes:
    """A pair verdict as bytes: a JSON header (ids, relation, evidence), the five floats as float64,
    the passages as ``uint32`` spans, kind bytes and float64 scores (floats round-trip exactly);
    ``reverse``: its passages aligned from ``b`` to ``a``, kept with related pairs so a cluster
    whose ranking reverses the edge reads them. zlib with a preset dictionary. Never pickle."""
    header = json.dumps(
        [
            verdict.a,
            verdict.b,
            verdict.relation,
            verdict.evidence,
            len(verdict.passages),
            -1 if reverse is None else len(reverse),
        ],
        separators=(",", ":"),
        sort_keys=True,
    ).encode("utf-8")
    numbers = np.array(
        [verdict.coverage_a, verdict.coverage_b, verdict.verbatim_a, verdict.verbatim_b, verdict.score], dtype="<f8"
    )
    body = b"".join(
        [
            bytes([_VERDICT_VERSION]),
            len(header).to_bytes(4, "little"),
            header,
            numbers.tobytes(),
            _passage_bytes(verdict.passages),
            _passage_bytes(reverse or []),
        ]
    )
    compressor = zlib.compressobj(6, zdict=_VERDICT_ZDICT)
    return compressor.compress(body) + compressor.flush()


def _verdict_body(data: bytes) -> tuple[bytes, int]:
    """The inflated ``pack_verdict`` bytes and the size of their JSON header (raises ``ValueError``, ``zlib.error``)."""
    decompressor = zlib.decompressobj(zdict=_VERDICT_ZDICT)
    body = decompressor.decompress(data) + decompressor.flush()
    if not body or body[0] != _VERDICT_VERSION:
        raise ValueError("unknown pair verdict layout")
    return body, int.from_bytes(body[1:5], "little")


def verdict_order_fields(data: bytes) -> tuple[str, str, str, float, float]:
    """(a, b, relation, coverage_a, coverage_b) of ``pack_verdict`` bytes, without decoding the passages."""
    try:
        body, size = _verdict_body(data)
        a, b, relation, *_ = json.loads(body[5 : 5 + size].decode("utf-8"))
        coverage_a, coverage_b = np.frombuffer(body, "<f8", count=2, offset=5 + size).tolist()
    except (zlib.error, ValueError, UnicodeDecodeError, TypeError, IndexError) as error:
        raise CorruptIndexError(f"a stored pair verdict cannot be decoded: {error}") from None
    return a, b, relation, coverage_a, coverage_b


def unpack_verdict(data: bytes) -> tuple[PairVerdict, list[Passage] | None]:
    """The pair verdict and its stored passages from ``b`` to ``a`` (``None`` when not stored)."""
    try:
        body, size = _verdict_body(data)
        a, b, relation, evidence, n_passages, n_reverse = json.loads(body[5 : 5 + size].decode("utf-8"))
        offset = 5 + size
        numbers = struct.unpack_from("<5d", body, offset)
        offset += 40
        passages, offset = _passages_from(body, offset, n_passages, a, b)
        reverse, offset = _passages_from(body, offset, max(n_reverse, 0), b, a)
        if offset != len(body):
            raise ValueError("trailing bytes")
    except (zlib.error, ValueError, UnicodeDecodeError, TypeError, IndexError, struct.error) as error:
        raise CorruptIndexError(f"a stored pair verdict cannot be decoded: {error}") from None
    verdict = PairVerdict(
        a=a,
        b=b,
        relation=relation,
        passages=passages,
        coverage_a=numbers[0],
        coverage_b=numbers[1],
        verbatim_a=numbers[2],
        verbatim_b=numbers[3],
        score=numbers[4],
        evidence=evidence,
    )
    return verdict, (reverse if n_reverse >= 0 else None)
