"""Plain encodings of what the index stores: zlib JSON, little-endian numpy bytes. Never pickle."""

from __future__ import annotations

import json
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


def verdict_record(verdict: PairVerdict, reverse: list[Passage] | None = None) -> dict[str, Any]:
    """A pair verdict as plain JSON (floats round-trip exactly); ``reverse``: its passages aligned from
    ``b`` to ``a``, kept with related pairs so a cluster whose ranking reverses the edge reads them."""
    record = {
        "a": verdict.a,
        "b": verdict.b,
        "relation": verdict.relation,
        "passages": [
            [p.source_span[0], p.source_span[1], p.target_span[0], p.target_span[1], p.kind, p.score]
            for p in verdict.passages
        ],
        "coverage": [verdict.coverage_a, verdict.coverage_b],
        "verbatim": [verdict.verbatim_a, verdict.verbatim_b],
        "score": verdict.score,
        "evidence": verdict.evidence,
    }
    if reverse is not None:
        record["reverse"] = [
            [p.source_span[0], p.source_span[1], p.target_span[0], p.target_span[1], p.kind, p.score] for p in reverse
        ]
    return record


def record_reverse(record: dict[str, Any]) -> list[Passage] | None:
    """The passages from ``b`` to ``a`` stored with a pair verdict (``None`` when not stored)."""
    values = record.get("reverse")
    if values is None:
        return None
    try:
        a, b = record["a"], record["b"]
        return [Passage(b, a, (s0, s1), (t0, t1), kind, score) for s0, s1, t0, t1, kind, score in values]
    except (KeyError, TypeError, ValueError) as error:
        raise CorruptIndexError(f"a stored pair verdict is incomplete: {error}") from None


def record_verdict(record: dict[str, Any]) -> PairVerdict:
    try:
        a, b = record["a"], record["b"]
        return PairVerdict(
            a=a,
            b=b,
            relation=record["relation"],
            passages=[
                Passage(a, b, (s0, s1), (t0, t1), kind, score) for s0, s1, t0, t1, kind, score in record["passages"]
            ],
            coverage_a=record["coverage"][0],
            coverage_b=record["coverage"][1],
            verbatim_a=record["verbatim"][0],
            verbatim_b=record["verbatim"][1],
            score=record["score"],
            evidence=record["evidence"],
        )
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise CorruptIndexError(f"a stored pair verdict is incomplete: {error}") from None
