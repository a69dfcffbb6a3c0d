"""Schema 9: band-key postings packed in rows of key ranges (``dedup.store.postings``) and the SQLite store's use of
them: the numpy paths equal the readable reference, and a store driven by random adds and removals holds exactly the
postings a plain set of (key, article) holds."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dedup.store import postings
from dedup.store.errors import CorruptIndexError
from dedup.store.postings import (
    KEY_LIMIT,
    ROW_MAX,
    add_to_rows,
    cut_points,
    decode_row,
    decode_rows,
    encode_row,
    encode_rows,
    find_postings,
    reference_add,
    reference_find,
    split_points,
)
from dedup.store.sqlite import _CROWDED, _POSTINGS, SQLiteBackend, SQLiteSession

# keys near each other (many postings of one key, deltas of 0) and far apart (deltas of 5 and 6 bytes)
_keys = st.one_of(st.integers(0, 40), st.integers(0, KEY_LIMIT - 1))
_articles = st.one_of(st.integers(1, 300), st.integers(1, 2**40))


@st.composite
def _rows(draw: st.DrawFn) -> list[tuple[int, list[int], list[int]]]:
    """Consecutive rows: each (lo, keys, articles), postings sorted and distinct, every key in [lo, next lo)."""
    postings = sorted(draw(st.sets(st.tuples(_keys, _articles), min_size=1, max_size=120)))
    distinct = sorted({key for key, _ in postings})
    starts = sorted(draw(st.sets(st.sampled_from(distinct), max_size=5)) - {distinct[0]})
    first = max(distinct[0] - draw(st.integers(0, 3)), 0)
    return _regroup(postings, [first, *starts])


def _regroup(postings: list[tuple[int, int]], los: list[int]) -> list[tuple[int, list[int], list[int]]]:
    rows = []
    for number, lo in enumerate(los):
        end = los[number + 1] if number + 1 < len(los) else KEY_LIMIT
        part = [(k, a) for k, a in postings if lo <= k < end]
        if part:
            rows.append((lo, [k for k, _ in part], [a for _, a in part]))
    return rows


@settings(max_examples=300, deadline=None)
@given(_rows())
def test_numpy_paths_equal_the_reference(rows: list[tuple[int, list[int], list[int]]]) -> None:
    blobs = [encode_row(lo, keys, articles) for lo, keys, articles in rows]
    for (lo, keys, articles), blob in zip(rows, blobs, strict=True):
        assert decode_row(lo, blob) == list(zip(keys, articles, strict=True))
    stored = [(lo, blob) for (lo, _, _), blob in zip(rows, blobs, strict=True)]
    keys, articles, row_of = decode_rows(stored)
    assert list(zip(keys.tolist(), articles.tolist(), strict=True)) == [
        posting for lo, blob in stored for posting in decode_row(lo, blob)
    ]
    counts = np.bincount(row_of, minlength=len(rows))
    assert encode_rows(np.array([lo for lo, _, _ in rows]), keys, articles, counts) == blobs
    wanted = np.unique(keys[::3])
    found_keys, found_articles = find_postings(stored, wanted)
    chosen = np.isin(keys, wanted)
    assert found_keys.tolist() == keys[chosen].tolist() and found_articles.tolist() == articles[chosen].tolist()


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.just([]), _rows()),
    st.lists(_keys, max_size=60),
    st.one_of(st.integers(1, 300), st.integers(1, 2**40)),
    st.data(),
)
def test_the_compiled_add_and_find_are_the_reference(
    rows: list[tuple[int, list[int], list[int]]], keys: list[int], article: int, data: st.DataObject
) -> None:
    """``add_to_rows`` (compiled) gives the counts and rows of ``reference_add``: keys held already by the article or
    by many, below every row, rows cut past ``ROW_MAX``; ``find_postings`` (compiled) the postings of
    ``reference_find``."""
    if postings._kernels() is None:
        return  # numba missing or DEDUP_KERNELS=0: add_to_rows is the reference
    stored = [(lo, encode_row(lo, row_keys, articles)) for lo, row_keys, articles in rows]
    held = [key for _, row_keys, articles in rows for key, a in zip(row_keys, articles, strict=True) if a == article]
    crowded = [key for _, row_keys, _ in rows for key in row_keys]
    wanted = sorted(set(keys) | set(data.draw(st.lists(st.sampled_from(held + crowded or [0]), max_size=20))))
    if not wanted:
        return
    chosen = [(lo, blob) for lo, blob in stored if any(lo <= key for key in wanted)]  # the rows a store reads
    assert add_to_rows(chosen, wanted, article) == reference_add(chosen, wanted, article)
    assert add_to_rows(stored, wanted, article) == reference_add(stored, wanted, article)
    for rows_read in (chosen, stored):
        found = find_postings(rows_read, np.array(wanted, dtype=np.int64))
        expected = reference_find(rows_read, np.array(wanted, dtype=np.int64))
        assert [array.tolist() for array in found] == [array.tolist() for array in expected]


def test_the_compiled_paths_report_a_damaged_row() -> None:
    if postings._kernels() is None:
        return
    for blob in (b"\x09\x01\xff", b"\x01", b"\x01\x00", b"\x01\x01\xff"):
        with pytest.raises(CorruptIndexError):
            add_to_rows([(0, blob)], [3], 1)
        with pytest.raises(CorruptIndexError):
            find_postings([(0, blob)], np.array([3]))


@given(st.lists(st.integers(0, 30), min_size=1, max_size=400).map(sorted))
def test_rows_are_cut_between_keys(keys: list[int]) -> None:
    points = split_points(keys)
    assert points[0] == 0 and points == sorted(set(points))
    pieces = [keys[a:b] for a, b in zip(points, [*points[1:], len(keys)], strict=True)]
    for number, piece in enumerate(pieces):
        assert piece and (len(piece) <= 2 * ROW_MAX or len(set(piece)) == 1)
        if number:
            assert piece[0] != pieces[number - 1][-1]  # never between two postings of one key
    if len(keys) <= ROW_MAX:
        assert points == [0]
    elif len(set(keys)) > 1:
        assert len(points) >= 2  # a row past ROW_MAX with two keys is always cut
    cuts = cut_points(np.array(keys), 7).tolist()
    assert cuts[0] == 0 and all(keys[p] != keys[p - 1] for p in cuts[1:])


def _session(path: Path, *, keep_rows: bool = False) -> SQLiteSession:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(_POSTINGS)
    db.execute(_CROWDED)
    return SQLiteSession(db, keep_rows=keep_rows)


_steps = st.lists(
    st.tuples(
        st.booleans(),  # add (or remove)
        st.integers(1, 12),  # the article
        st.lists(st.one_of(st.integers(0, 60), st.integers(0, KEY_LIMIT - 1)), min_size=0, max_size=90),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_steps, st.booleans())
def test_the_store_holds_what_a_set_holds(
    tmp_path: Path, steps: list[tuple[bool, int, list[int]]], keep_rows: bool
) -> None:
    """Random adds and removals (rows cut past ``ROW_MAX``, emptied and deleted, keys below the first row) leave the
    postings of a plain set; lookups, holders, counts and the crowded keys read from the rows agree with it, also
    with the rows read kept between writes (a write session) and lookups between the steps."""
    path = tmp_path / "postings.sqlite"
    path.unlink(missing_ok=True)
    session = _session(path, keep_rows=keep_rows)
    model: set[tuple[int, int]] = set()
    for add, article, keys in steps:
        probe = sorted(set(keys[::2]) | {0, KEY_LIMIT - 1})
        assert session.lookup(probe) == {a for k, a in model if k in set(probe)}  # fills the kept rows
        if add:
            session.add_keys(article, keys)
            model |= {(key, article) for key in keys}
        else:
            session.remove_keys(article, keys)
            model -= {(key, article) for key in keys}
        expected = {key: sum(1 for k, _ in model if k == key) for key in set(keys)}
        assert session._counted == expected
    stored = {
        (key, article)
        for _, keys, articles, _ in session._scan(rows_at_a_time=3)
        for key, article in zip(keys.tolist(), articles.tolist(), strict=True)
    }
    assert stored == model
    probe = sorted({key for key, _ in model} | {0, 5, KEY_LIMIT - 1})[::2]
    assert session.lookup(probe) == {a for k, a in model if k in set(probe)}
    holders = session.holders(probe)
    assert {k: sorted(v) for k, v in holders.items()} == {
        k: sorted(a for kk, a in model if kk == k) for k in probe if any(kk == k for kk, _ in model)
    }
    chosen = set(probe)
    expected_counts: dict[int, int] = {}
    for key, article in model:
        if key in chosen:
            expected_counts[article] = expected_counts.get(article, 0) + 1
    assert session.lookup_counts(probe) == expected_counts
    by_key: dict[int, int] = {}
    for key, _ in model:
        by_key[key] = by_key.get(key, 0) + 1
    assert session.key_counts(2) == {k: n for k, n in by_key.items() if n > 2}
    session.db.execute("CREATE TABLE articles (key INTEGER PRIMARY KEY)")
    session.db.executemany("INSERT INTO articles (key) VALUES (?)", [(a,) for a in range(1, 13)])
    assert SQLiteBackend._postings_problems(session.db) == []
    session.db.close()


def test_a_damaged_row_is_reported(tmp_path: Path) -> None:
    session = _session(tmp_path / "postings.sqlite")
    session.add_keys(1, list(range(0, 4000, 37)))
    session.db.execute("CREATE TABLE articles (key INTEGER PRIMARY KEY)")
    session.db.execute("INSERT INTO articles (key) VALUES (1)")
    assert SQLiteBackend._postings_problems(session.db) == []
    lo = session.db.execute("SELECT max(lo) FROM postings").fetchone()[0]
    session.db.execute("UPDATE postings SET entries = x'0901ff' WHERE lo = ?", (lo,))
    assert SQLiteBackend._postings_problems(session.db)
    session.db.execute("UPDATE postings SET entries = ? WHERE lo = ?", (encode_row(lo, [KEY_LIMIT + 5], [1]), lo))
    assert any("outside" in problem for problem in SQLiteBackend._postings_problems(session.db))
