"""Replay the band-key postings of a schema-8 index into either layout, for bytes and process time.

    PYTHONPATH=. python benchmarks/postings_replay.py INDEX8.dedup OUT.sqlite --layout rows|bands [--batch 500]

Reads every posting of INDEX8's ``bands`` table (schema 8: one row a posting), then adds them again article by article
in article-key order (the order the index added them) into a new SQLite file with the index's page size and pragmas:
``--layout rows`` with ``SQLiteSession.add_keys`` and ``count_keys`` (schema 9: rows of key ranges,
``dedup.store.postings``), ``--layout bands`` with schema 8's statements (``INSERT OR IGNORE`` a posting, the crowded
keys counted by SQL). ``--batch`` articles a transaction. Prints the process time of the adds, the bytes a posting
and an article in pages (``dbstat``) and, for ``rows``, that the postings read back equal INDEX8's.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dedup.store.base import iter_chunks
from dedup.store.sqlite import _CROWDED, _POSTINGS, PAGE_SIZE, SQLiteSession

CAP = 128


def _bands_add(db: sqlite3.Connection, article: int, keys: list[int]) -> None:
    """Schema 8's ``add_keys`` and ``count_keys`` (+1), as main's ``dedup/store/sqlite.py`` runs them."""
    db.executemany("INSERT OR IGNORE INTO bands (key, article) VALUES (?, ?)", ((k, article) for k in keys))
    known = dict(db.execute(f"SELECT key, holders FROM crowded WHERE key IN ({','.join('?' * len(keys))})", keys))
    for key, holders in known.items():
        db.execute("UPDATE crowded SET holders = ? WHERE key = ?", (holders + 1, key))
    rest = [key for key in keys if key not in known]
    for chunk in iter_chunks(rest, 900):
        marks = ",".join("?" * len(chunk))
        db.execute(
            f"INSERT INTO crowded (key, holders) SELECT key, count(*) FROM bands WHERE key IN ({marks}) "
            "GROUP BY key HAVING count(*) > ?",
            (*chunk, CAP),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("index")
    parser.add_argument("output")
    parser.add_argument("--layout", choices=("rows", "bands"), default="rows")
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    source = sqlite3.connect(args.index)
    pairs = np.array(source.execute("SELECT article, key FROM bands ORDER BY article, key").fetchall(), dtype=np.int64)
    articles = int(source.execute("SELECT count(*) FROM articles").fetchone()[0])
    source.close()
    bounds = np.flatnonzero(np.diff(pairs[:, 0])) + 1
    groups = [(int(part[0, 0]), part[:, 1].tolist()) for part in np.split(pairs, bounds)]
    Path(args.output).unlink(missing_ok=True)
    db = sqlite3.connect(args.output, isolation_level=None)
    db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA cache_size = -65536")
    db.execute(_CROWDED)
    if args.layout == "rows":
        db.execute(_POSTINGS)
    else:
        db.execute(
            "CREATE TABLE bands (key INTEGER NOT NULL, article INTEGER NOT NULL, PRIMARY KEY (key, article)) "
            "WITHOUT ROWID"
        )
    session = SQLiteSession(db)
    started = time.process_time()
    for batch in iter_chunks(groups, args.batch):
        db.execute("BEGIN IMMEDIATE")
        for article, keys in batch:
            if args.layout == "rows":
                session.add_keys(article, keys)
                session.count_keys(keys, +1, CAP)
            else:
                _bands_add(db, article, keys)
        db.execute("COMMIT")
    seconds = time.process_time() - started
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    table = "postings" if args.layout == "rows" else "bands"
    pages = db.execute("SELECT sum(pgsize), sum(payload), sum(unused) FROM dbstat WHERE name = ?", (table,)).fetchone()
    result: dict[str, Any] = {
        "layout": args.layout,
        "index": args.index,
        "articles": articles,
        "articles_with_postings": len(groups),
        "postings": len(pairs),
        "process_seconds": round(seconds, 2),
        "ms_an_article": round(1000 * seconds / len(groups), 3),
        "table_bytes": int(pages[0]),
        "payload_bytes": int(pages[1]),
        "unused_bytes": int(pages[2]),
        "bytes_a_posting": round(pages[0] / len(pairs), 2),
        "bytes_an_article": round(pages[0] / articles, 1),
        "crowded_keys": int(db.execute("SELECT count(*) FROM crowded").fetchone()[0]),
    }
    if args.layout == "rows":
        result["rows"] = int(db.execute("SELECT count(*) FROM postings").fetchone()[0])
        stored = []
        for _, keys, found, _ in session._scan():
            stored.append(np.stack([found, keys], axis=1))
        again = np.concatenate(stored)
        again = again[np.lexsort((again[:, 1], again[:, 0]))]
        result["postings_equal"] = bool(np.array_equal(again, pairs))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
