"""Three flat tables for data tools: clusters, members and passages (JSONL, CSV or Parquet).

Built from the schema-1 document, so a table row says exactly what the JSON says; the
columns are documented in ``docs/tables.md``. Spans are split into begin/end columns so
SQL and dataframes can use them directly. List columns (``sources``, ``credited``) are
native lists in JSONL and Parquet and JSON text in CSV; evidence items, whose keys vary,
are JSON text in every format. Output is deterministic: fixed column order, rows in
document order.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from dedup.errors import DedupError
from dedup.model import Result
from dedup.write.jsondoc import streamed_document

FORMATS = ("jsonl", "csv", "parquet")
TABLES = ("clusters", "members", "passages")

# name → (column, type); types: str, int, float, list (of str), json (text holding JSON).
COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "clusters": (
        ("cluster", "str"),
        ("relation", "str"),
        ("origin", "str"),
        ("member_count", "int"),
        ("derived_count", "int"),
        ("passage_count", "int"),
        ("credited", "list"),
        ("origin_evidence", "json"),
        ("credited_sources", "json"),
    ),
    "members": (
        ("cluster", "str"),
        ("id", "str"),
        ("role", "str"),
        ("sources", "list"),
        ("coverage", "float"),
        ("extent", "str"),
        ("is_origin", "bool"),
        ("outlet", "str"),
        ("published", "str"),
        ("title", "str"),
    ),
    "passages": (
        ("passage", "int"),
        ("cluster", "str"),
        ("source", "str"),
        ("target", "str"),
        ("source_begin", "int"),
        ("source_end", "int"),
        ("target_begin", "int"),
        ("target_end", "int"),
        ("kind", "str"),
        ("score", "float"),
        ("source_text", "str"),
        ("target_text", "str"),
    ),
}


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=False)


def table_rows(
    result: Result | Mapping[str, Any],
    texts: Mapping[str, str] | None = None,
    metadata: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The three tables as lists of rows (dicts in column order), before any formatting.

    ``result`` is a ``Result`` (then ``texts`` is required) or a schema-1 document;
    ``metadata`` maps id → ``{outlet, published, title}`` for the members table.
    """
    return {name: list(rows) for name, rows in table_iterators(result, texts, metadata).items()}


def table_iterators(
    result: Result | Mapping[str, Any],
    texts: Mapping[str, str] | None = None,
    metadata: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Iterator[dict[str, Any]]]:
    """The rows of :func:`table_rows`, each table's made one at a time as it is read (a ``Result`` is read through
    ``streamed_document``: no table, and no passage list, is held whole)."""
    if isinstance(result, Result):
        if texts is None:
            raise ValueError("a Result needs the article texts; pass texts= or a schema-1 document")
        doc: Mapping[str, Any] = streamed_document(result, texts)
    else:
        doc = result
    metadata = metadata or {}
    passage_counts: dict[str | None, int] = {}
    for passage in doc["passages"]:
        passage_counts[passage["cluster"]] = passage_counts.get(passage["cluster"], 0) + 1
    return {
        "clusters": _cluster_rows(doc["clusters"], passage_counts),
        "members": _member_rows(doc["clusters"], metadata),
        "passages": _passage_rows(doc["passages"]),
    }


def _cluster_rows(clusters: Iterable[Mapping[str, Any]], passage_counts: Mapping[str | None, int]) -> Iterator[dict]:
    for cluster in clusters:
        credited: list[str] = []
        for item in cluster["credited_sources"]:
            if item.get("source") and item["source"] not in credited:
                credited.append(item["source"])
        yield {
            "cluster": cluster["id"],
            "relation": cluster["relation"],
            "origin": cluster["origin"],
            "member_count": len(cluster["members"]),
            "derived_count": sum(1 for m in cluster["members"] if m["role"] == "derived"),
            "passage_count": passage_counts.get(cluster["id"], 0),
            "credited": credited,
            "origin_evidence": _json_text(cluster["origin_evidence"]),
            "credited_sources": _json_text(cluster["credited_sources"]),
        }


def _member_rows(clusters: Iterable[Mapping[str, Any]], metadata: Mapping[str, Mapping[str, Any]]) -> Iterator[dict]:
    for cluster in clusters:
        for member in cluster["members"]:
            meta = metadata.get(member["id"], {})
            yield {
                "cluster": cluster["id"],
                "id": member["id"],
                "role": member["role"],
                "sources": list(member["sources"]),
                "coverage": member["coverage"],
                "extent": member["extent"],
                "is_origin": member["id"] == cluster["origin"],
                "outlet": _optional_str(meta.get("outlet")),
                "published": _optional_str(meta.get("published")),
                "title": _optional_str(meta.get("title")),
            }


def _passage_rows(passages: Iterable[Mapping[str, Any]]) -> Iterator[dict]:
    for index, passage in enumerate(passages):
        yield {
            "passage": index,
            "cluster": passage["cluster"],
            "source": passage["source"],
            "target": passage["target"],
            "source_begin": passage["source_span"][0],
            "source_end": passage["source_span"][1],
            "target_begin": passage["target_span"][0],
            "target_end": passage["target_span"][1],
            "kind": passage["kind"],
            "score": passage["score"],
            "source_text": passage["source_text"],
            "target_text": passage["target_text"],
        }


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def write_tables(
    result: Result | Mapping[str, Any],
    directory: str | Path,
    format: str = "jsonl",
    *,
    texts: Mapping[str, str] | None = None,
    metadata: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Path]:
    """Write ``clusters``, ``members`` and ``passages`` tables into ``directory`` (created if needed).

    Returns the three paths (``clusters.jsonl`` …). Raises ``DedupError`` for an unknown
    format, or for Parquet when pyarrow is not installed.
    """
    if format not in FORMATS:
        raise DedupError(f"unknown table format {format!r}: use one of {', '.join(FORMATS)}")
    writer = {"jsonl": _write_jsonl, "csv": _write_csv, "parquet": _write_parquet}[format]
    rows = table_iterators(result, texts, metadata)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in TABLES:
        path = directory / f"{name}.{format}"
        writer(path, name, rows[name])
        paths.append(path)
    return paths


def _write_jsonl(path: Path, name: str, rows: Iterable[dict[str, Any]]) -> None:
    columns = COLUMNS[name]
    with open(path, "w", encoding="utf-8", newline="\n") as stream:
        for row in rows:
            stream.write(_json_text({name: row[name] for name, _ in columns}) + "\n")


def _csv_cell(value: Any, kind: str) -> Any:
    if value is None:
        return ""
    if kind == "list":
        return _json_text(value)
    if kind == "bool":
        return "true" if value else "false"
    return value


def _write_csv(path: Path, name: str, rows: Iterable[dict[str, Any]]) -> None:
    columns = COLUMNS[name]
    with open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow([name for name, _ in columns])
        for row in rows:
            writer.writerow([_csv_cell(row[name], kind) for name, kind in columns])


def arrow_schema(name: str) -> Any:
    """The pyarrow schema of table ``name`` (needs pyarrow)."""
    import pyarrow as pa

    types = {
        "str": pa.string(),
        "json": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "list": pa.list_(pa.string()),
    }
    return pa.schema([pa.field(column, types[kind]) for column, kind in COLUMNS[name]])


def _write_parquet(path: Path, name: str, rows: Iterable[dict[str, Any]]) -> None:
    columns = COLUMNS[name]
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is a dependency, but may be absent in odd installs
        raise DedupError("Parquet output needs pyarrow: pip install pyarrow") from None
    schema = arrow_schema(name)
    values: dict[str, list[Any]] = {column: [] for column, _ in columns}  # column lists: no row dicts held
    for row in rows:
        for column, found in values.items():
            found.append(row[column])
    table = pa.Table.from_pydict(values, schema=schema)
    pq.write_table(table, path, compression="zstd")
