"""The server backend: one Redis (many hosts, many processes).

Layout under a key prefix (``redis://host:port/db?prefix=NAME``, default ``dedup``): hashes for
articles, ids, pairs, clusters and the change log; LSH band keys and line counts in bucketed
hashes (small hashes stay in Redis's compact encoding). Writers hold a lock key (``SET NX PX``,
renewed every third of its time while the writer works, released by a compare-and-delete
script) *and* ``WATCH`` the change counter, so a writer whose lock expired (a stalled process)
cannot overwrite another's work: its ``EXEC`` fails and the index retries. Each unit of work
is one ``MULTI``/``EXEC``: all of an add is applied or none. Readers check that the change
counter did not move during their reads, else they retry. Durability against a crash of the
*server* is Redis's own (``appendonly yes``, ``appendfsync always`` for the strictest setting).
"""

from __future__ import annotations

import os
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Container, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dedup.model import Article
from dedup.store.base import Backend, Change, LineCount, Session, StoredArticle
from dedup.store.codec import article_record, pack_ints, pack_json, record_article, unpack_ints, unpack_json
from dedup.store.errors import ConflictError, CorruptIndexError, StoreError
from dedup.store.features import term_keys

BAND_BUCKETS = 1 << 20
LINE_BUCKETS = 1 << 16
LOCK_MILLISECONDS = int(os.environ.get("DEDUP_REDIS_LOCK_MS", "30000"))  # renewed while a writer works
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_EXTEND = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)


def _client(url: str) -> tuple[Any, str]:
    try:
        import redis
    except ImportError:
        raise StoreError("a redis:// index needs the redis client: pip install 'dedup[redis]'") from None
    parts = urlsplit(url)
    prefix = parse_qs(parts.query).get("prefix", ["dedup"])[0]
    clean = url.split("?", 1)[0]
    try:
        client = redis.Redis.from_url(clean, socket_timeout=60, socket_connect_timeout=10)
        client.ping()
    except redis.RedisError as error:
        raise StoreError(f"cannot reach the Redis server at {clean}: {error}") from None
    return client, prefix


def _crowded_postings(client: Any, prefix: str, cap: int) -> dict[bytes, int]:
    """Every band key held by more than ``cap`` articles, counted from the stored postings (one pass)."""
    counted: dict[bytes, int] = {}
    names = list(client.scan_iter(match=f"{prefix}:b:*", count=10_000))
    for begin in range(0, len(names), 1000):
        reader = client.pipeline(transaction=False)
        for name in names[begin : begin + 1000]:
            reader.hgetall(name)
        for postings in reader.execute():
            counted.update((field, len(data) // 4) for field, data in postings.items() if len(data) // 4 > cap)
    return counted


class RedisSession(Session):
    """Reads straight from the server; writes buffered per unit and applied in one MULTI/EXEC."""

    def __init__(self, backend: RedisBackend, *, writing: bool) -> None:
        self.backend = backend
        self.client = backend.client
        self.p = backend.prefix
        self.writing = writing
        self._start_unit()

    # --- plumbing -------------------------------------------------------------------------------------------
    def _start_unit(self) -> None:
        self.pipe = self.client.pipeline(transaction=True)
        self.pipe.watch(f"{self.p}:head")
        self._head = int(self.pipe.get(f"{self.p}:head") or 0)
        self._initial_head = self._head
        self._overlay: dict[tuple[str, bytes], bytes | None] = {}
        self._counters: dict[str, int] = {}

    def _hmget(self, requests: Iterable[tuple[str, bytes]]) -> dict[tuple[str, bytes], bytes | None]:
        """Fields of hashes, seen through this unit's own pending writes."""
        result: dict[tuple[str, bytes], bytes | None] = {}
        wanted: dict[str, list[bytes]] = {}
        for name, field in requests:
            if (name, field) in self._overlay:
                result[(name, field)] = self._overlay[(name, field)]
            else:
                wanted.setdefault(name, []).append(field)
        if wanted:
            reader = self.client.pipeline(transaction=False)
            names = list(wanted)
            for name in names:
                reader.hmget(name, wanted[name])
            for name, values in zip(names, reader.execute(), strict=True):
                for field, value in zip(wanted[name], values, strict=True):
                    result[(name, field)] = value
        return result

    def _set(self, name: str, field: bytes, value: bytes | None) -> None:
        if not self.writing:
            raise StoreError("a write in a read session")
        self._overlay[(name, field)] = value

    def _band(self, key: int) -> tuple[str, bytes]:
        return f"{self.p}:b:{key % BAND_BUCKETS}", str(key).encode()

    def _line(self, key: int) -> tuple[str, bytes]:
        return f"{self.p}:l:{key % LINE_BUCKETS}", str(key).encode()

    @staticmethod
    def _field(key: int) -> bytes:
        return str(key).encode()

    # --- reads ---------------------------------------------------------------------------------------------
    def head(self) -> int:
        return self._head

    def checkpoint(self, with_data: bool = True) -> tuple[int, int, bytes | None] | None:
        name = f"{self.p}:checkpoint"
        fields = [b"change", b"n_rows", b"df"] if with_data else [b"change", b"n_rows"]
        values = self._hmget((name, f) for f in fields)
        if values[(name, b"change")] is None:
            return None
        data = values.get((name, b"df")) if with_data else None
        return int(values[(name, b"change")] or 0), int(values[(name, b"n_rows")] or 0), data

    def changes(self, after: int) -> list[Change]:
        name = f"{self.p}:changes"
        numbers = list(range(after + 1, self._head + 1))
        values = self._hmget((name, self._field(n)) for n in numbers)
        result = []
        for number in numbers:
            data = values[(name, self._field(number))]
            if data is None:
                continue  # covered by a checkpoint written meanwhile
            article, sign = struct.unpack_from("<qq", data)
            result.append((number, article, sign, unpack_ints(data[16:])))
        return result

    def articles(self, keys: Iterable[int]) -> dict[int, StoredArticle]:
        keys = sorted(set(keys))
        art, comp, clean = f"{self.p}:art", f"{self.p}:comp", f"{self.p}:clean"
        values = self._hmget([(name, self._field(k)) for name in (art, comp, clean) for k in keys])
        result = {}
        for key in keys:
            data = values[(art, self._field(key))]
            if data is None:
                continue
            item = unpack_json(data)
            component = values[(comp, self._field(key))]
            result[key] = StoredArticle(
                key,
                record_article(item["record"]),
                tuple(item["furniture"]),
                int(component) if component else None,
                item["added"],
                tuple(item["terms"]),
                values[(clean, self._field(key))],
            )
        return result

    def graveyard(self, keys: Iterable[int]) -> dict[int, Article]:
        name = f"{self.p}:grave"
        values = self._hmget((name, self._field(k)) for k in set(keys))
        return {int(field): record_article(unpack_json(data)["record"]) for (_, field), data in values.items() if data}

    def key_of(self, article_id: str) -> int | None:
        value = self._hmget([(f"{self.p}:ids", article_id.encode("utf-8"))])
        found = next(iter(value.values()))
        return None if found is None else int(found)

    def lookup(self, band_keys: Iterable[int]) -> set[int]:
        return set(self.lookup_counts(band_keys))

    def lookup_counts(self, band_keys: Iterable[int]) -> dict[int, int]:
        found: dict[int, int] = {}
        for data in self._hmget(self._band(k) for k in set(band_keys)).values():
            for article in unpack_ints(data, "<u4"):
                found[article] = found.get(article, 0) + 1
        return found

    def holders(self, band_keys: Iterable[int]) -> dict[int, list[int]]:
        values = self._hmget(self._band(k) for k in set(band_keys))
        return {int(field): list(unpack_ints(data, "<u4")) for (_, field), data in values.items() if data}

    def crowded(self, band_keys: Iterable[int]) -> dict[int, int]:
        name = f"{self.p}:crowded"
        values = self._hmget((name, self._field(k)) for k in set(band_keys))
        return {int(field): int(value) for (_, field), value in values.items() if value is not None}

    def stems(self, keys: Iterable[int]) -> dict[int, bytes]:
        name = f"{self.p}:stems"
        values = self._hmget((name, self._field(k)) for k in set(keys))
        return {int(field): zlib.decompress(data) for (_, field), data in values.items() if data}

    def sentence_signatures(self, keys: Iterable[int]) -> dict[int, bytes]:
        name = f"{self.p}:sig"
        values = self._hmget((name, self._field(k)) for k in set(keys))
        return {int(field): data for (_, field), data in values.items() if data is not None}

    def components(self, keys: Iterable[int]) -> dict[int, int | None]:
        name = f"{self.p}:comp"
        values = self._hmget((name, self._field(k)) for k in set(keys))
        return {int(field): int(data) if data else None for (_, field), data in values.items()}

    def lines(self, line_keys: Iterable[int]) -> dict[int, LineCount]:
        result = {}
        for (_, field), data in self._hmget(self._line(k) for k in set(line_keys)).items():
            if data:
                count, sticky = struct.unpack_from("<qq", data)
                result[int(field)] = LineCount(count, bool(sticky), unpack_ints(data[16:]))
        return result

    def pair_blobs(
        self, keys: Iterable[int], weak: bool = False, cached: Container[tuple[int, int]] = ()
    ) -> list[tuple[int, int, bytes | None]]:
        wanted = set(keys)
        links = self._adjacency(wanted, "wadj" if weak else "adj")
        requests = sorted({(a, b) for a in wanted for b in links[a] if b in wanted and a < b})
        name = f"{self.p}:weak" if weak else f"{self.p}:pairs"
        values = self._hmget((name, f"{a}:{b}".encode()) for a, b in requests if (a, b) not in cached)
        return [
            (a, b, None) if (a, b) in cached else (a, b, data)
            for a, b in requests
            if (a, b) in cached or (data := values[(name, f"{a}:{b}".encode())])
        ]

    def names(self, keys: Iterable[int]) -> dict[int, str]:
        name = f"{self.p}:name"
        keys = set(keys)
        values = self._hmget((name, self._field(k)) for k in keys)
        return {key: data.decode("utf-8") for key in keys if (data := values[(name, self._field(key))]) is not None}

    def slugs(self, keys: Iterable[int]) -> dict[int, str]:
        name = f"{self.p}:slug"
        keys = set(keys)
        values = self._hmget((name, self._field(k)) for k in keys)
        return {key: data.decode("utf-8") for key in keys if (data := values[(name, self._field(key))]) is not None}

    def slug_holders(self, slug: str) -> set[int]:
        value = self._hmget([(f"{self.p}:slugs", slug.encode("utf-8"))])
        return set(unpack_ints(next(iter(value.values())), "<u4"))

    def neighbours(self, keys: Iterable[int]) -> dict[int, set[int]]:
        return self._adjacency(keys, "adj")

    def _adjacency(self, keys: Iterable[int], kind: str) -> dict[int, set[int]]:
        name = f"{self.p}:{kind}"
        keys = set(keys)
        values = self._hmget((name, self._field(k)) for k in keys)
        return {key: set(unpack_ints(values[(name, self._field(key))], "<u4")) for key in keys}

    def members(self, component: int) -> list[int]:
        value = self._hmget([(f"{self.p}:members", self._field(component))])
        return list(unpack_ints(next(iter(value.values())), "<u4"))

    def component_numbers(self) -> list[int]:
        return sorted(int(field) for field in self.client.hkeys(f"{self.p}:clusters"))

    def clusters(self, component: int) -> list[dict[str, Any]] | None:
        value = next(iter(self._hmget([(f"{self.p}:clusters", self._field(component))]).values()))
        return None if value is None else unpack_json(value)

    def count(self) -> int:
        return int(self.client.hlen(f"{self.p}:ids"))

    def all_keys(self) -> list[tuple[int, str | None, float]]:
        rows = []
        for field, data in self.client.hscan_iter(f"{self.p}:art", count=1000):
            item = unpack_json(data)
            rows.append((int(field), item["record"].get("published"), item["added"]))
        return sorted(rows)

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
        key = int(self.client.incr(f"{self.p}:seq"))
        if slug is not None:
            self._set(f"{self.p}:slug", self._field(key), slug.encode("utf-8"))
            self._edit_lists([(f"{self.p}:slugs", slug.encode("utf-8"))], key, add=True)
        self._put_article(key, article, furniture, added, tuple(term_keys(term_features)))
        self._set(f"{self.p}:ids", article.id.encode("utf-8"), self._field(key))
        self._set(f"{self.p}:stems", self._field(key), zlib.compress(stems, 6))
        self._set(f"{self.p}:clean", self._field(key), cleaned)
        self._set(f"{self.p}:sig", self._field(key), signatures)
        self._set(f"{self.p}:name", self._field(key), article.id.encode("utf-8"))
        return key

    def _put_article(
        self, key: int, article: Article, furniture: tuple[int, ...], added: float, terms: tuple[int, ...]
    ) -> None:
        record = {"record": article_record(article), "furniture": list(furniture), "added": added, "terms": list(terms)}
        self._set(f"{self.p}:art", self._field(key), pack_json(record))

    def set_furniture(
        self, key: int, furniture: tuple[int, ...], stems: bytes, cleaned: bytes, *, signatures: bytes
    ) -> None:
        row = self.articles([key])[key]
        self._put_article(key, row.article, furniture, row.added, row.terms)
        self._set(f"{self.p}:stems", self._field(key), zlib.compress(stems, 6))
        self._set(f"{self.p}:clean", self._field(key), cleaned)
        self._set(f"{self.p}:sig", self._field(key), signatures)

    def delete_article(self, key: int, change: int, article: Article) -> None:
        component = next(iter(self._hmget([(f"{self.p}:comp", self._field(key))]).values()))
        if component is not None:
            self._edit_lists([(f"{self.p}:members", component)], key, add=False)
        slug = next(iter(self._hmget([(f"{self.p}:slug", self._field(key))]).values()))
        if slug is not None:
            self._edit_lists([(f"{self.p}:slugs", slug)], key, add=False)
        for name in ("art", "stems", "comp", "clean", "sig", "name", "slug"):
            self._set(f"{self.p}:{name}", self._field(key), None)
        self._set(f"{self.p}:ids", article.id.encode("utf-8"), None)
        self._set(
            f"{self.p}:grave", self._field(key), pack_json({"record": article_record(article), "removed": change})
        )
        self._set(f"{self.p}:gravelog", self._field(change), self._field(key))

    def _edit_lists(self, fields: list[tuple[str, bytes]], key: int, add: bool) -> None:
        self._edit_many({field: ({key}, set()) if add else (set(), {key}) for field in fields})

    def _edit_many(self, edits: Mapping[tuple[str, bytes], tuple[set[int], set[int]]]) -> None:
        """Add and remove article keys in packed-list fields, reading all of them in one round trip."""
        values = self._hmget(edits)
        for field, (added, removed) in edits.items():
            current = (set(unpack_ints(values[field], "<u4")) | added) - removed
            self._set(field[0], field[1], pack_ints(sorted(current), "<u4") if current else None)

    def add_keys(self, key: int, band_keys: Iterable[int]) -> None:
        self._edit_lists([self._band(k) for k in set(band_keys)], key, add=True)

    def remove_keys(self, key: int, band_keys: Iterable[int]) -> None:
        self._edit_lists([self._band(k) for k in set(band_keys)], key, add=False)

    def count_keys(self, band_keys: Iterable[int], sign: int, cap: int) -> None:
        keys = sorted(set(band_keys))
        name = f"{self.p}:crowded"
        known = self.crowded(keys)
        for key, holders in known.items():
            self._set(name, self._field(key), self._field(holders + sign) if holders + sign > cap else None)
        rest = [key for key in keys if key not in known]
        if sign > 0 and rest:  # at most ``cap`` + 1 holders each: a bounded read
            for (_, field), data in self._hmget(self._band(k) for k in rest).items():
                if data is not None and len(data) // 4 > cap:
                    self._set(name, field, self._field(len(data) // 4))

    def recount_keys(self, cap: int) -> int:
        name = f"{self.p}:crowded"
        for field in self.client.hkeys(name):
            self._set(name, field, None)
        counted = _crowded_postings(self.client, self.p, cap)
        for field, holders in counted.items():
            self._set(name, field, self._field(holders))
        return len(counted)

    def put_lines(self, counts: Mapping[int, LineCount]) -> None:
        for key, count in counts.items():
            name, field = self._line(key)
            if count.count or count.sticky:
                value = struct.pack("<qq", count.count, int(count.sticky)) + pack_ints(count.holders)
                self._set(name, field, value)
            else:
                self._set(name, field, None)

    def log_change(self, key: int, sign: int, furniture: tuple[int, ...]) -> int:
        self._head += 1
        self._set(f"{self.p}:changes", self._field(self._head), struct.pack("<qq", key, sign) + pack_ints(furniture))
        return self._head

    def put_pair(self, a: int, b: int, data: bytes) -> None:
        a, b = min(a, b), max(a, b)
        self._set(f"{self.p}:pairs", f"{a}:{b}".encode(), data)
        adjacency = f"{self.p}:adj"
        self._edit_many({(adjacency, self._field(a)): ({b}, set()), (adjacency, self._field(b)): ({a}, set())})

    def put_weak_pair(self, a: int, b: int, data: bytes) -> None:
        a, b = min(a, b), max(a, b)
        self._set(f"{self.p}:weak", f"{a}:{b}".encode(), data)
        adjacency = f"{self.p}:wadj"
        self._edit_many({(adjacency, self._field(a)): ({b}, set()), (adjacency, self._field(b)): ({a}, set())})

    def delete_pairs(self, key: int) -> None:
        for table, kind in (("pairs", "adj"), ("weak", "wadj")):
            adjacency = f"{self.p}:{kind}"
            others = self._adjacency([key], kind)[key]
            for other in others:
                a, b = min(key, other), max(key, other)
                self._set(f"{self.p}:{table}", f"{a}:{b}".encode(), None)
            self._edit_many({(adjacency, self._field(other)): (set(), {key}) for other in others})
            self._set(adjacency, self._field(key), None)

    def set_components(self, components: Mapping[int, int | None]) -> None:
        name = f"{self.p}:comp"
        members = f"{self.p}:members"
        old = self._hmget((name, self._field(k)) for k in components)
        edits: dict[tuple[str, bytes], tuple[set[int], set[int]]] = {}
        for key, component in components.items():
            previous = old[(name, self._field(key))]
            if previous is not None and (component is None or int(previous) != component):
                edits.setdefault((members, previous), (set(), set()))[1].add(key)
            if component is not None:
                edits.setdefault((members, self._field(component)), (set(), set()))[0].add(key)
            self._set(name, self._field(key), None if component is None else self._field(component))
        self._edit_many(edits)

    def put_clusters(self, component: int, records: list[dict[str, Any]]) -> None:
        self._set(f"{self.p}:clusters", self._field(component), pack_json(records))

    def delete_clusters(self, component: int) -> None:
        self._set(f"{self.p}:clusters", self._field(component), None)

    def put_meta(self, name: str, value: str) -> None:
        self._set(f"{self.p}:meta", name.encode(), value.encode())

    def write_checkpoint(self, change: int, n_rows: int, df: bytes) -> None:
        name = f"{self.p}:checkpoint"
        previous = self.checkpoint(with_data=False)
        first = previous[0] + 1 if previous else 1
        self._set(name, b"change", self._field(change))
        self._set(name, b"n_rows", self._field(n_rows))
        self._set(name, b"df", df)
        for number in range(first, change + 1):
            self._set(f"{self.p}:changes", self._field(number), None)
        buried = self.client.hgetall(f"{self.p}:gravelog")
        for removed, key in buried.items():
            if int(removed) <= change:
                self._set(f"{self.p}:grave", key, None)
                self._set(f"{self.p}:gravelog", removed, None)

    def flush(self) -> None:
        """Apply this unit's writes atomically; ``ConflictError`` if another writer got in between."""
        import redis

        if not self._overlay and self._head == self._initial_head:
            return
        if not self.backend.extend_lock():
            self.pipe.reset()
            raise ConflictError(f"{self.backend.target}: the write lock expired")
        try:
            self.pipe.multi()
            sets: dict[str, dict[bytes, bytes]] = {}
            deletes: dict[str, list[bytes]] = {}
            for (name, field), value in self._overlay.items():
                if value is None:
                    deletes.setdefault(name, []).append(field)
                else:
                    sets.setdefault(name, {})[field] = value
            for name, mapping in sets.items():
                self.pipe.hset(name, mapping=mapping)
            for name, fields in deletes.items():
                self.pipe.hdel(name, *fields)
            self.pipe.set(f"{self.p}:head", self._head)
            self.pipe.execute()
        except redis.WatchError:
            raise ConflictError(f"{self.backend.target}: another writer changed the index") from None
        finally:
            self.pipe.reset()
        self._start_unit()

    def finish_read(self) -> None:
        """Raise ``ConflictError`` if a writer committed while this read session was reading."""
        try:
            if int(self.client.get(f"{self.p}:head") or 0) != self._initial_head:
                raise ConflictError(f"{self.backend.target}: the index changed during a read")
        finally:
            self.pipe.reset()


class RedisBackend(Backend):
    """An index on a Redis server: ``redis://host:port/db?prefix=NAME``."""

    def __init__(self, url: str) -> None:
        self.target = url
        self.client, self.prefix = _client(url)
        self._token = f"{os.getpid()}-{uuid.uuid4().hex}"
        self._local = threading.local()

    def meta(self) -> dict[str, str] | None:
        import redis

        try:
            kind = self.client.type(f"{self.prefix}:meta")
            if kind in (b"none", "none"):
                return None
            if kind not in (b"hash", "hash"):
                raise CorruptIndexError(f"{self.target}: the key {self.prefix}:meta is not a dedup index")
            values = self.client.hgetall(f"{self.prefix}:meta")
        except redis.RedisError as error:
            raise StoreError(f"{self.target}: {error}") from None
        try:
            return {k.decode(): v.decode() for k, v in values.items()}
        except UnicodeDecodeError:
            raise CorruptIndexError(f"{self.target}: the key {self.prefix}:meta is not a dedup index") from None

    def initialise(self, meta: Mapping[str, str]) -> None:
        values = dict(meta)
        values["redis_buckets"] = f"{BAND_BUCKETS},{LINE_BUCKETS}"
        with self._locked():
            if not self.client.exists(f"{self.prefix}:meta"):
                self.client.hset(f"{self.prefix}:meta", mapping=values)

    def _acquire(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        delay = 0.001
        while not self.client.set(f"{self.prefix}:lock", self._token, nx=True, px=LOCK_MILLISECONDS):
            if time.monotonic() > deadline:
                raise StoreError(f"{self.target}: could not take the write lock in {timeout:.0f}s")
            time.sleep(delay)
            delay = min(delay * 2, 0.02)

    def extend_lock(self) -> bool:
        return bool(self.client.eval(_EXTEND, 1, f"{self.prefix}:lock", self._token, LOCK_MILLISECONDS))

    def _keep_lock(self, done: threading.Event) -> None:
        """Renew the lock every third of its time until ``done`` (a live writer keeps it however long its unit of work
        takes on a slow or starved machine; a writer that dies stops renewing and its lock expires)."""
        import redis

        while not done.wait(LOCK_MILLISECONDS / 3000):
            try:
                if not self.extend_lock():
                    return  # lost already: the unit's EXEC will fail on the watched change counter
            except redis.RedisError:
                return  # the unit of work meets the same error and reports it

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self._acquire()
        done = threading.Event()
        keeper = threading.Thread(target=self._keep_lock, args=(done,), name="dedup-redis-lock", daemon=True)
        keeper.start()
        try:
            yield
        finally:
            done.set()
            keeper.join()
            self.client.eval(_RELEASE, 1, f"{self.prefix}:lock", self._token)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        import redis

        try:
            session = RedisSession(self, writing=False)
            yield session
            session.finish_read()
        except redis.RedisError as error:
            raise StoreError(f"{self.target}: {error}") from None

    @contextmanager
    def writing(self) -> Iterator[Session]:
        import redis

        try:
            with self._locked():
                session = RedisSession(self, writing=True)
                try:
                    yield session
                    session.flush()
                finally:
                    session.pipe.reset()
        except redis.RedisError as error:
            raise StoreError(f"{self.target}: {error}") from None

    def size_bytes(self) -> dict[str, int]:
        info = self.client.info("memory")
        return {"used_memory": int(info.get("used_memory", 0)), "keys": int(self.client.dbsize())}

    def integrity(self) -> list[str]:
        problems = []
        p = self.prefix
        ids = {v.decode(): k.decode() for k, v in self.client.hgetall(f"{p}:ids").items()}
        keys = set(self.client.hkeys(f"{p}:art"))
        keys = {int(k) for k in keys}
        if {int(k) for k in ids} != keys:
            problems.append("ids and articles disagree")
        for table in ("pairs", "weak"):
            for field in self.client.hkeys(f"{p}:{table}"):
                a, b = (int(x) for x in field.decode().split(":"))
                if a not in keys or b not in keys:
                    problems.append(f"{table} {a}:{b} names a missing article")
        components = {int(k): int(v) for k, v in self.client.hgetall(f"{p}:comp").items()}
        clusters = {int(k) for k in self.client.hkeys(f"{p}:clusters")}
        for key, component in components.items():
            if key not in keys:
                problems.append(f"component entry for missing article {key}")
            if component not in clusters:
                problems.append(f"article {key} in component {component} without clusters")
        slugs = {int(k): v for k, v in self.client.hgetall(f"{p}:slug").items()}
        for slug, holders in self.client.hgetall(f"{p}:slugs").items():
            held = set(unpack_ints(holders, "<u4"))
            if any(slugs.get(k) != slug for k in held) or len({components.get(k) for k in held}) > 1:
                problems.append(f"wire slug {slug!r}: holders disagree with the articles or span components")
            if len(held) > 1 and None in {components.get(k) for k in held}:
                problems.append(f"wire slug {slug!r}: a holder outside any component")
        if len(slugs) != sum(len(unpack_ints(v, "<u4")) for v in self.client.hgetall(f"{p}:slugs").values()):
            problems.append("wire slugs and their holders disagree")
        members = {int(k): set(unpack_ints(v, "<u4")) for k, v in self.client.hgetall(f"{p}:members").items()}
        for component, keys_in in members.items():
            if any(components.get(k) != component for k in keys_in):
                problems.append(f"members of component {component} disagree with the articles")
        if int(self.client.hlen(f"{p}:ids")) != len(keys):
            problems.append("duplicate or missing ids")
        cap = self.client.hget(f"{p}:meta", "crowded_key_cap")
        if cap is not None and int(cap) > 0:  # 0: no cap, no counts kept
            counted = _crowded_postings(self.client, p, int(cap))
            stored = {field: int(value) for field, value in self.client.hgetall(f"{p}:crowded").items()}
            if stored != counted:
                problems.append(
                    f"{len(set(stored.items()) ^ set(counted.items()))} crowded key counts disagreeing "
                    "with the postings"
                )
        return problems

    def close(self) -> None:
        self.client.close()
