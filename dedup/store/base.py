"""The storage interface the index engine is written against, and its records.

A backend gives *sessions*: a read session sees one consistent snapshot; a write session is
exclusive across threads, processes and hosts. Inside a write session every read precedes
the writes of the same unit of work, and ``flush`` makes a unit durable and visible (SQLite
commits the transaction; Redis runs the buffered commands in one ``MULTI``/``EXEC``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Container, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from dedup.model import Article

FORMAT = "dedup-index"
SCHEMA = 10  # 2: the cleaned form of each article is stored (dedup.store.cleaned); 3: wire slugs and weak pairs;
# 4: leaner stored forms (cleaned form without token offsets, bucketed stem vectors); 5: cleaning keeps hard-wrapped
# story lines (a stored cleaned form of 4 marks some of them furniture: its units differ from a new article's);
# 6 (stop 13, two changes in one step): each stem vector carries the article's TF-IDF radius (its neighbours are
# found both ways, as in the batch), and the settings hold keep_wrapped_repeated_lines (on, a repeated line of a
# hard-wrapped paragraph stays story text, which a schema-5 stored cleaned form marked furniture); 7: the low bytes
# of each article's sentence signatures; 8 (stop 20): the holder count of each band key held by more than the
# index's ``crowded_key_cap`` articles (``Session.crowded``), so a check never reads a crowded key's postings
# (``Index.migrate`` brings a schema-7 index to 8 in one pass over its postings); 9 (stop 25): the SQLite store keeps
# its band-key postings packed in rows of key ranges (``dedup.store.postings``; ~6 bytes a posting instead of ~15),
# nothing else changes (``Index.migrate`` packs a schema-8 file's postings; a Redis index only changes its number);
# 10 (stop 27): the SQLite store keeps each article's signature terms as their features (3 bytes each, not 8-byte band
# keys; ``Index.migrate`` turns a schema-9 file's keys back into features; a Redis index only changes its number)


@dataclass(slots=True)
class StoredArticle:
    """An article as the index holds it: its key, the record, its furniture lines and component."""

    key: int
    article: Article
    furniture: tuple[int, ...]
    component: int | None
    added: float
    # its signature terms: their band-table keys (Redis), or their features as ``codec.pack_term_features`` bytes
    # (SQLite, schema 10), made keys only when ``terms`` is read (an add's holders, a removal)
    stored_terms: tuple[int, ...] | bytes = ()
    cleaned: bytes | None = None  # its cleaned form with its current furniture (``store.cleaned``)

    @property
    def terms(self) -> tuple[int, ...]:
        """The band-table keys of its signature terms."""
        if isinstance(self.stored_terms, bytes):
            from dedup.store.codec import unpack_term_features
            from dedup.store.features import term_keys

            return tuple(term_keys(unpack_term_features(self.stored_terms)))
        return self.stored_terms


@dataclass(slots=True)
class LineCount:
    """How many stored articles carry a short line; ``holders`` are the first few (for re-cleaning)."""

    count: int
    sticky: bool
    holders: tuple[int, ...]


Change = tuple[int, int, int, tuple[int, ...]]  # (change number, article key, +1 | -1, furniture)


class Session(ABC):
    """Reads (and, in a write session, writes) against one backend."""

    # --- reads ---------------------------------------------------------------------------------------------
    @abstractmethod
    def head(self) -> int:
        """The number of the latest change (0 for an empty index)."""

    @abstractmethod
    def checkpoint(self, with_data: bool = True) -> tuple[int, int, bytes | None] | None:
        """(change, sentence rows, zlib df bytes) of the latest document-frequency checkpoint."""

    @abstractmethod
    def changes(self, after: int) -> list[Change]: ...

    @abstractmethod
    def articles(self, keys: Iterable[int]) -> dict[int, StoredArticle]: ...

    @abstractmethod
    def graveyard(self, keys: Iterable[int]) -> dict[int, Article]:
        """Removed articles whose removal a checkpoint does not cover yet (their text is still needed)."""

    @abstractmethod
    def key_of(self, article_id: str) -> int | None: ...

    @abstractmethod
    def lookup(self, band_keys: Iterable[int]) -> set[int]:
        """Article keys holding any of ``band_keys``."""

    @abstractmethod
    def lookup_counts(self, band_keys: Iterable[int]) -> dict[int, int]:
        """For each article holding any of ``band_keys``, how many it holds."""

    @abstractmethod
    def holders(self, band_keys: Iterable[int]) -> dict[int, list[int]]:
        """The article keys holding each of ``band_keys`` (a key nobody holds is left out)."""

    @abstractmethod
    def crowded(self, band_keys: Iterable[int]) -> dict[int, int]:
        """Those of ``band_keys`` held by more than the index's ``crowded_key_cap`` articles, with their holder
        counts (kept by ``count_keys``; read without reading their postings)."""

    @abstractmethod
    def stems(self, keys: Iterable[int]) -> dict[int, bytes]:
        """The packed stem-count vectors of ``keys`` (``features.pack_stems``)."""

    @abstractmethod
    def sentence_signatures(self, keys: Iterable[int]) -> dict[int, bytes]:
        """The stored low bytes of each of ``keys``' sentence signature rows (``features.pack_low_bytes``),
        under its current furniture, without reading its record or cleaned form."""

    def components(self, keys: Iterable[int]) -> dict[int, int | None]:
        """The related component of each of ``keys`` (``None``: related to nothing; a key not stored may be left
        out or ``None``), without reading the records."""
        return {key: row.component for key, row in self.articles(keys).items()}

    @abstractmethod
    def lines(self, line_keys: Iterable[int]) -> dict[int, LineCount]: ...

    @abstractmethod
    def pair_blobs(
        self, keys: Iterable[int], weak: bool = False, cached: Container[tuple[int, int]] = ()
    ) -> list[tuple[int, int, bytes | None]]:
        """Stored related (or weak) pairs with both ends in ``keys``: (key a, key b, ``codec.pack_verdict`` bytes);
        the bytes of a pair in ``cached`` (the caller holds it decoded: a stored pair never changes) are not read
        (``None``)."""

    def weak_pairs(self, keys: Iterable[int]) -> list[tuple[int, int, bytes]]:
        """Stored weak pairs (judged unrelated, holding passages) with both ends in ``keys``, still encoded.

        They never link components; a cluster's record uses them (``origin.build_cluster``).
        """
        return self.pair_blobs(keys, weak=True)

    @abstractmethod
    def slugs(self, keys: Iterable[int]) -> dict[int, str]:
        """The wire slug of each of ``keys`` that has one."""

    @abstractmethod
    def slug_holders(self, slug: str) -> set[int]:
        """The articles carrying wire slug ``slug``."""

    @abstractmethod
    def names(self, keys: Iterable[int]) -> dict[int, str]:
        """The article id of each of ``keys`` (without reading the records)."""

    @abstractmethod
    def neighbours(self, keys: Iterable[int]) -> dict[int, set[int]]:
        """Related articles of each of ``keys``."""

    @abstractmethod
    def members(self, component: int) -> list[int]: ...

    @abstractmethod
    def clusters(self, component: int) -> list[dict[str, Any]] | None: ...

    @abstractmethod
    def count(self) -> int: ...

    @abstractmethod
    def component_numbers(self) -> list[int]:
        """The components that hold cluster records."""

    @abstractmethod
    def all_keys(self) -> list[tuple[int, str | None, float]]:
        """(key, published, added) of every article, in key order."""

    # --- writes (write sessions only) ---------------------------------------------------------------------
    @abstractmethod
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
    ) -> int: ...

    @abstractmethod
    def set_furniture(
        self, key: int, furniture: tuple[int, ...], stems: bytes, cleaned: bytes, *, signatures: bytes
    ) -> None: ...

    @abstractmethod
    def delete_article(self, key: int, change: int, article: Article) -> None: ...

    @abstractmethod
    def add_keys(self, key: int, band_keys: Iterable[int]) -> None: ...

    @abstractmethod
    def remove_keys(self, key: int, band_keys: Iterable[int]) -> None: ...

    @abstractmethod
    def count_keys(self, band_keys: Iterable[int], sign: int, cap: int) -> None:
        """Keep the holder counts of crowded keys (``crowded``) after one article's postings of ``band_keys`` were
        added (``sign`` +1) or removed (-1): a crowded key's count moves by ``sign`` and it leaves when its count
        falls to ``cap``; a key that is not crowded has at most ``cap`` postings, counted (a bounded read) to see
        whether it now has more."""

    @abstractmethod
    def recount_keys(self, cap: int) -> int:
        """Make the holder counts of crowded keys again from every stored posting (``Index.migrate``, ``verify``'s
        reference); returns how many keys are crowded."""

    def pack_terms(self) -> int | None:
        """Schema 9 to 10: store each article's signature terms as their features (the SQLite store; their band keys
        are hashed from them); returns the articles changed, or ``None`` when the store has nothing to change."""
        return None

    def pack_postings(self) -> int | None:
        """Schema 8 to 9: store the postings the schema-9 way (the SQLite store packs its ``bands`` table into rows of
        key ranges); returns the rows made, or ``None`` when the store has nothing to change (Redis)."""
        return None

    @abstractmethod
    def put_lines(self, counts: Mapping[int, LineCount]) -> None:
        """Store line counts; a count of 0 that is not sticky deletes the line."""

    @abstractmethod
    def log_change(self, key: int, sign: int, furniture: tuple[int, ...]) -> int: ...

    @abstractmethod
    def put_pair(self, a: int, b: int, data: bytes) -> None:
        """Store a related pair's verdict (``codec.pack_verdict`` bytes)."""

    @abstractmethod
    def put_weak_pair(self, a: int, b: int, data: bytes) -> None:
        """Store a pair judged unrelated that holds passages (outside the component graph)."""

    @abstractmethod
    def delete_pairs(self, key: int) -> None:
        """Delete the related and the weak pairs of ``key``."""

    @abstractmethod
    def set_components(self, components: Mapping[int, int | None]) -> None: ...

    @abstractmethod
    def put_clusters(self, component: int, records: list[dict[str, Any]]) -> None: ...

    @abstractmethod
    def delete_clusters(self, component: int) -> None: ...

    @abstractmethod
    def put_meta(self, name: str, value: str) -> None:
        """Set one metadata entry (with the session's other writes)."""

    @abstractmethod
    def write_checkpoint(self, change: int, n_rows: int, df: bytes) -> None:  # df: see Index._checkpoint_bytes
        """Store the df checkpoint at ``change`` and drop the changes and graveyard it covers."""

    @abstractmethod
    def flush(self) -> None:
        """End a unit of work: make its writes durable and visible (may raise ``ConflictError``)."""


class Backend(ABC):
    """A place to keep an index: an SQLite file or a Redis server."""

    target: str

    @abstractmethod
    def meta(self) -> dict[str, str] | None:
        """The stored metadata, or ``None`` for a new, empty store."""

    @abstractmethod
    def initialise(self, meta: Mapping[str, str]) -> None:
        """Create an empty index with ``meta`` (no-op if another process just did)."""

    @abstractmethod
    def reading(self) -> AbstractContextManager[Session]: ...

    @abstractmethod
    def writing(self) -> AbstractContextManager[Session]: ...

    @abstractmethod
    def size_bytes(self) -> dict[str, int]: ...

    @abstractmethod
    def integrity(self) -> list[str]:
        """Problems found by a full consistency check (empty when sound)."""

    @abstractmethod
    def close(self) -> None: ...


def iter_chunks(values: list[Any], size: int = 500) -> Iterator[list[Any]]:
    for begin in range(0, len(values), size):
        yield values[begin : begin + size]
