"""The batch pipeline, one way through: clean → sketch → candidates → align → score → cluster → origin.

``cluster(articles, **settings)`` is the library door; the CLI calls the same function.
Reading and writing stay outside (``dedup.read``, ``dedup.write``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import struct
import sys
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import reverse_cuthill_mckee

from dedup import similarity
from dedup.align import (
    AlignSettings,
    KgramMatches,
    Side,
    TokenTile,
    align_sides,
    cannot_reuse,
    detail_settings,
    kgram_matches,
    prepare,
    sentence_cosines,
    unit_tiles,
    use_kernels,
)
from dedup.batch_words import article_rows, evidence_article_counts, evidence_words, sentence_holders, unit_stems
from dedup.batch_words import load_kernels as load_clean_kernels
from dedup.candidates import (
    CandidateSettings,
    SpilledRows,
    article_signatures,
    banded_pair_codes,
    load_pool_kernels,
    neighbour_block_pairs,
    pair_codes,
    posting_lists,
    sentence_signatures,
    sorted_unique,
    tfidf_suffix,
    unit_stem_sizes,
    unit_stories,
)
from dedup.clean import CleanArticle, clean_article, frequent_lines, short_line_counts
from dedup.compressed import CompressedTexts
from dedup.engine import default_workers, paused_collection, return_free_memory, run_batches, walks_backward
from dedup.errors import DedupError, NoArticlesError, SettingsError
from dedup.grouping import group, wire_versions
from dedup.model import (
    Article,
    Cluster,
    PairVerdict,
    Passage,
    PassageColumns,
    PassageSequence,
    PassageTable,
    Result,
    Skipped,
)
from dedup.origin import DirectedEdge, OriginSettings, build_cluster, measure_members
from dedup.score import ScoreSettings, could_relate, judge
from dedup.similarity import (
    N_FEATURES,
    PackedCounts,
    SpilledCounts,
    article_counts,
    article_vectors,
    cached_word_features,
    freeze_word_features,
    remember_word_features,
    sentence_counts,
    sentence_frequencies,
    sentence_idf,
    stack_rows,
    weigh_sentence_counts,
)
from dedup.sketch import SCHEME, SketchSettings
from dedup.store.cleaned import StoredFacts, clean_bytes, cleaned_from_bytes
from dedup.text import content_stems

log = logging.getLogger(__name__)
Progress = Callable[[str, int], Callable[[int], None]]


def _has_field(part: Any, name: str) -> bool:
    return dataclasses.is_dataclass(part) and name in {f.name for f in dataclasses.fields(part)}


@dataclass(slots=True, frozen=True)
class Settings:
    """Every parameter of a run, grouped by stage; ``Settings.with_overrides`` sets them by name."""

    sketch: SketchSettings = field(default_factory=SketchSettings)
    candidates: CandidateSettings = field(default_factory=CandidateSettings)
    align: AlignSettings = field(default_factory=AlignSettings)
    score: ScoreSettings = field(default_factory=ScoreSettings)
    origin: OriginSettings = field(default_factory=OriginSettings)
    boilerplate_min_articles: int = 3
    # a repeated line that is a piece of a hard-wrapped paragraph stays story text (off: on METER dev it makes the
    # reported spans more correct but moves the decisions down on both story halves; docs/algorithm.md)
    keep_wrapped_repeated_lines: bool = False
    group_wire_versions: bool = True  # wire takes under one slug start as one cluster

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the named parameters changed.

        A name is a field of one stage (``whole_coverage``) or ``stage__field`` (``align__sentence_threshold``,
        scikit-learn's convention); a bare name that two stages share is refused as ambiguous.
        """
        stages = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        changed: dict[str, Any] = {}
        for name, value in overrides.items():
            stage_name, _, field_name = name.rpartition("__")
            if stage_name:
                owners = [stage_name] if stage_name in stages and _has_field(stages[stage_name], field_name) else []
            else:
                owners = [stage for stage, part in stages.items() if _has_field(part, field_name)]
            if len(owners) > 1:
                qualified = " or ".join(f"{owner}__{field_name}" for owner in owners)
                raise SettingsError(f"ambiguous setting {name!r}: say {qualified}")
            if owners:
                part = changed.get(owners[0], stages[owners[0]])
                changed[owners[0]] = dataclasses.replace(part, **{field_name: value})
            elif not stage_name and name in stages and not dataclasses.is_dataclass(stages[name]):
                changed[name] = value
            else:
                raise SettingsError(f"unknown setting {name!r}")
        return dataclasses.replace(self, **changed)

    def as_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["sketch"]["scheme"] = SCHEME
        return values


def _as_article(item: Article | Mapping[str, Any]) -> Article:
    if isinstance(item, Article):
        return item
    if not isinstance(item, Mapping) or not isinstance(item.get("text"), str) or "id" not in item:
        raise DedupError("an article must be an Article or a mapping with 'id' and 'text'")
    known = {f.name for f in dataclasses.fields(Article)} - {"extra"}
    return Article(**{k: item[k] for k in known if k in item}, extra={k: v for k, v in item.items() if k not in known})


def _no_progress(label: str, total: int) -> Callable[[int], None]:
    return lambda advance: None


Group = tuple[int, list[int]]  # a source article and its target articles
Pair = tuple[int, int]  # a source article and a target article
MIN_BATCH_PAIRS = 16  # pairs per batch sent to a worker, at least
MIN_PARALLEL_PAIRS = 256  # below this, starting worker processes costs more than it saves
MIN_PARALLEL_ARTICLES = 200
KERNEL_MIN_PAIRS = 15_000  # candidate pairs from which the compiled kernels pay their ~0.8 s load (docs/scale.md)
# articles from which the clean stage's compiled sentence holders (``batch_words.load_kernels``) pay numba's load
# (~0.5 CPU s a process, once): they save ~0.4 M instructions an article (docs/scale.md, stop 25, clean25)
CLEAN_KERNEL_MIN_ARTICLES = 10_000


def _groups(pairs: list[tuple[int, int]], batch_pairs: int) -> list[list[Group]]:
    """(source, targets) groups of directed pairs, in pair order, cut into batches of about ``batch_pairs``."""
    groups: list[Group] = []
    for source, target in pairs:
        if groups and groups[-1][0] == source:
            groups[-1][1].append(target)
        else:
            groups.append((source, [target]))
    batches: list[list[Group]] = []
    size = batch_pairs
    for item in groups:
        if size >= batch_pairs:
            batches.append([])
            size = 0
        batches[-1].append(item)
        size += len(item[1])
    return batches


def _pass_in_pair_order(
    function: Callable[[Any, list[Group]], list[Any]],
    shared: Any,
    pairs: list[Pair] | np.ndarray,
    batch_pairs: int,
    sides: PreparedArticles,
    workers: int,
    tick: Callable[[int], None],
    reduced: Callable[[Any], Any] | None = None,
    held_pickled: bool = False,
    ended: Callable[[], None] | None = None,
) -> list[Any]:
    """One pass of ``function`` over the (source, targets) groups of ``pairs``, run in :func:`_local_batches`'
    order on the workers, its results (one per pair) put back in the order of ``pairs``; with ``reduced``, each
    result is replaced by ``reduced(result)`` as it arrives (what the caller will read of it); ``held_pickled``:
    the results held pickled until the workers end, ``ended`` called then (``engine.run_batches``)."""
    pass_batches, pair_order = _local_batches(pairs, batch_pairs, len(sides.corpus))
    # each batch's pairs counted now: the progress reads the number, not the batch's objects, which a read after
    # the workers fork would copy (a reference count written on a page they share)
    sizes = [sum(len(targets) for _, targets in batch) for batch in pass_batches]
    results: list[Any] = [None] * len(pairs)
    step = 1 << 16  # the pair numbers as Python ints a block at a time, not all of them through the pass
    numbers = (
        number for begin in range(0, len(pair_order), step) for number in pair_order[begin : begin + step].tolist()
    )
    for number, item in zip(
        numbers,
        run_batches(
            function,
            shared,
            sides.schedule(pass_batches),
            workers=workers if len(pairs) >= MIN_PARALLEL_PAIRS else 1,
            done=lambda batch: tick(sizes[batch[0]]),
            each=reduced,
            from_both_ends=BOTH_ENDS,
            held_pickled=held_pickled,
            ended=ended,
        ),
        strict=True,
    ):
        results[number] = item
    return results


def _local_batches(
    pairs: list[Pair] | np.ndarray, batch_pairs: int, count: int
) -> tuple[list[list[Group]], np.ndarray]:
    """:func:`_groups` of ``pairs`` (tuples, or (source, target) rows; of ``count`` articles) in an order that
    keeps each article's uses near one another, and the pair numbers in that order (the results go back to pair
    order by them).

    The order is :func:`pass_order`'s: articles in regions of at most :data:`REGION_ARTICLES` that hold most of
    their candidate pairs, region after region. A (source, targets) group is split by the region of its targets
    (one sentence product per piece, its targets in pair order), and each piece is placed in its targets' region, by
    the earliest of its articles there: a pair across two regions brings its source into its target's region, one
    preparation for all its targets there, where a whole group placed at its earliest article brought every other
    article of the group into that one's region (100k: 2.41 preparations an article with both ends, 1.78 now).
    """
    if len(pairs) == 0:
        return [], np.zeros(0, dtype=np.int64)
    edges = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    rank, region = pass_order(edges, count)
    source, target = edges[:, 0], edges[:, 1]
    run = np.concatenate(([0], np.cumsum(source[1:] != source[:-1])))  # a _groups group: a run of one source
    part = region[target]
    within = np.lexsort((np.arange(len(edges)), part, run))  # the pairs of each (group, region), in pair order
    run_sorted, part_sorted = run[within], part[within]
    starts = np.flatnonzero(
        np.concatenate(([True], (run_sorted[1:] != run_sorted[:-1]) | (part_sorted[1:] != part_sorted[:-1])))
    )
    ends = np.concatenate((starts[1:], [len(edges)]))
    piece_source = source[within[starts]]
    key = np.minimum.reduceat(rank[target[within]], starts)
    key = np.where(region[piece_source] == part_sorted[starts], np.minimum(key, rank[piece_source]), key)
    batches: list[list[Group]] = []
    pieces: list[np.ndarray] = []
    size = batch_pairs
    for k in np.argsort(key, kind="stable").tolist():
        numbers = within[starts[k] : ends[k]]
        pieces.append(numbers)
        if size >= batch_pairs:
            batches.append([])
            size = 0
        batches[-1].append((int(piece_source[k]), target[numbers].tolist()))
        size += len(numbers)
    return batches, np.concatenate(pieces)


REGION_ARTICLES = 1000  # articles of a pass region at most (half of MOST_SIDES: a region's sides fit in a process)


def pass_order(edges: np.ndarray, count: int, most: int = REGION_ARTICLES) -> tuple[np.ndarray, np.ndarray]:
    """Each article's place in a pass over the candidate pairs ``edges`` (of ``count`` articles), and its region.

    Regions: the candidate graph's communities by label propagation (:func:`propagated_labels`), merged while
    they stay within ``most`` articles, the pairs of communities with the most pairs between them (for their sizes)
    first (:func:`merged_regions`). Regions come in a reverse Cuthill-McKee order of the graph of regions, and
    articles within one by a reverse Cuthill-McKee order of the whole graph (a bandwidth-reducing order: neighbours
    get near numbers). The whole graph's order alone (stops 14-18) keeps a band of 37.8k articles live at once at
    100k: its one giant component is an expander of stories glued by TF-IDF and shared-sentence pairs, and with
    :data:`MOST_SIDES` held a side was prepared 2.4 times; a region fits in what a process holds.
    """
    graph = sparse.csr_matrix((np.ones(len(edges), dtype=np.int8), (edges[:, 0], edges[:, 1])), shape=(count, count))
    graph = (graph + graph.T).tocsr()
    within = np.empty(count, dtype=np.int64)
    within[reverse_cuthill_mckee(graph, symmetric_mode=True)] = np.arange(count)
    regions = np.unique(merged_regions(edges, propagated_labels(graph), most), return_inverse=True)[1].ravel()
    between = sparse.csr_matrix(
        (np.ones(len(edges), dtype=np.int8), (regions[edges[:, 0]], regions[edges[:, 1]])),
        shape=(int(regions.max()) + 1,) * 2,
    )
    between = (between + between.T).tocsr()
    region_rank = np.empty(between.shape[0], dtype=np.int64)
    region_rank[reverse_cuthill_mckee(between, symmetric_mode=True)] = np.arange(between.shape[0])
    rank = np.empty(count, dtype=np.int64)
    rank[np.lexsort((within, region_rank[regions]))] = np.arange(count)
    return rank, region_rank[regions]


def propagated_labels(graph: sparse.csr_matrix, rounds: int = 10) -> np.ndarray:
    """Communities of ``graph`` (symmetric) by label propagation: each article takes the label most of its
    neighbours and itself hold, ties to the smaller label; the even articles move in even rounds, the odd ones in
    odd rounds (all at once, two neighbours could swap labels forever), until none moves or ``rounds`` are done."""
    count = graph.shape[0]
    labels = np.arange(count, dtype=np.int64)
    rows = np.concatenate((np.repeat(np.arange(count, dtype=np.int64), np.diff(graph.indptr)), np.arange(count)))
    columns = np.concatenate((graph.indices.astype(np.int64), np.arange(count)))
    for step in range(rounds):
        values, holders = np.unique(rows * count + labels[columns], return_counts=True)
        owner, label = values // count, values % count
        order = np.lexsort((label, -holders, owner))  # per article, its most held label first
        owner, label = owner[order], label[order]
        firsts = np.flatnonzero(np.concatenate(([True], owner[1:] != owner[:-1])))
        best = labels.copy()
        best[owner[firsts]] = label[firsts]
        moving = np.arange(count) % 2 == step % 2
        changed = np.count_nonzero(best[moving] != labels[moving])
        labels[moving] = best[moving]
        if step and not changed:
            break
    return labels


def merged_regions(edges: np.ndarray, labels: np.ndarray, most: int) -> np.ndarray:
    """``labels`` (communities) merged greedily into regions of at most ``most`` articles: pairs of communities in
    decreasing order of the pairs between them over the geometric mean of their sizes, each merged when the union
    stays within ``most`` (a community larger than ``most`` stays as it is). Each article's region, by label."""
    count = len(labels)
    parent = np.arange(count)
    size = np.bincount(labels, minlength=count)
    first, second = labels[edges[:, 0]], labels[edges[:, 1]]
    apart = first != second
    keys, weights = np.unique(
        np.minimum(first, second)[apart] * count + np.maximum(first, second)[apart], return_counts=True
    )
    first, second = keys // count, keys % count
    order = np.argsort(-weights / np.sqrt(size[first] * size[second]), kind="stable")

    def root(label: int) -> int:
        while parent[label] != label:
            parent[label] = parent[parent[label]]
            label = int(parent[label])
        return label

    for one, other in zip(first[order].tolist(), second[order].tolist(), strict=True):
        one, other = root(one), root(other)
        if one != other and size[one] + size[other] <= most:
            if size[one] < size[other]:
                one, other = other, one
            parent[other] = one
            size[one] += size[other]
    return np.array([root(label) for label in range(count)], dtype=np.int64)[labels]


def line_counts_batch(shared: None, batch: list[Article]) -> list[Counter[str]]:
    """How many articles of the batch hold each short line (furniture candidates)."""
    return [short_line_counts(article.text for article in batch)]


@dataclass(slots=True)
class CleanBatch:
    """What the per-article stages give for a batch, compact (nothing a Python object per token or sentence):
    each cleaned article's stored form (``store.cleaned.clean_bytes``, a few hundred bytes) and unit count, the
    batch's share of the sentence n-grams' document frequencies, its articles' stem counts, what
    ``candidates.sentence_stories`` reads of its units, and its signatures."""

    compact: list[bytes]
    units: np.ndarray  # evidence units of each article
    features: np.ndarray  # sentence n-gram features of the batch, and how many of its units hold each
    holders: np.ndarray
    stem_counts: sparse.csr_matrix | PackedCounts  # ``similarity.article_counts``, packed where it can be
    unit_sizes: np.ndarray  # ``candidates.unit_stem_sizes``
    short_units: list[bytes | frozenset[str]]  # ``candidates.short_unit_key`` of each short unit
    article_rows: np.ndarray
    sentence_rows: np.ndarray
    sentence_owners: np.ndarray  # index of each sentence row's article within the batch
    # the hashed features of the words this worker met first in this batch (``similarity.cached_word_features``)
    words: tuple[list[str], np.ndarray, np.ndarray] = ([], np.zeros(0, np.int64), np.zeros(0, np.int32))


def clean_batch(shared: tuple[frozenset[str], SketchSettings, bool], batch: list[Article]) -> list[CleanBatch]:
    """Clean a batch of articles, count the character n-grams of their sentences, sketch them.

    Equal to :func:`reference_clean_batch` (tested, every field and dtype): the batch's evidence tokens are made ids
    of its distinct words once (``batch_words``), and the sentence frequencies, stem counts, unit stem sets and
    sentence signatures read the ids instead of a pass of Python over the tokens each.
    """
    repeated, sketch, keep_wrapped = shared
    # their stems are not read: the pieces below take each distinct word's stem once
    cleaned = [
        clean_article(article, repeated, keep_wrapped_repeated=keep_wrapped, with_stems=False, interned=False)
        for article in batch
    ]
    evidence = evidence_words(cleaned)
    features, holders = sentence_holders(evidence)
    stems = content_stems(evidence.words)
    unit_sizes, short_units, sentence_rows, sentence_owners = unit_stems(evidence, stems, sketch)
    return [
        CleanBatch(
            [clean_bytes(article) for article in cleaned],
            evidence.article_units,
            features,
            holders,
            PackedCounts.of(evidence_article_counts(evidence, stems) if cleaned else article_counts(cleaned)),
            unit_sizes,
            short_units,
            article_rows(cleaned, sketch),
            sentence_rows,
            sentence_owners,
            cached_word_features(_words_to_hand_back(evidence.words)),
        )
    ]


def _words_to_hand_back(words: Iterable[str]) -> list[str]:
    """Those of ``words`` this worker has not handed back yet, sorted, remembered as handed back."""
    if len(_WORDS_HANDED_BACK) > 1_000_000:  # a long-lived process: forget, and hand some back twice
        _WORDS_HANDED_BACK.clear()
    new_words = sorted(set(words).difference(_WORDS_HANDED_BACK))
    _WORDS_HANDED_BACK.update(new_words)
    return new_words


def reference_clean_batch(
    shared: tuple[frozenset[str], SketchSettings, bool], batch: list[Article]
) -> list[CleanBatch]:
    """The readable reference of :func:`clean_batch`: each piece from the cleaned articles by its own function."""
    repeated, sketch, keep_wrapped = shared
    cleaned = [clean_article(article, repeated, keep_wrapped_repeated=keep_wrapped) for article in batch]
    features, holders = sentence_frequencies(sentence_counts(cleaned))
    met: set[str] = set()  # the evidence words, a sentence's slice at a time
    for article in cleaned:
        for s in article.sentences:
            met.update(article.tokens.words[s.first : s.last])
    return [
        CleanBatch(
            [clean_bytes(article) for article in cleaned],
            np.array([len(article.sentences) for article in cleaned], dtype=np.int64),
            features,
            holders,
            PackedCounts.of(article_counts(cleaned)),
            *unit_stem_sizes(cleaned, sketch.min_sentence_stems),
            article_signatures(cleaned, sketch),
            *sentence_signatures(cleaned, sketch),
            cached_word_features(_words_to_hand_back(met)),
        )
    ]


_WORDS_HANDED_BACK: set[str] = set()  # the words whose features this clean worker has handed back already


def _joined(parts: Iterable[bytes]) -> tuple[bytearray, np.ndarray]:
    """``parts`` as one buffer and the offsets where each starts (and the last ends), without a list of them."""
    buffer, offsets = bytearray(), [0]
    for part in parts:
        buffer += part
        offsets.append(len(buffer))
    return buffer, np.array(offsets, dtype=np.int64)


def _fields(article: Article) -> bytes:
    """The fields the stages read besides the text (id, outlet, date), as ``CleanedCorpus`` holds them."""
    return json.dumps([article.id, article.outlet, article.published], ensure_ascii=False).encode(
        "utf-8", "surrogatepass"
    )


class ArticleStore:
    """The articles of a run as they are read, in flat buffers (texts as UTF-8, each compressed on its own:
    ``compressed.CompressedTexts``; id, outlet and date as JSON): what the stages read of them, ~0.4 byte a
    character, where the ``Article`` objects a reader makes are ~2.2 KB each with their other fields, held for the
    whole run before. Taken in one at a time (:meth:`add`: the first of each id), put in id order once
    (:meth:`sort`), decoded a batch at a time where a stage reads them — in the worker, from the buffers it
    inherited — and handed whole to :class:`CleanedCorpus` (the same buffers, not a copy)."""

    def __init__(self) -> None:
        self.texts = CompressedTexts()
        self.fields, self.field_offsets = bytearray(), array("q", [0])
        self.positions: dict[str, int] = {}  # id → position, while reading
        self.ids: list[str] = []  # ids in the buffers' order

    def add(self, article: Article) -> bool:
        """Take ``article`` in; False (and nothing taken) when an article of its id was taken already."""
        if article.id in self.positions:
            return False
        self.positions[article.id] = len(self.ids)
        self.ids.append(article.id)
        self.texts.append(article.text.encode("utf-8", "surrogatepass"))
        self.fields += _fields(article)
        self.field_offsets.append(len(self.fields))
        return True

    def __len__(self) -> int:
        return len(self.ids)

    def sort(self) -> None:
        """Put the articles in id order (the run's order; the buffers are copied only if they were not in it),
        once they are all read, and the compressed texts in a file (``CompressedTexts.spill``)."""
        self.positions = {}
        self.texts.finish()
        order = sorted(range(len(self.ids)), key=self.ids.__getitem__)
        if order != list(range(len(order))):
            self.texts = self.texts.reordered(order)
            self.fields, self.field_offsets = _reordered(self.fields, self.field_offsets, order)
            self.ids = [self.ids[k] for k in order]
        # read from a file from now on (~0.85 KB an article out of memory, from the clean stage to the output)
        self.texts.spill()

    def article(self, index: int) -> Article:
        """Article ``index`` with the fields the stages read (id, text, outlet, date)."""
        text = self.texts[index].decode("utf-8", "surrogatepass")
        fields = self.fields[self.field_offsets[index] : self.field_offsets[index + 1]]
        key, outlet, published = json.loads(fields.decode("utf-8", "surrogatepass"))
        return Article(key, text, outlet=outlet, published=published)

    def batch(self, bounds: tuple[int, int]) -> list[Article]:
        return [self.article(index) for index in range(*bounds)]


def _reordered(buffer: bytearray, offsets: array, order: list[int]) -> tuple[bytearray, array]:
    """The parts of ``buffer`` (between ``offsets``) in ``order``, with their offsets."""
    joined, ends = _joined(bytes(buffer[offsets[k] : offsets[k + 1]]) for k in order)
    return joined, array("q", ends.tolist())


def line_counts_stored(shared: ArticleStore, batch: tuple[int, int]) -> list[Counter[str]]:
    """:func:`line_counts_batch` of the stored articles ``batch`` (begin, end)."""
    return line_counts_batch(None, shared.batch(batch))


def clean_stored(
    shared: tuple[ArticleStore, tuple[frozenset[str], SketchSettings, bool]], batch: tuple[int, int]
) -> list[CleanBatch]:
    """:func:`clean_batch` of the stored articles ``batch`` (begin, end)."""
    store, settings = shared
    return clean_batch(settings, store.batch(batch))


class CleanedCorpus:
    """Every cleaned article of a run in its stored form (``store.cleaned``: a few hundred bytes instead of ~16 KB
    of Python objects), rebuilt where it is used: in the worker that aligns a pair, for the members of a cluster.

    Built from ``articles`` (as read, in order), ``compact`` (their ``clean_bytes``) and ``units`` (each one's
    evidence units); ``idf``: the sentence n-grams' idf over the run (:meth:`rows` weighs an article's sentences
    with it, as the whole corpus's matrix would); ``stories``: every unit's ``sentence_stories`` in order, or None.
    Everything is held in a few flat buffers — the forms, the texts as UTF-8, the other fields as JSON — that forked
    workers read without writing: a worker that read the parent's ``Article`` objects would write their reference
    counts and so copy every page of them it touched (most of the texts, over a pass).
    """

    def __init__(
        self,
        articles: list[Article] | ArticleStore,
        compact: list[bytes],
        units: np.ndarray,
        idf: np.ndarray,
        stories: np.ndarray | None = None,
    ) -> None:
        self.count = len(articles)
        self.forms, self.form_offsets = _joined(compact)
        if isinstance(articles, ArticleStore):  # the same buffers, in order already: taken as they are
            self.texts = articles.texts
            self.fields, self.field_offsets = articles.fields, np.frombuffer(articles.field_offsets, dtype=np.int64)
        else:
            self.texts = CompressedTexts(article.text.encode("utf-8", "surrogatepass") for article in articles)
            self.texts.finish()
            self.fields, self.field_offsets = _joined(_fields(article) for article in articles)
        self.bounds = np.concatenate(([0], np.cumsum(units, dtype=np.int64)))
        self.idf = idf
        self.stories = None if stories is None else _narrowest(np.asarray(stories))

    @classmethod
    def of(cls, cleaned: list[CleanArticle]) -> CleanedCorpus:
        """The corpus of ``cleaned`` articles (their ``sentence_stories`` kept when set): for tests and callers
        that hold the objects."""
        counts = sentence_counts(cleaned)
        features, holders = sentence_frequencies(counts)
        frequency = np.zeros(N_FEATURES, dtype=np.int64)
        frequency[features] = holders
        stories = [value for article in cleaned for value in article.sentence_stories]
        counted = all(len(a.sentence_stories) == len(a.sentences) for a in cleaned) and any(
            a.sentence_stories for a in cleaned
        )
        return cls(
            [Article(a.id, a.text, outlet=a.outlet, published=a.published) for a in cleaned],
            [clean_bytes(article) for article in cleaned],
            np.array([len(article.sentences) for article in cleaned], dtype=np.int64),
            sentence_idf(frequency, counts.shape[0]),
            np.array(stories, dtype=np.int32) if counted else None,
        )

    def __len__(self) -> int:
        return self.count

    def article(self, index: int) -> Article:
        """Article ``index`` as the pipeline reads it (id, text, outlet, published), from the buffers."""
        text = self.texts[index].decode("utf-8", "surrogatepass")
        begin, end = int(self.field_offsets[index]), int(self.field_offsets[index + 1])
        key, outlet, published = json.loads(self.fields[begin:end].decode("utf-8", "surrogatepass"))
        return Article(key, text, outlet=outlet, published=published)

    def cleaned(self, index: int) -> CleanArticle:
        """Article ``index`` cleaned: equal to what ``clean_article`` made of it in the run (tested)."""
        form = self.forms[int(self.form_offsets[index]) : int(self.form_offsets[index + 1])]
        cleaned = cleaned_from_bytes(form, self.article(index))
        if self.stories is not None:
            cleaned.sentence_stories = self.stories[int(self.bounds[index]) : int(self.bounds[index + 1])].tolist()
        return cleaned

    def facts(self, index: int) -> StoredFacts:
        """What origin inference reads of article ``index`` (:class:`dedup.store.cleaned.StoredFacts`), from its
        stored form and fields; its text decoded and tokenized only if its tokens are read."""
        begin, end = int(self.field_offsets[index]), int(self.field_offsets[index + 1])
        key, outlet, published = json.loads(self.fields[begin:end].decode("utf-8", "surrogatepass"))
        return StoredFacts(
            self.forms[int(self.form_offsets[index]) : int(self.form_offsets[index + 1])],
            key,
            published,
            outlet,
            lambda: self.texts[index].decode("utf-8", "surrogatepass"),
        )

    def by_id(self, indices: Mapping[str, int]) -> CleanedMembers:
        """What ``origin`` reads of the articles ``indices`` (id → index), by id, each when first read
        (:meth:`facts`: measuring a cluster reads only its derived members and their sources)."""
        return CleanedMembers(self, indices)

    def rows(self, cleaned: list[CleanArticle]) -> list[sparse.csr_matrix]:
        """The sentence rows of each of ``cleaned`` (articles of this corpus), weighed in one go: equal bit for bit
        to their rows in ``similarity.sentence_matrix`` of the whole corpus (every step is row by row; tested).
        Each article's rows are copied out of the batch's arrays directly (scipy's row slicing costs ~50 µs a call;
        views would keep a whole batch's rows alive as long as any of its sides)."""
        weighted = weigh_sentence_counts(sentence_counts(cleaned), self.idf)
        bounds = np.cumsum([0] + [len(article.sentences) for article in cleaned]).tolist()
        indptr = weighted.indptr
        found = []
        for k in range(len(cleaned)):
            first, last = bounds[k], bounds[k + 1]
            begin, end = int(indptr[first]), int(indptr[last])
            rows = sparse.csr_matrix((last - first, N_FEATURES), dtype=weighted.dtype)
            rows.data, rows.indices = weighted.data[begin:end].copy(), weighted.indices[begin:end].copy()
            rows.indptr = (indptr[first : last + 1] - begin).astype(indptr.dtype)
            rows.has_sorted_indices = True  # sentence_counts makes them sorted
            found.append(rows)
        return found


class CorpusTexts(Mapping[str, str]):
    """The texts of a :class:`CleanedCorpus` by id, each decompressed and decoded when looked up (the last few
    kept: passages come grouped by target and source). Holds the texts, not the corpus's other parts."""

    KEPT = 4

    def __init__(self, corpus: CleanedCorpus, index: Mapping[str, int]) -> None:
        self.texts = corpus.texts
        self.index = index
        self.recent: dict[str, str] = {}

    def __getitem__(self, key: str) -> str:
        text = self.recent.get(key)
        if text is None:
            text = self.texts[self.index[key]].decode("utf-8", "surrogatepass")
            if len(self.recent) >= self.KEPT:
                del self.recent[next(iter(self.recent))]
            self.recent[key] = text
        return text

    def __iter__(self) -> Iterator[str]:
        return iter(self.index)

    def __len__(self) -> int:
        return len(self.index)


class CleanedMembers(Mapping[str, CleanArticle]):
    """Some articles of a :class:`CleanedCorpus` by id, as origin inference reads them (:meth:`CleanedCorpus.facts`:
    what it reads equal to the cleaned article's), each made when first read: not cleaned again, their texts not
    tokenized unless their tokens are read (stop 23: re-cleaning was most of the cluster and assembly stages)."""

    def __init__(self, corpus: CleanedCorpus, indices: Mapping[str, int]) -> None:
        self.corpus = corpus
        self.indices = indices
        self.known: dict[str, StoredFacts] = {}

    def __getitem__(self, key: str) -> CleanArticle:
        found = self.known.get(key)
        if found is None:
            found = self.known[key] = self.corpus.facts(self.indices[key])
        return found  # type: ignore[return-value]  # the attributes origin inference reads

    def __iter__(self) -> Iterator[str]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class IncomingPassages(Mapping[str, list[Passage]]):
    """Each member's incoming passages (its edges' sequences by target, in edge order), a member's list made when it
    is read: measuring a cluster reads only its derived members' (``origin.measure_members``)."""

    def __init__(self, sequences: dict[str, list[Sequence[Passage]]]) -> None:
        self.sequences = sequences

    def __getitem__(self, key: str) -> list[Passage]:
        return [passage for sequence in self.sequences[key] for passage in sequence]

    def __iter__(self) -> Iterator[str]:
        return iter(self.sequences)

    def __len__(self) -> int:
        return len(self.sequences)


def tfidf_batch(
    shared: tuple[sparse.csr_matrix, sparse.csr_matrix, sparse.csr_matrix | None, CandidateSettings],
    batch: tuple[int, int],
) -> list[np.ndarray]:
    """TF-IDF neighbour pairs of one block of articles as sorted ``candidates.pair_codes`` over the vectors' rows
    (``shared``: the vectors, their ``posting_lists`` (capped only for the pruned search), their ``tfidf_suffix``
    for the pruned search or None for the exact one, and the settings)."""
    vectors, transposed, suffix, settings = shared
    k, threshold, pool = settings.tfidf_neighbours, settings.tfidf_threshold, settings.tfidf_pool
    found = np.array(list(neighbour_block_pairs(vectors, suffix, *batch, k, threshold, pool, transposed)), np.int64)
    found = found.reshape(-1, 2)  # sorted_unique below sorts the codes
    return [sorted_unique(pair_codes(found[:, 0], found[:, 1], vectors.shape[0]))]


_NO_COUNTS = sparse.csr_matrix((0, 0))  # a part's stem counts once taken (``SpilledCounts`` holds them)


def _firsts(parts: list[CleanBatch]) -> list[int]:
    """The run's index of each part's first article."""
    return np.cumsum([0] + [len(part.units) for part in parts]).tolist()[:-1]


def _taken(parts: list[CleanBatch], name: str, empty: Any) -> list[Any]:
    """Each part's ``name``, left ``empty`` in the part: the list is then the only holder of each value, so that
    whoever consumes it can free each value once used."""
    taken = []
    for part in parts:
        taken.append(getattr(part, name))
        setattr(part, name, empty)
    return taken


def _stacked_rows(parts: list[CleanBatch], name: str) -> np.ndarray:
    """The parts' signature rows ``name`` stacked (``np.vstack``), each part's freed once copied: the parts and
    the whole are not held at once (the sentence rows: 256 bytes a unit, ~0.5 GB at 100k articles)."""
    pieces = _taken(parts, name, np.zeros((0, 0), dtype=np.uint32))
    width = pieces[0].shape[1] if pieces else 0
    stacked = np.empty((sum(len(piece) for piece in pieces), width), dtype=np.uint32)
    at = freed = 0
    pieces.reverse()
    while pieces:
        piece = pieces.pop()
        stacked[at : at + len(piece)] = piece
        at += len(piece)
        freed += piece.nbytes
        del piece
        if freed >= _TRIM_BYTES:  # the parts came unpickled into the C heap: their pages go back only when trimmed
            return_free_memory()
            freed = 0
    return stacked


_TRIM_BYTES = 32 << 20  # parts freed between two trims of the heap while stacking


def _narrowed(values: np.ndarray) -> np.ndarray:
    """``values`` (int64 sizes or places) as ``uint16`` when every one fits (2 bytes each instead of 8), else as they
    are: the same numbers, for a reader that widens them (``astype``) before it computes with them."""
    if values.dtype == np.int64 and (not len(values) or (int(values.min()) >= 0 and int(values.max()) < 1 << 16)):
        return values.astype(np.uint16)
    return values


def _narrowest(counts: np.ndarray) -> np.ndarray:
    """Non-negative integer ``counts`` in the narrowest unsigned type that holds them (the sentence stories, counted
    up to ``stock_min_stories``: a byte each, where int32 held 4 for the whole run), others as int32 as before."""
    if counts.dtype.kind in "iu" and (not len(counts) or int(counts.min()) >= 0):
        return counts.astype(np.min_scalar_type(int(counts.max(initial=0))), copy=False)
    return counts.astype(np.int32)


def _pruned_tfidf(settings: CandidateSettings, articles: int) -> bool:
    """Whether the run takes the pruned TF-IDF search (``tfidf_guarantee``) rather than the exact one."""
    return settings.tfidf_guarantee > 0 and articles >= settings.tfidf_pruned_from


class _StageClock:
    """Logs (debug) the wall seconds of each stage since the previous call, and the memory held then."""

    def __init__(self, articles: int) -> None:
        self.articles = articles
        self.last = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        log.debug("stage %s: %.2fs (%d articles)%s", name, now - self.last, self.articles, _resident())
        self.last = now


def _log_step() -> Callable[[str], None]:
    """A step clock for a stage's steps: logs (debug) each step's wall and CPU seconds of this process since the
    previous step (or since it was made), and the memory held then."""
    last = [time.perf_counter(), time.process_time()]

    def step(name: str) -> None:
        now = [time.perf_counter(), time.process_time()]
        log.debug("step %s: %.2fs (CPU %.2fs)%s", name, now[0] - last[0], now[1] - last[1], _resident())
        last[:] = now

    return step


class _Entry:
    """A dict's key and value, walked together by :func:`_held_bytes` (a dict holds no tuple of them)."""

    __slots__ = ("entry",)

    def __init__(self, entry: tuple[Any, Any]) -> None:
        self.entry = entry


_SAMPLED = 300  # items of a large container walked by _held_bytes; the rest counted as their mean
HELD = 5  # the log level of the "held" lines (below DEBUG: benchmarks/memory.py asks for them, scale.py does not)


def _held_bytes(value: Any, seen: set[int] | None = None) -> int:
    """Bytes held by one of the pipeline's structures, for the stage log: arrays and sparse matrices by their
    buffers; Python objects as CPython lays them out (``sys.getsizeof``), walked into (containers, dataclasses,
    objects with slots), each object once; a container of more than ``_SAMPLED`` items, at any depth,
    counted from an even sample of them (an estimate: a log line must not walk a million verdicts)."""
    seen = set() if seen is None else seen
    if isinstance(value, _Entry):  # not noted as seen: a made entry's id is reused once it is freed
        return _held_bytes(value.entry[0], seen) + _held_bytes(value.entry[1], seen)
    if id(value) in seen or value is None or isinstance(value, (bool, type)):
        return 0
    seen.add(id(value))
    if isinstance(value, (np.ndarray, CompressedTexts, PackedCounts, SpilledCounts)):
        return value.nbytes
    if sparse.issparse(value):
        return sum(getattr(value, name).nbytes for name in ("data", "indices", "indptr") if hasattr(value, name))
    size = sys.getsizeof(value)
    if isinstance(value, (str, bytes, bytearray, int, float, array)):
        return size
    if isinstance(value, dict):  # a key and its value together, as one item
        items: Any = (_Entry(entry) for entry in value.items())
        count = len(value)
    elif isinstance(value, (list, tuple, set, frozenset)):
        items, count = value, len(value)
    elif dataclasses.is_dataclass(value):
        items = [getattr(value, f.name) for f in dataclasses.fields(value)]
        count = len(items)
        if hasattr(value, "__dict__"):
            size += sys.getsizeof(value.__dict__)
    elif hasattr(type(value), "__slots__"):  # PackedPassages, PassageTable
        items = [getattr(value, name) for name in type(value).__slots__ if hasattr(value, name)]
        count = len(items)
    else:
        return size
    if count > _SAMPLED:
        step = count / _SAMPLED
        picked = {int(k * step) for k in range(_SAMPLED)}
        sample = [item for k, item in enumerate(items) if k in picked]
        return size + round(sum(_held_bytes(item, seen) for item in sample) * count / len(sample))
    return size + sum(_held_bytes(item, seen) for item in items)


def _log_held(where: str, **structures: Any) -> None:
    """Logs (debug) the megabytes each named structure holds (an object two of them hold, under the first name):
    where the run's memory goes."""
    if log.isEnabledFor(HELD):
        seen: set[int] = set()
        sizes = ", ".join(f"{name} {_held_bytes(value, seen) / 1e6:.1f}" for name, value in structures.items())
        log.log(HELD, "held %s (MB): %s%s", where, sizes, _resident())


def _resident() -> str:
    """This process's resident memory now and its peak so far, where the system tells them (Linux ``/proc``), for
    the stage log (the stage whose peak is higher than the previous stage's made a transient high)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            sizes = {
                line.split(":")[0]: int(line.split()[1]) for line in handle if line.startswith(("VmRSS:", "VmHWM:"))
            }
        return f", RSS {sizes['VmRSS'] * 1024 / 1e9:.2f} GB (peak {sizes['VmHWM'] * 1024 / 1e9:.2f})"
    except (OSError, ValueError, IndexError, KeyError):
        return ""


# Whether the judge and passage passes hand each worker one stretch of the local order (engine.run_batches'
# from_both_ends) instead of the pool's every-other batch. On: with the passes region by region (pass_order), the
# pool's dealing splits every region between the workers and each prepares most of its articles; from both ends a
# region stays in one worker (simulated, 100k: 2.20 -> 1.78 preparations an article; 10k 1.45 -> 1.10; stop 19,
# docs/scale.md). Stop 18 had it off: with the RCM order whole runs were not faster with it.
BOTH_ENDS = True
MOST_SIDES = 2000  # prepared sides a process holds at most (~90 KB each: its cleaned article, rows, lookups)


class PreparedArticles:
    """Articles prepared for alignment on first use, in whichever process uses them (workers share the work).

    Each side is rebuilt from ``corpus`` (:class:`CleanedCorpus`): the cleaned article from its stored form, its
    sentence rows weighed with the run's idf — a batch's missing sides at once (:meth:`prepare`). A prepared side
    is dropped once the pass's last batch that uses it is done (:meth:`schedule`, :meth:`done`): a process holds
    the sides still ahead of it, not every article it ever touched.
    """

    def __init__(self, corpus: CleanedCorpus, most: int = MOST_SIDES) -> None:
        self.corpus = corpus
        self.most = most
        self.sides: list[Side | None] = [None] * len(corpus)
        self.held: set[int] = set()
        self.expiring = np.zeros(0, dtype=np.int64)  # articles in the order of their last batch in this pass
        self.expired_by = np.zeros(0, dtype=np.int64)  # per batch: how many of ``expiring`` are done after it
        self.expiring_backward = np.zeros(0, dtype=np.int64)  # the same for a process that walks backward
        self.expired_backward_by = np.zeros(0, dtype=np.int64)
        self.released = 0  # how many of ``expiring`` this process has dropped
        self.uses = np.zeros(0, dtype=np.int64)  # (article, batch) of every use in this pass, as one sorted key
        self.prepared = 0  # sides this process has prepared (again, after a drop, counts again)
        self.span = 1  # batches of the pass, plus one: ``uses`` holds article * span + batch

    def __getitem__(self, index: int) -> Side:
        side = self.sides[index]
        if side is None:
            self.prepare([index])
            side = self.sides[index]
            assert side is not None
        return side

    def prepare(self, indices: Iterable[int]) -> None:
        """Prepare the sides of ``indices`` not held yet, their sentence rows weighed in one go."""
        missing = sorted({index for index in indices if self.sides[index] is None})
        if not missing:
            return
        cleaned = [self.corpus.cleaned(index) for index in missing]
        for index, article, rows in zip(missing, cleaned, self.corpus.rows(cleaned), strict=True):
            self.sides[index] = prepare(article, rows)
        self.held.update(missing)
        self.prepared += len(missing)

    def prepare_groups(self, groups: list[Group]) -> None:
        """Prepare every side a batch's ``groups`` use."""
        self.prepare([index for source, targets in groups for index in (source, *targets)])

    def schedule(self, batches: list[list[Group]]) -> list[tuple[int, list[Group]]]:
        """Numbered ``batches`` of one pass, with each article's batches noted for :meth:`done`.

        Called before the pass (so forked workers inherit the plan). A process's batches come in increasing order
        (the pool hands them out in order), or in decreasing order in a worker that ``engine.walks_backward``;
        out of order would only prepare a side again.
        """
        count = len(self.sides)
        last = np.full(count, -1, dtype=np.int64)
        first = np.full(count, len(batches), dtype=np.int64)
        articles, numbers = [], []
        for number, batch in enumerate(batches):
            used = np.unique(np.array([index for source, targets in batch for index in (source, *targets)]))
            last[used] = number
            first[used] = np.minimum(first[used], number)
            articles.append(used)
            numbers.append(np.full(len(used), number, dtype=np.int64))
        self.expiring = np.argsort(last, kind="stable")
        self.expired_by = np.searchsorted(last[self.expiring], np.arange(len(batches)), side="right")
        # walking backward: articles by their first batch, latest first; after batch ``number``, those whose first
        # batch is ``number`` or later are done
        self.expiring_backward = np.argsort(-first, kind="stable")
        self.expired_backward_by = np.searchsorted(
            -first[self.expiring_backward], -np.arange(len(batches)), side="right"
        )
        self.released = 0
        self.span = len(batches) + 1
        self.uses = np.sort(
            np.concatenate([*articles, np.zeros(0, np.int64)]) * self.span
            + np.concatenate([*numbers, np.zeros(0, np.int64)])
        )
        return list(enumerate(batches))

    def done(self, number: int) -> None:
        """Drop the sides that no batch after batch ``number`` of this pass uses (before it, in a process that
        walks backward); then, while more than ``most`` are held, those whose next batch is furthest off (they are
        prepared again if this process gets it). A line of the debug log counts this process's preparations."""
        backward = walks_backward()
        expiring, expired_by = (
            (self.expiring_backward, self.expired_backward_by) if backward else (self.expiring, self.expired_by)
        )
        end = int(expired_by[number]) if number < len(expired_by) else self.released
        for index in expiring[self.released : end].tolist():
            self.sides[index] = None
            self.held.discard(index)
        self.released = max(self.released, end)
        if len(self.held) > self.most and len(self.uses):
            held = np.fromiter(self.held, dtype=np.int64, count=len(self.held))
            if backward:  # the previous use of each held side, if any: the furthest back goes first
                position = np.searchsorted(self.uses, held * self.span + number, side="left") - 1
                previous = self.uses[np.maximum(position, 0)]
                behind = (position >= 0) & (previous // self.span == held)
                distance = np.where(behind, number - previous % self.span, self.span)
            else:
                position = np.searchsorted(self.uses, held * self.span + number, side="right")
                following = self.uses[np.minimum(position, len(self.uses) - 1)]
                ahead = (position < len(self.uses)) & (following // self.span == held)
                distance = np.where(ahead, following % self.span - number, self.span)
            for index in held[np.argsort(-distance, kind="stable")[: len(held) - self.most]].tolist():
                self.sides[index] = None
                self.held.discard(index)
        log.debug(
            "sides: process %d after batch %d%s: %d prepared, %d held, CPU %.2f s, clock %.3f",
            os.getpid(),
            number,
            " (walking backward)" if backward else "",
            self.prepared,
            len(self.held),
            time.process_time(),
            time.monotonic(),
        )


PackedTiles = tuple[int, array]  # ``min_tile`` and a pair's unit tiles (``align.unit_tiles``), flattened


def pack_tiles(min_tile: int, tiles: list[TokenTile]) -> PackedTiles:
    """A pair's unit tiles at ``min_tile`` as one flat integer array: a few bytes a tile to carry back from a
    worker and hold until the passages stage, where a list of tuples costs ~170."""
    return min_tile, array("q", [value for tile in tiles for value in tile])


def unpack_tiles(packed: PackedTiles) -> list[TokenTile]:
    """The unit tiles :func:`pack_tiles` packed, as the list of tuples ``align.unit_tiles`` gave."""
    values = packed[1].tolist()
    return list(zip(values[0::4], values[1::4], values[2::4], values[3::4], strict=True))


class PackedPassages(PassageSequence):
    """The passages of one pair (one source, one target) packed in one ``bytes``: 25 bytes a passage — its spans
    (int32), score (float64) and kind — where a ``Passage`` with its tuples and float is ~330 (a large run holds
    ~20 passages an article, from the judging pass, which holds the verdicts the output reads, to the
    assembly). A ``Passage`` equal to the one packed is made when read; equal to any sequence of the same
    passages. :meth:`of` packs a list when it can be packed exactly, else gives the list back."""

    __slots__ = ("data", "source", "target")
    RECORD = struct.Struct("<iiiidB")  # source begin, end, target begin, end, score, kind
    KINDS = ("verbatim", "rewrite")

    def __init__(self, source: str, target: str, data: bytes) -> None:
        self.source, self.target, self.data = source, target, data

    @classmethod
    def of(cls, passages: list[Passage]) -> Sequence[Passage]:
        """``passages`` packed, or the list itself: when it is empty, or a value would not come back the same (two
        sources or targets, a kind not in :data:`KINDS`, a span beyond int32, a score or span of another type).
        Every passage checked first, then all packed in one call: equal to :meth:`reference_of` (tested)."""
        if not passages:
            return passages
        source, target = passages[0].source, passages[0].target
        kinds = cls.KINDS
        values: list[int | float] = []
        for passage in passages:
            source_span, target_span, score, kind = (
                passage.source_span,
                passage.target_span,
                passage.score,
                passage.kind,
            )
            if (
                passage.source != source
                or passage.target != target
                or type(source_span) is not tuple
                or type(target_span) is not tuple
                or kind not in kinds
                or type(score) is not float
            ):
                return passages
            spans = (*source_span, *target_span)
            if len(spans) != 4:
                return passages
            a, b, c, d = spans
            if type(a) is not int or type(b) is not int or type(c) is not int or type(d) is not int:
                return passages
            values += (a, b, c, d, score, kinds.index(kind))
        try:
            data = struct.pack("<" + "iiiidB" * len(passages), *values)
        except struct.error:  # a span beyond int32
            return passages
        return cls(source, target, data)

    @classmethod
    def reference_of(cls, passages: list[Passage]) -> Sequence[Passage]:
        """:meth:`of` a record at a time: the readable reference."""
        if not passages:
            return passages
        source, target = passages[0].source, passages[0].target
        kinds = cls.KINDS
        records = []
        try:
            for passage in passages:
                spans = (*passage.source_span, *passage.target_span)
                if (
                    passage.source != source
                    or passage.target != target
                    or type(passage.source_span) is not tuple
                    or type(passage.target_span) is not tuple
                    or passage.kind not in kinds
                    or type(passage.score) is not float
                    or len(spans) != 4
                    or any(type(value) is not int for value in spans)
                ):
                    return passages
                records.append(cls.RECORD.pack(*spans, passage.score, kinds.index(passage.kind)))
        except struct.error:  # a span beyond int32
            return passages
        return cls(source, target, b"".join(records))

    COLUMNS = np.dtype([("spans", "<i4", (4,)), ("score", "<f8"), ("kind", "u1")])  # RECORD's layout, unaligned

    def __len__(self) -> int:
        return len(self.data) // self.RECORD.size

    def _passage(self, index: int) -> Passage:
        return self._made(*self.RECORD.unpack_from(self.data, index * self.RECORD.size))

    def columns(self) -> PassageColumns:
        """The packed records read as columns (the values :meth:`__iter__` makes ``Passage`` s of)."""
        records = np.frombuffer(self.data, dtype=self.COLUMNS)
        return PassageColumns(self.source, self.target, records["spans"], records["kind"], self.KINDS, records["score"])

    def __iter__(self) -> Iterator[Passage]:
        for values in self.RECORD.iter_unpack(self.data):
            yield self._made(*values)

    def _made(self, a: int, b: int, c: int, d: int, score: float, kind: int) -> Passage:
        return Passage(self.source, self.target, (a, b), (c, d), self.KINDS[kind], score)

    def __repr__(self) -> str:
        return f"PackedPassages({self.source!r}, {self.target!r}, {len(self)} passages)"


def packed_verdict(verdict: PairVerdict) -> PairVerdict:
    """``verdict`` with its passages packed (:class:`PackedPassages`), for a verdict held to the end of a run."""
    verdict.passages = PackedPassages.of(verdict.passages)  # type: ignore[assignment]
    return verdict


class _FlatPairs:
    """Ordered pairs ``(source, target)`` as sorted int64 codes ``source * count + target``: the place of a pair
    by binary search, the pairs in sorted order. The base of :class:`FlatPairSettings` and :class:`FlatPairTiles`."""

    def __init__(self, keys: Sequence[Pair], count: int) -> None:
        self.count = count
        self.codes = np.array([source * count + target for source, target in keys], dtype=np.int64)

    def _place(self, key: Pair) -> int:
        """The pair's place in :attr:`codes`, -1 when it is not there."""
        code = key[0] * self.count + key[1]
        place = int(np.searchsorted(self.codes, code))
        return place if place < len(self.codes) and self.codes[place] == code else -1

    def __iter__(self) -> Iterator[Pair]:
        return (divmod(code, self.count) for code in self.codes.tolist())

    def __len__(self) -> int:
        return len(self.codes)


class FlatPairSettings(_FlatPairs, Mapping[Pair, tuple[AlignSettings, ...]]):
    """The passages pass's plan (``(source, target)`` → the settings its pair is aligned under) held flat: the pairs
    as sorted int64 codes, each pair's entry a byte into a few distinct settings tuples. The pass workers read it
    without writing a reference count: a dict's key and value tuples (1M: ~1.1 M pairs, ~0.1 KB each, in no order)
    are written by every lookup, each of their pages copied by both workers over the pass (stop 27). Equal, pair by
    pair, to the dict it is made from (tested)."""

    def __init__(self, wanted: Mapping[Pair, tuple[AlignSettings, ...]], count: int) -> None:
        keys = sorted(wanted)
        super().__init__(keys, count)
        choices: dict[tuple[int, ...], int] = {}
        self.choices: list[tuple[AlignSettings, ...]] = []
        self.choice = np.zeros(len(keys), dtype=np.int32)
        for k, key in enumerate(keys):
            value = wanted[key]
            number = choices.setdefault(tuple(map(id, value)), len(self.choices))
            if number == len(self.choices):
                self.choices.append(value)
            self.choice[k] = number

    def __getitem__(self, key: Pair) -> tuple[AlignSettings, ...]:
        place = self._place(key)
        if place < 0:
            raise KeyError(key)
        return self.choices[self.choice[place]]


class FlatPairTiles(_FlatPairs, Mapping[Pair, PackedTiles]):
    """The pairs' known tiles (``(source, target)`` → :func:`pack_tiles`' ``(min_tile, array)``) held flat: sorted
    pair codes, each pair's ``min_tile`` and the place of its values in one int64 array. A dict's tuples and small
    arrays are written (reference counts) by every worker that reads them, as :class:`FlatPairSettings` says; here
    a lookup makes its own ``array``. Made from the dict, emptying it as it goes (each entry freed once copied), and
    equal to it pair by pair (tested)."""

    def __init__(self, known: dict[Pair, PackedTiles], count: int) -> None:
        keys = sorted(known)
        super().__init__(keys, count)
        self.min_tiles = np.zeros(len(keys), dtype=np.int64)
        self.offsets = np.zeros(len(keys) + 1, dtype=np.int64)
        self.offsets[1:] = np.cumsum([len(known[key][1]) for key in keys])
        self.values = np.empty(int(self.offsets[-1]), dtype=np.int64)
        for k, key in enumerate(keys):
            min_tile, values = known.pop(key)
            self.min_tiles[k] = min_tile
            self.values[self.offsets[k] : self.offsets[k + 1]] = np.frombuffer(values, dtype=np.int64)

    def get(self, key: Pair, default: Any = None) -> Any:
        place = self._place(key)
        if place < 0:
            return default
        begin, end = int(self.offsets[place]), int(self.offsets[place + 1])
        return int(self.min_tiles[place]), array("q", self.values[begin:end].tobytes())

    def __getitem__(self, key: Pair) -> PackedTiles:
        found = self.get(key)
        if found is None:
            raise KeyError(key)
        return found


def passage_groups(
    shared: tuple[PreparedArticles, Mapping[tuple[int, int], tuple[AlignSettings, ...]], Mapping[Pair, PackedTiles]],
    batch: tuple[int, list[Group]],
) -> list[list[Sequence[Passage]]]:
    """Passages of every (source, target) pair of ``batch`` (numbered by :meth:`PreparedArticles.schedule`), in
    order: one list per settings the pair is wanted under (``shared[1][pair]``), in that order. One sparse
    product per source; a pair's k-gram lookup and verbatim tiles serve all its settings of one ``min_tile``.
    ``shared[2]``: the tiles of pairs the judge pass tiled already (:func:`pack_tiles`), not tiled again.
    """
    articles, wanted, known = shared
    number, groups = batch
    articles.prepare_groups(groups)
    found: list[list[Sequence[Passage]]] = []
    for source, targets in groups:
        side = articles[source]
        for target, cosine in zip(targets, sentence_cosines(side, [articles[t] for t in targets]), strict=True):
            other = articles[target]
            lookups: dict[int, tuple[KgramMatches | None, list[TokenTile] | None]] = {}
            packed = known.get((source, target))
            if packed is not None:
                lookups[packed[0]] = None, unpack_tiles(packed)  # align_sides looks the k-grams up if it needs them
            passages = []
            for settings in wanted[source, target]:
                matches, tiled = lookups.get(settings.min_tile) or (kgram_matches(side, other, settings.min_tile), None)
                if tiled is None and not cannot_reuse(side, other, settings, cosine, matches):
                    tiled = unit_tiles(side, other, settings.min_tile, matches)
                lookups[settings.min_tile] = matches, tiled
                # packed: a pass's passages are held until the assembly (~330 bytes a Passage, 25 packed)
                passages.append(PackedPassages.of(align_sides(side, other, settings, cosine, matches, tiled)))
            found.append(passages)
        side.kgrams.clear()  # a source's pairs are all in this group: its k-gram index is done
    articles.done(number)
    return found


CARRIED_RELATIONS = ("derived", "duplicate")  # the verdicts whose edges the passages stage aligns in detail


SCREENED = "screened"  # in place of a screened pair's verdict that only ``Result.pairs`` would read


def _read_later(
    names: Mapping[str, str], judged: tuple[PairVerdict, PackedTiles | None]
) -> tuple[PairVerdict, PackedTiles | None] | str | None:
    """What the output can still read of a judged pair (``cluster(keep_pairs=False)``): the whole of a related verdict
    or one holding passages (they count inside a cluster), its ids the run's own strings (``names``: each id to
    itself; :func:`shared_names`); :data:`SCREENED` for a screened one (aligned after all if its articles end in one
    cluster); nothing of the rest (they only reach ``Result.pairs``)."""
    verdict = judged[0]
    if verdict.relation != "unrelated" or verdict.passages:
        return shared_names(packed_verdict(verdict), names), judged[1]
    return SCREENED if verdict.evidence.get("aligned") is False else None


def _evidence_read_no_more(built: list[tuple[Cluster, list[DirectedEdge]]]) -> None:
    """Empty the ``evidence`` of the clusters' edges' verdicts, once the clusters are built and the passages pass's
    workers have ended (``cluster(keep_pairs=False)``: no verdict reaches the result): from there on only a verdict's
    ids, relation and passages are read. ~0.3 KB a verdict (1M: ~1.1 M edges), freed before the pass's results are
    unpickled into the same free space; freed before the pass forks, the workers would fill it, copying its pages."""
    for _, edges in built:
        for edge in edges:
            edge.verdict.evidence = {}


def shared_names(verdict: PairVerdict, names: Mapping[str, str]) -> PairVerdict:
    """``verdict`` with its ids (``a``, ``b``, its packed passages' source and target) replaced by the equal strings
    of ``names`` where it has them, and its relation interned: the verdicts unpickled from a worker's batch bring
    their own copies (equal strings, so nothing read from them changes; 10k: 4 % of the held verdicts' bytes)."""
    verdict.a = names.get(verdict.a, verdict.a)
    verdict.b = names.get(verdict.b, verdict.b)
    verdict.relation = sys.intern(verdict.relation)
    passages = verdict.passages
    if isinstance(passages, PackedPassages):
        passages.source = names.get(passages.source, passages.source)
        passages.target = names.get(passages.target, passages.target)
    return verdict


def judge_groups(
    shared: tuple[PreparedArticles, Settings, bool], batch: tuple[int, list[Group]]
) -> list[tuple[PairVerdict, PackedTiles | None]]:
    """Passages and verdict of every candidate pair of ``batch`` (numbered by :meth:`PreparedArticles.schedule`),
    in order, each with the pair's unit tiles (:func:`pack_tiles`) when it is judged derived or duplicate (its
    edge is aligned again in detail, with the same tiles when in the pair's own direction), else None.

    With ``screen`` (the third shared value), a pair that no alignment could make related
    (``score.could_relate``, an exact bound) is judged without aligning it: ``unrelated``, no
    passages, and ``evidence["aligned"] = False`` when alignment might have found some (the
    pipeline aligns it after all if its two articles end in one cluster).
    """
    articles, settings, screen = shared
    number, groups = batch
    articles.prepare_groups(groups)
    verdicts: list[tuple[PairVerdict, PackedTiles | None]] = []
    for source, targets in groups:
        side = articles[source]
        for target, cosine in zip(targets, sentence_cosines(side, [articles[t] for t in targets]), strict=True):
            other = articles[target]
            min_tile = settings.align.min_tile
            matches = kgram_matches(side, other, min_tile)  # looked up once for the checks and tiling
            tiles = None
            if cannot_reuse(side, other, settings.align, cosine, matches):  # no passage: nothing to align
                verdict = judge(side.article, other.article, [], settings.score)
            elif screen and not could_relate(side, other, cosine, settings.align, settings.score, matches):
                verdict = judge(side.article, other.article, [], settings.score)
                verdict.evidence["aligned"] = False
            else:
                tiles = unit_tiles(side, other, min_tile, matches)
                found = align_sides(side, other, settings.align, cosine, matches, tiles)
                verdict = judge(side.article, other.article, found, settings.score, (side, other))
            carried = tiles is not None and settings.align.detail_derived and verdict.relation in CARRIED_RELATIONS
            verdicts.append((verdict, pack_tiles(min_tile, tiles) if carried else None))
        side.kgrams.clear()  # a source's pairs are all in this group: its k-gram index is done
    articles.done(number)
    return verdicts


def lsh_pair_codes(
    parts: list[CleanBatch],
    spilled: SpilledRows,
    units: np.ndarray,
    settings: Settings,
    parallel: int,
    step: Callable[[str], None] | None = None,
) -> tuple[list[np.ndarray], np.ndarray | None]:
    """The LSH candidate stage of :func:`cluster`: the article pairs and the sentence pairs (sorted pair codes over
    the run's articles, one array each), and every unit's sentence stories (None when ``stock_min_stories`` is 0),
    from the clean stage's ``parts`` (their article rows, sentence owners, unit sizes and short units taken and
    freed), its ``spilled`` sentence rows (finished here, their files removed) and each article's unit count
    ``units``; ``parallel``: the processes sharing the bands. ``step`` is called with each step's name as it ends
    (``benchmarks/stages.py`` times them; the run logs them)."""
    step = step or _log_step()
    candidates = settings.candidates
    count = len(units)
    article_signature_rows = _stacked_rows(parts, "article_rows")
    found = [banded_pair_codes(article_signature_rows, np.arange(count), candidates.article_threshold, span=count)]
    del article_signature_rows
    step("article pairs")
    sentence_owners = np.concatenate(
        [part.sentence_owners.astype(np.int32) + first for part, first in zip(parts, _firsts(parts), strict=True)]
    )
    sentence_signature_rows = spilled.finish()  # their low bytes stacked, each part's freed once copied
    for part in parts:
        part.sentence_owners = np.zeros(0, dtype=np.int64)
    return_free_memory()
    step("sentence rows stacked")
    _log_held("stacked", sentence_rows=sentence_signature_rows, sentence_owners=sentence_owners, article_pairs=found)
    # the parts' narrowed sizes (2 bytes a unit), kept so: through the sentence groups they were widened to int64
    unit_sizes = np.concatenate([part.unit_sizes for part in parts])
    for part in parts:
        part.unit_sizes = np.zeros(0, dtype=np.int64)
    # each sentence row's count of content stems (the sketched units are those of min_sentence_stems or more)
    sentence_sizes = np.minimum(unit_sizes[unit_sizes >= settings.sketch.min_sentence_stems], 0xFFFF).astype(np.uint16)
    stories = None
    if settings.score.stock_min_stories > 0:
        # in how many separate stories each sentence occurs: the judge does not count stock sentences as evidence
        stories, row_stories = unit_stories(
            sentence_signature_rows,
            candidates.near_copy_threshold,
            unit_sizes,
            [unit for part in parts for unit in part.short_units],
            units,
            settings.sketch.min_sentence_stems,
            settings.score.stock_min_stories,
            parallel,
        )
        for part in parts:
            part.short_units = []
        step("sentence stories")
        if candidates.skip_stock_sentences:
            evidence = row_stories < settings.score.stock_min_stories
            sentence_signature_rows.keep(evidence)
            sentence_owners = sentence_owners[evidence]
            sentence_sizes = sentence_sizes[evidence]
            del evidence
        del row_stories
    del unit_sizes
    return_free_memory()
    step("evidence rows")
    _log_held(
        "evidence rows",
        sentence_rows=sentence_signature_rows,
        stories=stories,
        sentence_owners=sentence_owners,
        sentence_sizes=sentence_sizes,
        article_pairs=found,
        units=units,
    )
    found.append(
        banded_pair_codes(
            sentence_signature_rows,
            sentence_owners,
            candidates.sentence_threshold,
            candidates.sentence_bucket_cap,
            candidates.verify_sentence_pairs,
            span=count,
            sizes=sentence_sizes,
            lone_min_shared=candidates.lone_sentence_min_shared,
            crowd=candidates.sentence_band_crowd,
            workers=parallel,
        )
    )
    step("sentence pairs")
    sentence_signature_rows.close()  # its files removed
    return found, stories


@paused_collection()
def cluster(
    articles: Iterable[Article | Mapping[str, Any]],
    *,
    settings: Settings | None = None,
    skipped: Iterable[Skipped] = (),
    progress: Progress = _no_progress,
    workers: int | None = None,
    keep_pairs: bool = True,
    **overrides: Any,
) -> Result:
    """Cluster ``articles`` into wire-story clusters with origins and derived passages.

    ``overrides`` set parameters by name (``sentence_threshold=0.5``). ``workers``: processes
    for alignment (default: the cores available; the result does not depend on it). Raises
    ``NoArticlesError`` when there is nothing to cluster. ``keep_pairs=False``: ``Result.pairs`` is left
    empty, and a verdict is held only while the output can still need it (the clusters, origins and passages
    are the same): every candidate pair's verdict is ~1.5 KB (~9 KB an article), most of a large run's memory
    after its output, and the CLI writes none of them.
    """
    workers = default_workers() if workers is None else workers
    settings = (settings or Settings()).with_overrides(**overrides)
    # taken in one at a time into flat buffers: an iterator's articles are not held as objects
    store = ArticleStore()
    repeated_ids: list[Skipped] = []
    for item in articles:
        article = _as_article(item)
        if not store.add(article):
            repeated_ids.append(Skipped(article.path or article.id, f"duplicate id {article.id!r}"))
    skipped = [*skipped, *repeated_ids]  # read once the articles are: a streaming reader fills it as it reads
    if not len(store):
        raise NoArticlesError("no readable article to cluster")
    store.sort()
    ids = store.ids  # every article's id, in the run's order
    count = len(ids)
    size = max(8, min(500, count // (8 * max(workers, 1)) + 1))
    parallel = workers if count >= MIN_PARALLEL_ARTICLES else 1
    batches = [(begin, min(begin + size, count)) for begin in range(0, count, size)]  # decoded where they are read
    stage = _StageClock(count)
    counts: Counter[str] = Counter()
    for part in run_batches(line_counts_stored, store, batches, workers=parallel):
        counts.update(part)
    repeated = frequent_lines(counts, settings.boilerplate_min_articles)
    del counts  # a count of every short line of the run: was held to the end of the run
    stage("furniture lines")
    tick = progress("clean", count)
    # the sentence n-grams' idf over the run: each article's rows are weighed with it where they are used
    frequency = np.zeros(N_FEATURES, dtype=np.int64)
    # the sentence signature rows, out of the heap as they arrive: their low bytes held (64 bytes a row, not 256)
    spilled = SpilledRows(settings.sketch.sentence_num_perm)
    # the stem counts, out of memory until the TF-IDF stage: through the LSH stage, the run's highest, they were held
    counts = SpilledCounts()

    def folded(
        part: CleanBatch,
        frequency: np.ndarray = frequency,
        spilled: SpilledRows = spilled,
        counts: SpilledCounts = counts,
    ) -> CleanBatch:
        """A part as it arrives, its document frequencies added up and its words' features remembered (the judge
        and passage workers, forked later, inherit them), neither held: ~1 MB a part, a part per 500 articles; its
        sentence rows written out (``candidates.SpilledRows``), and its stem counts (``similarity.SpilledCounts``)."""
        frequency[part.features] += part.holders
        part.features = part.holders = np.zeros(0, dtype=np.int64)
        spilled.append(part.sentence_rows)
        part.sentence_rows = np.zeros((0, 0), dtype=np.uint32)
        counts.append(part.stem_counts)
        part.stem_counts = _NO_COUNTS
        # held until the sentence stories and the stacking: 2 bytes a unit each, not 8 (widened where read)
        part.unit_sizes, part.sentence_owners = _narrowed(part.unit_sizes), _narrowed(part.sentence_owners)
        remember_word_features(*part.words)
        part.words = ([], np.zeros(0, np.int64), np.zeros(0, np.int32))
        return part

    if count >= CLEAN_KERNEL_MIN_ARTICLES:
        load_clean_kernels()  # before the clean workers fork: they inherit the compiled code
    parts: list[CleanBatch] = run_batches(
        clean_stored,
        (
            store,
            (repeated, settings.sketch, settings.keep_wrapped_repeated_lines),
        ),
        batches,
        workers=parallel,
        done=lambda batch: tick(batch[1] - batch[0]),
        each=folded,
    )
    # the words' features out of the cache's dict into flat arrays: the pass workers forked later read them without
    # writing a reference count (a dict of arrays: every page of it a worker touches is copied)
    freeze_word_features()
    stage("clean and sketch")
    if log.isEnabledFor(HELD):  # the flattened lists below are made for the log only
        _log_held(
            "after cleaning",
            compact=[form for part in parts for form in part.compact],
            stem_counts=counts,
            article_rows=[part.article_rows for part in parts],
            sentence_rows=spilled,
            sentence_owners=[part.sentence_owners for part in parts],
            unit_sizes=[part.unit_sizes for part in parts],
            short_units=[unit for part in parts for unit in part.short_units],
            ids=store.ids,
            texts=store.texts,
            fields=store.fields,
            word_features=similarity._WORD_FEATURES,  # what the table leaves out
            word_table=similarity._WORD_TABLE,  # the words' features the later workers inherit
        )
    units = np.concatenate([part.units for part in parts])
    idf = sentence_idf(frequency, int(units.sum()))
    del folded, frequency
    stage("sentence idf")
    found, stories = lsh_pair_codes(parts, spilled, units, settings, parallel)
    del spilled  # its low bytes, the sentence rows' in memory
    candidates = settings.candidates
    corpus = CleanedCorpus(store, [form for part in parts for form in part.compact], units, idf, stories)
    del store, stories  # the store's buffers are the corpus's now, and the stories its int32 copy
    for part in parts:
        part.compact = []
    stem_counts = stack_rows(counts.taken())  # each read back (or freed) once copied
    counts.close()
    del counts
    del parts  # the batches' forms, counts and signatures are no longer needed
    return_free_memory()
    chunk = 2048
    blocks = [(begin, min(begin + chunk, len(corpus))) for begin in range(0, len(corpus), chunk)]
    stage("LSH pairs")
    _log_held(
        "LSH pairs", pairs=found, stem_counts=stem_counts, forms=corpus.forms, texts=corpus.texts, fields=corpus.fields
    )
    tick = progress("candidates", len(corpus))
    vectors = article_vectors([], stem_counts)
    del stem_counts
    _log_held("TF-IDF", vectors=vectors)
    # the suffix first: its working arrays (~75 bytes a stored value) come and go before the transposed copy exists
    suffix = tfidf_suffix(vectors, candidates.tfidf_guarantee) if _pruned_tfidf(candidates, len(corpus)) else None
    if suffix is not None:
        load_pool_kernels()  # the compiled pools loaded before the workers fork: they inherit the code
    found.extend(
        run_batches(
            tfidf_batch,
            (
                vectors,
                posting_lists(vectors, candidates.tfidf_posting_cap if suffix is not None else 0),
                suffix,
                candidates,
            ),
            blocks,
            workers=parallel,
            done=lambda block: tick(block[1] - block[0]),
        )
    )
    del vectors, suffix
    return_free_memory()
    stage("TF-IDF neighbours")
    codes = sorted_unique(np.concatenate(found))  # the union of the three sources, in pair order
    del found
    # (source, target) rows, 8 bytes a pair (a list of tuples was ~120, held to the end of the run)
    pairs = np.stack((codes // count, codes % count), axis=1).astype(np.int32 if count < 2**31 else np.int64)
    del codes
    log.info("%d articles, %d candidate pairs", len(corpus), len(pairs))
    _log_held("candidates", pairs=pairs)
    if len(pairs) >= KERNEL_MIN_PAIRS:  # loaded here, before the workers fork: they inherit the compiled code
        use_kernels()
    sides = PreparedArticles(corpus)
    batch_pairs = max(MIN_BATCH_PAIRS, min(256, len(pairs) // (8 * max(workers, 1)) + 1))
    tick = progress("align", len(pairs))
    names = {key: key for key in ids}  # the held verdicts' ids are these strings, not each verdict's own copies
    judged: list[tuple[PairVerdict, PackedTiles | None] | None] = _pass_in_pair_order(
        judge_groups,
        (sides, settings, True),
        pairs,
        batch_pairs,
        sides,
        workers,
        tick,
        None if keep_pairs else functools.partial(_read_later, names),
    )
    del names
    # the pairs whose verdicts are held (every pair unless ``keep_pairs`` is off), in pair order, and the screened
    held = [k for k, item in enumerate(judged) if isinstance(item, tuple)]
    screened = [
        k
        for k, item in enumerate(judged)
        if item is SCREENED or (isinstance(item, tuple) and item[0].evidence.get("aligned") is False)
    ]
    verdicts = {k: judged[k][0] for k in held}  # type: ignore[index]
    judged_tiles = {
        (int(pairs[k, 0]), int(pairs[k, 1])): judged[k][1]  # type: ignore[index]
        for k in held
        if judged[k][1] is not None  # type: ignore[index]
    }
    del judged, held
    index = {key: k for k, key in enumerate(ids)}

    return_free_memory()  # the workers' pickled results, read and freed
    stage(f"align and judge ({len(pairs)} pairs)")
    _log_held(  # ids first: the held verdicts' ids are theirs
        "judged",
        ids=ids,
        pairs=pairs,
        verdicts=verdicts,
        judged_tiles=judged_tiles,
        screened=screened,
        index=index,
        texts=corpus.texts,
        fields=corpus.fields,
        forms=corpus.forms,
        stories=corpus.stories,
    )
    built: list[tuple[Cluster, list[DirectedEdge]]] = []
    singletons: list[str] = []
    texts = CorpusTexts(corpus, index)  # each text decoded when read (not all at once)
    versions = wire_versions(texts.items()) if settings.group_wire_versions else []
    groups = group(ids, list(verdicts.values()), versions)
    # each cluster sees only the verdicts inside it (in verdict order), not all of them: the related
    # ones, and unrelated ones that hold passages (they add to what wire copy covers of a member)
    group_of = {member: number for number, members in enumerate(groups) for member in members}
    # pairs judged unrelated without aligning them, whose articles share a cluster: their passages count there
    unaligned = [k for k in screened if group_of[ids[pairs[k, 0]]] == group_of[ids[pairs[k, 1]]]]
    if unaligned:
        screened_pairs = [(int(pairs[k, 0]), int(pairs[k, 1])) for k in unaligned]
        for k, verdict in zip(
            unaligned,
            # in this process: a few hundred pairs cost less than forking the whole heap again
            run_batches(judge_groups, (sides, settings, False), sides.schedule(_groups(screened_pairs, batch_pairs))),
            strict=True,
        ):
            verdicts[k] = verdict[0]
    log.info("%d pairs screened, %d of them aligned after all (one cluster)", len(screened), len(unaligned))
    stage(f"screened pairs in one cluster ({len(unaligned)})")
    pair_verdicts = [verdicts[k] for k in sorted(verdicts)]  # in pair order
    del verdicts, screened, unaligned
    inside: dict[int, list[PairVerdict]] = {}
    for verdict in pair_verdicts:
        if (verdict.relation != "unrelated" or verdict.passages) and group_of[verdict.a] == group_of[verdict.b]:
            inside.setdefault(group_of[verdict.a], []).append(verdict)
    if not keep_pairs:  # the verdicts inside clusters are held by ``inside``, and then by the clusters' edges
        pair_verdicts = []
    for number, members in enumerate(groups):
        if len(members) == 1:
            singletons.append(members[0])
            continue
        # the members cleaned again from their stored forms, for this cluster only
        members_cleaned = corpus.by_id({member: index[member] for member in members})
        record = build_cluster(
            f"c{len(built) + 1:04d}", members, members_cleaned, inside.pop(number, []), settings.origin
        )
        built.append(record)
    del inside, group_of
    stage("cluster and origin")
    _log_held("clustered", built=built, pair_verdicts=pair_verdicts, groups=groups, singletons=singletons)
    # the passages of each edge: a derived edge is aligned again in detail (short verbatim runs and looser
    # sentence pairs count once the pair is known to be derived); any other edge directed against its pair's
    # order is aligned again in its own direction; both batched by source
    detailed = detail_settings(settings.align)
    in_detail: set[tuple[int, int]] = set()
    reversed_pairs: set[tuple[int, int]] = set()
    for _, edges in built:
        for e in edges:
            key = (index[e.source], index[e.target])
            if e.verdict.a != e.source:
                reversed_pairs.add(key)
            if detailed is not None and e.verdict.relation in ("derived", "duplicate"):
                in_detail.add(key)
    # an edge both reversed and derived is aligned once for both: one sentence product, one tiling
    wanted: dict[tuple[int, int], tuple[AlignSettings, ...]] = {key: (settings.align,) for key in reversed_pairs}
    for key in in_detail:  # empty without a detailed pass
        wanted[key] = (*wanted.get(key, ()), detailed)
    keys = sorted(wanted)
    # an edge in its pair's own direction was tiled by the judge already (the same tiles: same sides, same min_tile)
    known_tiles = {key: judged_tiles[key] for key in keys if key in judged_tiles}
    del judged_tiles
    _log_held("passage plan", wanted=wanted, known_tiles=known_tiles, keys=keys, reversed_pairs=reversed_pairs)
    tick = progress("passages", len(keys))
    # the plan and the known tiles flat, as the workers read them (a dict's tuples: written by every lookup)
    flat_wanted, flat_tiles = FlatPairSettings(wanted, len(corpus)), FlatPairTiles(known_tiles, len(corpus))
    del wanted, known_tiles  # the second emptied into flat_tiles
    # held pickled while the workers run: unpickled as they came, they were written into pages the workers share
    found_passages: list[list[Sequence[Passage]]] = _pass_in_pair_order(
        passage_groups,
        (sides, flat_wanted, flat_tiles),
        keys,
        batch_pairs,
        sides,
        workers,
        tick,
        held_pickled=True,
        ended=None if keep_pairs else functools.partial(_evidence_read_no_more, built),
    )
    realigned: dict[tuple[int, int], Sequence[Passage]] = {}
    shown: dict[tuple[int, int], Sequence[Passage]] = {}
    for key, passages in zip(keys, found_passages, strict=True):
        if key in reversed_pairs:
            realigned[key] = passages[0]
        if key in in_detail:
            shown[key] = passages[-1]
    del found_passages, flat_wanted, flat_tiles, keys
    return_free_memory()
    stage(f"passages: {len(reversed_pairs)} reversed edges, {len(in_detail)} derived edges in detail")
    _log_held("passages", realigned=realigned, shown=shown, built=built)
    clusters: list[Cluster] = []

    def cluster_passages(
        realigned: dict[tuple[int, int], Sequence[Passage]], shown: dict[tuple[int, int], Sequence[Passage]]
    ) -> Iterator[Sequence[Passage]]:
        """Each cluster's passages as it is measured; its edges (and their verdicts) let go once it is."""
        built.reverse()
        while built:
            record, edges = built.pop()
            incoming: dict[str, list[Sequence[Passage]]] = {}
            shown_here: list[Sequence[Passage]] = []
            for edge in edges:
                key = (index[edge.source], index[edge.target])
                passages = realigned.get(key, edge.verdict.passages)
                shown_here.append(shown.get(key, passages))
                incoming.setdefault(edge.target, []).append(passages)
            members_cleaned = corpus.by_id({member.id: index[member.id] for member in record.members})
            measure_members(record, IncomingPassages(incoming), members_cleaned, settings.origin.whole_coverage)
            clusters.append(record)
            yield from shown_here  # each edge's passages a chunk: packed ones taken as columns

    # held as columns, in (target, source, target span, source span) order
    all_passages = PassageTable.gather(ids, cluster_passages(realigned, shown), index)  # index: each id's place
    del realigned, shown
    stage("assemble")
    _log_held("assembled", passages=all_passages, clusters=clusters)
    return Result(
        clusters=clusters,
        passages=all_passages,
        singletons=singletons,
        skipped=skipped,
        parameters=settings.as_dict(),
        pairs=pair_verdicts,
        texts=texts,
    )
