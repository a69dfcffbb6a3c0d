"""The JSON result document (schema 1): one self-contained file per run.

The layout is documented in ``docs/output-schema.md``. Building the document
(``result_to_dict``), serialising it (``dump_json`` / ``write_json``) and checking its
shape (``validate_document``) are separate so callers can add their own sinks.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any, TextIO

import orjson

from dedup.model import Cluster, Member, Passage, PassageTable, Result

SCHEMA_VERSION = 1

ROLES = frozenset({"origin", "derived", "same-story", "duplicate"})
RELATIONS = frozenset({"duplicate", "derived", "same-story"})
KINDS = frozenset({"verbatim", "rewrite"})
EXTENTS = frozenset({"whole", "partial"})

TOP_KEYS = ("schema", "clusters", "passages", "singletons", "skipped", "parameters")
CLUSTER_KEYS = ("id", "relation", "origin", "origin_evidence", "credited_sources", "members")
MEMBER_KEYS = ("id", "role", "sources", "coverage", "extent")
PASSAGE_KEYS = (
    "cluster",
    "source",
    "target",
    "source_span",
    "target_span",
    "kind",
    "score",
    "source_text",
    "target_text",
)
SKIPPED_KEYS = ("path", "reason")

_DECIMALS = 4


# --- building ---------------------------------------------------------------------------------------------


def cluster_membership(clusters: Iterable[Cluster]) -> dict[str, list[str]]:
    """Article id → ids of the clusters it belongs to, in cluster order."""
    membership: dict[str, list[str]] = {}
    for cluster in clusters:
        for member in cluster.members:
            ids = membership.setdefault(member.id, [])
            if cluster.id not in ids:
                ids.append(cluster.id)
    return membership


def passage_cluster(passage: Passage, membership: Mapping[str, list[str]]) -> str | None:
    """The first cluster holding both ends of ``passage``, or None when no cluster does."""
    return _pair_cluster(passage.source, passage.target, membership)


def _pair_cluster(source: str, target: str, membership: Mapping[str, list[str]]) -> str | None:
    target_clusters = membership.get(target, [])
    for cluster_id in membership.get(source, []):
        if cluster_id in target_clusters:
            return cluster_id
    return None


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{value} is not a JSON number")
    return value


def _round(value: float | None) -> float | None:
    return None if value is None else round(_finite(float(value)), _DECIMALS)


def _jsonable(value: Any) -> Any:
    """A JSON-ready copy of ``value``: tuples and sets become lists, paths strings, keys strings.

    ValueError for NaN and infinities: they are not valid JSON.
    """
    if isinstance(value, float):
        return _finite(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((_jsonable(item) for item in value), key=lambda item: json.dumps(item, sort_keys=True))
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, PurePath):
        return value.as_posix()
    return str(value)


def _member_dict(member: Member) -> dict[str, Any]:
    return {
        "id": member.id,
        "role": member.role,
        "sources": list(member.sources),
        "coverage": _round(member.coverage),
        "extent": member.extent,
    }


def _cluster_dict(cluster: Cluster) -> dict[str, Any]:
    return {
        "id": cluster.id,
        "relation": cluster.relation,
        "origin": cluster.origin,
        "origin_evidence": _jsonable(cluster.origin_evidence),
        "credited_sources": _jsonable(cluster.credited_sources),
        "members": [_member_dict(member) for member in cluster.members],
    }


def _passage_dict(passage: Passage, texts: Mapping[str, str], membership: Mapping[str, list[str]]) -> dict:
    source_begin, source_end = passage.source_span
    target_begin, target_end = passage.target_span
    return {
        "cluster": passage_cluster(passage, membership),
        "source": passage.source,
        "target": passage.target,
        "source_span": [source_begin, source_end],
        "target_span": [target_begin, target_end],
        "kind": passage.kind,
        "score": _round(passage.score),
        "source_text": texts[passage.source][source_begin:source_end],
        "target_text": texts[passage.target][target_begin:target_end],
    }


def _table_passage_dicts(
    table: PassageTable, texts: Mapping[str, str], membership: Mapping[str, list[str]]
) -> Iterator[dict]:
    """``_passage_dict`` of every passage of ``table``, in order (equal, tested), made from its columns a block at a
    time: no ``Passage`` made, and a pair's ids, cluster and texts looked up once for its run of passages (the
    table holds them by target and source)."""
    ids, names = table.ids, table.kind_names
    step = 65536
    pair = None
    source = target = cluster = source_text = target_text = None
    for begin in range(0, len(table), step):
        end = min(begin + step, len(table))
        for numbers, (a, b, c, d), kind, score in zip(
            table.numbers[begin:end].tolist(),
            table.spans[begin:end].tolist(),
            table.kinds[begin:end].tolist(),
            table.scores[begin:end].tolist(),
            strict=True,
        ):
            if numbers != pair:
                pair = numbers
                source, target = ids[numbers[0]], ids[numbers[1]]
                cluster = _pair_cluster(source, target, membership)
                source_text, target_text = texts[source], texts[target]
            yield {
                "cluster": cluster,
                "source": source,
                "target": target,
                "source_span": [a, b],
                "target_span": [c, d],
                "kind": names[kind],
                "score": _round(score),
                "source_text": source_text[a:b],  # type: ignore[index]
                "target_text": target_text[c:d],  # type: ignore[index]
            }


def _passage_dicts(
    passages: Sequence[Passage], texts: Mapping[str, str], membership: Mapping[str, list[str]]
) -> Iterator[dict]:
    """The document's passage objects: from a ``PassageTable``'s columns, else one ``Passage`` at a time."""
    if isinstance(passages, PassageTable):
        return _table_passage_dicts(passages, texts, membership)
    return (_passage_dict(passage, texts, membership) for passage in passages)


class Streamed(Iterable[Any]):
    """A list of the document made item by item each time it is iterated, never held whole: a run's passage
    dicts (both texts each) are ~15 KB an article as Python objects (10k generated articles), more than the
    rest of the run's state. ``len`` is known without making them."""

    def __init__(self, make: Callable[[], Iterator[Any]], length: int) -> None:
        self.make = make
        self.length = length

    def __iter__(self) -> Iterator[Any]:
        return self.make()

    def __len__(self) -> int:
        return self.length


def streamed_document(result: Result, texts: Mapping[str, str]) -> dict[str, Any]:
    """The schema-1 document for ``result`` with its clusters and passages :class:`Streamed`: made one at a
    time as a writer reads them (``write_document``, ``write_tables``); ``result_to_dict`` makes it whole."""
    membership = cluster_membership(result.clusters)
    return {
        "schema": SCHEMA_VERSION,
        "clusters": Streamed(lambda: map(_cluster_dict, result.clusters), len(result.clusters)),
        "passages": Streamed(lambda: _passage_dicts(result.passages, texts, membership), len(result.passages)),
        "singletons": list(result.singletons),
        "skipped": [{"path": item.path, "reason": item.reason} for item in result.skipped],
        "parameters": _jsonable(result.parameters),
    }


def materialized(document: Mapping[str, Any]) -> dict[str, Any]:
    """``document`` with every :class:`Streamed` list made whole (a plain schema-1 dict)."""
    return {key: list(value) if isinstance(value, Streamed) else value for key, value in document.items()}


def result_to_dict(result: Result, texts: Mapping[str, str]) -> dict[str, Any]:
    """The schema-1 document for ``result``; ``texts`` maps article id → text as read.

    Order is taken from ``result`` as given (the upstream stages order by id), so the same
    result always gives the same document. Raises ``KeyError`` if a passage names an
    article missing from ``texts``.
    """
    return materialized(streamed_document(result, texts))


# --- serialising ------------------------------------------------------------------------------------------


def json_bytes(doc: Mapping[str, Any]) -> bytes:
    """``doc`` as UTF-8, 2-space-indented JSON with a trailing newline: the bytes ``json.dump(doc,
    ensure_ascii=False, indent=2)`` writes for our documents (floats of 4 decimals), ~25x faster.

    ``result_to_dict`` refuses NaN and infinities (not valid JSON) while it builds the document;
    orjson would write them as null.
    """
    return orjson.dumps(materialized(doc), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def _indented(value: Any, depth: int) -> bytes:
    """``value`` as ``json_bytes`` writes it ``depth`` levels deep (without the leading indent or trailing newline).

    orjson escapes every control character inside strings, so each raw newline of its output starts a line."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).replace(b"\n", b"\n" + b"  " * depth)


BLOCK_ITEMS = 512  # items of a Streamed list made and written by orjson at a time


def document_pieces(doc: Mapping[str, Any]) -> Iterator[bytes]:
    """The bytes of ``json_bytes(materialized(doc))``, a piece at a time: each top-level value by orjson, and
    the items of a :class:`Streamed` list by orjson a block of :data:`BLOCK_ITEMS` at a time as they are made
    (tested equal, also on generated documents), so neither the whole document nor its bytes are ever held."""
    yield b"{"
    for number, (key, value) in enumerate(doc.items()):
        yield (b",\n  " if number else b"\n  ") + orjson.dumps(key) + b": "
        if not isinstance(value, Streamed):
            yield _indented(value, 1)
            continue
        empty = True
        items = iter(value)
        while block := list(itertools.islice(items, BLOCK_ITEMS)):
            # the block's items as ``_indented(item, 2)`` each, joined by ",\n    ": one orjson call for the block
            # (its list's "[\n    " and "\n  ]" cut off)
            body = orjson.dumps(block, option=orjson.OPT_INDENT_2).replace(b"\n", b"\n  ")[6:-4]
            yield (b"[\n    " if empty else b",\n    ") + body
            empty = False
        yield b"[]" if empty else b"\n  ]"
    yield b"\n}\n" if doc else b"}\n"


PIECE_BYTES = 1 << 20  # pieces are gathered into writes of about this size


def _write_pieces(doc: Mapping[str, Any], write: Callable[[bytes], Any]) -> None:
    buffered: list[bytes] = []
    size = 0
    for piece in document_pieces(doc):
        buffered.append(piece)
        size += len(piece)
        if size >= PIECE_BYTES:
            write(b"".join(buffered))
            buffered, size = [], 0
    write(b"".join(buffered))


def dump_json(doc: Mapping[str, Any], stream: TextIO) -> None:
    """Write ``doc`` to a text stream (see ``json_bytes``), a piece at a time (``document_pieces``)."""
    _write_pieces(doc, lambda data: stream.write(data.decode("utf-8")))


def write_json(doc: Mapping[str, Any], path: str | Path) -> None:
    """Write ``doc`` to ``path`` (UTF-8, ``\\n`` line endings; the bytes of ``json_bytes``), a piece at a time."""
    with open(path, "wb") as handle:
        _write_pieces(doc, handle.write)


# --- checking ---------------------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _check_keys(obj: Any, keys: tuple[str, ...], where: str, problems: list[str]) -> bool:
    """Report a non-object, missing keys and unknown keys; True when ``obj`` is an object."""
    if not isinstance(obj, dict):
        problems.append(f"{where}: expected an object, got {type(obj).__name__}")
        return False
    for key in keys:
        if key not in obj:
            problems.append(f"{where}: missing key {key!r}")
    for key in obj:
        if key not in keys:
            problems.append(f"{where}: unknown key {key!r}")
    return True


def _check_span(value: Any, where: str, problems: list[str]) -> bool:
    """True when ``value`` is ``[begin, end]`` with ints ``0 <= begin <= end``."""
    if not (isinstance(value, list) and len(value) == 2 and all(_is_int(item) for item in value)):
        problems.append(f"{where}: expected [begin, end] of two integers, got {value!r}")
        return False
    if not 0 <= value[0] <= value[1]:
        problems.append(f"{where}: expected 0 <= begin <= end, got {value!r}")
        return False
    return True


def _check_str(value: Any, where: str, problems: list[str], *, nullable: bool = False) -> None:
    if not (isinstance(value, str) or (nullable and value is None)):
        expected = "a string or null" if nullable else "a string"
        problems.append(f"{where}: expected {expected}, got {value!r}")


def _check_str_list(value: Any, where: str, problems: list[str]) -> None:
    if not isinstance(value, list):
        problems.append(f"{where}: expected a list of strings, got {type(value).__name__}")
        return
    for index, item in enumerate(value):
        _check_str(item, f"{where}[{index}]", problems)


def _check_choice(value: Any, allowed: frozenset[str | None], where: str, problems: list[str]) -> None:
    if not isinstance(value, (str, type(None))) or value not in allowed:
        choices = ", ".join(sorted(repr(item) if item else "null" for item in allowed))
        problems.append(f"{where}: {value!r} is not one of {choices}")


def _check_evidence(items: Any, where: str, problems: list[str]) -> None:
    """Evidence and credit items: objects; ``doc``/``snippet``/``why``/``source`` strings; ``span`` a span."""
    if not isinstance(items, list):
        problems.append(f"{where}: expected a list, got {type(items).__name__}")
        return
    for index, item in enumerate(items):
        at = f"{where}[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{at}: expected an object, got {type(item).__name__}")
            continue
        for key in ("doc", "snippet", "why", "source", "published"):
            if key in item:
                _check_str(item[key], f"{at}.{key}", problems, nullable=key == "published")
        if "span" in item:
            _check_span(item["span"], f"{at}.span", problems)


def _check_member(member: Any, where: str, problems: list[str]) -> None:
    if not _check_keys(member, MEMBER_KEYS, where, problems):
        return
    if "id" in member:
        _check_str(member["id"], f"{where}.id", problems)
    if "role" in member:
        _check_choice(member["role"], ROLES, f"{where}.role", problems)
    if "sources" in member:
        _check_str_list(member["sources"], f"{where}.sources", problems)
    coverage = member.get("coverage")
    if coverage is not None and not (_is_number(coverage) and 0 <= coverage <= 1):
        problems.append(f"{where}.coverage: expected a number in [0, 1] or null, got {coverage!r}")
    if "extent" in member:
        _check_choice(member["extent"], EXTENTS | {None}, f"{where}.extent", problems)


def _check_cluster(cluster: Any, where: str, problems: list[str]) -> None:
    if not _check_keys(cluster, CLUSTER_KEYS, where, problems):
        return
    if "id" in cluster:
        _check_str(cluster["id"], f"{where}.id", problems)
    if "relation" in cluster:
        _check_choice(cluster["relation"], RELATIONS, f"{where}.relation", problems)
    if "origin" in cluster:
        _check_str(cluster["origin"], f"{where}.origin", problems, nullable=True)
    for key in ("origin_evidence", "credited_sources"):
        if key in cluster:
            _check_evidence(cluster[key], f"{where}.{key}", problems)
    members = cluster.get("members")
    if not isinstance(members, list) or not members:
        problems.append(f"{where}.members: expected a non-empty list")
        return
    for index, member in enumerate(members):
        _check_member(member, f"{where}.members[{index}]", problems)
    member_ids = [member.get("id") for member in members if isinstance(member, dict)]
    if len(set(map(str, member_ids))) != len(member_ids):
        problems.append(f"{where}.members: duplicate member ids")
    origin = cluster.get("origin")
    if isinstance(origin, str) and origin not in member_ids:
        problems.append(f"{where}.origin: {origin!r} is not a member of the cluster")


def _check_passage(passage: Any, where: str, cluster_ids: set[str], problems: list[str]) -> None:
    if not _check_keys(passage, PASSAGE_KEYS, where, problems):
        return
    cluster = passage.get("cluster")
    if "cluster" in passage:
        _check_str(cluster, f"{where}.cluster", problems, nullable=True)
    if isinstance(cluster, str) and cluster not in cluster_ids:
        problems.append(f"{where}.cluster: {cluster!r} is not a cluster id")
    for side in ("source", "target"):
        if side in passage:
            _check_str(passage[side], f"{where}.{side}", problems)
        text = passage.get(f"{side}_text")
        if f"{side}_text" in passage:
            _check_str(text, f"{where}.{side}_text", problems)
        span = passage.get(f"{side}_span")
        if f"{side}_span" not in passage:
            continue
        spans_ok = _check_span(span, f"{where}.{side}_span", problems)
        if spans_ok and isinstance(text, str) and len(text) != span[1] - span[0]:
            problems.append(f"{where}.{side}_text: length {len(text)} does not match span {span!r}")
    if "kind" in passage:
        _check_choice(passage["kind"], KINDS, f"{where}.kind", problems)
    if "score" in passage and not _is_number(passage["score"]):
        problems.append(f"{where}.score: expected a number, got {passage['score']!r}")


def validate_document(doc: dict[str, Any]) -> list[str]:
    """Structural problems in a schema-1 document, one message each; empty when it is well formed.

    A hand-written check (no jsonschema dependency): required and unknown keys, types, span
    shapes, the closed vocabularies (roles, relations, kinds, extents), and a few
    cross-references (passage clusters exist, origins are members, texts match spans).
    """
    problems: list[str] = []
    if not _check_keys(doc, TOP_KEYS, "document", problems):
        return problems
    if "schema" in doc and (doc["schema"] != SCHEMA_VERSION or not _is_int(doc["schema"])):
        problems.append(f"schema: expected {SCHEMA_VERSION}, got {doc['schema']!r}")

    cluster_ids: set[str] = set()
    clusters = doc.get("clusters", [])
    if not isinstance(clusters, list):
        problems.append("clusters: expected a list")
        clusters = []
    for index, cluster in enumerate(clusters):
        _check_cluster(cluster, f"clusters[{index}]", problems)
        if isinstance(cluster, dict) and isinstance(cluster.get("id"), str):
            if cluster["id"] in cluster_ids:
                problems.append(f"clusters[{index}].id: duplicate cluster id {cluster['id']!r}")
            cluster_ids.add(cluster["id"])

    passages = doc.get("passages", [])
    if not isinstance(passages, list):
        problems.append("passages: expected a list")
        passages = []
    for index, passage in enumerate(passages):
        _check_passage(passage, f"passages[{index}]", cluster_ids, problems)

    if "singletons" in doc:
        _check_str_list(doc["singletons"], "singletons", problems)
    skipped = doc.get("skipped", [])
    if not isinstance(skipped, list):
        problems.append("skipped: expected a list")
        skipped = []
    for index, item in enumerate(skipped):
        if _check_keys(item, SKIPPED_KEYS, f"skipped[{index}]", problems):
            for key in SKIPPED_KEYS:
                _check_str(item.get(key), f"skipped[{index}].{key}", problems)
    if "parameters" in doc and not isinstance(doc["parameters"], dict):
        problems.append("parameters: expected an object")
    return problems
