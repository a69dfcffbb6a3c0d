"""Schema 8: the holder counts of crowded band keys, a check that never reads their postings, and the migrations (7, 8
and 9 to 10; schema 9 packs the SQLite postings in rows of key ranges, tests/test_postings.py; schema 10 stores the
SQLite articles' signature terms as features)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from benchmarks.generate import DEFAULT_DATA, load_pool, write_corpus
from dedup.cli import app
from dedup.index import CROWDED_KEY_CAP, Index, _meta_of, open_backend
from dedup.pipeline import Settings
from dedup.store.codec import pack_ints, unpack_term_features
from dedup.store.errors import ParametersError
from dedup.store.features import term_keys
from dedup.store.sqlite import SQLiteSession


@pytest.fixture(params=["sqlite", "redis"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "test.dedup")
    return f"{request.getfixturevalue('redis_url')}?prefix=t{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """A generated corpus (copies, rewrites, distractors, filler sentences many stories share)."""
    if not (DEFAULT_DATA / "bbc").exists():
        pytest.skip("shared data not available")
    folder = tmp_path_factory.mktemp("corpus")
    write_corpus(folder, 240, 5, pool=load_pool(DEFAULT_DATA))
    return [
        {key: record[key] for key in ("id", "text", "title", "outlet", "published") if key in record}
        for record in map(json.loads, (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines())
    ]


def _postings(index: Index) -> dict[int, int]:
    """Every band key's holder count, from the postings themselves (the reference of the stored counts)."""
    with index.backend.reading() as session:
        if hasattr(session, "db"):
            counted: dict[int, int] = {}
            for _, keys, _, _ in session._scan():
                found, counts = np.unique(keys, return_counts=True)
                counted.update(zip(found.tolist(), counts.tolist(), strict=True))
            return counted
        client, prefix = session.client, session.p
        counted = {}
        for name in client.scan_iter(match=f"{prefix}:b:*"):
            counted.update((int(field), len(data) // 4) for field, data in client.hgetall(name).items())
        return counted


def _stored_crowded(index: Index, keys: list[int]) -> dict[int, int]:
    with index.backend.reading() as session:
        return session.crowded(keys)


def test_crowded_counts_follow_adds_furniture_and_removals(target: str, generated: list[dict[str, Any]]) -> None:
    """After adds (some making lines furniture, which re-keys their holders), single adds and removals, the stored
    counts are exactly the keys held by more than the cap, with their holder counts (and ``verify`` says so)."""
    cap = 3
    with Index.open(target, crowded_key_cap=cap) as index:
        index.add_many(generated[:150])
        for record in generated[150:170]:
            index.add(record)
        for record in generated[:60:3]:
            index.remove(record["id"])
        counts = _postings(index)
        over = {key: count for key, count in counts.items() if count > cap}
        assert len(over) >= 20
        assert _stored_crowded(index, list(counts)) == over
        assert index.verify() == []
        assert index.stats()["crowded_key_cap"] == cap


def _unpack_postings(path: str) -> None:
    """Schema 8's postings table in place of schema 9's rows: ``bands``, one row a posting (key, article)."""
    with sqlite3.connect(path) as db:
        postings = [
            (key, article)
            for _, keys, articles, _ in SQLiteSession(db)._scan()
            for key, article in zip(keys.tolist(), articles.tolist(), strict=True)
        ]
        db.execute(
            "CREATE TABLE bands (key INTEGER NOT NULL, article INTEGER NOT NULL, PRIMARY KEY (key, article)) "
            "WITHOUT ROWID"
        )
        db.executemany("INSERT INTO bands (key, article) VALUES (?, ?)", postings)
        db.execute("DROP TABLE postings")


def _make_schema_9(target: str) -> None:
    """What an index of schema 9 holds: in an SQLite file, each article's signature terms as band keys (``int64``)."""
    if target.startswith("redis://"):
        import redis

        url, _, prefix = target.partition("?prefix=")
        client = redis.Redis.from_url(url)
        client.hset(f"{prefix}:meta", "schema", "9")
        client.close()
        return
    with sqlite3.connect(target) as db:
        rows = list(db.execute("SELECT key, terms FROM articles"))
        db.executemany(
            "UPDATE articles SET terms = ? WHERE key = ?",
            [(pack_ints(term_keys(unpack_term_features(terms))), key) for key, terms in rows],
        )
        db.execute("UPDATE meta SET value = '9' WHERE name = 'schema'")


def _terms(index: Index) -> dict[int, tuple[int, ...]]:
    """Every stored article's signature-term band keys, as the index reads them."""
    with index.backend.reading() as session:
        return {key: row.terms for key, row in session.articles(key for key, _, _ in session.all_keys()).items()}


def _stored_terms(target: str) -> dict[int, bytes]:
    with sqlite3.connect(target) as db:
        return dict(db.execute("SELECT key, terms FROM articles"))


def test_migrate_brings_a_schema_9_index_to_10(target: str, generated: list[dict[str, Any]]) -> None:
    """A schema-9 index (an SQLite file whose articles keep their signature terms as 8-byte band keys) is refused
    with a message naming the migration; ``Index.migrate`` stores them as 3-byte features (a Redis index only changes
    its number): the same terms, the same checks and, after more adds and removals, a clean ``verify``; the CLI says
    what it did, and that a schema-10 index needs nothing."""
    sqlite = not target.startswith("redis://")
    with Index.open(target, crowded_key_cap=4) as index:
        index.add_many(generated[:170])
        terms = _terms(index)
        before = [index.check(record) for record in generated[170:200]]
    assert len(terms) == 170 and sum(len(found) == 15 for found in terms.values()) > 150  # SIGNATURE_TERMS
    stored = _stored_terms(target) if sqlite else {}
    assert all(len(data) == 3 * len(terms[key]) for key, data in stored.items())
    _make_schema_9(target)
    if sqlite:
        assert all(len(data) == 8 * len(terms[key]) for key, data in _stored_terms(target).items())
    with pytest.raises(ParametersError, match=r"schema 9.*dedup index migrate"):
        Index.open(target)
    result = CliRunner().invoke(app, ["index", "migrate", target])
    said = " ".join(result.output.split())
    assert result.exit_code == 0 and "migrated schema 9 to 10" in said
    assert ("the signature terms of 170 articles stored as features" in said) == sqlite
    if sqlite:
        assert _stored_terms(target) == stored
    with Index.open(target) as index:
        assert _terms(index) == terms
        assert [index.check(record) for record in generated[170:200]] == before
        index.add_many(generated[200:])
        for record in generated[:40:4]:
            index.remove(record["id"])
        assert index.verify() == []
    result = CliRunner().invoke(app, ["index", "migrate", target])
    assert result.exit_code == 0 and "already schema 10" in result.output


def _make_schema_8(target: str) -> None:
    """What an index of schema 8 holds: in an SQLite file, the postings one row each (table ``bands``)."""
    if target.startswith("redis://"):
        import redis

        url, _, prefix = target.partition("?prefix=")
        client = redis.Redis.from_url(url)
        client.hset(f"{prefix}:meta", "schema", "8")
        client.close()
        return
    _make_schema_9(target)
    _unpack_postings(target)
    with sqlite3.connect(target) as db:
        db.execute("UPDATE meta SET value = '8' WHERE name = 'schema'")


def _make_schema_7(target: str) -> None:
    """What an index of schema 7 holds: no crowded counts, no cap in the metadata (and schema 8's postings)."""
    if target.startswith("redis://"):
        import redis

        url, _, prefix = target.partition("?prefix=")
        client = redis.Redis.from_url(url)
        client.delete(f"{prefix}:crowded")
        client.hdel(f"{prefix}:meta", "crowded_key_cap")
        client.hset(f"{prefix}:meta", "schema", "7")
        client.close()
        return
    _make_schema_9(target)
    _unpack_postings(target)
    with sqlite3.connect(target) as db:
        db.execute("DROP TABLE crowded")
        db.execute("DELETE FROM meta WHERE name = 'crowded_key_cap'")
        db.execute("UPDATE meta SET value = '7' WHERE name = 'schema'")


def test_migrate_brings_a_schema_7_index_to_10(target: str, generated: list[dict[str, Any]]) -> None:
    """A schema-7 index is refused with a message naming the migration; ``dedup index migrate`` counts the crowded
    keys from the stored postings (those an index of schema 8 kept add by add) and the checks are unchanged."""
    with Index.open(target, crowded_key_cap=4) as index:
        index.add_many(generated[:180])
        kept = _stored_crowded(index, list(_postings(index)))
        before = [index.check(record) for record in generated[180:]]
    assert kept
    _make_schema_7(target)
    with pytest.raises(ParametersError, match=r"schema 7.*dedup index migrate"):
        Index.open(target)
    assert Index.migrate(target, crowded_key_cap=4)["migrated"]
    with Index.open(target) as index:
        assert index.crowded_key_cap == 4
        assert _stored_crowded(index, list(_postings(index))) == kept
        assert [index.check(record) for record in generated[180:]] == before
        assert index.verify() == []
    result = CliRunner().invoke(app, ["index", "migrate", target])
    assert result.exit_code == 0 and "already schema 10" in result.output


def test_migrate_brings_a_schema_8_index_to_10(target: str, generated: list[dict[str, Any]]) -> None:
    """A schema-8 index (an SQLite file with one row a posting) is refused with a message naming the migration;
    ``Index.migrate`` packs its postings into rows of key ranges (a Redis index only changes its number): the same
    postings and crowded counts, the same checks and, after more adds and removals, a clean ``verify``."""
    with Index.open(target, crowded_key_cap=4) as index:
        index.add_many(generated[:170])
        postings = _postings(index)
        kept = _stored_crowded(index, list(postings))
        before = [index.check(record) for record in generated[170:200]]
    _make_schema_8(target)
    with pytest.raises(ParametersError, match=r"schema 8.*dedup index migrate"):
        Index.open(target)
    with pytest.raises(ParametersError, match="crowded_key_cap 4, not 5"):
        Index.migrate(target, crowded_key_cap=5)
    done = Index.migrate(target)
    assert done["migrated"] and done["schema"] == 8 and done["crowded_key_cap"] == 4
    assert ("postings_rows" in done) == (not target.startswith("redis://"))
    with Index.open(target) as index:
        assert _postings(index) == postings
        assert _stored_crowded(index, list(postings)) == kept
        assert [index.check(record) for record in generated[170:200]] == before
        index.add_many(generated[200:])
        for record in generated[:40:4]:
            index.remove(record["id"])
        assert index.verify() == []
    if not target.startswith("redis://"):
        with sqlite3.connect(target) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "bands" not in tables and "postings" in tables


def test_cli_migrate_of_a_schema_7_file(tmp_path: Path, generated: list[dict[str, Any]]) -> None:
    path = str(tmp_path / "old.dedup")
    with Index.open(path) as index:
        index.add_many(generated[:40])
    _make_schema_7(path)
    result = CliRunner().invoke(app, ["index", "check", path, "-"], input=json.dumps(generated[41]) + "\n")
    assert result.exit_code == 2 and "dedup index migrate" in result.output
    result = CliRunner().invoke(app, ["index", "migrate", path])
    said = " ".join(result.output.split())  # the console wraps long lines
    assert result.exit_code == 0 and f"held by more than {CROWDED_KEY_CAP} articles" in said
    assert "migrated schema 7 to 10: postings packed in" in said
    with Index.open(path) as index:
        assert len(index) == 40 and index.verify() == []


def test_rows_with_a_crowded_key_are_stock_and_read_no_postings(
    tmp_path: Path, generated: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The readable reference of the rule: a sentence row is left out of the candidates when one of its band keys
    has more than the cap holders (counted from the postings); the other rows as before (stories counted). And no
    crowded key's postings are read by the check."""
    cap = 4
    with Index.open(str(tmp_path / "capped.dedup"), crowded_key_cap=cap) as index:
        index.add_many(generated[:200])
        counts = _postings(index)
        seen: list[tuple[np.ndarray, list[int], np.ndarray, int]] = []
        looked_up: list[int] = []
        original, lookup = Index._without_stock, SQLiteSession.lookup

        def recorded(self: Index, session: Any, evaluation: Any) -> Any:
            kept, found, mask = original(self, session, evaluation)
            sketch = evaluation.prepared.sketch
            assert np.array_equal(kept, sketch.sentence_rows[mask])  # the mask says which rows are kept
            seen.append((sketch.sentence_rows, sketch.sentence_keys, kept, evaluation.stock))
            return kept, found, mask

        def recorded_lookup(session: Any, band_keys: Any) -> set[int]:
            band_keys = list(band_keys)
            looked_up.extend(band_keys)
            return lookup(session, band_keys)

        monkeypatch.setattr(Index, "_without_stock", recorded)
        monkeypatch.setattr(SQLiteSession, "lookup", recorded_lookup)
        for record in generated[200:]:
            index.check(record)
    bands = index._sentence_banding.bands
    crowded_rows = 0
    for rows, keys, kept, stock in seen:
        crowded = [max(counts.get(key, 0) for key in keys[r * bands : (r + 1) * bands]) > cap for r in range(len(rows))]
        crowded_rows += sum(crowded)
        kept_rows = {row.tobytes() for row in kept}
        assert not any(crowded[r] and rows[r].tobytes() in kept_rows for r in range(len(rows)))
        assert stock >= sum(crowded) and len(kept) == len(rows) - stock
    assert crowded_rows >= 10
    sentence_keys = {key for _, keys, _, _ in seen for key in keys}
    assert not any(counts.get(key, 0) > cap for key in looked_up if key in sentence_keys)


@st.composite
def posting_edits(draw: st.DrawFn) -> tuple[int, list[tuple[int, list[int], int]]]:
    """A cap and a run of edits (article, band keys, +1 add / -1 remove), each touching keys at most once."""
    cap = draw(st.integers(1, 4))
    edits = draw(
        st.lists(
            st.tuples(
                st.integers(1, 10),
                st.lists(st.integers(0, 7), min_size=1, max_size=5, unique=True),
                st.sampled_from((1, -1)),
            ),
            max_size=40,
        )
    )
    return cap, edits


@pytest.mark.parametrize("backend_kind", ["sqlite", "redis"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=posting_edits())
def test_stored_counts_equal_the_postings_counted(
    backend_kind: str,
    case: tuple[int, list[tuple[int, list[int], int]]],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """The fast path (counts kept add by add in ``count_keys``) against the readable reference (every key's holders
    kept as sets here): after each edit, ``crowded`` names exactly the keys held by more than the cap, with their
    counts; ``recount_keys`` (the migration) gives the same."""
    cap, edits = case
    if backend_kind == "sqlite":
        target = str(tmp_path / f"{uuid.uuid4().hex}.dedup")
    else:
        target = f"{request.getfixturevalue('redis_url')}?prefix=h{uuid.uuid4().hex}"
    backend = open_backend(target)
    backend.initialise(_meta_of(Settings(), cap))
    held: dict[int, set[int]] = {}
    try:
        for article, keys, sign in edits:
            # as the index edits postings: an article adds keys it does not hold and removes keys it holds
            keys = [key for key in keys if (article in held.get(key, set())) == (sign < 0)]
            if not keys:
                continue
            with backend.writing() as session:
                (session.add_keys if sign > 0 else session.remove_keys)(article, keys)
                session.count_keys(keys, sign, cap)
            for key in keys:
                (held.setdefault(key, set()).add if sign > 0 else held[key].discard)(article)
            expected = {key: len(holders) for key, holders in held.items() if len(holders) > cap}
            with backend.reading() as session:
                assert session.crowded(range(8)) == expected
        with backend.writing() as session:
            session.recount_keys(cap)
        with backend.reading() as session:
            assert session.crowded(range(8)) == {key: len(h) for key, h in held.items() if len(h) > cap}
    finally:
        backend.close()


def test_no_cap_keeps_no_counts_and_reads_every_holder(tmp_path: Path, generated: list[dict[str, Any]]) -> None:
    """``crowded_key_cap=0``: schema 7's behaviour (every holder read, no counts kept), and the same checks as a cap
    above every key's holders."""
    with Index.open(str(tmp_path / "none.dedup"), crowded_key_cap=0) as index:
        index.add_many(generated[:200])
        assert _stored_crowded(index, list(_postings(index))) == {}
        assert index.verify() == []
        unbounded = [index.check(record) for record in generated[200:]]
    with Index.open(str(tmp_path / "high.dedup"), crowded_key_cap=10_000) as index:
        index.add_many(generated[:200])
        assert [index.check(record) for record in generated[200:]] == unbounded
