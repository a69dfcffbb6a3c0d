"""The crawler door: an incremental, persistent index of articles.

    from dedup.index import Index

    with Index.open("crawl.dedup") as index:          # or Index.open("redis://localhost:6379/0")
        verdict = index.add({"id": url, "text": text, "published": "2022-09-13"})
        for match in verdict["matches"]:
            print(match["id"], match["relation"], match["direction"])

``check`` gives the verdict for an article without storing it; ``add`` gives the same verdict and
stores the article in one atomic write. A verdict is what a batch ``dedup cluster`` run over the
stored articles plus this one says about it: the same cleaning (boilerplate lines repeated across
the index included), the same sentence TF-IDF (document frequencies kept for the whole index),
the same MinHash LSH candidates (sentence band collisions verified as in the batch), alignment, pair
verdicts, clusters and origin. The batch run's third candidate source, TF-IDF nearest neighbours over
the whole corpus, is found through stored signature terms, both ways (see docs/index.md). The format
of a verdict is documented in docs/index.md.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from scipy import sparse

from dedup.align import (
    AlignSettings,
    KgramMatches,
    Side,
    align,
    align_sides,
    detail_settings,
    kgram_matches,
    renumber_against,
)
from dedup.candidates import STORY_LINK, CandidateSettings, sentence_row_sizes
from dedup.clean import CleanArticle, clean_article
from dedup.credits import WIRE_SERVICES, own_outlets, wire_slug
from dedup.engine import frozen_survivors
from dedup.errors import DedupError
from dedup.grouping import CLUSTER_RULES, RELATED, group
from dedup.model import Article, Cluster, PairVerdict, Passage
from dedup.origin import DERIVED, DirectedEdge, OriginSettings, build_cluster, measure_members
from dedup.pipeline import Settings
from dedup.regroup import GroupState, build_state, combine, pair_key, regroup, related_keys, single
from dedup.score import ScoreSettings, could_relate, judge
from dedup.similarity import sentence_counts as batch_sentence_counts
from dedup.sketch import SCHEME, SketchSettings, sentence_stem_sets
from dedup.store.base import FORMAT, SCHEMA, Backend, LineCount, Session, StoredArticle
from dedup.store.cleaned import clean_bytes, cleaned_from_bytes
from dedup.store.codec import pack_verdict, unpack_verdict, verdict_order_fields
from dedup.store.errors import ConflictError, CorruptIndexError, ParametersError
from dedup.store.features import (
    HASHING,
    N_FEATURES,
    Prepared,
    low_bytes,
    near_copies,
    pack_low_bytes,
    pack_stems,
    prepare,
    rank_holders,
    row_dots,
    sentences_agree_each,
    sentences_evidence_each,
    sentences_may_agree_each,
    settings_banding,
    short_lines,
    signatures,
    stem_radii,
    stem_radius,
    stems_matrix,
    stock_rows,
    term_keys,
    top_terms,
    unpack_low_bytes,
    warm_word_features,
    weight_rows,
    word_run_keys,
)

__all__ = ["Index", "open_backend"]

_log = logging.getLogger(__name__)

CHECKPOINT_EVERY = 256  # changes between two stored document-frequency checkpoints
SIGNATURE_TERMS = 15  # an article's highest-weighted stems, kept to find its TF-IDF neighbours
MAX_TERM_CANDIDATES = 200  # articles sharing signature terms whose TF-IDF cosine is computed
# a band key held by more stored articles than this is *crowded*: its holder count is stored (schema 8) and its
# postings are never read by a check; a sentence row with a crowded key is taken as stock (``Index._without_stock``).
# Chosen on the 90,000-article load (docs/index.md, tenth round); 0: no cap (every posting read, as until schema 7)
CROWDED_KEY_CAP = 128
_NO_CAP = 1 << 62  # a holder count no key reaches
_CACHE_SIZE = 2048
_COMPONENTS_CACHED = 256  # related components whose grouping is kept in memory
_STEMS_CACHED = 32768  # stored stem vectors kept in memory for the neighbour search (~0.5 KB each)
_TERMS_CACHED = 65536  # signature-term keys whose holders are kept in memory for the neighbour search
# decoded stored pairs (and their passages from b to a): a cluster's record is rebuilt from all the pairs among its
# members whenever one joins, and a large story holds more pairs than a smaller cache (LRU, scanned in one order) keeps
_PAIRS_CACHED = 32768
Contribution = tuple[np.ndarray, np.ndarray, int, np.ndarray]  # sentence features, their rows, rows, stems


def open_backend(target: str) -> Backend:
    """The backend for ``target``: a ``redis://`` (or ``rediss://``, ``unix://``) URL, else an SQLite path."""
    if target.startswith(("redis://", "rediss://", "unix://")):
        from dedup.store.redis import RedisBackend

        return RedisBackend(target)
    from dedup.store.sqlite import SQLiteBackend

    return SQLiteBackend(target)


def as_article(item: Article | Mapping[str, Any]) -> Article:
    """An ``Article`` from an ``Article`` or a mapping with ``id``, ``text`` and optional fields."""
    if isinstance(item, Article):
        article = item
    elif isinstance(item, Mapping) and isinstance(item.get("text"), str) and item.get("id") is not None:
        known = {f.name for f in dataclasses.fields(Article)} - {"extra", "id"}
        article = Article(
            id=str(item["id"]),
            **{k: item[k] for k in known if k in item},
            extra={k: v for k, v in item.items() if k not in known and k != "id"},
        )
    else:
        raise DedupError("an article must be an Article or a mapping with 'id' and 'text'")
    if not isinstance(article.id, str) or not article.id:
        raise DedupError("an article id must be a non-empty string")
    return article


def settings_from_dict(values: Mapping[str, Any]) -> Settings:
    """``Settings`` from ``Settings.as_dict()`` output; unknown names are a ``ParametersError``."""
    try:
        sketch = {k: v for k, v in values["sketch"].items() if k != "scheme"}
        return Settings(
            sketch=SketchSettings(**sketch),
            # an index made before lone_sentence_min_shared paired on every verified collision (0); one made before
            # sentence_band_crowd holds no such setting (the index bounds crowded band keys its own way:
            # CROWDED_KEY_CAP)
            candidates=CandidateSettings(
                **{"lone_sentence_min_shared": 0, "sentence_band_crowd": 0, **values["candidates"]}
            ),
            align=AlignSettings(**values["align"]),
            score=ScoreSettings(**values["score"]),
            origin=OriginSettings(**values["origin"]),
            boilerplate_min_articles=values["boilerplate_min_articles"],
            keep_wrapped_repeated_lines=values["keep_wrapped_repeated_lines"],
            group_wire_versions=values["group_wire_versions"],
        )
    except (KeyError, TypeError) as error:
        raise ParametersError(f"the index holds settings this version of dedup does not know ({error})") from None


def _normal(values: Any) -> Any:
    return json.loads(json.dumps(values, sort_keys=True))


def _differences(stored: Mapping[str, Any], wanted: Mapping[str, Any], prefix: str = "") -> list[str]:
    names = []
    for name in sorted(set(stored) | set(wanted)):
        a, b = stored.get(name), wanted.get(name)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            names += _differences(a, b, f"{prefix}{name}.")
        elif a != b:
            names.append(f"{prefix}{name}: index {a!r}, asked {b!r}")
    return names


class _LRU(OrderedDict):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def get_or(self, key: Any, make: Callable[[], Any]) -> Any:
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = make()
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)
        return value

    def read_through(self, keys: Iterable[Any], read: Callable[[list[Any]], Mapping[Any, Any]]) -> dict[Any, Any]:
        """The values of ``keys``: those held from memory (now the most recent), the others from ``read`` (given
        the missing keys, in order), which are kept; a key ``read`` does not return is left out."""
        found: dict[Any, Any] = {}
        missing: list[Any] = []
        for key in keys:
            if key in self:
                self.move_to_end(key)
                found[key] = self[key]
            else:
                missing.append(key)
        for key, value in (read(missing) if missing else {}).items():
            found[key] = self.get_or(key, lambda value=value: value)
        return found


@dataclasses.dataclass(slots=True)
class _Evaluation:
    """What checking one article found, before anything is stored."""

    article: Article
    prepared: Prepared
    line_keys: dict[int, str]
    line_counts: dict[int, LineCount]
    holders: dict[
        int, tuple[StoredArticle, tuple[int, ...], Prepared, Prepared]
    ]  # key → (row, new furniture, old, new)
    terms: tuple[int, ...]  # its signature terms (features; ``term_keys`` makes their band-table keys)
    verdicts: dict[int, PairVerdict]  # candidate key → related verdict
    rows: dict[int, StoredArticle]
    component_keys: set[int]  # the related component x joins (x excluded)
    old_components: set[int]
    clusters: list[dict[str, Any]]
    edges: dict[tuple[str, str], DirectedEdge]
    slug: str | None = None  # its wire slug (when the settings group wire versions)
    weak: dict[int, PairVerdict] = dataclasses.field(default_factory=dict)  # unrelated, with passages
    reverse: dict[int, list[Passage]] = dataclasses.field(default_factory=dict)  # related: passages from b to a
    grouping: _Component | None = None  # the joined component's grouping with the article in it
    unmoved: frozenset[int] = frozenset()  # members already in the component that the joined one numbers after
    # the sides judging aligned (article id → side, the new article's included): a match's passages are aligned
    # again from them (same cleaned forms, same statistics, rows renumbered against the new article)
    sides: dict[str, Side] = dataclasses.field(default_factory=dict)
    cosines: dict[str, np.ndarray | None] = dataclasses.field(default_factory=dict)  # id → x's rows × its rows
    stock: int = 0  # its sentence rows left out of the sentence candidates as stock (``Index._without_stock``)
    radius: float = 0.0  # the cosine of its ``tfidf_neighbours``-th nearest stored article (0: fewer were scored)
    # candidates ``could_relate`` screened out whose weak pair could count (check only): key → (first side, second
    # side, cosine views), aligned after all when they join the article's component
    screened: dict[int, tuple[Side, Side, np.ndarray | None, np.ndarray | None]] = dataclasses.field(
        default_factory=dict
    )


@dataclasses.dataclass(slots=True)
class _Component:
    """A stored related component's grouping, kept in memory while no other process changes the index."""

    state: GroupState  # ``group``'s run over its members (by id)
    keys: dict[str, int]  # member id → article key
    records: list[dict[str, Any]]  # its stored cluster records


class Index:
    """An incremental, persistent index: ``check`` / ``add`` / ``remove`` / ``cluster`` / ``prune``.

    Thread-safe (calls are serialised in one process); several processes may share one SQLite
    file and many hosts one Redis server: writes are exclusive and atomic, reads see a consistent
    snapshot. Open with :meth:`Index.open`.
    """

    def __init__(self, backend: Backend, settings: Settings) -> None:
        self.backend = backend
        self.settings = settings
        self.crowded_key_cap = CROWDED_KEY_CAP  # the stored one, set by ``open`` (``crowded_key_cap`` in the metadata)
        self._article_banding, self._sentence_banding = settings_banding(settings)
        self._lock = threading.RLock()
        self._df: np.ndarray | None = None  # sentences holding each hashed char n-gram
        self._rows = 0  # sentences
        self._adf = np.zeros(0, dtype=np.int64)  # articles holding each hashed stem
        self._docs = 0  # articles
        self._mark = 0
        self._prepared: _LRU = _LRU(_CACHE_SIZE)
        self._contributions: _LRU = _LRU(_CACHE_SIZE * 4)
        self._cleaned: _LRU = _LRU(_CACHE_SIZE * 4)  # (key, furniture) → CleanArticle, for cluster records
        # (a, b) → (PairVerdict, passages from b to a or None): a stored pair never changes
        # (4,096 until stop 16: at 25,000 articles a 449-member story holds 19,416 pairs, decoded again at each join)
        self._pair_verdicts: _LRU = _LRU(_PAIRS_CACHED)
        self._reverse: _LRU = _LRU(_PAIRS_CACHED)  # id(verdict) → (verdict, its stored passages from b to a)
        # component → its grouping; valid while every change since it was read is this process's own
        self._components: _LRU = _LRU(_COMPONENTS_CACHED)
        # (key, furniture) → a stored article's sentence signature rows, to verify sentence band collisions
        self._sentence_rows: _LRU = _LRU(_CACHE_SIZE * 2)
        # key → its stored stem vector (``pack_stems`` bytes), for the neighbour search: the same few thousand
        # articles rank among the first ``MAX_TERM_CANDIDATES`` again and again. Valid while every change since it
        # was read is this process's own (a change of furniture rewrites a holder's vector: dropped then)
        self._stems: _LRU = _LRU(_STEMS_CACHED)
        # band-table key → the article keys holding it (int64): the signature terms a neighbour search looks up
        # (its stems'), read once and kept while every change is this process's own, which it mirrors
        self._holders: _LRU = _LRU(_TERMS_CACHED)
        # after each check, add and removal, collect what it left and freeze the rest (``FrozenSurvivors``): the
        # caches above stay out of the cyclic collector's full scans, the p99 of a check. False: leave the
        # collector as CPython runs it
        self.freeze_survivors = True

    # --- opening ---------------------------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        target: str | Any,
        *,
        settings: Settings | None = None,
        crowded_key_cap: int | None = None,
        **overrides: Any,
    ) -> Index:
        """Open (or create) the index at ``target``: an SQLite file path or a ``redis://`` URL.

        A new index takes ``settings`` (default ``Settings()``) with ``overrides`` by name, and
        ``crowded_key_cap`` (default ``CROWDED_KEY_CAP``). An existing one keeps the settings it was made
        with: asking for others raises ``ParametersError``, as does an index made with another sketch
        scheme or hashing. An index of schema 7 or 8 is refused with a message naming ``dedup index migrate``.
        """
        backend = open_backend(str(target))
        try:
            wanted = (settings or Settings()).with_overrides(**overrides)
            meta = backend.meta()
            if meta is None:
                cap = CROWDED_KEY_CAP if crowded_key_cap is None else crowded_key_cap
                backend.initialise(_meta_of(wanted, cap))
                meta = backend.meta()
                if meta is None:
                    raise CorruptIndexError(f"{target}: the index could not be created")
            stored = _check_meta(meta, str(target))
            rules = meta.get("cluster_rules", "1")
            if rules != str(CLUSTER_RULES):
                _log.warning(
                    "%s holds cluster records made by older grouping rules (%s; this version uses %s): verdicts are "
                    "right, but each check or add that joins an old record remakes it, which is slow; run "
                    "`dedup index regroup %s` (Index.regroup) once to remake them all",
                    target,
                    rules,
                    CLUSTER_RULES,
                    target,
                )
            if settings is not None or overrides:
                differences = _differences(_normal(stored.as_dict()), _normal(wanted.as_dict()))
                if differences:
                    raise ParametersError(
                        f"{target} was made with other parameters; open it without settings to use its own, "
                        f"or make a new index. Differences: " + "; ".join(differences)
                    )
            cap = int(meta.get("crowded_key_cap", CROWDED_KEY_CAP))
            if crowded_key_cap is not None and crowded_key_cap != cap:
                raise ParametersError(
                    f"{target} was made with crowded_key_cap {cap}, not {crowded_key_cap}; open it without one"
                )
            index = cls(backend, stored)
            index.crowded_key_cap = cap
            return index
        except BaseException:
            backend.close()
            raise

    @classmethod
    def migrate(cls, target: str | Any, *, crowded_key_cap: int | None = None) -> dict[str, Any]:
        """Bring an index of schema 7, 8 or 9 to schema 10 in place, in one transaction (safe beside readers, other
        writers wait): an SQLite file's signature terms are stored as their features (schema 10), the band-key
        postings of a file of schema 7 or 8 are packed into rows of key ranges (schema 9, ``dedup.store.postings``;
        the pages the old table held are free for later adds, ``VACUUM`` returns them), and a schema-7 index also
        gets the holder count of every crowded band key (held by more than ``crowded_key_cap`` articles, default
        ``CROWDED_KEY_CAP``) counted from its postings. Nothing else changes; a Redis index only changes its number.
        An index of schema 10 is left as it is. Returns the schema found and what was made.
        """
        backend = open_backend(str(target))
        try:
            meta = backend.meta()
            if meta is None or meta.get("format") != FORMAT:
                raise CorruptIndexError(f"{target} does not hold a dedup index")
            found = meta.get("schema")
            if found == str(SCHEMA):
                return {"schema": SCHEMA, "migrated": False, "crowded_key_cap": int(meta["crowded_key_cap"])}
            if found not in ("7", "8", "9"):
                raise ParametersError(
                    f"{target} has index schema {found}; only schemas 7, 8 and 9 can be migrated to {SCHEMA}: "
                    "make a new index"
                )
            if found in ("8", "9"):
                cap = int(meta["crowded_key_cap"])
                if crowded_key_cap is not None and crowded_key_cap != cap:
                    raise ParametersError(f"{target} was made with crowded_key_cap {cap}, not {crowded_key_cap}")
            else:
                cap = CROWDED_KEY_CAP if crowded_key_cap is None else crowded_key_cap
            with backend.writing() as session:
                rows = session.pack_postings()
                result: dict[str, Any] = {"schema": int(found), "migrated": True, "crowded_key_cap": cap}
                if rows is not None:
                    result["postings_rows"] = rows
                terms = session.pack_terms()
                if terms is not None:
                    result["terms_articles"] = terms
                if found == "7":
                    # 0: no cap, no counts kept (the count above every key's holders still makes the empty table)
                    result["crowded_keys"] = session.recount_keys(cap if cap > 0 else _NO_CAP)
                    session.put_meta("crowded_key_cap", str(cap))
                session.put_meta("schema", str(SCHEMA))
            return result
        finally:
            backend.close()

    def close(self) -> None:
        """Close the connections (the index on disk or on the server stays)."""
        self.backend.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- public API --------------------------------------------------------------------------------------------
    def check(self, article: Article | Mapping[str, Any]) -> dict[str, Any]:
        """The verdict for ``article`` against the index, without storing it."""
        try:
            return self._check(as_article(article))
        finally:
            self._settle()

    def _check(self, item: Article) -> dict[str, Any]:
        for attempt in range(5):
            try:
                with self._lock, self.backend.reading() as session:
                    self._sync(session)
                    key = session.key_of(item.id)
                    if key is not None:
                        return self._stored_verdict(session, key, added=None)
                    evaluation = self._evaluate(session, item, screen=True)
                    try:
                        return self._verdict(evaluation, added=None)
                    finally:
                        self._apply(evaluation, -1)
            except ConflictError:  # a writer committed during the read (Redis): read again
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    def add(self, article: Article | Mapping[str, Any]) -> dict[str, Any]:
        """The verdict for ``article``, and the article is stored (one atomic write).

        An id that is already stored is not stored again: the verdict says ``"added": false``
        and describes the stored article.
        """
        return self.add_many([article])[0]

    def add_many(self, articles: Iterable[Article | Mapping[str, Any]]) -> list[dict[str, Any]]:
        """``add`` for several articles in one write (one SQLite transaction)."""
        items = [as_article(article) for article in articles]
        try:
            for attempt in range(5):
                try:
                    with self._lock:
                        return self._add_items(items)
                except ConflictError:
                    self._df = None
                    if attempt == 4:
                        raise
                    time.sleep(0.05 * (attempt + 1))
            raise AssertionError("unreachable")
        finally:
            self._settle()

    def _settle(self) -> None:
        """After an operation: its survivors frozen out of the collector's full scans (``FrozenSurvivors``)."""
        if self.freeze_survivors:
            frozen_survivors.settle()

    def _add_items(self, items: list[Article]) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        try:
            with self.backend.writing() as session:
                self._sync(session)
                early = self._prepare_early(session, items) if len(items) > 1 else {}
                for item in items:
                    key = session.key_of(item.id)
                    if key is not None:
                        results.append(self._stored_verdict(session, key, added=False))
                        continue
                    evaluation = self._evaluate(session, item, early.pop(item.id, None))
                    self._store(session, evaluation)
                    session.flush()
                    results.append(self._verdict(evaluation, added=True))
        except BaseException:
            self._df = None  # the in-memory statistics may hold uncommitted changes: reload them
            raise
        return results

    def remove(self, article_id: str) -> bool:
        """Remove an article; ``False`` if it was not there."""
        return (
            self._remove_keys_where(lambda session: [k] if (k := session.key_of(article_id)) is not None else [])[0] > 0
        )

    def prune(
        self,
        older_than: datetime | date | str | timedelta | None = None,
        keep_at_most: int | None = None,
    ) -> int:
        """Remove articles published (or, without a date, added) before ``older_than``, then the
        oldest-added beyond ``keep_at_most``; returns how many were removed."""
        limit = _moment(older_than)

        def choose(session: Session) -> list[int]:
            rows = session.all_keys()
            chosen = [key for key, published, added in rows if limit is not None and _before(published, added, limit)]
            if keep_at_most is not None:
                left = [key for key, _, _ in rows if key not in set(chosen)]
                chosen += left[: max(len(left) - keep_at_most, 0)]
            return chosen

        return self._remove_keys_where(choose)[0]

    def cluster(self, article_id: str) -> dict[str, Any] | None:
        """The cluster holding ``article_id`` (origin, members), or ``None`` for a singleton or unknown id."""
        with self._lock, self.backend.reading() as session:
            key = session.key_of(article_id)
            if key is None:
                return None
            row = session.articles([key])[key]
            if row.component is None:
                return None
            for record in session.clusters(row.component) or []:
                if any(member["id"] == article_id for member in record["members"]):
                    return record
            return None

    def __len__(self) -> int:
        with self._lock, self.backend.reading() as session:
            return session.count()

    def __contains__(self, article_id: object) -> bool:
        if not isinstance(article_id, str):
            return False
        with self._lock, self.backend.reading() as session:
            return session.key_of(article_id) is not None

    def stats(self) -> dict[str, Any]:
        """Counts, sizes and parameters."""
        with self._lock, self.backend.reading() as session:
            self._sync(session)
            count = session.count()
            head = session.head()
        rules = (self.backend.meta() or {}).get("cluster_rules", "1")
        sizes = self.backend.size_bytes()
        return {
            "target": self.backend.target,
            "articles": count,
            "sentences": self._rows,
            "changes": head,
            "size_bytes": sizes,
            "schema": SCHEMA,
            "crowded_key_cap": self.crowded_key_cap,
            "cluster_rules": {"stored": int(rules), "current": CLUSTER_RULES},
            "settings": self.settings.as_dict(),
            "hashing": HASHING,
        }

    def regroup(self) -> dict[str, int]:
        """Remake every stored cluster record with this version's grouping and origin rules (``CLUSTER_RULES``),
        one component per transaction, then mark the index as made by them.

        For an index made before a change of those rules: its records are still read right (a check or add that
        joins an old record remakes it), but each such join pays a rebuild of the whole component. Safe beside
        other writers (each component is re-read inside its own transaction); if interrupted, run it again.
        Returns the components seen and how many of their records changed.
        """
        seen = changed = 0
        with self._lock:
            with self.backend.reading() as session:
                numbers = session.component_numbers()
            for number in numbers:
                with self.backend.writing() as session:
                    self._sync(session)
                    members = session.members(number)
                    before = session.clusters(number)
                    if not members or before is None:
                        continue  # another writer changed this component meanwhile: it remade the records
                    self._recluster(session, members, [])  # no previous records: every group is made again
                    seen += 1
                    changed += session.clusters(number) != before
            with self.backend.writing() as session:
                session.put_meta("cluster_rules", str(CLUSTER_RULES))
            self._components.clear()
        return {"components": seen, "changed": changed}

    def verify(self) -> list[str]:
        """Problems found by a full consistency check of the stored index (empty when sound)."""
        with self._lock:
            return self.backend.integrity()

    # --- corpus statistics ----------------------------------------------------------------------------------------
    def _sync(self, session: Session) -> None:
        """Bring the in-memory document frequencies up to the session's snapshot."""
        head = session.head()
        if self._df is not None and self._mark == head:
            return
        self._components.clear()  # another process changed the index (or this one failed a write): read again
        self._stems.clear()
        self._holders.clear()
        checkpoint = session.checkpoint(with_data=False)
        checkpoint_change = checkpoint[0] if checkpoint else 0
        if self._df is None or self._mark < checkpoint_change or self._mark > head:
            self._df = np.zeros(N_FEATURES, dtype=np.int64)
            self._adf = np.zeros(N_FEATURES, dtype=np.int64)
            self._rows = self._docs = self._mark = 0
            if checkpoint:
                change, rows, data = session.checkpoint(with_data=True) or (0, 0, None)
                self._load_checkpoint(data or b"")
                self._rows, self._mark = rows, change
        changes = session.changes(self._mark)
        if not changes:
            self._mark = max(self._mark, head)
            return
        keys = {key for _, key, _, _ in changes}
        rows = session.articles(keys)
        buried = session.graveyard(keys - set(rows))
        for change, key, sign, furniture in changes:
            if key in rows:
                features, counts, n_rows, stems = _contribution_of(self._prepare_row(rows[key], furniture))
            elif key in buried:
                features, counts, n_rows, stems = self._contribution(key, buried[key], furniture)
            else:
                raise CorruptIndexError(f"{self.backend.target}: change {change} names a missing article")
            self._df[features] += sign * counts
            self._rows += sign * n_rows
            self._adf[stems] += sign
            self._docs += sign
            self._mark = change
        self._mark = max(self._mark, head)

    def _load_checkpoint(self, data: bytes) -> None:
        try:
            raw = zlib.decompress(data)
        except zlib.error:
            raise CorruptIndexError(f"{self.backend.target}: the statistics checkpoint is damaged") from None
        if len(raw) != 8 + 8 * N_FEATURES:
            raise CorruptIndexError(f"{self.backend.target}: the statistics checkpoint has the wrong size")
        self._docs = int(np.frombuffer(raw, dtype="<i8", count=1)[0])
        arrays = np.frombuffer(raw, dtype="<i4", offset=8)
        self._df = arrays[:N_FEATURES].astype(np.int64)
        self._adf = arrays[N_FEATURES:].astype(np.int64)

    def _checkpoint_bytes(self) -> bytes:
        """Articles (int64), then sentence and article document frequencies (int32 each), zlib."""
        assert self._df is not None
        body = np.concatenate([self._df, self._adf]).astype("<i4").tobytes()
        return zlib.compress(np.array([self._docs], dtype="<i8").tobytes() + body, 1)

    def _contribution(self, key: int, article: Article, furniture: tuple[int, ...]) -> Contribution:
        def make() -> Contribution:
            return _contribution_of(self._prepare_stored(key, article, furniture))

        return self._contributions.get_or((key, furniture), make)

    def _prepare(self, article: Article, furniture: Mapping[int, str]) -> Prepared:
        sketch = self.settings.sketch
        return prepare(
            article,
            furniture,
            self._article_banding,
            self._sentence_banding,
            shingle_size=sketch.shingle_size,
            min_sentence_stems=sketch.min_sentence_stems,
            keep_wrapped_repeated=self.settings.keep_wrapped_repeated_lines,
        )

    def _prepare_row(self, row: StoredArticle, furniture: tuple[int, ...] | None = None) -> Prepared:
        """A stored article prepared with ``furniture`` (default its own), from its stored cleaned form."""
        if furniture is None:
            furniture = row.furniture
        if furniture != row.furniture or not row.cleaned:
            return self._prepare_stored(row.key, row.article, furniture)

        def make() -> Prepared:
            sketch = self.settings.sketch
            return prepare(
                row.article,
                dict.fromkeys(furniture, ""),
                self._article_banding,
                self._sentence_banding,
                shingle_size=sketch.shingle_size,
                min_sentence_stems=sketch.min_sentence_stems,
                cleaned=cleaned_from_bytes(row.cleaned or b"", row.article),
            )

        # its contribution to the statistics (distinct features, stem counts) is computed only when asked:
        # a candidate needs its cleaned form and sentence counts, not its stems
        return self._prepared.get_or((row.key, furniture), make)

    def _prepare_rows(self, items: list[tuple[StoredArticle, tuple[int, ...]]]) -> list[Prepared]:
        """``_prepare_row`` of each (row, furniture); the sentence counts of those not in memory in one call."""
        result: list[Prepared | None] = []
        fresh: list[int] = []
        for number, (row, furniture) in enumerate(items):
            held = self._prepared.get((row.key, furniture))
            if held is not None:
                self._prepared.move_to_end((row.key, furniture))
            elif furniture != row.furniture or not row.cleaned:
                held = self._prepare_row(row, furniture)
            else:
                fresh.append(number)
            result.append(held)
        if fresh:
            # a cleaned form decoded already (a cluster member, a verified sentence collision) is not decoded again
            cleaned = [
                held
                if (held := self._cleaned.get((items[n][0].key, items[n][1]))) is not None
                else cleaned_from_bytes(items[n][0].cleaned or b"", items[n][0].article)
                for n in fresh
            ]
            counts = batch_sentence_counts(cleaned)  # rows are independent: each article's block is its counts
            bounds = np.cumsum([0] + [len(c.sentences) for c in cleaned])
            sketch = self.settings.sketch
            sketching = (self._article_banding, self._sentence_banding, sketch.shingle_size, sketch.min_sentence_stems)
            for k, number in enumerate(fresh):
                row, furniture = items[number]
                made = Prepared(
                    article=row.article,
                    furniture=furniture,
                    cleaned=cleaned[k],
                    counts=_row_block(counts, int(bounds[k]), int(bounds[k + 1])),
                    sketching=sketching,
                )
                result[number] = self._prepared.get_or((row.key, furniture), lambda made=made: made)
        return [item for item in result if item is not None]

    def _cleaned_row(self, row: StoredArticle, furniture: tuple[int, ...]) -> CleanArticle:
        """A stored article's cleaned form with ``furniture``, without sentence counts (cluster records)."""
        prepared = self._prepared.get((row.key, furniture))
        if prepared is not None:
            return prepared.cleaned
        if furniture != row.furniture or not row.cleaned:
            return self._prepare_row(row, furniture).cleaned
        return self._cleaned.get_or((row.key, furniture), lambda: cleaned_from_bytes(row.cleaned or b"", row.article))

    def _prepare_stored(self, key: int, article: Article, furniture: tuple[int, ...]) -> Prepared:
        """A stored article prepared with ``furniture``, cleaning its text again."""

        def make() -> Prepared:
            lines = short_lines(article.text)
            return self._prepare(article, {k: lines[k] for k in furniture if k in lines})

        prepared = self._prepared.get_or((key, furniture), make)
        self._contributions.get_or((key, furniture), lambda: _contribution_of(prepared))
        return prepared

    def _apply(self, evaluation: _Evaluation, sign: int) -> None:
        assert self._df is not None
        deltas: list[tuple[int, Prepared]] = [(1, evaluation.prepared)]
        for _, _, old, new in evaluation.holders.values():
            deltas += [(-1, old), (1, new)]
        for direction, prepared in deltas:
            self._df[prepared.features] += sign * direction * prepared.feature_rows
            self._rows += sign * direction * prepared.n_rows
            self._adf[prepared.stem_features] += sign * direction
            self._docs += sign * direction

    def _many_vectors(self, items: list[Prepared]) -> list[sparse.csr_matrix]:
        """The batch's sentence TF-IDF rows of each of ``items`` under the current statistics."""
        return self._stacked_vectors(items)[1] if items else []

    def _stacked_vectors(
        self, items: list[Prepared], *, against_first: bool = False
    ) -> tuple[sparse.csr_matrix, list[sparse.csr_matrix]]:
        """``_many_vectors``, with all the rows in one matrix (each item's rows are a block of it).

        ``against_first``: the rows are only ever multiplied with the first item's (a check's candidates
        against the new article), so every feature the first item lacks becomes column 0 (see below).
        """
        assert self._df is not None
        weighted = weight_rows(sparse.vstack([item.counts for item in items], format="csr"), self._df, self._rows)
        if against_first:
            # columns 1..m: the first item's features in order; column 0: every other feature, which the first
            # item leaves empty. A product of a row with the first item's rows adds the same terms in the same
            # order as in the full space (as ``align.sentence_cosines`` does), so the cosines are identical; the
            # rows are normalised already, so the merged column changes no norm. No sort over all the entries.
            own = weighted.indices[: weighted.indptr[items[0].n_rows]]
            (renumbered,), width = renumber_against(own, [weighted.indices], weighted.shape[1])
            weighted = sparse.csr_matrix((weighted.data, renumbered, weighted.indptr), shape=(weighted.shape[0], width))
        else:
            # the same rows over only the features they use: an order-preserving renumbering keeps every
            # dot product (and its summation order) while ``align`` no longer transposes 2**20 columns
            used, renumbered = np.unique(weighted.indices, return_inverse=True)
            weighted = sparse.csr_matrix(
                (weighted.data, renumbered.astype(np.int32), weighted.indptr),
                shape=(weighted.shape[0], max(len(used), 1)),
            )
        bounds = np.cumsum([0] + [item.n_rows for item in items])
        return weighted, [_row_block(weighted, int(bounds[k]), int(bounds[k + 1])) for k in range(len(items))]

    def _article_vector(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        """The batch's article (stem) TF-IDF row under the current statistics."""
        return weight_rows(counts, self._adf, self._docs)

    # --- evaluating an article ----------------------------------------------------------------------------------
    def _prepare_early(self, session: Session, items: list[Article]) -> dict[str, Prepared]:
        """The new articles of an ``add_many`` batch, cleaned and counted before any is evaluated.

        Each takes the furniture its lines will have when its turn comes: the index's counts now (one
        read for the whole batch) plus the articles before it in the batch, as ``_store`` counts them.
        The char n-gram features of all their words are hashed at once. ``_evaluate`` still checks that
        the furniture is the same when the article's turn comes and prepares it again otherwise.
        """
        minimum = self.settings.boilerplate_min_articles
        fresh: dict[str, Article] = {}
        for item in items:  # an id repeated in the batch is added once, by its first record
            if item.id not in fresh and session.key_of(item.id) is None:
                fresh[item.id] = item
        lines = {item.id: short_lines(item.text) for item in fresh.values()}
        counts = session.lines({key for found in lines.values() for key in found})
        earlier: dict[int, int] = {}  # line → articles of the batch before this one holding it
        furniture: dict[str, dict[int, str]] = {}
        cleaned: dict[str, CleanArticle] = {}
        for item in fresh.values():
            furniture[item.id] = {
                key: line
                for key, line in lines[item.id].items()
                if (known := counts.get(key, LineCount(0, False, ()))).sticky
                or known.count + earlier.get(key, 0) + 1 >= minimum
            }
            for key in lines[item.id]:
                earlier[key] = earlier.get(key, 0) + 1
            cleaned[item.id] = clean_article(
                item,
                frozenset(furniture[item.id].values()),
                keep_wrapped_repeated=self.settings.keep_wrapped_repeated_lines,
            )
        warm_word_features(
            [c.tokens.words[i] for c in cleaned.values() for s in c.sentences for i in range(s.first, s.last)]
        )
        sketch = self.settings.sketch
        return {
            item.id: prepare(
                item,
                furniture[item.id],
                self._article_banding,
                self._sentence_banding,
                shingle_size=sketch.shingle_size,
                min_sentence_stems=sketch.min_sentence_stems,
                cleaned=cleaned[item.id],
            )
            for item in fresh.values()
        }

    def _evaluate(
        self, session: Session, article: Article, early: Prepared | None = None, *, screen: bool = False
    ) -> _Evaluation:
        """Everything a batch run over the index plus ``article`` says about ``article``.

        Leaves the statistics with the article applied: ``check`` reverts them, ``add`` keeps them.
        ``early`` is the article prepared ahead (``add_many``), used when its furniture still holds.
        ``screen`` (``check``): a candidate that no alignment could make related is aligned only if it joins the
        article's component (its passages count in a cluster record only there); ``add`` aligns it to store it.
        """
        minimum = self.settings.boilerplate_min_articles
        line_keys = short_lines(article.text)
        counts = session.lines(line_keys)
        furniture: dict[int, str] = {}
        crossing: list[int] = []
        for key, line in line_keys.items():
            known = counts.get(key, LineCount(0, False, ()))
            if known.sticky or known.count + 1 >= minimum:
                furniture[key] = line
                if not known.sticky:
                    crossing.append(key)
        if early is not None and early.furniture == tuple(sorted(furniture)):
            prepared = early
        else:
            prepared = self._prepare(article, furniture)
        # articles that already hold a line which becomes furniture now are cleaned again, as in the batch
        holder_lines: dict[int, set[int]] = {}
        for key in crossing:
            for holder in counts[key].holders if key in counts else ():
                holder_lines.setdefault(holder, set()).add(key)
        holder_rows = session.articles(holder_lines)
        holders: dict[int, tuple[StoredArticle, tuple[int, ...], Prepared, Prepared]] = {}
        for holder, added_lines in holder_lines.items():
            if holder not in holder_rows:
                continue
            row = holder_rows[holder]
            new_furniture = tuple(sorted(set(row.furniture) | added_lines))
            old = self._prepare_row(row)
            new = self._prepare_row(row, new_furniture)
            holders[holder] = (row, new_furniture, old, new)
        evaluation = _Evaluation(article, prepared, line_keys, counts, holders, (), {}, {}, set(), set(), [], {})
        if self.settings.group_wire_versions:
            evaluation.slug = wire_slug(article.text)
        self._apply(evaluation, +1)
        try:
            self._judge_candidates(session, evaluation, screen=screen)
            self._cluster_of_new(session, evaluation)
        except BaseException:
            self._apply(evaluation, -1)
            raise
        return evaluation

    def _furniture_of(self, evaluation: _Evaluation, row: StoredArticle) -> tuple[int, ...]:
        held = evaluation.holders.get(row.key)
        return held[1] if held else row.furniture

    def _judge_candidates(self, session: Session, evaluation: _Evaluation, *, screen: bool = False) -> None:
        prepared = evaluation.prepared
        sketch = prepared.sketch
        threshold = self.settings.candidates.sentence_threshold
        verify = self.settings.candidates.verify_sentence_pairs
        holders = set(evaluation.holders)
        sentence_rows, by_sentence, screened = sketch.sentence_rows, None, False
        kept = np.ones(len(sentence_rows), dtype=bool)
        if self._skips_stock_sentences():
            # as the batch's ``skip_stock_sentences``: a sentence whose near-copies sit in many separate stories
            # pairs no articles; its rows are left out of the sentence candidates (article keys and neighbours stay)
            sentence_rows, by_sentence, kept = self._without_stock(session, evaluation)
            screened = True  # on the stored low bytes, as below
        lone = self.settings.candidates.lone_sentence_min_shared
        sizes = self._row_sizes(prepared.cleaned)[kept] if verify and lone > 0 else None

        def agree_each(others: list[np.ndarray], cleaned: list[CleanArticle]) -> list[bool]:
            """The batch's verified sentence pairing of the new article with each of ``others`` (their rows)."""
            if sizes is None:
                return sentences_agree_each(sentence_rows, others, self._sentence_banding, threshold)
            other_sizes = [self._row_sizes(item) for item in cleaned]
            return sentences_evidence_each(
                sentence_rows, sizes, others, other_sizes, self._sentence_banding, threshold, lone
            )

        # article band keys pair as in the batch; a sentence band collision counts, as in the batch's
        # ``banded_pairs(verify=True)``, only when the two whole signature rows agree on ``sentence_threshold``
        candidates = session.lookup(sketch.article_keys) - holders
        for holder, (_, _, _, new) in evaluation.holders.items():
            if not set(sketch.article_keys).isdisjoint(new.sketch.article_keys) or (
                not set(sketch.sentence_keys).isdisjoint(new.sketch.sentence_keys)
                and (not verify or agree_each([new.sketch.sentence_rows], [new.cleaned])[0])
            ):
                candidates.add(holder)
        candidates |= self._neighbours(session, evaluation)
        if by_sentence is None:
            by_sentence = session.lookup(sketch.sentence_keys) - holders
        by_sentence -= candidates | holders
        if verify and by_sentence and not screened:
            # first from the stored low bytes of their signatures (no record or cleaned form read): an exact
            # superset of the full test, which then runs on the few that pass (a stored article found by
            # sentence keys is not a holder, so its stored signatures are those of its stored furniture)
            checked = sorted(by_sentence)
            stored = session.sentence_signatures(checked)
            num_perm = self._sentence_banding.num_perm
            known = [key for key in checked if key in stored]
            maybe = sentences_may_agree_each(
                sketch.sentence_rows,
                [unpack_low_bytes(stored[key], num_perm) for key in known],
                self._sentence_banding,
                threshold,
            )
            by_sentence -= {key for key, near in zip(known, maybe, strict=True) if not near}
        rows = session.articles(candidates | by_sentence)
        if verify and by_sentence:
            checked = sorted(by_sentence)
            items = [(rows[key], self._furniture_of(evaluation, rows[key])) for key in checked]
            others = self._sentence_rows_of(items)
            agree = agree_each(others, [self._cleaned_row(*item) for item in items] if sizes is not None else [])
            for key, near in zip(checked, agree, strict=True):
                if not near:
                    del rows[key]
        evaluation.rows.update(rows)
        x = prepared.cleaned
        order = sorted(rows, key=lambda k: rows[k].article.id)
        others = self._prepare_rows([(rows[key], self._furniture_of(evaluation, rows[key])) for key in order])
        stacked, (vectors_x, *all_vectors) = self._stacked_vectors([prepared, *others], against_first=True)
        candidate_rows = _row_block(stacked, vectors_x.shape[0], stacked.shape[0])
        # every sentence cosine of x with the candidates, in one product (x's rows × the candidates' rows); each
        # value adds x's entry times the candidate's over their shared columns in ascending order (rows are sorted,
        # and column 0, where the candidate's other features are, is empty in x), whichever side is on the left,
        # so a candidate's block, transposed, is bit for bit the product ``align_sides`` would make (tested)
        lengths = [vectors.shape[0] for vectors in all_vectors]
        product = (vectors_x @ candidate_rows.T).toarray() if vectors_x.shape[0] and sum(lengths) else None
        bounds = np.concatenate(([0], np.cumsum(lengths))).tolist()
        cosines = [
            product[:, bounds[k] : bounds[k + 1]] if product is not None and lengths[k] else None
            for k in range(len(others))
        ]
        possible = self._may_relate(prepared, others, cosines)
        side_x = None  # the new article prepared for alignment once, as the batch prepares each article once
        for key, other, vectors_o, maybe, cosine in zip(order, others, all_vectors, possible, cosines, strict=True):
            if not maybe:
                continue
            if side_x is None:
                side_x = prepared.side(vectors_x)
                evaluation.sides[x.id] = side_x
            side_o = other.side(vectors_o)
            evaluation.sides[other.cleaned.id] = side_o
            first_side, second_side = sorted([side_x, side_o], key=lambda side: side.article.id)
            # ``cosine`` is (x's sentences × the candidate's): the product ``align_sides`` makes is the second
            # side's rows times the first's, so the candidate's view when x is first, else x's (see below)
            forward, backward = (None, None) if cosine is None else (np.ascontiguousarray(cosine.T), cosine)
            evaluation.cosines[other.cleaned.id] = cosine
            if first_side is not side_x:
                forward, backward = backward, forward
            pair = (first_side, second_side, forward, backward)
            counts = self._weak_pair_counts(first_side.article, second_side.article)
            if screen or not counts:
                # as the batch's ``judge_groups`` screens: ``could_relate`` is an exact bound, so such a pair is
                # unrelated whatever its alignment; only its passages (a weak pair) may count, in a cluster record,
                # and only between a wire text and another text (``_weak_pair_counts``): a pair that cannot count
                # is not aligned at all (check and add); one that can is aligned by ``add`` to store it, by
                # ``check`` only if it joins the article's component
                matches = kgram_matches(first_side, second_side, self.settings.align.min_tile)
                if not could_relate(
                    first_side, second_side, forward, self.settings.align, self.settings.score, matches
                ):
                    if screen and counts:
                        evaluation.screened[key] = pair
                    continue
                self._judge_pair(evaluation, key, pair, matches)
            else:
                self._judge_pair(evaluation, key, pair)

    def _skips_stock_sentences(self) -> bool:
        """Whether sentence candidates leave out stock sentences (the batch's ``skip_stock_sentences``; the index
        counts stories on its verified sentence collisions, so only with ``verify_sentence_pairs``)."""
        settings = self.settings
        return (
            settings.candidates.skip_stock_sentences
            and settings.score.stock_min_stories > 0
            and settings.candidates.verify_sentence_pairs
        )

    def _without_stock(self, session: Session, evaluation: _Evaluation) -> tuple[np.ndarray, set[int], np.ndarray]:
        """The new article's sentence rows that are not stock, the stored articles holding a near-copy of one of
        them on their stored low bytes (a superset of the full test, which the caller runs), and which rows are kept.

        A row with a *crowded* band key (held by more than ``crowded_key_cap`` stored articles: its count is stored,
        schema 8) is stock without reading that key's postings: its near-copies are that many articles, the stories
        they sit in are not counted. Every stored article sharing a band key of another row is read as its stored
        low bytes (no record, no cleaned form); for each such row, its holders' stories are counted
        (``features.stock_rows``: the related component of a holder is its story) when the row has at least
        ``stock_min_stories`` holders, which needs their components only. ``evaluation.stock`` keeps the count of
        stock rows. So a check reads at most ``crowded_key_cap`` postings of a key, whatever the size of the index.
        """
        sketch = evaluation.prepared.sketch
        settings = self.settings
        threshold = settings.candidates.sentence_threshold
        rows, keys, bands = sketch.sentence_rows, sketch.sentence_keys, self._sentence_banding.bands
        crowded_rows = np.zeros(len(rows), dtype=bool)
        if self.crowded_key_cap > 0 and len(rows):
            crowded = session.crowded(keys)
            if crowded:
                crowded_rows = np.array(
                    [not crowded.keys().isdisjoint(keys[r * bands : (r + 1) * bands]) for r in range(len(rows))]
                )
        open_rows = np.flatnonzero(~crowded_rows).tolist()
        open_keys = [key for r in open_rows for key in keys[r * bands : (r + 1) * bands]]
        checked = sorted(session.lookup(open_keys) - set(evaluation.holders))
        stored = session.sentence_signatures(checked)
        num_perm = self._sentence_banding.num_perm
        known = [key for key in checked if key in stored]
        near = near_copies(
            low_bytes(rows[open_rows]),
            [unpack_low_bytes(stored[key], num_perm) for key in known],
            self._sentence_banding,
            threshold,
        )
        at_least = settings.score.stock_min_stories
        stock_open = np.zeros(len(open_rows), dtype=bool)
        if len(known) + 1 >= at_least and (near.sum(axis=1) + 1 >= at_least).any():
            components = session.components(known)
            stories = [component if (component := components.get(key)) is not None else -1 - key for key in known]
            stock_open = stock_rows(near, stories, at_least, STORY_LINK)
        stock = crowded_rows.copy()
        stock[open_rows] = stock_open
        evaluation.stock = int(stock.sum())
        found = {known[k] for k in np.flatnonzero(near[~stock_open].any(axis=0)).tolist()}
        return (rows if not stock.any() else rows[~stock]), found, ~stock

    def _judge_pair(
        self,
        evaluation: _Evaluation,
        key: int,
        pair: tuple[Side, Side, np.ndarray | None, np.ndarray | None],
        matches: KgramMatches | None = None,
    ) -> PairVerdict:
        """Align and judge one candidate (its two sides by id, and the two cosine views), as the batch does; its
        verdict goes to ``evaluation`` (related, or weak when it holds passages that can count:
        ``_weak_pair_counts``) with the reverse passages stored."""
        first_side, second_side, forward, backward = pair
        first, second = first_side.article, second_side.article
        passages = align_sides(first_side, second_side, self.settings.align, forward, matches)
        verdict = judge(first, second, passages, self.settings.score)
        if verdict.relation in RELATED:
            evaluation.verdicts[key] = verdict
            # the other direction, aligned once now (with this moment's statistics, as the verdict) and stored
            # with it: a cluster whose origin ranking makes ``b`` the source reads it instead of aligning again
            reverse = align_sides(second_side, first_side, self.settings.align, backward)
            evaluation.reverse[key] = reverse
            self._remember_reverse(verdict, reverse)
        elif verdict.passages and self._weak_pair_counts(first, second):
            evaluation.weak[key] = verdict
            # a weak pair only enters a cluster record as a wire text's edge into a non-wire member;
            # when the wire text is the pair's second side, that edge runs from b to a: aligned now too
            if self.settings.origin.wire_union_unrelated and _is_wire(second) and not _is_wire(first):
                reverse = align_sides(second_side, first_side, self.settings.align, backward)
                evaluation.reverse[key] = reverse
                self._remember_reverse(verdict, reverse)
        return verdict

    def _weak_pair_counts(self, first: CleanArticle, second: CleanArticle) -> bool:
        """Whether a weak pair (judged unrelated, holding passages) of these two articles can ever count in a cluster
        record: ``origin.build_cluster`` reads an unrelated pair only as a wire text's edge into a non-wire member
        of its cluster (``wire_union_unrelated``), so only when exactly one of the two is wire copy. Whether an
        article is wire copy comes from its credits, found in its whole text (``clean_article``: ``find_credits``
        of the text, whatever its furniture), so it never changes; any other weak pair is neither stored nor
        aligned (until stop 18 all were: 11.3 weak pairs an article at 50,000 articles, 59 % of them never read).
        """
        return self.settings.origin.wire_union_unrelated and _is_wire(first) != _is_wire(second)

    def _judge_screened(self, evaluation: _Evaluation, keys: Iterable[int]) -> None:
        """Align the screened candidates among ``keys`` after all (they join the article's component), as the batch
        aligns its screened pairs whose articles end in one cluster."""
        for key in sorted(set(keys) & set(evaluation.screened)):
            verdict = self._judge_pair(evaluation, key, evaluation.screened.pop(key))
            if verdict.relation in RELATED:  # ``could_relate`` is an exact bound: never
                raise AssertionError(f"a screened pair was judged {verdict.relation}")

    def _row_sizes(self, cleaned: CleanArticle) -> np.ndarray:
        """Each sentence signature row's count of content stems (``lone_sentence_min_shared`` reads them)."""
        return sentence_row_sizes([cleaned], self.settings.sketch.min_sentence_stems)

    def _sentence_rows_of(self, items: list[tuple[StoredArticle, tuple[int, ...]]]) -> list[np.ndarray]:
        """Stored articles' sentence signature rows, each with its furniture (from their cleaned forms, signed in
        one call: rows are independent; kept in memory)."""
        result: list[np.ndarray | None] = []
        fresh: list[int] = []
        for number, (row, furniture) in enumerate(items):
            held = self._sentence_rows.get((row.key, furniture))
            if held is None and (prepared := self._prepared.get((row.key, furniture))) is not None:
                held = prepared.sketch.sentence_rows
            if held is None:
                fresh.append(number)
            result.append(held)
        if fresh:
            minimum = self.settings.sketch.min_sentence_stems
            sets = [sentence_stem_sets(self._cleaned_row(*items[n]), minimum) for n in fresh]
            signed = signatures([stems for found in sets for stems in found], self._sentence_banding)
            start = 0
            for number, found in zip(fresh, sets, strict=True):
                result[number] = signed[start : start + len(found)]
                start += len(found)
        for (row, furniture), rows in zip(items, result, strict=True):
            self._sentence_rows.get_or((row.key, furniture), lambda rows=rows: rows)
        return [rows for rows in result if rows is not None]

    def _may_relate(
        self,
        prepared: Prepared,
        others: list[Prepared],
        cosines: list[np.ndarray | None],  # each candidate's sentence cosines with x (None: no sentences on a side)
    ) -> list[bool]:
        """For each candidate, ``False`` only when ``align`` is sure to find no passage (so ``judge`` says unrelated).

        ``align`` accepts a sentence pair first only above ``sentence_threshold``, or above
        ``anchor_threshold`` when a verbatim piece of ``anchor_tile`` evidence words lies in it (an
        anchor); every other accepted pair chains from such a pair (context, continuation, merged
        sentences). Outside accepted pairs it keeps a verbatim piece only from ``min_standalone_tile``
        words. So a candidate gets a passage only if its best sentence cosine reaches
        ``sentence_threshold``, or it reaches ``anchor_threshold`` and the two share a run of
        ``anchor_tile`` evidence words, or they share a run of ``min_standalone_tile`` words. All
        sentence cosines are one sparse product (``cosines``, the caller's); the runs are compared by 64-bit keys
        (equal runs, equal keys).
        """
        align_settings, score = self.settings.align, self.settings.score
        if not others:
            return []
        if score.derived_coverage <= 0 or score.min_sentences <= 0 or score.long_verbatim_tokens <= 0:
            return [True] * len(others)  # settings under which an empty alignment may still relate
        anchor_run = max(align_settings.anchor_tile, align_settings.min_tile, 1)
        standalone_run = max(align_settings.min_standalone_tile, align_settings.min_tile, 1)
        best = np.full(len(others), -1.0)
        for k, cosine in enumerate(cosines):
            if cosine is not None and cosine.size:
                best[k] = cosine.max()
        margin = 1e-9  # the products are the ones align computes; a margin covers any summation-order doubt
        strong = align_settings.sentence_threshold - margin
        anchored = min(align_settings.anchor_threshold, align_settings.sentence_threshold) - margin
        own_runs: dict[int, set[int]] = {}  # hashed: a false "shared" only costs an alignment that finds nothing
        possible = []
        for k, other in enumerate(others):
            if best[k] >= strong:
                possible.append(True)
                continue
            run = min(anchor_run, standalone_run) if best[k] >= anchored else standalone_run
            if run not in own_runs:
                own_runs[run] = set(word_run_keys(prepared.cleaned, run).tolist())
            possible.append(not own_runs[run].isdisjoint(word_run_keys(other.cleaned, run).tolist()))
        return possible

    def _neighbours(self, session: Session, evaluation: _Evaluation) -> set[int]:
        """The batch's third candidate source, TF-IDF nearest neighbours, both ways, through signature terms.

        The batch pairs two articles when *either* has the other among its ``tfidf_neighbours`` nearest
        above ``tfidf_threshold``. Stored articles whose signature terms (their highest-weighted stems)
        occur among the article's stems are ranked by how many do; the first ``MAX_TERM_CANDIDATES`` get
        their exact TF-IDF cosine. The article's own nearest ``tfidf_neighbours`` above the threshold
        become candidates, and so does every scored article whose cosine reaches its stored *radius*: the
        cosine of its own ``tfidf_neighbours``-th nearest when it was added (0 if fewer were scored). Its
        nearest can only come closer as articles arrive, so the stored radius is a lower bound of the one a
        batch run would see (up to the statistics of the moment, and removals); the article's radius is set
        on ``evaluation`` for storing.
        """
        settings = self.settings.candidates
        vector = self._article_vector(evaluation.prepared.stem_counts)
        evaluation.terms = tuple(top_terms(vector, SIGNATURE_TERMS).tolist())
        evaluation.radius = 0.0
        if settings.tfidf_neighbours <= 0 or not vector.nnz:
            return set()
        # most shared terms first, then the larger key
        ranked = self._most_holding(session, term_keys(vector.indices.tolist()), MAX_TERM_CANDIDATES)
        if not ranked:
            return set()
        packed = self._stored_stems(session, ranked)
        for holder, (_, _, _, new) in evaluation.holders.items():
            if holder in packed:
                packed[holder] = pack_stems(new.stem_counts, stem_radius(packed[holder]))
        order = sorted(packed)
        matrix = self._article_vector(stems_matrix([packed[key] for key in order]))
        scores = row_dots(matrix, vector)
        best = np.argsort(-scores, kind="stable")[: settings.tfidf_neighbours]
        if len(order) >= settings.tfidf_neighbours:
            evaluation.radius = float(scores[best[-1]])
        radii = stem_radii([packed[key] for key in order])
        near = scores >= settings.tfidf_threshold
        found = {order[i] for i in best if near[i]}
        found.update(order[i] for i in np.flatnonzero(near & (scores >= radii)).tolist())
        return found

    def _most_holding(self, session: Session, band_keys: list[int], limit: int) -> list[int]:
        """The ``limit`` stored articles holding most of ``band_keys``, most first, ties by the larger key first;
        each key's holders read once and kept in memory (``_add_keys`` and ``_remove_keys`` keep them current)."""

        def read(missing: list[int]) -> dict[int, np.ndarray]:
            held = session.holders(missing)
            return {key: np.array(held.get(key, ()), dtype=np.int64) for key in missing}

        lists = self._holders.read_through(sorted(set(band_keys)), read)
        return rank_holders(lists.values(), limit)

    def _add_keys(self, session: Session, article: int, band_keys: list[int]) -> None:
        """``session.add_keys``, mirrored in the holder lists kept in memory, and the crowded keys' counts kept."""
        session.add_keys(article, band_keys)
        if self.crowded_key_cap > 0:
            session.count_keys(band_keys, +1, self.crowded_key_cap)
        for key in band_keys:
            held = self._holders.get(key)
            if held is not None and not (held == article).any():
                self._holders[key] = np.append(held, article)

    def _remove_keys(self, session: Session, article: int, band_keys: list[int]) -> None:
        """``session.remove_keys``, mirrored in the holder lists kept in memory, and the crowded keys' counts kept."""
        session.remove_keys(article, band_keys)
        if self.crowded_key_cap > 0:
            session.count_keys(band_keys, -1, self.crowded_key_cap)
        for key in band_keys:
            held = self._holders.get(key)
            if held is not None:
                self._holders[key] = held[held != article]

    def _stored_stems(self, session: Session, keys: list[int]) -> dict[int, bytes]:
        """``session.stems(keys)``, those read before (and not changed since) from memory."""
        return self._stems.read_through(keys, session.stems)

    def _cluster_of_new(self, session: Session, evaluation: _Evaluation) -> None:
        """The component the new article joins (its related articles and its wire slug's takes, with
        their components) and that component's clusters."""
        versions = session.slug_holders(evaluation.slug) if evaluation.slug is not None else set()
        if not evaluation.verdicts and not versions:
            return
        unread = versions - set(evaluation.rows)
        if unread:
            evaluation.rows.update(session.articles(unread))
        joined = {key: evaluation.rows[key] for key in set(evaluation.verdicts) | versions}
        components = {row.component for row in joined.values() if row.component is not None}
        parts = {component: self._component(session, component) for component in sorted(components)}
        alone = sorted(key for key, row in joined.items() if row.component is None)
        alone_slugs = session.slugs(alone) if alone and self.settings.group_wire_versions else {}
        key_of: dict[str, int] = {}
        for part in parts.values():
            key_of.update(part.keys)
        for key in alone:
            key_of[joined[key].article.id] = key
        x = evaluation.article.id
        before = combine(
            [part.state for part in parts.values()]
            + [single(joined[key].article.id, alone_slugs.get(key)) for key in alone]
        )
        # ``group`` over the joined components and the article, replaying only what the article changes
        after = regroup(before, x, related_keys(evaluation.verdicts.values()), evaluation.slug)
        members = set(key_of.values())
        self._judge_screened(evaluation, members)
        evaluation.component_keys = members
        evaluation.old_components = components
        if min(members) in parts:  # its members keep their component number
            evaluation.unmoved = frozenset(parts[min(members)].keys.values())
        previous = [record for part in parts.values() for record in part.records]
        new = list(evaluation.verdicts.values()) + [v for key, v in evaluation.weak.items() if key in members]
        clusters, edges = self._build_clusters(
            session, members, new, evaluation, previous, evaluation.rows, grouping=(after, key_of)
        )
        evaluation.clusters = clusters
        evaluation.edges = edges
        evaluation.grouping = _Component(after, key_of, clusters)

    def _component(self, session: Session, component: int) -> _Component:
        """A stored component's grouping: kept in memory, or read (members, their related pairs, slugs and
        cluster records) and grouped once."""
        held = self._components.get(component)
        if held is not None:
            self._components.move_to_end(component)
            return held
        keys = session.members(component)
        names = session.names(keys)
        # the merge order of its related pairs is all ``group`` needs: their passages are not decoded
        related = [pair_key(*verdict_order_fields(data or b"")) for _, _, data in session.pair_blobs(keys)]
        slugs = session.slugs(keys) if self.settings.group_wire_versions else {}
        state = build_state(names.values(), related, {names[key]: slug for key, slug in slugs.items()})
        entry = _Component(state, {name: key for key, name in names.items()}, session.clusters(component) or [])
        return self._components.get_or(component, lambda: entry)

    def _stored_verdicts(self, session: Session, keys: Iterable[int], *, weak: bool = False) -> list[PairVerdict]:
        """The stored related (or ``weak``) pairs among ``keys``, decoded once per process (a stored pair
        never changes, and a pair of keys is either related or weak)."""
        return [verdict for verdict, _ in self._stored_pairs(session, keys, weak=weak)]

    def _stored_pairs(
        self, session: Session, keys: Iterable[int], *, weak: bool = False
    ) -> list[tuple[PairVerdict, list[Passage] | None]]:
        """``_stored_verdicts`` with each pair's stored passages from b to a (or ``None``)."""
        found = session.pair_blobs(keys, weak=weak, cached=self._pair_verdicts)
        decoded: list[tuple[PairVerdict, list[Passage] | None] | None] = []
        for a, b, data in found:
            if data is not None:
                decoded.append(self._pair_verdicts.get_or((a, b), lambda data=data: unpack_verdict(data)))
            elif (held := self._pair_verdicts.get((a, b))) is not None:
                self._pair_verdicts.move_to_end((a, b))
                decoded.append(held)
            else:  # left the cache while this loop filled it: read it after all
                decoded.append(None)
        late = {(a, b) for (a, b, _), item in zip(found, decoded, strict=True) if item is None}
        if late:
            again = {(a, b): data for a, b, data in session.pair_blobs({k for pair in late for k in pair}, weak=weak)}
            decoded = [
                item if item is not None else unpack_verdict(again[(a, b)] or b"")
                for (a, b, _), item in zip(found, decoded, strict=True)
            ]
        pairs = []
        for item in decoded:
            assert item is not None
            verdict, reverse = item
            if reverse is not None:
                self._remember_reverse(verdict, reverse)
            pairs.append(item)
        return pairs

    def _remember_reverse(self, verdict: PairVerdict, reverse: list[Passage]) -> None:
        self._reverse.get_or(id(verdict), lambda: (verdict, reverse))

    def _reverse_of(self, verdict: PairVerdict) -> list[Passage] | None:
        """The stored passages from ``verdict.b`` to ``verdict.a`` (related pairs), or ``None``."""
        held = self._reverse.get(id(verdict))
        return held[1] if held is not None and held[0] is verdict else None

    def _build_clusters(
        self,
        session: Session,
        keys: Iterable[int],
        verdicts: list[PairVerdict],
        evaluation: _Evaluation | None,
        previous: Iterable[dict[str, Any]] = (),
        rows: dict[int, StoredArticle] | None = None,
        grouping: tuple[GroupState, dict[str, int]] | None = None,
    ) -> tuple[list[dict[str, Any]], dict[tuple[str, str], DirectedEdge]]:
        """The batch pipeline's clusters for one related component (``evaluation``'s article included).

        ``group`` runs over the whole component, as in the batch, unless ``grouping`` gives its result
        (with the member keys by id); ``verdicts`` are then only the new article's pairs, and a rebuilt
        group reads its stored ones. A group whose members and pair verdicts did not change
        keeps its ``previous`` record, so only changed groups are read, cleaned and ranked again (``rows``
        holds the articles already read; it is filled as needed).
        """
        rows = {} if rows is None else rows
        if grouping is not None:
            key_of = {
                name: key for name, key in grouping[1].items() if evaluation is None or name != evaluation.article.id
            }
        else:
            key_of = {name: key for key, name in session.names(keys).items()}
        by_id = {name: (key, rows.get(key)) for name, key in key_of.items()}
        touched: set[str] = set()
        if evaluation is not None:
            touched = {evaluation.article.id} | {row.article.id for row, _, _, _ in evaluation.holders.values()}
        known = {tuple(sorted(m["id"] for m in record["members"])): record for record in previous}
        records: list[dict[str, Any]] = []
        all_edges: dict[tuple[str, str], DirectedEdge] = {}
        versions: list[list[str]] = []
        if self.settings.group_wire_versions and grouping is None:
            name_of = {key: name for name, key in key_of.items()}
            by_slug: dict[str, list[str]] = {}
            for key, slug in session.slugs(name_of).items():
                by_slug.setdefault(slug, []).append(name_of[key])
            if evaluation is not None and evaluation.slug is not None:
                by_slug.setdefault(evaluation.slug, []).append(evaluation.article.id)
            versions = [sorted(ids_of) for _, ids_of in sorted(by_slug.items())]
        if grouping is not None:
            groups = grouping[0].groups
        else:
            groups = group(sorted([*by_id, *([evaluation.article.id] if evaluation else [])]), verdicts, versions)
        for members in groups:
            if len(members) == 1:
                continue
            if tuple(members) in known and not touched & set(members):
                records.append(known[tuple(members)])
                continue
            own = verdicts
            inside_keys = [by_id[m][0] for m in members if m in by_id]
            # their stored passages from b to a, for the record's edges against the pair order
            reverse: dict[tuple[str, str], list[Passage]] = {}
            if grouping is not None:  # the stored related pairs among its members, and the new article's
                pairs = self._stored_pairs(session, inside_keys)
                own = [verdict for verdict, _ in pairs] + verdicts
                reverse.update({(v.a, v.b): passages for v, passages in pairs if passages is not None})
            unread = [by_id[m][0] for m in members if m in by_id and by_id[m][1] is None]
            if unread:
                rows.update(session.articles(unread))
                by_id.update({rows[key].article.id: (key, rows[key]) for key in unread if key in rows})
            cleaned: dict[str, CleanArticle] = {}
            stored: dict[str, tuple[StoredArticle, tuple[int, ...]]] = {}
            for article_id in members:
                if evaluation is not None and article_id == evaluation.article.id:
                    cleaned[article_id] = evaluation.prepared.cleaned
                    continue
                row = by_id[article_id][1]
                if row is None:
                    raise CorruptIndexError(f"{self.backend.target}: a cluster member is missing")
                furniture = self._furniture_of(evaluation, row) if evaluation else row.furniture
                stored[article_id] = (row, furniture)
                cleaned[article_id] = self._cleaned_row(row, furniture)

            def prepared_of(
                article_id: str, stored: Mapping[str, tuple[StoredArticle, tuple[int, ...]]] = stored
            ) -> Prepared:
                if article_id not in stored:
                    assert evaluation is not None
                    return evaluation.prepared
                return self._prepare_row(*stored[article_id])

            # the stored weak pairs among this group's members (``group`` never uses weak pairs; the record does,
            # between a wire text and another member: none to read when no member or every member is wire copy)
            wire = sum(_is_wire(article) for article in cleaned.values())
            mixed = self.settings.origin.wire_union_unrelated and 0 < wire < len(cleaned)
            weak_pairs = self._stored_pairs(session, inside_keys, weak=True) if mixed else []
            weak = [verdict for verdict, _ in weak_pairs]
            reverse.update({(v.a, v.b): passages for v, passages in weak_pairs if passages is not None})
            record, edges = self._cluster_record(members, cleaned, prepared_of, own + weak, reverse)
            all_edges.update({(edge.source, edge.target): edge for edge in edges})
            records.append(record)
        records.sort(key=lambda record: record["id"])
        return records, all_edges

    def _cluster_record(
        self,
        members: list[str],
        cleaned: Mapping[str, CleanArticle],
        prepared_of: Callable[[str], Prepared],
        verdicts: list[PairVerdict],
        reverse: Mapping[tuple[str, str], list[Passage]],
    ) -> tuple[dict[str, Any], list[DirectedEdge]]:
        """One group's cluster record, as ``pipeline.cluster`` builds it (origin, roles, coverage).

        ``reverse``: stored passages from b to a of pairs among ``verdicts`` (others: the process's memory of them).
        """
        inside = set(members)
        # in the batch's order (pairs by ids): evidence lists and summed scores follow it
        own = sorted((v for v in verdicts if v.a in inside and v.b in inside), key=lambda v: (v.a, v.b))
        record, edges = build_cluster(members[0], members, cleaned, own, self.settings.origin)
        # what a derived member receives, as the batch measures it: the passages of every edge into it
        # (edges judged in the other direction are aligned again, in one weighting: rows are independent)
        derived = {m.id for m in record.members if m.role == "derived"}
        into = [e for e in edges if e.target in derived]
        reversed_stored = {}
        for e in into:
            if e.verdict.a != e.source:
                held = reverse.get((e.verdict.a, e.verdict.b))
                reversed_stored[id(e)] = held if held is not None else self._reverse_of(e.verdict)
        needed = sorted({m for e in into if reversed_stored.get(id(e), []) is None for m in (e.source, e.target)})
        vectors = dict(zip(needed, self._many_vectors([prepared_of(m) for m in needed]), strict=True))
        incoming: dict[str, list[Passage]] = {}
        for edge in into:
            if edge.verdict.a == edge.source:
                passages = edge.verdict.passages
            elif (stored := reversed_stored[id(edge)]) is not None:
                passages = stored
            else:
                passages = align(
                    cleaned[edge.source],
                    cleaned[edge.target],
                    vectors[edge.source],
                    vectors[edge.target],
                    self.settings.align,
                )
            incoming.setdefault(edge.target, []).extend(passages)
        measure_members(record, incoming, cleaned, self.settings.origin.whole_coverage)
        return _cluster_dict(record), edges

    # --- storing ----------------------------------------------------------------------------------------------
    def _store(self, session: Session, evaluation: _Evaluation) -> None:
        article, prepared = evaluation.article, evaluation.prepared
        minimum = self.settings.boilerplate_min_articles
        key = session.insert_article(
            article,
            prepared.furniture,
            time.time(),
            pack_stems(prepared.stem_counts, evaluation.radius),
            evaluation.terms,
            clean_bytes(prepared.cleaned),
            evaluation.slug,
            signatures=pack_low_bytes(prepared.sketch.sentence_rows),
        )
        self._add_keys(session, key, sorted(set(prepared.keys) | set(term_keys(evaluation.terms))))
        radii = {holder: stem_radius(data) for holder, data in session.stems(evaluation.holders).items()}
        for holder, (row, new_furniture, old, new) in sorted(evaluation.holders.items()):
            self._remove_keys(session, holder, sorted(set(old.keys) - set(new.keys) - set(row.terms)))
            self._add_keys(session, holder, sorted(set(new.keys) - set(old.keys)))
            stems = pack_stems(new.stem_counts, radii.get(holder, 0.0))
            self._stems.pop(holder, None)
            session.set_furniture(
                holder,
                new_furniture,
                stems,
                clean_bytes(new.cleaned),
                signatures=pack_low_bytes(new.sketch.sentence_rows),
            )
            session.log_change(holder, -1, row.furniture)
            session.log_change(holder, +1, new_furniture)
        updated: dict[int, LineCount] = {}
        for line in evaluation.line_keys:
            known = evaluation.line_counts.get(line, LineCount(0, False, ()))
            count = known.count + 1
            sticky = known.sticky or count >= minimum
            updated[line] = LineCount(count, sticky, () if sticky else (*known.holders, key))
        session.put_lines(updated)
        last_change = session.log_change(key, +1, prepared.furniture)
        for other, verdict in evaluation.verdicts.items():
            session.put_pair(key, other, pack_verdict(verdict, evaluation.reverse.get(other)))
        for other, verdict in evaluation.weak.items():
            session.put_weak_pair(key, other, pack_verdict(verdict, evaluation.reverse.get(other)))
        if evaluation.component_keys:
            members = evaluation.component_keys | {key}
            component = min(members)
            session.set_components({member: component for member in members - evaluation.unmoved})
            for old in evaluation.old_components - {component}:
                session.delete_clusters(old)
            session.put_clusters(component, evaluation.clusters)
            if evaluation.grouping is not None:  # the component's grouping now, for the next article joining it
                grouping = evaluation.grouping
                grouping.keys[article.id] = key
                for old in evaluation.old_components:
                    self._components.pop(old, None)
                self._components.get_or(component, lambda: grouping)
        self._mark = last_change
        self._prepared.get_or((key, prepared.furniture), lambda: prepared)
        self._contributions.get_or((key, prepared.furniture), lambda: _contribution_of(prepared))
        self._maybe_checkpoint(session, last_change)

    def _maybe_checkpoint(self, session: Session, change: int) -> None:
        checkpoint = session.checkpoint(with_data=False)
        if change - (checkpoint[0] if checkpoint else 0) >= CHECKPOINT_EVERY:
            assert self._df is not None
            session.write_checkpoint(change, self._rows, self._checkpoint_bytes())

    def _remove_keys_where(self, choose: Callable[[Session], list[int]]) -> tuple[int, list[str]]:
        removed: list[str] = []
        with self._lock:
            try:
                with self.backend.writing() as session:
                    self._sync(session)
                    for key in choose(session):
                        article_id = self._remove_one(session, key)
                        if article_id is not None:
                            removed.append(article_id)
                        session.flush()
            except BaseException:
                self._df = None
                raise
            finally:
                self._settle()
        return len(removed), removed

    def _remove_one(self, session: Session, key: int) -> str | None:
        assert self._df is not None
        rows = session.articles([key])
        if key not in rows:
            return None
        row = rows[key]
        prepared = self._prepare_row(row)
        self._remove_keys(session, key, sorted(set(prepared.keys) | set(row.terms)))
        line_keys = short_lines(row.article.text)
        counts = session.lines(line_keys)
        updated = {}
        for line in line_keys:
            known = counts.get(line, LineCount(1, False, ()))
            updated[line] = LineCount(
                max(known.count - 1, 0), known.sticky, tuple(h for h in known.holders if h != key)
            )
        session.put_lines(updated)
        change = session.log_change(key, -1, row.furniture)
        self._df[prepared.features] -= prepared.feature_rows
        self._rows -= prepared.n_rows
        self._adf[prepared.stem_features] -= 1
        self._docs -= 1
        self._mark = change
        session.delete_pairs(key)
        session.delete_article(key, change, row.article)
        self._stems.pop(key, None)
        if row.component is not None:
            remaining = [member for member in session.members(row.component) if member != key]
            previous = session.clusters(row.component) or []
            session.delete_clusters(row.component)
            self._components.clear()
            self._recluster(session, remaining, previous)
        self._maybe_checkpoint(session, change)
        return row.article.id

    def _recluster(self, session: Session, keys: list[int], previous: list[dict[str, Any]]) -> None:
        """Split ``keys`` into related components again and rebuild their clusters."""
        links = session.neighbours(keys)
        by_slug: dict[str, set[int]] = {}
        for key, slug in session.slugs(keys).items():
            by_slug.setdefault(slug, set()).add(key)
        for holders in by_slug.values():  # wire takes under one slug stay in one component
            for key in holders:
                links.setdefault(key, set()).update(holders - {key})
        inside = set(keys)
        seen: set[int] = set()
        assignments: dict[int, int | None] = {}
        for start in sorted(keys):
            if start in seen:
                continue
            part, stack = set(), [start]
            while stack:
                node = stack.pop()
                if node in part:
                    continue
                part.add(node)
                stack.extend((links.get(node, set()) & inside) - part)
            seen |= part
            if len(part) == 1:
                assignments[start] = None
                continue
            component = min(part)
            assignments.update({member: component for member in part})
            verdicts = self._stored_verdicts(session, part)
            clusters, _ = self._build_clusters(session, part, verdicts, None, previous)
            session.put_clusters(component, clusters)
        session.set_components(assignments)

    # --- verdicts ------------------------------------------------------------------------------------------------
    def _verdict(self, evaluation: _Evaluation, *, added: bool | None) -> dict[str, Any]:
        x = evaluation.article.id
        cluster = next((c for c in evaluation.clusters if any(m["id"] == x for m in c["members"])), None)
        matches = []
        for key, verdict in evaluation.verdicts.items():
            other = evaluation.rows[key].article.id
            row = evaluation.rows[key]
            prepared: dict[str, Callable[[], Prepared]] = {
                x: lambda: evaluation.prepared,
                other: lambda row=row: self._prepare_row(row, self._furniture_of(evaluation, row)),
            }
            matches.append(
                self._match(x, other, verdict, evaluation.edges, prepared, evaluation.sides, evaluation.cosines)
            )
        matches.sort(key=lambda m: (-m["score"], m["id"]))
        result: dict[str, Any] = {"id": x, "matches": matches, "cluster": cluster}
        if added is not None:
            result = {"id": x, "added": added, "matches": matches, "cluster": cluster}
        return result

    def _align_pair(
        self,
        source: str,
        target: str,
        settings: AlignSettings,
        prepared: Mapping[str, Callable[[], Prepared]],
        sides: Mapping[str, Side],
        cosines: Mapping[str, np.ndarray | None],  # the judged candidate's id → x's rows × its rows
    ) -> list[Passage]:
        """``align`` of ``source`` into ``target``: from the sides (and the cosines) judging made when it made
        both, else prepared and weighted now (the same statistics either way: a product of the two sides' rows
        gives the same floats in both numberings)."""
        if source in sides and target in sides:
            cosine = cosines.get(source) if source in cosines else cosines.get(target)
            if cosine is not None and source in cosines:  # x is the target: its rows × the source's
                cosine = np.ascontiguousarray(cosine)
            elif cosine is not None:  # x is the source: the target's rows × x's
                cosine = np.ascontiguousarray(cosine.T)
            return align_sides(sides[source], sides[target], settings, cosine)
        source_prepared, target_prepared = prepared[source](), prepared[target]()
        source_vectors, target_vectors = self._many_vectors([source_prepared, target_prepared])
        return align_sides(source_prepared.side(source_vectors), target_prepared.side(target_vectors), settings)

    def _match(
        self,
        x: str,
        other: str,
        verdict: PairVerdict,
        edges: Mapping[tuple[str, str], DirectedEdge],
        prepared: Mapping[str, Callable[[], Prepared]],  # each side prepared only when an alignment needs it
        sides: Mapping[str, Side] | None = None,  # sides already prepared for alignment (a check's judging)
        cosines: Mapping[str, np.ndarray | None] | None = None,  # and their sentence cosines with x
    ) -> dict[str, Any]:
        mine, theirs = (
            (verdict.coverage_a, verdict.coverage_b) if verdict.a == x else (verdict.coverage_b, verdict.coverage_a)
        )
        if verdict.relation in DERIVED:
            if (other, x) in edges:
                direction = "copies"
            elif (x, other) in edges:
                direction = "copied-by"
            else:
                direction = "copies" if mine >= theirs else "copied-by"
        else:
            direction = "same-story"
        passages = verdict.passages
        source = other if direction == "copies" else x if direction == "copied-by" else verdict.a
        detailed = detail_settings(self.settings.align)
        if detailed is not None and verdict.relation in DERIVED and ((other, x) in edges or (x, other) in edges):
            # as in the batch run: the passages shown for a cluster's derived edge come from a detailed alignment
            target = x if source == other else other
            passages = self._align_pair(source, target, detailed, prepared, sides or {}, cosines or {})
        elif source != verdict.a and (stored := self._reverse_of(verdict)) is not None:
            passages = stored  # aligned from the pair's second side when the pair was judged
        elif source != verdict.a:
            # as in the batch run: a derived edge whose source is the pair's second side is aligned again
            target = verdict.a
            passages = self._align_pair(source, target, self.settings.align, prepared, sides or {}, cosines or {})
        return {
            "id": other,
            "relation": verdict.relation,
            "score": verdict.score,
            "coverage_self": mine,
            "coverage_other": theirs,
            "direction": direction,
            "passages": [_passage_dict(p) for p in passages],
        }

    def _stored_verdict(self, session: Session, key: int, *, added: bool | None) -> dict[str, Any]:
        """The verdict of an article already in the index, from the stored pairs and clusters."""
        row = session.articles([key])[key]
        x = row.article.id
        links = session.neighbours([key])[key]
        rows = session.articles(links)
        records = {(a, b): data for a, b, data in session.pair_blobs(links | {key})}
        cluster = None
        if row.component is not None:
            cluster = next(
                (c for c in session.clusters(row.component) or [] if any(m["id"] == x for m in c["members"])), None
            )
        roles = {m["id"]: m for m in (cluster or {}).get("members", [])}
        matches = []
        for other_key in sorted(links):
            record = records.get((min(key, other_key), max(key, other_key)))
            if record is None:
                continue
            verdict, reverse = unpack_verdict(record)
            if reverse is not None:
                self._remember_reverse(verdict, reverse)
            other = rows[other_key].article.id
            edges: dict[tuple[str, str], DirectedEdge] = {}
            if verdict.relation in DERIVED and other in roles and x in roles:
                if other in roles[x].get("sources", []):
                    edges[(other, x)] = DirectedEdge(other, x, verdict)
                elif x in roles[other].get("sources", []):
                    edges[(x, other)] = DirectedEdge(x, other, verdict)
            prepared = {
                x: lambda: self._prepare_row(row),
                other: lambda other_key=other_key: self._prepare_row(rows[other_key]),
            }
            matches.append(self._match(x, other, verdict, edges, prepared))
        matches.sort(key=lambda m: (-m["score"], m["id"]))
        result: dict[str, Any] = {"id": x, "matches": matches, "cluster": cluster}
        if added is not None:
            result = {"id": x, "added": added, "matches": matches, "cluster": cluster}
        return result


def _is_wire(cleaned: CleanArticle) -> bool:
    """Whether its own credit names a wire service (``origin.build_cluster``'s wire copy)."""
    return bool(own_outlets(cleaned.credits) & WIRE_SERVICES)


def _row_block(matrix: sparse.csr_matrix, begin: int, end: int) -> sparse.csr_matrix:
    """Rows ``[begin, end)`` of a CSR matrix as views of its arrays (what slicing copies, without its checks)."""
    indptr = matrix.indptr[begin : end + 1]
    first, last = int(indptr[0]), int(indptr[-1])
    return sparse.csr_matrix(
        (matrix.data[first:last], matrix.indices[first:last], indptr - first), shape=(end - begin, matrix.shape[1])
    )


def _contribution_of(prepared: Prepared) -> Contribution:
    return prepared.features, prepared.feature_rows, prepared.n_rows, prepared.stem_features


def _passage_dict(passage: Passage) -> dict[str, Any]:
    return {
        "source": passage.source,
        "target": passage.target,
        "source_span": list(passage.source_span),
        "target_span": list(passage.target_span),
        "kind": passage.kind,
        "score": passage.score,
    }


def _cluster_dict(cluster: Cluster) -> dict[str, Any]:
    return _normal(
        {
            "id": cluster.id,
            "relation": cluster.relation,
            "origin": cluster.origin,
            "origin_evidence": cluster.origin_evidence,
            "credited_sources": cluster.credited_sources,
            "members": [
                {"id": m.id, "role": m.role, "sources": list(m.sources), "coverage": m.coverage, "extent": m.extent}
                for m in cluster.members
            ],
        }
    )


def _meta_of(settings: Settings, crowded_key_cap: int = CROWDED_KEY_CAP) -> dict[str, str]:
    return {
        "format": FORMAT,
        "schema": str(SCHEMA),
        "crowded_key_cap": str(crowded_key_cap),
        "cluster_rules": str(CLUSTER_RULES),
        "settings": json.dumps(settings.as_dict(), sort_keys=True),
        "scheme": SCHEME,
        "hashing": HASHING,
        "features": str(N_FEATURES),
    }


def _check_meta(meta: Mapping[str, str], target: str) -> Settings:
    if meta.get("format") != FORMAT:
        raise CorruptIndexError(f"{target} does not hold a dedup index")
    if meta.get("schema") in ("7", "8", "9"):
        raise ParametersError(
            f"{target} has index schema {meta['schema']}; this version of dedup reads schema {SCHEMA}: run "
            f"`dedup index migrate {target}` (Index.migrate) once to bring it to {SCHEMA} (one pass over its articles "
            "and postings; the verdicts stay the same)"
        )
    if meta.get("schema") != str(SCHEMA):
        raise ParametersError(
            f"{target} has index schema {meta.get('schema')}; this version of dedup reads schema {SCHEMA}"
        )
    for name in ("cluster_rules", "crowded_key_cap"):  # numbers the index reads back (stats, the cap)
        if name in meta and not meta[name].isdigit():
            raise CorruptIndexError(f"{target}: the stored {name} is damaged ({meta[name]!r} is not a count)")
    for name, ours in (("scheme", SCHEME), ("hashing", HASHING), ("features", str(N_FEATURES))):
        if meta.get(name) != ours:
            raise ParametersError(
                f"{target} was made with {name} {meta.get(name)!r}; this version of dedup uses {ours!r}: "
                "signatures of different schemes cannot be mixed, make a new index"
            )
    try:
        values = json.loads(meta.get("settings", ""))
    except ValueError:
        raise CorruptIndexError(f"{target}: the stored settings are damaged") from None
    if not isinstance(values, dict):
        raise CorruptIndexError(f"{target}: the stored settings are damaged")
    return settings_from_dict(values)


def _moment(value: datetime | date | str | timedelta | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return datetime.now(UTC) - value
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _before(published: str | None, added: float, limit: datetime) -> bool:
    moment: datetime | None = None
    if published:
        try:
            moment = datetime.fromisoformat(published.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    if moment is None:
        moment = datetime.fromtimestamp(added, UTC)
    return moment < limit
