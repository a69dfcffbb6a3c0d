"""The three tables (clusters, members, passages) in JSONL, CSV and Parquet, and their documentation."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dedup import cluster, read_path
from dedup.cli import app
from dedup.errors import DedupError
from dedup.write import result_to_dict
from dedup.write.html import article_metadata
from dedup.write.tables import COLUMNS, FORMATS, TABLES, table_rows, write_tables

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture(scope="module")
def seeds_document(seeds_dir):
    read = read_path(seeds_dir)
    result = cluster(read.articles, skipped=read.skipped)
    texts = {article.id: article.text for article in read.articles}
    return result_to_dict(result, texts), article_metadata(read.articles), result, texts


def test_rows_say_what_the_document_says(seeds_document):
    document, metadata, _, _ = seeds_document
    rows = table_rows(document, metadata=metadata)
    assert [r["cluster"] for r in rows["clusters"]] == [c["id"] for c in document["clusters"]]
    derived = rows["clusters"][0]
    assert derived["relation"] == "derived" and derived["origin"] == "000_41bc1a141fd2626e"
    assert derived["member_count"] == 2 and derived["derived_count"] == 1
    assert json.loads(derived["origin_evidence"]) == document["clusters"][0]["origin_evidence"]
    same = rows["clusters"][1]
    assert same["origin"] is None and set(same["credited"]) >= {"AFP", "Xinhua"}
    assert sum(r["passage_count"] for r in rows["clusters"]) == len(document["passages"])

    members = {(m["cluster"], m["id"]): m for m in rows["members"]}
    copy = members[("c0001", "001_ed645eac0db3a975")]
    assert copy["role"] == "derived" and copy["sources"] == ["000_41bc1a141fd2626e"]
    assert copy["extent"] == "partial" and 0 < copy["coverage"] < 1
    assert members[("c0001", "000_41bc1a141fd2626e")]["is_origin"] is True

    for row, passage in zip(rows["passages"], document["passages"], strict=True):
        assert [row["source_begin"], row["source_end"]] == passage["source_span"]
        assert [row["target_begin"], row["target_end"]] == passage["target_span"]
        assert row["target_text"] == passage["target_text"]
        assert len(row["source_text"]) == row["source_end"] - row["source_begin"]


def test_a_result_needs_its_texts(seeds_document):
    _, _, result, texts = seeds_document
    assert table_rows(result, texts) == table_rows(result_to_dict(result, texts))
    with pytest.raises(ValueError):
        table_rows(result)


@pytest.mark.parametrize("format", FORMATS)
def test_each_format_round_trips(seeds_document, tmp_path, format):
    document, metadata, _, _ = seeds_document
    rows = table_rows(document, metadata=metadata)
    paths = write_tables(document, tmp_path, format, metadata=metadata)
    assert [p.name for p in paths] == [f"{name}.{format}" for name in TABLES]
    for name, path in zip(TABLES, paths, strict=True):
        columns = [column for column, _ in COLUMNS[name]]
        loaded = _load(path, format)
        assert len(loaded) == len(rows[name])
        for got, want in zip(loaded, rows[name], strict=True):
            assert list(got) == columns
            assert got == (_as_csv(want, name) if format == "csv" else want)
    again = tmp_path / "again"
    write_tables(document, again, format, metadata=metadata)
    for path in paths:
        assert (again / path.name).read_bytes() == path.read_bytes(), "output must be deterministic"


def _load(path: Path, format: str) -> list[dict]:
    if format == "jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if format == "csv":
        with open(path, encoding="utf-8", newline="") as stream:
            return list(csv.DictReader(stream))
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def _as_csv(row: dict, name: str) -> dict:
    """``row`` as the documented CSV encoding gives it back: text, empty for null, JSON arrays, true/false."""
    out = {}
    for column, kind in COLUMNS[name]:
        value = row[column]
        if value is None:
            out[column] = ""
        elif kind == "list":
            out[column] = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        elif kind == "bool":
            out[column] = "true" if value else "false"
        else:
            out[column] = str(value)
    return out


def test_parquet_has_the_documented_arrow_types(seeds_document, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    document, metadata, _, _ = seeds_document
    write_tables(document, tmp_path, "parquet", metadata=metadata)
    arrow = {"str": pa.string(), "json": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}
    for name in TABLES:
        schema = pq.read_schema(tmp_path / f"{name}.parquet")
        for column, kind in COLUMNS[name]:
            expected = pa.list_(pa.string()) if kind == "list" else arrow[kind]
            assert schema.field(column).type == expected, (name, column)


def test_unknown_format_is_refused(seeds_document, tmp_path):
    with pytest.raises(DedupError):
        write_tables(seeds_document[0], tmp_path, "xlsx")


def test_docs_list_every_column_with_its_type():
    text = (ROOT / "docs" / "tables.md").read_text(encoding="utf-8")
    for name in TABLES:
        section = text.split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]
        documented = re.findall(r"^\| `([a-z_]+)` \| (\w+) \|", section, re.MULTILINE)
        assert documented == list(COLUMNS[name]), name


def test_cli_writes_tables(seeds_dir, tmp_path):
    for format in FORMATS:
        target = tmp_path / format
        outcome = runner.invoke(app, ["cluster", str(seeds_dir), "--tables", str(target), "--format", format, "-q"])
        assert outcome.exit_code == 0, outcome.output
        assert sorted(p.name for p in target.iterdir()) == sorted(f"{name}.{format}" for name in TABLES)
    outcome = runner.invoke(app, ["cluster", str(seeds_dir), "--tables", str(tmp_path / "x"), "--format", "xml"])
    assert outcome.exit_code == 2
    assert "--format" in outcome.stderr


def test_cli_report_writes_tables_from_a_saved_result(seeds_dir, tmp_path):
    saved = tmp_path / "result.json"
    assert runner.invoke(app, ["cluster", str(seeds_dir), "-o", str(saved), "-q"]).exit_code == 0
    outcome = runner.invoke(
        app, ["report", str(saved), "-o", str(tmp_path / "r.html"), "--tables", str(tmp_path / "t"), "-q"]
    )
    assert outcome.exit_code == 0, outcome.output
    members = _load(tmp_path / "t" / "members.jsonl", "jsonl")
    assert {m["id"] for m in members} == {
        "000_41bc1a141fd2626e",
        "001_ed645eac0db3a975",
        "002_8381a8027f4054b1",
        "004_934651e998fe7ba4",
    }
