"""The embedded backend: one SQLite file in WAL mode.

Writers take the database lock with ``BEGIN IMMEDIATE`` (one writer at a time across threads
and processes, others wait up to ``busy_timeout``); readers see a consistent snapshot and never
block writers. One transaction per ``add`` (or per ``add_many`` batch). In WAL mode
``synchronous=NORMAL`` (the default here) keeps every committed transaction through a crash of the
*process* (``kill -9``: the WAL is in the operating system's cache and is replayed), and a process
killed at any moment leaves the last committed state; only a power loss or an operating-system
crash can roll back the last transactions before the next WAL checkpoint (never corrupting the
file). ``DEDUP_SQLITE_SYNCHRONOUS=FULL`` fsyncs the WAL at every commit, so an add that returned
survives a power loss too (about 4 ms more per add on the development machine).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import zlib
from collections.abc import Container, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np

from dedup.model import Article
from dedup.store.base import Backend, Change, LineCount, Session, StoredArticle, iter_chunks
from dedup.store.codec import (
    article_record,
    pack_ints,
    pack_json,
    pack_term_features,
    record_article,
    unpack_ints,
    unpack_json,
)
from dedup.store.errors import CorruptIndexError, StoreError
from dedup.store.features import N_FEATURES, term_keys
from dedup.store.postings import (
    KEY_LIMIT,
    ROW_MAX,
    add_to_rows,
    cut_points,
    cut_rows,
    decode_rows,
    encode_rows,
    find_postings,
)
from dedup.store.postings import (
    load_kernels as load_postings_kernels,
)

SYNCHRONOUS = os.environ.get("DEDUP_SQLITE_SYNCHRONOUS", "NORMAL").upper()
# the page size of a new index file (SQLite's default is 4 KiB): an ``articles`` row is ~2.2 KB, so in 4 KiB pages each
# took a page of its own with ~0.7 KB left over (and a long one an overflow page); 16 KiB pages hold ~7 rows. An index
# made with another page size keeps it (SQLite changes it only by a VACUUM outside WAL mode) and is read the same way.
PAGE_SIZE = 16384
_PRAGMAS = (
    "PRAGMA cache_size = -65536",  # 64 MiB of page cache per connection (the default is 2 MiB)
    "PRAGMA temp_store = MEMORY",
)

_CROWDED = "CREATE TABLE IF NOT EXISTS crowded (key INTEGER PRIMARY KEY, holders INTEGER NOT NULL)"  # schema 8
# schema 9: band-key postings packed in rows of key ranges (``dedup.store.postings``); until 8 a table ``bands``
# (key, article) without rowid, one row a posting
_POSTINGS = "CREATE TABLE IF NOT EXISTS postings (lo INTEGER PRIMARY KEY, entries BLOB NOT NULL)"
_MIGRATED_ROW = ROW_MAX * 3 // 4  # postings a row made by the migration from ``bands`` holds (adds cut it at ROW_MAX)
_MIGRATION_RANGES = 256  # the migration reads ``bands`` one key range at a time
_KEPT_KEYS_MAX = 100_000  # band keys whose rows a write session keeps at most (``SQLiteSession._row_of_key``)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    key INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    published TEXT,
    added REAL NOT NULL,
    furniture BLOB NOT NULL,
    component INTEGER,
    terms BLOB NOT NULL,  -- schema 10: its signature-term features, 3 bytes each (until 9: band keys, int64)
    signatures BLOB NOT NULL,
    stems BLOB NOT NULL,
    cleaned BLOB NOT NULL,
    record BLOB NOT NULL,
    slug TEXT
);
CREATE INDEX IF NOT EXISTS articles_component ON articles(component) WHERE component IS NOT NULL;
CREATE INDEX IF NOT EXISTS articles_slug ON articles(slug) WHERE slug IS NOT NULL;
{_POSTINGS};
{_CROWDED};
CREATE TABLE IF NOT EXISTS lines (key INTEGER PRIMARY KEY, count INTEGER NOT NULL, sticky INTEGER NOT NULL,
    holders BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS pairs (a INTEGER NOT NULL, b INTEGER NOT NULL, verdict BLOB NOT NULL,
    PRIMARY KEY (a, b)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pairs_b ON pairs(b);
CREATE TABLE IF NOT EXISTS weak (a INTEGER NOT NULL, b INTEGER NOT NULL, verdict BLOB NOT NULL,
    PRIMARY KEY (a, b)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS weak_b ON weak(b);
CREATE TABLE IF NOT EXISTS clusters (component INTEGER PRIMARY KEY, records BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS changes (change INTEGER PRIMARY KEY AUTOINCREMENT, article INTEGER NOT NULL,
    sign INTEGER NOT NULL, furniture BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS graveyard (article INTEGER PRIMARY KEY, removed INTEGER NOT NULL, record BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoint (one INTEGER PRIMARY KEY CHECK (one = 1), change INTEGER NOT NULL,
    n_rows INTEGER NOT NULL, df BLOB NOT NULL);
"""
_TABLES = {
    "meta",
    "articles",
    "postings",
    "crowded",
    "lines",
    "pairs",
    "weak",
    "clusters",
    "changes",
    "graveyard",
    "checkpoint",
}


class SQLiteSession(Session):
    def __init__(self, connection: sqlite3.Connection, *, keep_rows: bool = False) -> None:
        self.db = connection
        self._counted: dict[int, int] = {}  # band key → postings, for the keys the last add_keys/remove_keys wrote
        # ``keep_rows`` (write sessions): band key → its postings row (lo, blob), or None (no row at or below the key),
        # as read since this session last wrote postings, so that an add's ``add_keys`` does not read again the rows
        # its check just read (a write empties it: rows change, are cut or deleted)
        self._keep_rows = keep_rows
        self._row_of_key: dict[int, tuple[int, bytes] | None] = {}

    # --- postings (dedup.store.postings) ------------------------------------------------------------------------
    def _rows_of(self, band_keys: list[int]) -> list[tuple[int, bytes]]:
        """The postings rows (lo, blob) holding the sorted distinct ``band_keys``, by ``lo``."""
        if self._keep_rows:
            return self._kept_rows_of(band_keys)
        return self._read_rows_of(band_keys)

    def _kept_rows_of(self, band_keys: list[int]) -> list[tuple[int, bytes]]:
        """``_read_rows_of``, the rows of keys read since the last postings write taken from ``_row_of_key``."""
        kept = self._row_of_key
        missing = [key for key in band_keys if key not in kept]
        read = self._read_rows_of(missing) if missing else []
        if missing:
            if len(kept) > _KEPT_KEYS_MAX:
                kept.clear()
            los = [lo for lo, _ in read]
            for key, place in zip(missing, np.searchsorted(los, missing, side="right").tolist(), strict=True):
                kept[key] = read[place - 1] if place else None  # a key's row: the largest lo read not above it
        rows = dict(read)
        for key in band_keys:
            row = kept[key]
            if row is not None:
                rows[row[0]] = row[1]
        return sorted(rows.items())

    def _read_rows_of(self, band_keys: list[int]) -> list[tuple[int, bytes]]:
        rows: dict[int, bytes] = {}
        for chunk in iter_chunks(band_keys, 900):
            values = ",".join(["(?)"] * len(chunk))
            rows.update(
                self.db.execute(
                    f"WITH wanted(k) AS (VALUES {values}) SELECT lo, entries FROM postings WHERE lo IN "
                    "(SELECT (SELECT lo FROM postings WHERE lo <= k ORDER BY lo DESC LIMIT 1) FROM wanted)",
                    chunk,
                )
            )
        return sorted(rows.items())

    def _postings(self, band_keys: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
        """(keys, articles) of every posting of ``band_keys``, sorted by (key, article)."""
        wanted = sorted(set(band_keys))
        return find_postings(self._rows_of(wanted), np.array(wanted, dtype=np.int64))

    def _write_rows(self, los: list[int], keys: np.ndarray, articles: np.ndarray, counts: list[int]) -> None:
        """Store rows (each ``lo`` with its postings, sorted), cutting those above ``ROW_MAX`` postings."""
        self._put_rows(cut_rows(los, keys, articles, counts))

    def _put_rows(self, rows: Iterable[tuple[int, bytes]]) -> None:
        self._row_of_key.clear()
        self.db.executemany(
            "INSERT INTO postings (lo, entries) VALUES (?, ?) "
            "ON CONFLICT (lo) DO UPDATE SET entries = excluded.entries",
            rows,
        )

    def _scan(self, rows_at_a_time: int = 20000) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Every postings row, a chunk at a time: (los, keys, articles, row numbers within the chunk)."""
        after = -1
        while True:
            rows = list(
                self.db.execute(
                    "SELECT lo, entries FROM postings WHERE lo > ? ORDER BY lo LIMIT ?", (after, rows_at_a_time)
                )
            )
            if not rows:
                return
            keys, articles, row_of = decode_rows(rows)
            yield np.array([lo for lo, _ in rows], dtype=np.int64), keys, articles, row_of
            after = rows[-1][0]

    def _one(self, sql: str, params: tuple = ()) -> Any:
        row = self.db.execute(sql, params).fetchone()
        return None if row is None else row[0]

    # --- reads ---------------------------------------------------------------------------------------------
    def head(self) -> int:
        return int(self._one("SELECT seq FROM sqlite_sequence WHERE name = 'changes'") or 0)

    def checkpoint(self, with_data: bool = True) -> tuple[int, int, bytes | None] | None:
        columns = "change, n_rows, df" if with_data else "change, n_rows, NULL"
        row = self.db.execute(f"SELECT {columns} FROM checkpoint WHERE one = 1").fetchone()
        return None if row is None else (int(row[0]), int(row[1]), row[2])

    def changes(self, after: int) -> list[Change]:
        rows = self.db.execute(
            "SELECT change, article, sign, furniture FROM changes WHERE change > ? ORDER BY change", (after,)
        )
        return [(change, article, sign, unpack_ints(furniture)) for change, article, sign, furniture in rows]

    def articles(self, keys: Iterable[int]) -> dict[int, StoredArticle]:
        result: dict[int, StoredArticle] = {}
        for chunk in iter_chunks(sorted(set(keys))):
            marks = ",".join("?" * len(chunk))
            for key, added, furniture, component, terms, cleaned, record in self.db.execute(
                f"SELECT key, added, furniture, component, terms, cleaned, record FROM articles WHERE key IN ({marks})",
                chunk,
            ):
                result[key] = StoredArticle(
                    key,
                    record_article(unpack_json(record)),
                    unpack_ints(furniture),
                    component,
                    added,
                    terms,  # the features' bytes, made keys when read (``StoredArticle.terms``)
                    cleaned,
                )
        return result

    def graveyard(self, keys: Iterable[int]) -> dict[int, Article]:
        result: dict[int, Article] = {}
        for chunk in iter_chunks(sorted(set(keys))):
            marks = ",".join("?" * len(chunk))
            for key, record in self.db.execute(
                f"SELECT article, record FROM graveyard WHERE article IN ({marks})", chunk
            ):
                result[key] = record_article(unpack_json(record))
        return result

    def key_of(self, article_id: str) -> int | None:
        return self._one("SELECT key FROM articles WHERE id = ?", (article_id,))

    def lookup(self, band_keys: Iterable[int]) -> set[int]:
        return set(self._postings(band_keys)[1].tolist())

    def lookup_counts(self, band_keys: Iterable[int]) -> dict[int, int]:
        articles, counts = np.unique(self._postings(band_keys)[1], return_counts=True)
        return dict(zip(articles.tolist(), counts.tolist(), strict=True))

    def holders(self, band_keys: Iterable[int]) -> dict[int, list[int]]:
        found: dict[int, list[int]] = {}
        keys, articles = self._postings(band_keys)
        for key, article in zip(keys.tolist(), articles.tolist(), strict=True):
            found.setdefault(key, []).append(article)
        return found

    def crowded(self, band_keys: Iterable[int]) -> dict[int, int]:
        found: dict[int, int] = {}
        for chunk in iter_chunks(sorted(set(band_keys)), 900):
            marks = ",".join("?" * len(chunk))
            found.update(self.db.execute(f"SELECT key, holders FROM crowded WHERE key IN ({marks})", chunk))
        return found

    def _column(self, column: str, keys: Iterable[int]) -> dict[int, Any]:
        """One column of the ``articles`` rows with these keys (``column``: a name of this module's schema)."""
        result: dict[int, Any] = {}
        for chunk in iter_chunks(sorted(set(keys))):
            marks = ",".join("?" * len(chunk))
            result.update(self.db.execute(f"SELECT key, {column} FROM articles WHERE key IN ({marks})", chunk))
        return result

    def stems(self, keys: Iterable[int]) -> dict[int, bytes]:
        return {key: zlib.decompress(value) for key, value in self._column("stems", keys).items()}

    def sentence_signatures(self, keys: Iterable[int]) -> dict[int, bytes]:
        return self._column("signatures", keys)

    def components(self, keys: Iterable[int]) -> dict[int, int | None]:
        return self._column("component", keys)

    def lines(self, line_keys: Iterable[int]) -> dict[int, LineCount]:
        result: dict[int, LineCount] = {}
        for chunk in iter_chunks(sorted(set(line_keys))):
            marks = ",".join("?" * len(chunk))
            for key, count, sticky, holders in self.db.execute(
                f"SELECT key, count, sticky, holders FROM lines WHERE key IN ({marks})", chunk
            ):
                result[key] = LineCount(count, bool(sticky), unpack_ints(holders))
        return result

    def pair_blobs(
        self, keys: Iterable[int], weak: bool = False, cached: Container[tuple[int, int]] = ()
    ) -> list[tuple[int, int, bytes | None]]:
        wanted = set(keys)
        table = "weak" if weak else "pairs"
        found = []
        for chunk in iter_chunks(sorted(wanted)):
            marks = ",".join("?" * len(chunk))
            found += [
                (a, b)
                for a, b in self.db.execute(f"SELECT a, b FROM {table} WHERE a IN ({marks})", chunk)
                if b in wanted
            ]
        missing = sorted({a for a, b in found if (a, b) not in cached})
        data: dict[tuple[int, int], bytes] = {}
        for chunk in iter_chunks(missing):
            marks = ",".join("?" * len(chunk))
            for a, b, verdict in self.db.execute(f"SELECT a, b, verdict FROM {table} WHERE a IN ({marks})", chunk):
                if b in wanted and (a, b) not in cached:
                    data[(a, b)] = verdict
        return [(a, b, data.get((a, b))) for a, b in found]

    def slugs(self, keys: Iterable[int]) -> dict[int, str]:
        result: dict[int, str] = {}
        for chunk in iter_chunks(sorted(set(keys))):
            marks = ",".join("?" * len(chunk))
            result.update(
                self.db.execute(f"SELECT key, slug FROM articles WHERE key IN ({marks}) AND slug IS NOT NULL", chunk)
            )
        return result

    def slug_holders(self, slug: str) -> set[int]:
        return {row[0] for row in self.db.execute("SELECT key FROM articles WHERE slug = ?", (slug,))}

    def names(self, keys: Iterable[int]) -> dict[int, str]:
        return self._column("id", keys)

    def neighbours(self, keys: Iterable[int]) -> dict[int, set[int]]:
        wanted = sorted(set(keys))
        result: dict[int, set[int]] = {key: set() for key in wanted}
        for chunk in iter_chunks(wanted):
            marks = ",".join("?" * len(chunk))
            for a, b in self.db.execute(f"SELECT a, b FROM pairs WHERE a IN ({marks})", chunk):
                result[a].add(b)
            for a, b in self.db.execute(f"SELECT a, b FROM pairs WHERE b IN ({marks})", chunk):
                result[b].add(a)
        return result

    def members(self, component: int) -> list[int]:
        return [row[0] for row in self.db.execute("SELECT key FROM articles WHERE component = ?", (component,))]

    def component_numbers(self) -> list[int]:
        return [row[0] for row in self.db.execute("SELECT component FROM clusters ORDER BY component")]

    def clusters(self, component: int) -> list[dict[str, Any]] | None:
        data = self._one("SELECT records FROM clusters WHERE component = ?", (component,))
        return None if data is None else unpack_json(data)

    def count(self) -> int:
        return int(self._one("SELECT count(*) FROM articles"))

    def all_keys(self) -> list[tuple[int, str | None, float]]:
        return list(self.db.execute("SELECT key, published, added FROM articles ORDER BY key"))

    # --- writes -------------------------------------------------------------------------------------------
    def insert_article(
        self,
        article: Article,
        furniture: tuple[int, ...],
        added: float,
        stems: bytes,
        term_features: tuple[int, ...],
        cleaned: bytes,
        slug: str | None = None,
        *,
        signatures: bytes,
    ) -> int:
        cursor = self.db.execute(
            "INSERT INTO articles (id, published, added, furniture, component, terms, signatures, stems, cleaned, "
            "record, slug) VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?)",
            (
                article.id,
                article.published,
                added,
                pack_ints(furniture),
                pack_term_features(term_features),
                signatures,
                zlib.compress(stems, 6),
                cleaned,
                pack_json(article_record(article)),
                slug,
            ),
        )
        return int(cursor.lastrowid)

    def set_furniture(
        self, key: int, furniture: tuple[int, ...], stems: bytes, cleaned: bytes, *, signatures: bytes
    ) -> None:
        self.db.execute(
            "UPDATE articles SET furniture = ?, signatures = ?, stems = ?, cleaned = ? WHERE key = ?",
            (pack_ints(furniture), signatures, zlib.compress(stems, 6), cleaned, key),
        )

    def delete_article(self, key: int, change: int, article: Article) -> None:
        self.db.execute("DELETE FROM articles WHERE key = ?", (key,))
        self.db.execute(
            "INSERT OR REPLACE INTO graveyard (article, removed, record) VALUES (?, ?, ?)",
            (key, change, pack_json(article_record(article))),
        )

    def add_keys(self, key: int, band_keys: Iterable[int]) -> None:
        wanted = sorted(set(band_keys))
        self._counted = {}
        if not wanted:
            return
        rows = self._rows_of(wanted)
        counts, written = add_to_rows(rows, wanted, key)
        self._counted = dict(zip(wanted, counts, strict=True))
        if written:
            self._row_of_key.clear()
            stored = {lo for lo, _ in rows}
            self.db.executemany(
                "UPDATE postings SET entries = ? WHERE lo = ?", [(blob, lo) for lo, blob in written if lo in stored]
            )
            new = [row for row in written if row[0] not in stored]  # pieces cut off, a row at 0
            if new:
                self.db.executemany("INSERT INTO postings (lo, entries) VALUES (?, ?)", new)

    def remove_keys(self, key: int, band_keys: Iterable[int]) -> None:
        wanted = sorted(set(band_keys))
        self._counted = {}
        if not wanted:
            return
        rows = self._rows_of(wanted)
        keys, articles, row_of = decode_rows(rows)
        counted = np.isin(keys, np.array(wanted, dtype=np.int64))
        counts = dict.fromkeys(wanted, 0)
        dropped = counted & (articles == key)
        found, found_counts = np.unique(keys[counted & ~dropped], return_counts=True)
        counts.update(zip(found.tolist(), found_counts.tolist(), strict=True))
        self._counted = counts
        if not dropped.any():
            return
        self._row_of_key.clear()
        changed = np.unique(row_of[dropped])
        kept = np.isin(row_of, changed) & ~dropped
        row_numbers, row_counts = np.unique(row_of[kept], return_counts=True)
        los = [lo for lo, _ in rows]
        emptied = sorted(set(changed.tolist()) - set(row_numbers.tolist()))
        self.db.executemany("DELETE FROM postings WHERE lo = ?", ((los[row],) for row in emptied))
        if len(row_numbers):
            self._write_rows(
                [los[row] for row in row_numbers.tolist()], keys[kept], articles[kept], row_counts.tolist()
            )

    def _key_counts(self, band_keys: list[int]) -> dict[int, int]:
        """How many postings each of ``band_keys`` has (those the last add/remove wrote from memory)."""
        counted = self._counted
        if counted.keys() >= set(band_keys):
            return {key: counted[key] for key in band_keys}
        counts = dict.fromkeys(band_keys, 0)
        keys, counts_found = np.unique(self._postings(band_keys)[0], return_counts=True)
        counts.update(zip(keys.tolist(), counts_found.tolist(), strict=True))
        return counts

    def count_keys(self, band_keys: Iterable[int], sign: int, cap: int) -> None:
        keys = sorted(set(band_keys))
        counted = self._counted
        if counted.keys() >= set(keys):
            # the last add_keys / remove_keys counted these keys' postings after it: a crowded key (more than ``cap``
            # postings before) has more than ``cap`` after an add, at least ``cap`` after a removal; the others are
            # not crowded, nor become so, and are not read from ``crowded`` (most adds read nothing there)
            keys = [key for key in keys if counted[key] > (cap if sign > 0 else cap - 1)]
            if not keys:
                return
        known = self.crowded(keys)
        for key, holders in known.items():
            if holders + sign > cap:
                self.db.execute("UPDATE crowded SET holders = ? WHERE key = ?", (holders + sign, key))
            else:
                self.db.execute("DELETE FROM crowded WHERE key = ?", (key,))
        rest = [key for key in keys if key not in known]
        if sign > 0 and rest:  # at most ``cap`` + 1 postings each (rows of ``ROW_MAX``): a bounded read
            self.db.executemany(
                "INSERT INTO crowded (key, holders) VALUES (?, ?)",
                [(key, count) for key, count in self._key_counts(rest).items() if count > cap],
            )

    def key_counts(self, cap: int) -> dict[int, int]:
        """The keys with more than ``cap`` postings and their counts, from every stored row (a full scan)."""
        found: dict[int, int] = {}
        for _, keys, _, _ in self._scan():
            unique, counts = np.unique(keys, return_counts=True)  # a key's postings are all in one row
            over = counts > cap
            found.update(zip(unique[over].tolist(), counts[over].tolist(), strict=True))
        return found

    def recount_keys(self, cap: int) -> int:
        self.db.execute(_CROWDED)
        self.db.execute("DELETE FROM crowded")
        self.db.executemany("INSERT INTO crowded (key, holders) VALUES (?, ?)", sorted(self.key_counts(cap).items()))
        return int(self._one("SELECT count(*) FROM crowded"))

    def pack_terms(self) -> int | None:
        """Schema 9 to 10: each article's signature terms, stored as band keys (``int64``), stored as their features
        (``codec.pack_term_features``); a key is turned back into its feature by hashing every feature once. Returns
        the articles changed."""
        feature_of = dict(zip(term_keys(range(N_FEATURES)), range(N_FEATURES), strict=True))
        changed = []
        for key, terms in self.db.execute("SELECT key, terms FROM articles ORDER BY key"):
            try:
                features = [feature_of[term] for term in unpack_ints(terms)]
            except KeyError:
                raise CorruptIndexError(f"article {key} holds a signature term of no feature") from None
            changed.append((pack_term_features(features), key))
        self.db.executemany("UPDATE articles SET terms = ? WHERE key = ?", changed)
        return len(changed)

    def pack_postings(self) -> int | None:
        """Schema 8 to 9: move every posting of the table ``bands`` (one row a posting) into rows of key ranges
        (``dedup.store.postings``, ``_MIGRATED_ROW`` postings a row) and drop ``bands``; one key range at a time.
        Returns the rows made, or ``None`` when there is no ``bands`` table (nothing to do)."""
        if self._one("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'bands'") == 0:
            return None
        self.db.execute(_POSTINGS)
        self._row_of_key.clear()
        if self._one("SELECT count(*) FROM postings"):
            raise CorruptIndexError("both the postings of schema 8 and of schema 9 are stored")
        made = 0
        step = KEY_LIMIT // _MIGRATION_RANGES
        for begin in range(0, KEY_LIMIT, step):
            pairs = self.db.execute(
                "SELECT key, article FROM bands WHERE key >= ? AND key < ? ORDER BY key, article", (begin, begin + step)
            ).fetchall()
            if not pairs:
                continue
            table = np.array(pairs, dtype=np.int64)
            keys, articles = table[:, 0], table[:, 1]
            points = cut_points(keys, _MIGRATED_ROW)
            los = keys[points]
            los[0] = begin
            counts = np.diff(np.append(points, len(keys)))
            blobs = encode_rows(los, keys, articles, counts)
            self.db.executemany(
                "INSERT INTO postings (lo, entries) VALUES (?, ?)", zip(los.tolist(), blobs, strict=True)
            )
            made += len(blobs)
        self.db.execute("DROP TABLE bands")
        return made

    def put_lines(self, counts: Mapping[int, LineCount]) -> None:
        keep = [(k, c.count, int(c.sticky), pack_ints(c.holders)) for k, c in counts.items() if c.count or c.sticky]
        drop = [(k,) for k, c in counts.items() if not (c.count or c.sticky)]
        self.db.executemany("INSERT OR REPLACE INTO lines (key, count, sticky, holders) VALUES (?, ?, ?, ?)", keep)
        self.db.executemany("DELETE FROM lines WHERE key = ?", drop)

    def log_change(self, key: int, sign: int, furniture: tuple[int, ...]) -> int:
        cursor = self.db.execute(
            "INSERT INTO changes (article, sign, furniture) VALUES (?, ?, ?)", (key, sign, pack_ints(furniture))
        )
        return int(cursor.lastrowid)

    def put_pair(self, a: int, b: int, data: bytes) -> None:
        a, b = min(a, b), max(a, b)
        self.db.execute("INSERT OR REPLACE INTO pairs (a, b, verdict) VALUES (?, ?, ?)", (a, b, data))

    def put_weak_pair(self, a: int, b: int, data: bytes) -> None:
        a, b = min(a, b), max(a, b)
        self.db.execute("INSERT OR REPLACE INTO weak (a, b, verdict) VALUES (?, ?, ?)", (a, b, data))

    def delete_pairs(self, key: int) -> None:
        self.db.execute("DELETE FROM pairs WHERE a = ? OR b = ?", (key, key))
        self.db.execute("DELETE FROM weak WHERE a = ? OR b = ?", (key, key))

    def set_components(self, components: Mapping[int, int | None]) -> None:
        self.db.executemany("UPDATE articles SET component = ? WHERE key = ?", ((c, k) for k, c in components.items()))

    def put_clusters(self, component: int, records: list[dict[str, Any]]) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO clusters (component, records) VALUES (?, ?)", (component, pack_json(records))
        )

    def delete_clusters(self, component: int) -> None:
        self.db.execute("DELETE FROM clusters WHERE component = ?", (component,))

    def put_meta(self, name: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))

    def write_checkpoint(self, change: int, n_rows: int, df: bytes) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO checkpoint (one, change, n_rows, df) VALUES (1, ?, ?, ?)", (change, n_rows, df)
        )
        self.db.execute("DELETE FROM changes WHERE change <= ?", (change,))
        self.db.execute("DELETE FROM graveyard WHERE removed <= ?", (change,))

    def flush(self) -> None:
        """Nothing to do: the write transaction commits when the session ends."""


class SQLiteBackend(Backend):
    """An index in one SQLite file (WAL mode)."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 60.0) -> None:
        self.target = str(path)
        self.path = Path(path)
        self._local = threading.local()
        self._timeout = timeout
        self._connections: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        if self.path.exists() and self.path.is_dir():
            raise StoreError(f"{self.path} is a folder, not an index file")
        if self.path.exists() and self.path.stat().st_size:
            with self.path.open("rb") as handle:
                if handle.read(16) != b"SQLite format 3\x00":
                    raise CorruptIndexError(f"{self.path} is not a dedup index (not an SQLite file)")

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            try:
                connection = sqlite3.connect(
                    self.target, timeout=self._timeout, isolation_level=None, check_same_thread=False
                )
                connection.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
                connection.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # a new file only: before WAL mode creates it
                mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"{self.path}: cannot switch to WAL mode (got {mode})")
                if SYNCHRONOUS not in ("NORMAL", "FULL", "EXTRA"):
                    raise StoreError(f"DEDUP_SQLITE_SYNCHRONOUS must be NORMAL, FULL or EXTRA, not {SYNCHRONOUS!r}")
                connection.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")
                for pragma in _PRAGMAS:
                    connection.execute(pragma)
                connection.execute("PRAGMA foreign_keys = OFF")
            except sqlite3.DatabaseError as error:
                raise CorruptIndexError(f"{self.path} is not a usable dedup index: {error}") from None
            self._local.connection = connection
            with self._guard:
                self._connections.append(connection)
        return connection

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        connection = self._connection()
        try:
            connection.execute(begin)
        except sqlite3.DatabaseError as error:
            raise CorruptIndexError(f"{self.path} is not a usable dedup index: {error}") from None
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        else:
            try:
                connection.execute("COMMIT")
            except sqlite3.DatabaseError as error:
                connection.execute("ROLLBACK")
                raise StoreError(f"{self.path}: commit failed: {error}") from None

    def meta(self) -> dict[str, str] | None:
        try:
            with self._transaction("BEGIN") as db:
                tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                user_tables = tables - {"sqlite_sequence"}
                if not user_tables:
                    return None
                if "meta" not in tables:
                    raise CorruptIndexError(f"{self.path} is an SQLite file of another application, not a dedup index")
                meta = dict(db.execute("SELECT name, value FROM meta"))
        except sqlite3.DatabaseError as error:
            raise CorruptIndexError(f"{self.path} is not a usable dedup index: {error}") from None
        if not meta:
            return None
        # migrate adds them: ``crowded`` to schema 7, ``postings`` (in place of ``bands``) to 7 and 8
        missing = (
            _TABLES - user_tables - {"7": {"crowded", "postings"}, "8": {"postings"}}.get(meta.get("schema"), set())
        )
        if missing:
            raise CorruptIndexError(f"{self.path} is damaged: tables {sorted(missing)} are missing")
        return meta

    def initialise(self, meta: Mapping[str, str]) -> None:
        try:
            with self._transaction("BEGIN IMMEDIATE") as db:
                tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if "meta" in tables and db.execute("SELECT count(*) FROM meta").fetchone()[0]:
                    return  # another process created it first
                if tables - {"sqlite_sequence", "meta"}:
                    raise CorruptIndexError(f"{self.path} is an SQLite file of another application, not a dedup index")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.executemany("INSERT INTO meta (name, value) VALUES (?, ?)", sorted(meta.items()))
        except sqlite3.DatabaseError as error:
            raise CorruptIndexError(f"{self.path} is not a usable dedup index: {error}") from None

    @contextmanager
    def reading(self) -> Iterator[Session]:
        try:
            with self._transaction("BEGIN") as db:
                yield SQLiteSession(db)
        except sqlite3.DatabaseError as error:
            raise CorruptIndexError(f"{self.path}: {error}") from None

    @contextmanager
    def writing(self) -> Iterator[Session]:
        load_postings_kernels()  # outside the lock: other writers do not wait while this process loads the code
        try:
            with self._transaction("BEGIN IMMEDIATE") as db:
                yield SQLiteSession(db, keep_rows=True)
        except sqlite3.OperationalError as error:
            raise StoreError(f"{self.path}: {error}") from None
        except sqlite3.DatabaseError as error:
            raise CorruptIndexError(f"{self.path}: {error}") from None

    def size_bytes(self) -> dict[str, int]:
        sizes = {"file": self.path.stat().st_size if self.path.exists() else 0}
        wal = Path(self.target + "-wal")
        sizes["wal"] = wal.stat().st_size if wal.exists() else 0
        try:
            rows = self._connection().execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
            sizes.update({f"table:{name}": int(size) for name, size in rows})
        except sqlite3.DatabaseError:
            pass  # dbstat is an optional SQLite extension
        return sizes

    def integrity(self) -> list[str]:
        try:
            return self._integrity()
        except sqlite3.DatabaseError as error:
            return [f"{self.path}: {error}"]

    def _integrity(self) -> list[str]:
        db = self._connection()
        problems = [row[0] for row in db.execute("PRAGMA integrity_check") if row[0] != "ok"]
        problems += self._postings_problems(db)
        checks = {
            "pairs naming a missing article": "SELECT count(*) FROM pairs WHERE a NOT IN (SELECT key FROM articles) "
            "OR b NOT IN (SELECT key FROM articles)",
            "weak pairs naming a missing article": "SELECT count(*) FROM weak "
            "WHERE a NOT IN (SELECT key FROM articles) OR b NOT IN (SELECT key FROM articles)",
            "wire slugs split over components": "SELECT count(*) FROM (SELECT slug FROM articles "
            "WHERE slug IS NOT NULL GROUP BY slug HAVING count(*) > 1 "
            "AND (count(DISTINCT component) > 1 OR count(component) < count(*)))",
            "articles in a component without clusters": "SELECT count(*) FROM articles WHERE component IS NOT NULL "
            "AND component NOT IN (SELECT component FROM clusters)",
            "clusters of an empty component": "SELECT count(*) FROM clusters WHERE component NOT IN "
            "(SELECT component FROM articles WHERE component IS NOT NULL)",
            "duplicate ids": "SELECT count(*) - count(DISTINCT id) FROM articles",
        }
        for label, sql in checks.items():
            found = db.execute(sql).fetchone()[0]
            if found:
                problems.append(f"{found} {label}")
        cap = db.execute("SELECT value FROM meta WHERE name = 'crowded_key_cap'").fetchone()
        if cap is not None and int(cap[0]) > 0:  # 0: no cap, no counts kept
            counted = SQLiteSession(db).key_counts(int(cap[0]))
            stored = dict(db.execute("SELECT key, holders FROM crowded"))
            found = len(set(counted.items()) ^ set(stored.items()))
            if found:
                problems.append(f"{found} crowded key counts disagreeing with the postings")
        return problems

    @staticmethod
    def _postings_problems(db: sqlite3.Connection) -> list[str]:
        """Postings rows that cannot be read, are out of order or outside their range, or name missing articles."""
        stored = {row[0] for row in db.execute("SELECT key FROM articles")}
        damaged = disordered = missing = 0
        after = -1
        while True:
            rows = db.execute(
                "SELECT lo, entries FROM postings WHERE lo > ? ORDER BY lo LIMIT 20000", (after,)
            ).fetchall()
            if not rows:
                break
            after = rows[-1][0]
            following = db.execute("SELECT min(lo) FROM postings WHERE lo > ?", (after,)).fetchone()[0]
            los = [lo for lo, _ in rows]
            starts = np.array(los, dtype=np.int64)
            ends = np.array([*los[1:], KEY_LIMIT if following is None else following], dtype=np.int64)
            try:
                keys, articles, row_of = decode_rows(rows)
            except (CorruptIndexError, ValueError):
                damaged += 1
                continue
            outside = (keys < starts[row_of]) | (keys >= ends[row_of])
            same_row = row_of[1:] == row_of[:-1]
            later = (keys[1:] > keys[:-1]) | ((keys[1:] == keys[:-1]) & (articles[1:] > articles[:-1]))
            disordered += int(outside.sum() + (same_row & ~later).sum())
            disordered += sum(1 for _, blob in rows if len(blob) <= 2)  # an empty row is deleted, never stored
            missing += len(set(articles.tolist()) - stored)
        problems = []
        if damaged:
            problems.append(f"{damaged} chunks of postings rows that cannot be read")
        if disordered:
            problems.append(f"{disordered} postings out of order or outside their row's key range, or empty rows")
        if missing:
            problems.append(f"{missing} articles named by postings but not stored")
        return problems

    def close(self) -> None:
        with self._guard:
            for connection in self._connections:
                with suppress(sqlite3.Error):
                    connection.close()
            self._connections.clear()
        self._local = threading.local()
