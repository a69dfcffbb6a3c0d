"""Alignment: which spans of a target article come from a source article.

Two passes over a candidate pair:

1. **Verbatim tiles** (greedy string tiling, Wise 1993 / Clough et al. 2002): maximal
   common runs of at least ``min_tile`` normalised tokens, longest first, never
   overlapping on either side. Case, punctuation and whitespace changes do not break a
   tile because tokens are case-folded words.
2. **Rewritten sentences**: each target sentence is paired with its most similar source
   sentence (character n-gram TF-IDF cosine plus shared content stems); a pair is accepted
   above ``sentence_threshold``, or above ``context_threshold`` when a neighbouring target
   sentence aligned to the same neighbourhood. Within an accepted pair the reused region
   is the tight hull of the stems both share; the parts of it not covered by tiles are
   ``rewrite`` passages.

Everything here is a pure function of two ``CleanArticle`` records and their sentence
vectors; ``reference_tiles`` is the readable reference the fast tiler is tested against.
A batch run prepares each article once (``prepare``: evidence sequence, unit of each
token, stem set of each unit, k-gram index) and computes the sentence cosines of one
source against all its candidate targets in one sparse product (``sentence_cosines``);
``align`` is the same computation for a single pair.
"""

from __future__ import annotations

import bisect
import dataclasses
import heapq
import itertools
import operator
import os
import re
import threading
import types
from array import array
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np
from scipy import sparse

from dedup.clean import CleanArticle
from dedup.model import Passage


@dataclass(slots=True, frozen=True)
class AlignSettings:
    min_tile: int = 3
    anchor_tile: int = 5
    min_standalone_tile: int = 10
    sentence_threshold: float = 0.45  # best F1 on MSRP train (paraphrase vs not), see docs/algorithm.md
    anchor_threshold: float = 0.35
    context_threshold: float = 0.35
    continuation_threshold: float = 0.25
    min_shared_stems: int = 3
    max_edge_gap: int = 6
    min_copied_run: int = 2  # inside an aligned sentence pair, word runs found verbatim in the source are verbatim
    template_figures: bool = True  # a unit pair that is one frame with other figures is a template, not reuse
    detail_derived: bool = True  # the passages shown for a derived pair come from a detailed alignment
    detail_min_tile: int = 3
    detail_sentence_threshold: float = 0.3
    detail_context_threshold: float = 0.25
    detail_word_alignment: bool = True  # the detailed pass also aligns word by word inside target units
    word_alignment: bool = False  # set by detail_settings: see _word_runs (max_edge_gap 4 / 6: spans 0.606 / 0.608)
    word_min_cosine: float = 0.1
    word_min_matches: int = 3
    word_min_share: float = 0.3
    word_edge: int = 10  # unmatched words at a word-aligned unit's edges that are still rewrite
    detail_kept_words: bool = True  # the detailed pass marks content words a rewrite kept from its source verbatim
    kept_words: bool = False  # set by detail_settings: see _kept_words
    detail_attach_punctuation: bool = True  # the detailed pass's passages hold the punctuation of their words
    attach_punctuation: bool = False  # set by detail_settings: see attach_punctuation


@dataclass(slots=True, frozen=True)
class Tile:
    """A verbatim run: source tokens ``[source, source+length)`` equal target tokens ``[target, ...)``."""

    source: int
    target: int
    length: int


@dataclass(slots=True)
class Side:
    """An article prepared for alignment, once per article however many pairs it is in.

    ``words``/``positions``: the evidence tokens in order and their token indices;
    ``sentence_of``: the evidence unit of every token (-1 outside evidence); ``stem_sets``:
    the content stems of every unit; ``figures``: the figures of every unit with their slots;
    ``kgrams``: the k-gram index of ``words`` by k (dropped once the article's pairs as a source are done);
    ``keys``: the k-gram keys of ``words`` by k. The other fields are made on first use, by the methods of
    the same name: what the rewrite and word alignment steps look up in a source, once per article instead of
    once per pair; ``unit_names`` (the names in each unit) is filled the same way by ``score.names_kept``.
    """

    article: CleanArticle
    vectors: sparse.csr_matrix
    words: list[str]
    positions: array[int]
    sentence_of: array[int]
    stem_sets: Sequence[set[str]]  # a ``PerUnit``: made when first read
    figures: Sequence[tuple[Figure, ...]]  # a ``PerUnit``
    kgrams: dict[int, KgramIndex] = field(default_factory=dict)
    keys: dict[int, np.ndarray] = field(default_factory=dict)
    starts: dict[int, dict[str, list[int]]] = field(default_factory=dict)
    windows: dict[int, Window] = field(default_factory=dict)
    content_words: dict[int, dict[str, int]] = field(default_factory=dict)
    names: dict[str, int] | None = None
    named: np.ndarray | None = None  # see ``named_flags``
    name_tokens: np.ndarray | None = None  # see ``named_tokens``
    unit_names: dict[int, set[str]] = field(default_factory=dict)  # filled by ``score.names_kept``
    unit_bounds: tuple[list[int], list[int]] | None = None  # each unit's first and end offset (``score.judge``)
    breaks: list[int] | None = None
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # see ``kernel_arrays``
    generation: int = -1  # the vocabulary generation of ``arrays[0]``
    token_arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None  # see ``token_ids``
    token_generation: int = -1  # the vocabulary generation of ``token_arrays``

    def token_ids(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """What the word-run kernel (``dedup.kernels.word_runs``) reads of the article: the id of every token's word
        and of its content stem (-1: none) in this process's vocabulary, and each unit's first and end token; made
        on first use (again when the vocabulary was renewed since)."""
        assert _kernels is not None
        generation = _kernels.vocabulary_generation()
        if self.token_arrays is None or self.token_generation != generation:
            article = self.article
            stems = _kernels.word_ids(article.stems)
            stems[stems == _kernels.word_ids([""])[0]] = -1  # a token without a content stem
            count = len(article.sentences)
            self.token_arrays = (
                _kernels.word_ids(article.tokens.words),
                stems,
                np.fromiter((s.first for s in article.sentences), dtype=np.int64, count=count),
                np.fromiter((s.last for s in article.sentences), dtype=np.int64, count=count),
            )
            self.token_generation = generation
        return self.token_arrays

    def kernel_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What the compiled kernels read of the side (``dedup.kernels``): the ids of ``words`` in this process's
        vocabulary, ``unit_breaks`` and ``positions``, as numpy arrays; made on first use, the ids again when the
        vocabulary was renewed since (``kernels.bound_vocabulary``)."""
        assert _kernels is not None
        generation = _kernels.vocabulary_generation()
        if self.arrays is None:
            breaks = np.array(self.unit_breaks(), dtype=np.int64)
            self.arrays = (_kernels.word_ids(self.words), breaks, np.array(self.positions, dtype=np.int32))
        elif self.generation != generation:
            self.arrays = (_kernels.word_ids(self.words), *self.arrays[1:])
        self.generation = generation
        return self.arrays

    def unit_breaks(self) -> list[int]:
        """The positions in ``words`` where a new unit starts (the first word's left out), ascending."""
        if self.breaks is None:
            units = np.asarray(self.sentence_of, dtype=np.int64)[np.asarray(self.positions, dtype=np.int64)]
            self.breaks = (np.flatnonzero(units[1:] != units[:-1]) + 1).tolist()
        return self.breaks

    def word_starts(self, unit: int) -> dict[str, list[int]]:
        """Where each word of unit ``unit`` is, token indices ascending (a copied run starts on its first word)."""
        found = self.starts.get(unit)
        if found is None:
            sentence, words = self.article.sentences[unit], self.article.tokens.words
            found = self.starts[unit] = {}
            for i in range(sentence.first, sentence.last):
                found.setdefault(words[i], []).append(i)
        return found

    def window(self, unit: int) -> Window:
        """The evidence tokens of units ``unit - 1`` to ``unit + 1``, which of them hold a content stem (their
        positions in the window), those stems and how many times each occurs: a word alignment's source."""
        found = self.windows.get(unit)
        if found is None:
            stems, sentences = self.article.stems, self.article.sentences
            last = min(len(sentences) - 1, unit + 1)
            tokens = [k for part in sentences[max(0, unit - 1) : last + 1] for k in range(part.first, part.last)]
            content = [y for y, k in enumerate(tokens) if stems[k]]
            window_stems = [stems[tokens[y]] for y in content]
            found = self.windows[unit] = Window(tokens, content, window_stems, Counter(window_stems))
        return found

    def unit_content_words(self, unit: int) -> dict[str, int]:
        """The first token of each content word (a token with a stem) of unit ``unit``."""
        found = self.content_words.get(unit)
        if found is None:
            article = self.article
            sentence, stems, words = article.sentences[unit], article.stems, article.tokens.words
            found = self.content_words[unit] = {}
            for k in range(sentence.first, sentence.last):
                if stems[k]:
                    found.setdefault(words[k], k)
        return found

    def named_words(self) -> dict[str, int]:
        """The first evidence token of each content word written as a name or a figure (``_named``)."""
        if self.names is None:
            article = self.article
            stems, words, starts, text = article.stems, article.tokens.words, article.tokens.starts, article.text
            names: dict[str, int] = {}
            for k in self.positions:
                # ``_named(article, k)`` inline, and only for a word not named yet (its first token stays)
                if stems[k] and words[k] not in names and (text[starts[k]].isupper() or words[k].isdigit()):
                    names[words[k]] = k
            self.names = names
        return self.names

    def named_flags(self) -> np.ndarray:
        """A byte a token, 1 when the token is written as a name or a figure (:func:`_named`): what the compiled
        ``kernels.detail_runs`` reads of a target; made on first use."""
        if self.named is None:
            article = self.article
            upper = map(str.isupper, map(article.text.__getitem__, article.tokens.starts))
            digit = map(str.isdigit, article.tokens.words)
            self.named = np.fromiter(map(operator.or_, upper, digit), dtype=np.uint8, count=len(article.tokens))
        return self.named

    def named_tokens(self) -> np.ndarray:
        """The token of each of :meth:`named_words` (what ``kernels.detail_runs`` reads of a source); made on first
        use."""
        if self.name_tokens is None:
            self.name_tokens = np.fromiter(self.named_words().values(), dtype=np.int64)
        return self.name_tokens

    def kgram_keys(self, size: int) -> np.ndarray:
        if size not in self.keys:
            self.keys[size] = kgram_keys(self.words, size)
        return self.keys[size]

    def kgram_index(self, size: int) -> KgramIndex:
        if size not in self.kgrams:
            self.kgrams[size] = KgramIndex.of(self.kgram_keys(size))
        return self.kgrams[size]


@dataclass(slots=True, frozen=True)
class Window:
    """See :meth:`Side.window`."""

    tokens: list[int]
    content: list[int]
    stems: list[str]
    counts: Counter[str]


Value = TypeVar("Value")
_UNMADE: object = object()


class PerUnit(Sequence[Value], Generic[Value]):
    """A value for each evidence unit of an article, each made by ``make(unit)`` when first read.

    Most units of a side are never compared (a pair's sentence pairing reads the units whose cosine passes a
    floor, and most pairs are screened before it): the figures and stem sets of the others are not made. Reads
    as the list ``[make(k) for k in range(count)]`` would (equal to it, tested).
    """

    __slots__ = ("make", "values")

    def __init__(self, make: Callable[[int], Value], count: int) -> None:
        self.make = make
        self.values: list[Value | object] = [_UNMADE] * count

    def __getitem__(self, unit: int) -> Value:  # type: ignore[override]
        value = self.values[unit]
        if value is _UNMADE:
            value = self.values[unit] = self.make(unit if unit >= 0 else unit + len(self.values))
        return value  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self) -> Iterator[Value]:
        return (self[unit] for unit in range(len(self.values)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


def prepare(article: CleanArticle, vectors: sparse.csr_matrix) -> Side:
    """What alignment needs of one article, computed once (the units' stem sets and figures when first read)."""
    positions = article.evidence_tokens()
    sentences, stems, text = article.sentences, article.stems, article.text
    return Side(
        article=article,
        vectors=vectors,
        words=[article.tokens.words[i] for i in positions],
        positions=array("i", positions),  # 4 bytes a token where a list of ints costs 36: workers hold many sides
        sentence_of=array("i", _sentence_index(article)),
        stem_sets=PerUnit(
            lambda unit: {s for s in stems[sentences[unit].first : sentences[unit].last] if s}, len(sentences)
        ),
        figures=PerUnit(lambda unit: _figures(text, sentences[unit].span), len(sentences)),
    )


def reference_prepare(article: CleanArticle, vectors: sparse.csr_matrix) -> Side:
    """The readable reference of :func:`prepare`: every unit's stem set and figures made at once, as lists."""
    positions = article.evidence_tokens()
    return Side(
        article=article,
        vectors=vectors,
        words=[article.tokens.words[i] for i in positions],
        positions=array("i", positions),
        sentence_of=array("i", _sentence_index(article)),
        stem_sets=[_stem_set(article, s.first, s.last) for s in article.sentences],
        figures=[_figures(article.text, s.span) for s in article.sentences],
    )


_FIGURE = re.compile(r"\d+(?:[.,/-]\d+)*")
_WORD = re.compile(r"[^\W\d_]+")

Figure = tuple[str, str, str]  # the figure ("5,000" and "5000" are one), the word before it, the word after it


def _figures(text: str, span: tuple[int, int]) -> tuple[Figure, ...]:
    """The figures written in ``text[span]``, each with the words on either side (its slot)."""
    begin, end = span
    found = []
    for match in _FIGURE.finditer(text, begin, end):
        before = _WORD.findall(text, max(begin, match.start() - 40), match.start())
        after = _WORD.search(text, match.end(), min(end, match.end() + 40))
        found.append(
            (
                match.group().replace(",", ""),
                before[-1].casefold() if before else "",
                after.group().casefold() if after else "",
            )
        )
    return tuple(found)


def figures_conflict(source: Sequence[Figure], target: Sequence[Figure], enabled: bool = True) -> bool:
    """The units are one sentence frame with other figures in its slots: a template, not reuse.

    A target figure is *substituted* when the source has another figure, absent from the
    target, after the same word or before the same word ("reserves totalled 91.06 billion" /
    "reserves totalled 74.77 billion"). Copies and rewrites keep the figures they reuse (they
    are the news); monthly statistics, results tables and bond announcements repeat the frame
    with new figures. The units conflict when more figures are substituted than kept; figures
    in other slots (an age added, a year dropped) are a rewrite's own choices and do not count.
    Capitalised names by slot were tried here too (no gain on generated corpora, a loss on METER); names are
    checked over a whole pair instead (``score.names_kept``).
    """
    if not enabled or not source or not target:
        return False
    source_values = {value for value, _, _ in source}
    target_values = {value for value, _, _ in target}
    kept = len(source_values & target_values)
    before_slots = {before for value, before, _ in source if value not in target_values}
    after_slots = {after for value, _, after in source if value not in target_values}
    substituted = sum(
        1
        for value, before, after in target
        if value not in source_values and (before in before_slots or after in after_slots)
    )
    return substituted > kept


def sentence_cosines(source: Side, targets: Sequence[Side]) -> list[np.ndarray]:
    """``target.vectors @ source.vectors.T`` (dense) for every target, in one sparse product.

    The source's columns are renumbered 1..m and every column the source lacks becomes column 0,
    which the source leaves empty: the product adds, for every output value, the same terms in the
    same order (the target's stored order) as the product in the full hashed space, so the floats
    are identical; a product in the 2**20-column space would spend most of its time converting the
    transposed source. The source is dense unless large: a sparse-by-dense product adds the same terms
    in the same order plus exact zeros (x + 0.0 == x for these non-negative values), about twice as
    fast. The targets' entries in column 0 are left out before the product (stop 27): each would add
    an exact zero to each of the source's rows (multiply-adds that change nothing); a few numpy
    passes over the entries cost less than those. With the kernels on, :func:`_compiled_product` gives
    the same floats in one compiled call (stop 28); the code below is its readable reference.
    """
    rows = [target.vectors.shape[0] for target in targets]
    own = source.vectors
    if not targets or own.shape[0] == 0 or sum(rows) == 0 or own.nnz == 0:
        return [np.zeros((count, own.shape[0])) for count in rows]
    matrices = [target.vectors for target in targets]
    offsets = np.cumsum([0] + [int(m.indptr[-1]) for m in matrices])
    indptr = np.concatenate(
        [matrices[0].indptr[:1]] + [m.indptr[1:] + o for m, o in zip(matrices, offsets, strict=False)]
    )
    if _kernels is not None:
        product = _compiled_product(own, matrices, indptr)
        if product is not None:
            bounds = np.cumsum([0, *rows])
            return [product[bounds[k] : bounds[k + 1]] for k in range(len(targets))]
    (own_position, position), width = renumber_against(
        own.indices, [own.indices, np.concatenate([m.indices for m in matrices])], own.shape[1]
    )
    data = np.concatenate([m.data for m in matrices])
    shared = position != 0
    kept = np.flatnonzero(shared)
    if len(kept) < len(position):  # the entries in column 0 (the source lacks it) add only exact zeros: left out
        before = np.zeros(len(position) + 1, dtype=np.int64)
        np.cumsum(shared, out=before[1:])
        indptr, data, position = before[indptr], data[kept], position[kept]
    local_targets = sparse.csr_matrix((data, position, indptr), shape=(len(indptr) - 1, width))
    if width * own.shape[0] <= _DENSE_SOURCE_LIMIT:
        product = local_targets @ _dense_transposed(own, own_position, width)
    else:
        local_source = sparse.csr_matrix((own.data, own_position, own.indptr), shape=(own.shape[0], width))
        product = (local_targets @ local_source.T).toarray()
    bounds = np.cumsum([0, *rows])
    return [product[bounds[k] : bounds[k + 1]] for k in range(len(targets))]


def _compiled_product(
    own: sparse.csr_matrix, matrices: list[sparse.csr_matrix], indptr: np.ndarray
) -> np.ndarray | None:
    """:func:`sentence_cosines`' product of the stacked targets by ``kernels.sentence_product`` (the kernels on): the
    floats of the library's product below (its dense and sparse paths give the same), the source held by column
    behind a small hash table of its columns and only the terms with a source value added (the others add exact
    zeros; stop 28): no renumbering, no compressions, no dense source, no sparse matrix built. None for rows that
    are not float64 (the library's path then)."""
    data = np.concatenate([m.data for m in matrices])
    if data.dtype != np.float64 or own.data.dtype != np.float64:
        return None
    assert _kernels is not None
    columns = np.concatenate([m.indices for m in matrices])
    return _kernels.sentence_product(indptr, columns, data, own.indptr, own.indices, own.data)


def _dense_transposed(rows: sparse.csr_matrix, columns: np.ndarray, width: int) -> np.ndarray:
    """``rows`` (their column indices replaced by ``columns``, of a ``width``-column space) transposed and dense,
    C-ordered: ``csr_matrix((rows.data, columns, rows.indptr)).T.toarray()`` (duplicates summed in stored order,
    from 0.0), without building the two sparse matrices and with the layout the sparse-by-dense product reads
    without copying (the one ``toarray`` gives the transpose is Fortran-ordered)."""
    count = rows.shape[0]
    cells = columns.astype(np.int64) * count + np.repeat(np.arange(count), np.diff(rows.indptr))
    if rows.data.dtype == np.float64:  # bincount sums each cell's values in order from 0.0, in float64
        return np.bincount(cells, weights=rows.data, minlength=width * count).reshape(width, count)
    dense = np.zeros(width * count, dtype=rows.data.dtype)
    np.add.at(dense, cells, rows.data)
    return dense.reshape(width, count)


_DENSE_SOURCE_LIMIT = 1 << 22  # values (32 MB): a longer source takes the sparse product (the same floats)
_slots = threading.local()  # per thread: a column → local column table, all 0 between calls


def renumber_against(own: np.ndarray, indices: Sequence[np.ndarray], width: int) -> tuple[list[np.ndarray], int]:
    """Column indices (of a ``width``-column space) renumbered against the columns in ``own``, and the new width.

    The columns in ``own`` become 1..m in ascending order and every other column becomes 0. For a product of
    any row with a row whose columns are all in ``own`` (which leaves column 0 empty), this keeps every term and
    its summation order, so the floats are those of the full space; merged columns change no stored norm.
    """
    ordered = np.sort(own)
    columns = ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if len(ordered) else ordered
    slot = getattr(_slots, "table", None)
    if slot is None or len(slot) != width:
        slot = _slots.table = np.zeros(width, dtype=np.int32)
    slot[columns] = np.arange(1, len(columns) + 1, dtype=slot.dtype)
    renumbered = [np.take(slot, part) for part in indices]  # a plain gather: take skips indexing's general path
    slot[columns] = 0
    return renumbered, len(columns) + 1


def kgram_keys(words: list[str], size: int) -> np.ndarray:
    """A 64-bit key of every ``size``-gram of ``words`` (equal k-grams, equal keys; within one process).

    Keys combine the words' ``hash`` values, so different k-grams may share a key: users compare the words.
    """
    count = len(words) - size + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    hashes = np.fromiter(map(hash, words), dtype=np.int64, count=len(words)).view(np.uint64)
    keys = hashes[:count].copy()
    with np.errstate(over="ignore"):
        for k in range(1, size):
            keys = (keys * np.uint64(0x9E3779B97F4A7C15)) ^ hashes[k : k + count]
    return keys


@dataclass(slots=True, frozen=True)
class KgramIndex:
    """The k-gram keys of a source sorted, with their positions (ascending among equal keys)."""

    keys: np.ndarray
    positions: np.ndarray

    @classmethod
    def of(cls, keys: np.ndarray) -> KgramIndex:
        order = np.argsort(keys, kind="stable")
        return cls(keys[order], order)


@dataclass(slots=True, frozen=True)
class KgramMatches:
    """A target's k-gram keys looked up in a source's index: where each would sit, and whether it is there."""

    low: np.ndarray
    found: np.ndarray
    longest: int = -1  # the longest run of consecutive found keys (-1: not counted)

    @classmethod
    def of(cls, index: KgramIndex, target_keys: np.ndarray) -> KgramMatches:
        """The lookup (by ``dedup.kernels.kgram_lookup`` when the kernels are on, which counts ``longest`` too)."""
        if _kernels is not None:
            return cls(*_kernels.kgram_lookup(index.keys, target_keys))
        return reference_kgram_matches(index, target_keys)


def reference_kgram_matches(index: KgramIndex, target_keys: np.ndarray) -> KgramMatches:
    """:meth:`KgramMatches.of` in numpy, ``longest`` not counted: the reference of the kernel, and the path when the
    kernels are off."""
    low = np.searchsorted(index.keys, target_keys, side="left")
    if not len(index.keys):
        return KgramMatches(low, np.zeros(len(target_keys), dtype=bool))
    return KgramMatches(low, index.keys[np.minimum(low, len(index.keys) - 1)] == target_keys)


def kgram_matches(source: Side, target: Side, size: int) -> KgramMatches | None:
    """The target's ``size``-gram keys looked up in the source's (None when either side is shorter)."""
    if len(source.words) < size or len(target.words) < size:
        return None
    return KgramMatches.of(source.kgram_index(size), target.kgram_keys(size))


def tiles(
    source: list[str],
    target: list[str],
    min_tile: int,
    index: KgramIndex | None = None,
    target_keys: np.ndarray | None = None,
    lookup: KgramMatches | None = None,
) -> list[Tile]:
    """Greedy string tiling with a k-gram index: maximal common runs >= ``min_tile``, longest first.

    ``index`` is the ``min_tile``-gram index of ``source``, ``target_keys`` the ``min_tile``-gram
    keys of ``target`` and ``lookup`` those keys looked up in ``index``, when the caller already has them.
    """
    if len(source) < min_tile or len(target) < min_tile:
        return []
    if index is None:
        index = KgramIndex.of(kgram_keys(source, min_tile))
    if target_keys is None:
        target_keys = kgram_keys(target, min_tile)
    if lookup is None:
        lookup = KgramMatches.of(index, target_keys)
    low = lookup.low
    hits = np.flatnonzero(lookup.found)
    matches: list[Tile] = []
    if len(hits):
        positions = index.positions.tolist()
        high = np.searchsorted(index.keys, target_keys[hits], side="right")
        for j, begin, end in zip(hits.tolist(), low[hits].tolist(), high.tolist(), strict=True):
            gram = target[j : j + min_tile]
            for i in positions[begin:end]:
                if i > 0 and j > 0 and source[i - 1] == target[j - 1]:
                    continue  # not maximal on the left: found from an earlier start
                if source[i : i + min_tile] != gram:
                    continue  # another k-gram with the same key
                length = min_tile
                while (
                    i + length < len(source) and j + length < len(target) and source[i + length] == target[j + length]
                ):
                    length += 1
                matches.append(Tile(i, j, length))
    if not matches:
        return []
    return _select(matches, len(source), len(target), min_tile, source, target)


def _select(
    matches: list[Tile], source_len: int, target_len: int, min_tile: int, source: list[str], target: list[str]
) -> list[Tile]:
    """Take tiles longest first; a tile clipped by earlier ones keeps its free part if long enough."""
    used_source = bytearray(source_len)  # 1: the token is in a chosen tile (bytes: cheap to search and set)
    used_target = bytearray(target_len)
    chosen: list[Tile] = []
    # longest first, then by target and source position (a unique key: the order is the same as sorting)
    pending = [(-t.length, t.target, t.source, t) for t in matches]
    heapq.heapify(pending)
    while pending:
        tile = heapq.heappop(pending)[3]
        s_begin, t_begin, length = tile.source, tile.target, tile.length
        if used_source.find(1, s_begin, s_begin + length) < 0 and used_target.find(1, t_begin, t_begin + length) < 0:
            chosen.append(tile)
            used_source[s_begin : s_begin + length] = b"\x01" * length
            used_target[t_begin : t_begin + length] = b"\x01" * length
            continue
        # keep the longest free stretch of a partly covered tile, re-queued by its new length
        free = [
            not (taken_source or taken_target)
            for taken_source, taken_target in zip(
                used_source[s_begin : s_begin + length], used_target[t_begin : t_begin + length], strict=True
            )
        ]
        best_start, best_len, run_start = 0, 0, None
        for offset, ok in enumerate([*free, False]):
            if ok and run_start is None:
                run_start = offset
            elif not ok and run_start is not None:
                if offset - run_start > best_len:
                    best_start, best_len = run_start, offset - run_start
                run_start = None
        if best_len >= min_tile:
            clipped = Tile(s_begin + best_start, t_begin + best_start, best_len)
            heapq.heappush(pending, (-clipped.length, clipped.target, clipped.source, clipped))
    return sorted(chosen, key=lambda t: t.target)


def reference_tiles(source: list[str], target: list[str], min_tile: int) -> list[Tile]:
    """Readable reference for :func:`tiles`: the textbook greedy string tiling loop."""
    used_source = [False] * len(source)
    used_target = [False] * len(target)
    chosen: list[Tile] = []
    while True:
        best: list[Tile] = []
        best_len = min_tile
        for j in range(len(target)):
            for i in range(len(source)):
                length = 0
                while (
                    i + length < len(source)
                    and j + length < len(target)
                    and not used_source[i + length]
                    and not used_target[j + length]
                    and source[i + length] == target[j + length]
                ):
                    length += 1
                if length > best_len:
                    best, best_len = [Tile(i, j, length)], length
                elif length == best_len and length >= min_tile:
                    best.append(Tile(i, j, length))
        if not best:
            break
        taken = False
        for tile in sorted(best, key=lambda t: (t.target, t.source)):
            span_s = range(tile.source, tile.source + tile.length)
            span_t = range(tile.target, tile.target + tile.length)
            if any(used_source[i] for i in span_s) or any(used_target[j] for j in span_t):
                continue
            for i in span_s:
                used_source[i] = True
            for j in span_t:
                used_target[j] = True
            chosen.append(tile)
            taken = True
        if not taken:
            break
    return sorted(chosen, key=lambda t: t.target)


def detail_settings(settings: AlignSettings) -> AlignSettings | None:
    """The settings for the passages shown of a pair already judged derived, or None when off.

    Relatedness needs strict evidence (a verbatim tile counts alone only when long); once one text is
    known to be made from the other, a shorter common run is copying too and looser sentence pairs are
    rewrites.
    """
    if not settings.detail_derived:
        return None
    return dataclasses.replace(
        settings,
        min_standalone_tile=settings.detail_min_tile,
        sentence_threshold=min(settings.sentence_threshold, settings.detail_sentence_threshold),
        context_threshold=min(settings.context_threshold, settings.detail_context_threshold),
        word_alignment=settings.detail_word_alignment,
        kept_words=settings.detail_kept_words,
        attach_punctuation=settings.detail_attach_punctuation,
    )


def align(
    source: CleanArticle,
    target: CleanArticle,
    source_vectors: sparse.csr_matrix,
    target_vectors: sparse.csr_matrix,
    settings: AlignSettings,
) -> list[Passage]:
    """The passages of ``target`` reused from ``source``, in target order, non-overlapping on the target.

    A verbatim tile counts on its own when it is at least ``min_standalone_tile`` tokens
    long; a shorter one only inside an aligned sentence pair, so a stock phrase in two
    unrelated sentences is not reuse.
    """
    return align_sides(prepare(source, source_vectors), prepare(target, target_vectors), settings)


def align_sides(
    source_side: Side,
    target_side: Side,
    settings: AlignSettings,
    cosine: np.ndarray | None = None,
    matches: KgramMatches | None = None,
    tiled: list[TokenTile] | None = None,
) -> list[Passage]:
    """:func:`align` on prepared articles; ``cosine`` from :func:`sentence_cosines` when batched,
    ``matches`` from :func:`kgram_matches` and ``tiled`` from :func:`unit_tiles` at ``min_tile`` when the
    caller has them (a pair aligned under several settings with one ``min_tile`` tiles once; given ``tiled``, the
    k-grams are looked up only if :func:`cannot_reuse` needs them).

    The passages are worked on as token ranges (:data:`TokenRun`), then sorted, merged and given their punctuation as
    character spans (:data:`SpanRun`), and made ``Passage``s last: the same passages as :func:`reference_align_sides`,
    which makes each step's ``Passage`` and finds its tokens again (tested)."""
    found = _aligned_units(source_side, target_side, settings, cosine, matches, tiled)
    if found is None:
        return []
    kept, pairs, cosine = found
    source, target = source_side.article, target_side.article
    overlay = settings.word_alignment and cosine is not None and bool(cosine.size)
    if _kernels is not None:
        rows, scores = _kernel_rows(source_side, target_side, kept, pairs, cosine if overlay else None, settings)
        spans = _sorted_spans(source, target, rows, scores)
    else:
        runs, in_tiles = _token_runs(source_side, target_side, kept, pairs, settings)
        if overlay:
            words = word_runs(source_side, target_side, cosine, settings, in_tiles)
            runs = _overlay_runs(runs, words, len(target.tokens))
        if settings.kept_words:
            runs = _kept_runs(runs, source_side, target_side)
        spans = token_spans(source, target, runs)
        spans.sort(key=_SPAN_ORDER)  # as the passages were sorted: by target span, then source span (stable)
    merged = _merge_spans(spans, target.text)
    if settings.attach_punctuation:
        merged = _attach_spans(merged, source.text, target.text)
    return passages_of(source.id, target.id, merged)  # each Passage made once, at the end


def _token_runs(
    source_side: Side,
    target_side: Side,
    kept: list[TokenTile],
    pairs: list[tuple[int, int, float]],
    settings: AlignSettings,
) -> tuple[list[TokenRun], bytes | None]:
    """The runs :func:`align_sides` starts from (kernels off): the kept tiles as verbatim runs, then
    :func:`_rewrite_runs` of every accepted sentence pair; and the target tokens under a tile (a byte each and one
    more, when ``settings.word_alignment``: what :func:`word_runs` skips). The readable reference of
    ``dedup.kernels.rewrite_runs``."""
    target = target_side.article
    covered_target = bytearray(len(target.tokens) + 1)  # 1: a passage covers the target token (cheap to index)
    tile_at: dict[int, tuple[int, int, int, int]] = {}
    runs: list[TokenRun] = []
    for tile in kept:
        s_first, s_end, t_first, t_end = tile
        covered_target[t_first:t_end] = b"\x01" * (t_end - t_first)
        tile_at.update(dict.fromkeys(range(t_first, t_end), tile))
        runs.append((s_first, s_end, t_first, t_end, "verbatim", 1.0))
    in_tiles = bytes(covered_target) if settings.word_alignment else None  # the rewrite pieces mark theirs too
    for source_index, target_index, similarity in pairs:
        shared = source_side.stem_sets[source_index] & target_side.stem_sets[target_index]
        runs.extend(
            _rewrite_runs(
                source_side, target, source_index, target_index, similarity, shared, covered_target, tile_at, settings
            )
        )
    return runs, in_tiles


def reference_align_sides(
    source_side: Side,
    target_side: Side,
    settings: AlignSettings,
    cosine: np.ndarray | None = None,
    matches: KgramMatches | None = None,
    tiled: list[TokenTile] | None = None,
) -> list[Passage]:
    """:func:`align_sides` with a ``Passage`` made at every step (:func:`_overlay_words` and :func:`_kept_words` find
    a passage's tokens from its character spans): the readable reference of its token-range path."""
    found = _aligned_units(source_side, target_side, settings, cosine, matches, tiled)
    if found is None:
        return []
    kept, pairs, cosine = found
    source, target = source_side.article, target_side.article
    covered_target = bytearray(len(target.tokens) + 1)
    tile_at: dict[int, tuple[int, int, int, int]] = {}
    passages: list[Passage] = []
    for s_first, s_end, t_first, t_end in kept:
        covered_target[t_first:t_end] = b"\x01" * (t_end - t_first)
        for position in range(t_first, t_end):
            tile_at[position] = (s_first, s_end, t_first, t_end)
        passages.append(token_passage(source, target, (s_first, s_end), (t_first, t_end), "verbatim", 1.0))
    in_tiles = bytes(covered_target) if settings.word_alignment else None
    for source_index, target_index, similarity in pairs:
        shared = source_side.stem_sets[source_index] & target_side.stem_sets[target_index]
        passages.extend(
            _rewrite_pieces(
                source_side, target, source_index, target_index, similarity, shared, covered_target, tile_at, settings
            )
        )
    if settings.word_alignment and cosine is not None and cosine.size:
        runs = word_runs(source_side, target_side, cosine, settings, in_tiles)
        passages = _overlay_words(passages, runs, source, target)
    if settings.kept_words:
        passages = _kept_words(passages, source_side, target_side)
    merged = reference_merge_adjacent(sorted(passages, key=lambda p: (p.target_span, p.source_span)), target.text)
    return reference_attach_punctuation(merged, source.text, target.text) if settings.attach_punctuation else merged


def _aligned_units(
    source_side: Side,
    target_side: Side,
    settings: AlignSettings,
    cosine: np.ndarray | None,
    matches: KgramMatches | None,
    tiled: list[TokenTile] | None,
) -> tuple[list[TokenTile], list[tuple[int, int, float]], np.ndarray | None] | None:
    """What :func:`align_sides` builds its passages from: the verbatim tiles kept, the accepted sentence pairs and
    the cosines (made here when not given); None when :func:`cannot_reuse` tells there is none."""
    source, target = source_side.article, target_side.article
    if cosine is None and source.sentences and target.sentences:
        cosine = (target_side.vectors @ source_side.vectors.T).toarray()
    if matches is None and tiled is None:
        matches = kgram_matches(source_side, target_side, settings.min_tile)
    if cannot_reuse(source_side, target_side, settings, cosine, matches):  # looks the k-grams up if it needs them
        return None
    source_sentence, target_sentence = source_side.sentence_of, target_side.sentence_of
    found = unit_tiles(source_side, target_side, settings.min_tile, matches) if tiled is None else tiled
    anchors = {(source_sentence[s0], target_sentence[t0]) for s0, s1, t0, _ in found if s1 - s0 >= settings.anchor_tile}
    pairs = _sentence_pairs(source_side, target_side, cosine, anchors, settings)
    accepted = {(i, j) for i, j, _ in pairs}
    kept = [
        tile
        for tile in found
        if (source_sentence[tile[0]], target_sentence[tile[2]]) in accepted
        or (
            tile[3] - tile[2] >= settings.min_standalone_tile
            and not figures_conflict(
                source_side.figures[source_sentence[tile[0]]],
                target_side.figures[target_sentence[tile[2]]],
                settings.template_figures,
            )
        )
    ]
    return kept, pairs, cosine


TokenRun = tuple[int, int, int, int, str, float]  # a passage as source tokens [first, end), target tokens, kind, score


SpanRun = tuple[tuple[int, int], tuple[int, int], str, float]  # a passage as (target span, source span, kind, score)
_SPAN_ORDER = operator.itemgetter(0, 1)  # (target span, source span): the order passages are merged in


def token_spans(source: CleanArticle, target: CleanArticle, runs: list[TokenRun]) -> list[SpanRun]:
    """The character spans of every run, as :func:`token_passage` makes them, without making the ``Passage``s."""
    source_starts, source_ends = source.tokens.starts, source.tokens.ends
    target_starts, target_ends = target.tokens.starts, target.tokens.ends
    return [
        (
            (target_starts[t_first], target_ends[t_end - 1]),
            (source_starts[s_first], source_ends[s_end - 1]),
            kind,
            score,
        )
        for s_first, s_end, t_first, t_end, kind, score in runs
    ]


def passages_of(source_id: str, target_id: str, spans: list[SpanRun]) -> list[Passage]:
    """The ``Passage`` of every span run, from ``source_id`` to ``target_id``."""
    return [
        Passage(source_id, target_id, source_span, target_span, kind, score)
        for target_span, source_span, kind, score in spans
    ]


def span_runs(passages: Sequence[Passage]) -> list[SpanRun]:
    """The span run of every passage (:func:`passages_of`'s inverse for passages of one source and one target)."""
    return [(p.target_span, p.source_span, p.kind, p.score) for p in passages]


_kernels: types.ModuleType | None = None  # ``dedup.kernels`` once :func:`use_kernels` turned them on


def use_kernels(enabled: bool = True) -> bool:
    """Turn the compiled per-pair kernels (``dedup.kernels``, numba) on or off in this process; whether they are on.

    Off by default: importing numba and loading the compiled code costs about a second a process, which only a run
    with many pairs earns back; a run turns them on before forking its workers (they inherit the loaded code). Stays
    off when numba cannot be imported or the environment sets ``DEDUP_KERNELS=0``. The output is the same either way
    (tested).
    """
    global _kernels
    if not enabled or os.environ.get("DEDUP_KERNELS") == "0":
        _kernels = None
        return False
    try:
        import dedup.kernels as kernels
    except ImportError:  # numba missing or unusable here: the Python path
        return False
    kernels.warm()
    kernels.reset_vocabulary()  # a run's words from here on: a long-lived process does not keep every past run's
    _kernels = kernels
    return True


TokenTile = tuple[int, int, int, int]  # a verbatim tile inside one unit of each side: (s_first, s_end, t_first, t_end)


def unit_tiles(source: Side, target: Side, min_tile: int, matches: KgramMatches | None) -> list[TokenTile]:
    """The verbatim tiles of a pair (:func:`tiles`) as token ranges cut at unit boundaries (``_split_at_breaks``);
    ``matches``: :func:`kgram_matches` of the pair at ``min_tile``. With the compiled kernels on
    (:func:`use_kernels`), ``dedup.kernels.unit_tiles`` computes the same tiles (tested)."""
    if _kernels is not None:
        if len(source.words) < min_tile or len(target.words) < min_tile:
            return []
        if matches is None:
            matches = kgram_matches(source, target, min_tile)
            assert matches is not None
        index = source.kgram_index(min_tile)
        _kernels.bound_vocabulary()  # before the two sides' ids: both of one vocabulary
        source_ids, source_breaks, source_positions = source.kernel_arrays()
        target_ids, target_breaks, target_positions = target.kernel_arrays()
        found = _kernels.unit_tiles(
            source_ids,
            target_ids,
            min_tile,
            index.keys,
            index.positions,
            target.kgram_keys(min_tile),
            matches.low,
            matches.found,
            source_breaks,
            target_breaks,
            source_positions,
            target_positions,
        )
        return list(map(tuple, found.tolist())) if len(found) else []
    return reference_unit_tiles(source, target, min_tile, matches)


def reference_unit_tiles(source: Side, target: Side, min_tile: int, matches: KgramMatches | None) -> list[TokenTile]:
    """:func:`unit_tiles` in Python (:func:`tiles`, then :func:`_split_at_breaks`): the readable reference of the
    compiled kernel, and the path when the kernels are off."""
    return [
        piece
        for t in tiles(
            source.words,
            target.words,
            min_tile,
            source.kgram_index(min_tile),
            target.kgram_keys(min_tile),
            matches,
        )
        for piece in _split_at_breaks(
            t, source.unit_breaks(), target.unit_breaks(), source.positions, target.positions, min_tile
        )
    ]


def monotone_matches(
    target: Sequence[str], source: Sequence[str], shared: Collection[str] | None = None
) -> list[tuple[int, int]]:
    """A longest common subsequence of two word sequences, as ``(target, source)`` index pairs in order.

    Words found on one side only cannot be in it, so they are left out first (the fast part: most cells of a
    sentence-by-window table hold such words); the rest is :func:`common_subsequence`. ``shared``: the words
    both sequences hold, when the caller knows them.
    """
    if shared is None:
        shared = set(target) & set(source)
    if not shared:
        return []
    target_at = [x for x, word in enumerate(target) if word in shared]
    source_at = [y for y, word in enumerate(source) if word in shared]
    pairs = common_subsequence([target[x] for x in target_at], [source[y] for y in source_at])
    return [(target_at[x], source_at[y]) for x, y in pairs]


def common_subsequence(target: Sequence[str], source: Sequence[str]) -> list[tuple[int, int]]:
    """:func:`reference_common_subsequence` with each row of the suffix-length table as one integer.

    Bit-parallel LCS (Allison and Dix 1986, Hyyrö 2004) over the source reversed: after the last ``k`` target
    words, bit ``b`` of ``rows[k]`` is 0 where the length grows from the source's last ``b`` words to its last
    ``b + 1``, so a table cell is a count of zero bits. The walk is the reference's; a match is always taken
    (two equal first words start some longest common subsequence, so the reference's check always holds).
    """
    n, m = len(target), len(source)
    if not n or not m:
        return []
    masks: dict[str, int] = {}
    for bit, word in enumerate(reversed(source)):
        masks[word] = masks.get(word, 0) | 1 << bit
    full = (1 << m) - 1
    rows = [full]
    row = full
    for word in reversed(target):
        kept = row & masks.get(word, 0)
        row = ((row + kept) | (row - kept)) & full
        rows.append(row)

    def longest(x: int, y: int) -> int:  # the reference's longest[x][y]
        width = m - y
        return width - (rows[n - x] & ((1 << width) - 1)).bit_count()

    pairs: list[tuple[int, int]] = []
    x = y = 0
    while x < n and y < m:
        if target[x] == source[y]:
            pairs.append((x, y))
            x, y = x + 1, y + 1
        elif longest(x + 1, y) >= longest(x, y + 1):
            x += 1
        else:
            y += 1
    return pairs


def reference_common_subsequence(target: Sequence[str], source: Sequence[str]) -> list[tuple[int, int]]:
    """The textbook dynamic programme for a longest common subsequence (suffix lengths, then a walk from the
    start that takes a match whenever it keeps the optimum, else skips on the target side first)."""
    n, m = len(target), len(source)
    if not n or not m:
        return []
    longest = [[0] * (m + 1) for _ in range(n + 1)]
    for x in range(n - 1, -1, -1):
        row, below = longest[x], longest[x + 1]
        for y in range(m - 1, -1, -1):
            row[y] = below[y + 1] + 1 if target[x] == source[y] else max(below[y], row[y + 1])
    pairs: list[tuple[int, int]] = []
    x = y = 0
    while x < n and y < m:
        if target[x] == source[y] and longest[x][y] == longest[x + 1][y + 1] + 1:
            pairs.append((x, y))
            x, y = x + 1, y + 1
        elif longest[x + 1][y] >= longest[x][y + 1]:
            x += 1
        else:
            y += 1
    return pairs


WORD_REWRITE_SCORE = 0.5  # a rewrite found word by word has no sentence cosine of its own to report
WordRun = tuple[int, int, int, int, str]  # target tokens [from, to), source tokens [from, to), kind


def _word_runs(
    source: Side,
    target: CleanArticle,
    cosine: np.ndarray,
    settings: AlignSettings,
    verbatim: bytes | None = None,
) -> list[WordRun]:
    """Word-level reuse inside target units, from a monotone alignment against their nearest source text.

    Each target unit is aligned with the source window (the unit before, the unit, the unit after) around
    each of its two most similar source units (cosine >= ``word_min_cosine``): first the content stems in
    order (a longest common subsequence), then, between consecutive stem matches, the exact words. The
    window with most stem matches is kept when it matches at least ``word_min_matches`` stems and
    ``word_min_share`` of the unit's content stems; matches stranded more than ``max_edge_gap`` tokens from
    the rest are dropped. Between the first and last match, matched words are ``verbatim`` and the others
    ``rewrite`` (METER's convention: a long newspaper sentence merging several wire facts keeps their words
    and rewords the rest; the sentence cosine is too low to pair it).

    Many to one: a stretch of more than ``word_edge`` words left before the first or after the last match is
    aligned once more on its own (with the same thresholds over its own content stems), against the windows
    around the two source units sharing most of its stems, and the unit's share counts the matches of all its
    parts: a sentence that merges two wire sentences from different places in the wire text matches one of
    them in one part and the other in the other, and neither alone reaches the share of the whole.
    ``verbatim`` (a byte per target token, nonzero in a verbatim tile): a unit made of them only is skipped, as no word
    run could change it (a verbatim passage always stays, and a unit's word runs stay inside it).
    """
    runs: list[WordRun] = []
    if not cosine.shape[1]:
        return runs
    top = np.argsort(-cosine, axis=1, kind="stable")[:, :2].tolist()  # each row sorted on its own, as one by one
    for j, unit in enumerate(target.sentences):
        if verbatim is not None and verbatim.find(0, unit.first, unit.last) < 0:  # every token in a tile
            continue
        nearest = [i for i in top[j] if cosine[j, i] >= settings.word_min_cosine]
        whole = (unit.first, unit.last)
        needed = _needed(target, whole, settings)
        first = _stretch_alignment(source, target, whole, nearest, settings.word_min_matches, settings)
        if first is None:
            continue
        parts = [(whole, *first)]
        for stretch in ((unit.first, first[0][0][0]), (first[0][-1][0] + 1, unit.last)):
            if stretch[1] - stretch[0] > settings.word_edge:
                found = _stretch_alignment(
                    source,
                    target,
                    stretch,
                    _most_shared(source, target, stretch),
                    _needed(target, stretch, settings),
                    settings,
                )
                if found is not None:
                    parts.append((stretch, *found))
        if sum(count for _, _, _, count in parts) < needed:
            continue
        for stretch, matches, window, _ in parts:
            runs.extend(_edge_run(target, window, matches[0], stretch[0], settings.word_edge, before=True))
            runs.extend(_label_words(source.article, target, matches, window))
            runs.extend(_edge_run(target, window, matches[-1], stretch[1], settings.word_edge, before=False))
    return runs


_WORD_RUN_KINDS = ("rewrite", "verbatim")  # by ``dedup.kernels.REWRITE`` / ``VERBATIM``


def word_runs(
    source: Side, target: Side, cosine: np.ndarray, settings: AlignSettings, verbatim: bytes | None = None
) -> list[WordRun]:
    """:func:`_word_runs` of a pair, by the compiled kernel ``dedup.kernels.word_runs`` when the kernels are on (on
    word and stem ids: the same runs, tested); :func:`_word_runs` is its readable reference and the path when off."""
    if _kernels is None or cosine.dtype != np.float64 or settings.word_min_matches < 1:
        return _word_runs(source, target.article, cosine, settings, verbatim)
    rows = _word_run_rows(source, target, cosine, settings, verbatim)
    return [(a, b, c, d, _WORD_RUN_KINDS[kind]) for a, b, c, d, kind in rows.tolist()]


_RUN_CODES = {"rewrite": 0, "verbatim": 1}  # a kind as ``dedup.kernels.REWRITE`` / ``VERBATIM``
_NO_ROWS = np.empty((0, 5), dtype=np.int64)


def _word_run_rows(
    source: Side, target: Side, cosine: np.ndarray, settings: AlignSettings, verbatim: bytes | np.ndarray | None
) -> np.ndarray:
    """:func:`word_runs` as the kernel's rows ``(t_from, t_to, s_from, s_to, kind code)`` (kernels on); ``verbatim``
    as :func:`_word_runs` reads it, or the same bytes as a ``uint8`` array."""
    assert _kernels is not None
    if cosine.dtype != np.float64 or settings.word_min_matches < 1:
        found = _word_runs(source, target.article, cosine, settings, None if verbatim is None else bytes(verbatim))
        if not found:
            return _NO_ROWS
        return np.array([(a, b, c, d, _RUN_CODES[kind]) for a, b, c, d, kind in found], dtype=np.int64)
    if not cosine.shape[1]:
        return _NO_ROWS
    (
        (target_words, target_stems, target_firsts, target_lasts),
        (source_words, source_stems, source_firsts, source_lasts),
    ) = _pair_ids(source, target)
    return _kernels.word_runs(
        target_words,
        target_stems,
        target_firsts,
        target_lasts,
        source_words,
        source_stems,
        source_firsts,
        source_lasts,
        np.ascontiguousarray(cosine),
        np.ascontiguousarray(np.argsort(-cosine, axis=1, kind="stable")[:, :2], dtype=np.int64),
        np.frombuffer(verbatim if verbatim is not None else b"\0", dtype=np.uint8),
        verbatim is not None,
        float(settings.word_min_cosine),
        settings.word_min_matches,
        float(settings.word_min_share),
        settings.max_edge_gap,
        settings.word_edge,
    )


def _pair_ids(
    source: Side, target: Side
) -> tuple[
    tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
]:
    """Both sides' :meth:`Side.token_ids` (target, source) in one vocabulary: bounded first (``bound_vocabulary``:
    between a pair's kernel steps, never between its two sides' ids)."""
    assert _kernels is not None
    _kernels.bound_vocabulary()
    return target.token_ids(), source.token_ids()


def _kernel_rows(
    source_side: Side,
    target_side: Side,
    kept: list[TokenTile],
    pairs: list[tuple[int, int, float]],
    cosine: np.ndarray | None,
    settings: AlignSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`align_sides`' token runs by the compiled kernels (kernels on), as rows ``(s_first, s_end, t_first,
    t_end, kind code)`` and scores: :func:`_token_runs` by ``dedup.kernels.rewrite_runs`` (:func:`_rewrite_rows`),
    then :func:`_overlay_runs` of :func:`word_runs` (when ``cosine`` is given) and :func:`_kept_runs` (when
    ``settings.kept_words``) in one call of ``dedup.kernels.detail_runs``, on rows from one step to the next: the same
    runs in the same order (tested); the Python steps are their readable references and the path when the kernels are
    off."""
    rows, scores, in_tiles = _rewrite_rows(source_side, target_side, kept, pairs, settings)
    if cosine is not None or settings.kept_words:
        words = _NO_ROWS if cosine is None else _word_run_rows(source_side, target_side, cosine, settings, in_tiles)
        rows, scores = _detail_rows(rows, scores, words, source_side, target_side, cosine is not None, settings)
    return rows, scores


def _sorted_spans(source: CleanArticle, target: CleanArticle, rows: np.ndarray, scores: np.ndarray) -> list[SpanRun]:
    """:func:`token_spans` of the kernel rows, sorted as :func:`align_sides` sorts them (by target span, then source
    span, stable: ``np.lexsort``), by numpy on whole columns: no :data:`TokenRun` made."""
    if not len(rows):
        return []
    target_begins = np.asarray(target.tokens.starts)[rows[:, 2]]
    target_ends = np.asarray(target.tokens.ends)[rows[:, 3] - 1]
    source_begins = np.asarray(source.tokens.starts)[rows[:, 0]]
    source_ends = np.asarray(source.tokens.ends)[rows[:, 1] - 1]
    order = np.lexsort((source_ends, source_begins, target_ends, target_begins))
    kinds = _WORD_RUN_KINDS
    return [
        ((target_begin, target_end), (source_begin, source_end), kinds[kind], score)
        for target_begin, target_end, source_begin, source_end, kind, score in zip(
            target_begins[order].tolist(),
            target_ends[order].tolist(),
            source_begins[order].tolist(),
            source_ends[order].tolist(),
            rows[order, 4].tolist(),
            scores[order].tolist(),
            strict=True,
        )
    ]


def _token_runs_of(rows: np.ndarray, scores: np.ndarray) -> list[TokenRun]:
    """The :data:`TokenRun` of every kernel row ``(s_first, s_end, t_first, t_end, kind code)`` and its score."""
    kinds = _WORD_RUN_KINDS
    rows_and_scores = zip(rows.tolist(), scores.tolist(), strict=True)
    return [(a, b, c, d, kinds[kind], score) for (a, b, c, d, kind), score in rows_and_scores]


def _rewrite_rows(
    source_side: Side,
    target_side: Side,
    kept: list[TokenTile],
    pairs: list[tuple[int, int, float]],
    settings: AlignSettings,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_token_runs` by ``dedup.kernels.rewrite_runs`` (kernels on): the runs as rows and scores, and the target
    tokens under a tile as a ``uint8`` array (whatever ``settings.word_alignment``)."""
    assert _kernels is not None
    tiles = np.array(kept, dtype=np.int64).reshape(-1, 4)
    in_tiles = np.zeros(len(target_side.article.tokens) + 1, dtype=np.uint8)  # a byte a target token, 1 under a tile
    for t_first, t_end in tiles[:, 2:].tolist():
        in_tiles[t_first:t_end] = 1
    (
        (target_words, target_stems, target_firsts, target_lasts),
        (source_words, source_stems, source_firsts, source_lasts),
    ) = _pair_ids(source_side, target_side)
    rows, scores = _kernels.rewrite_runs(
        tiles,
        np.array([(i, j) for i, j, _ in pairs], dtype=np.int64).reshape(-1, 2),
        np.array([round(similarity, 4) for _, _, similarity in pairs], dtype=np.float64),
        in_tiles,
        source_words,
        source_stems,
        source_firsts,
        source_lasts,
        target_words,
        target_stems,
        target_firsts,
        target_lasts,
        settings.max_edge_gap,
        settings.min_copied_run,
    )
    return rows, scores, in_tiles


def _detail_runs_of(
    runs: list[TokenRun],
    words: np.ndarray | list[tuple[int, int, int, int, int]],
    source_side: Side,
    target_side: Side,
    overlay: bool,
    settings: AlignSettings,
) -> list[TokenRun]:
    """:func:`_overlay_runs` of the word runs ``words`` (the kernel's rows, kind codes; when ``overlay``) then
    :func:`_kept_runs` (when ``settings.kept_words``) of ``runs`` in one call of ``dedup.kernels.detail_runs``."""
    assert _kernels is not None
    words = np.asarray(words, dtype=np.int64).reshape(-1, 5)
    if not runs and not len(words):
        return []
    codes = _RUN_CODES
    rows, scores = _detail_rows(
        np.array([(a, b, c, d, codes[kind]) for a, b, c, d, kind, _ in runs], dtype=np.int64).reshape(-1, 5),
        np.array([run[5] for run in runs], dtype=np.float64),
        words,
        source_side,
        target_side,
        overlay,
        settings,
    )
    return _token_runs_of(rows, scores)


def _detail_rows(
    rows: np.ndarray,
    scores: np.ndarray,
    words: np.ndarray,
    source_side: Side,
    target_side: Side,
    overlay: bool,
    settings: AlignSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """``dedup.kernels.detail_runs`` of runs as rows ``(s_first, s_end, t_first, t_end, kind code)`` and scores."""
    assert _kernels is not None
    if not len(rows) and not len(words):
        return rows, scores
    (target_words, target_stems, _, _), (source_words, source_stems, source_firsts, source_lasts) = _pair_ids(
        source_side, target_side
    )
    return _kernels.detail_runs(
        rows,
        scores,
        words,
        overlay,
        settings.kept_words,
        WORD_REWRITE_SCORE,
        target_words,
        target_stems,
        target_side.named_flags(),
        source_words,
        source_stems,
        source_firsts,
        source_lasts,
        np.frombuffer(source_side.sentence_of, dtype=np.int32),
        source_side.named_tokens(),
    )


def _needed(target: CleanArticle, stretch: tuple[int, int], settings: AlignSettings) -> float:
    """How many stem matches a word alignment of the target tokens ``stretch`` needs."""
    content = sum(1 for stem in target.stems[stretch[0] : stretch[1]] if stem)
    return max(settings.word_min_matches, settings.word_min_share * content)


def _most_shared(source: Side, target: CleanArticle, stretch: tuple[int, int], count: int = 2) -> list[int]:
    """The ``count`` source units sharing most content stems with the target tokens ``stretch`` (ties: first)."""
    wanted = {stem for stem in target.stems[stretch[0] : stretch[1]] if stem}
    if not wanted:
        return []
    shared = [len(wanted & stems) for stems in source.stem_sets]
    return sorted((i for i, n in enumerate(shared) if n), key=lambda i: (-shared[i], i))[:count]


def _stretch_alignment(
    source: Side,
    target: CleanArticle,
    stretch: tuple[int, int],
    nearest: list[int],
    needed: float,
    settings: AlignSettings,
) -> tuple[list[tuple[int, int]], list[int], int] | None:
    """The stem matches ``(target token, window position)`` of the target tokens ``stretch`` in the best window
    around the ``nearest`` source units, and that window (see :func:`_word_runs`), or None below ``needed``."""
    content = [k for k in range(*stretch) if target.stems[k]]
    if not content:
        return None
    unit_stems = [target.stems[k] for k in content]
    counts = Counter(unit_stems)
    best: list[tuple[int, int]] = []
    best_window: list[int] = []
    for i in nearest:
        window = source.window(i)
        common = counts.keys() & window.counts.keys()
        if sum(min(counts[stem], window.counts[stem]) for stem in common) < needed:
            continue  # an exact bound: the common subsequence is no longer than the common multiset
        found = monotone_matches(unit_stems, window.stems, common)
        if len(found) > len(best):
            best, best_window = [(content[x], window.content[y]) for x, y in found], window.tokens
    if len(best) < needed:
        return None
    count = len(best)
    while len(best) > 2 and best[1][0] - best[0][0] > settings.max_edge_gap:
        best.pop(0)
    while len(best) > 2 and best[-1][0] - best[-2][0] > settings.max_edge_gap:
        best.pop()
    if len(best) < settings.word_min_matches:
        return None
    return best, best_window, count


def _edge_run(
    target: CleanArticle, window: list[int], anchor: tuple[int, int], bound: int, limit: int, before: bool
) -> list[WordRun]:
    """The unmatched words between a unit's edge (``bound``) and its first (``before``) or last match, as one
    rewrite run when at most ``limit`` words: a reworded clause is reused as a whole, its opening or closing
    words included. Its source is the evidence stretch of at most as many words next to the anchor's match."""
    token, position = anchor
    count = token - bound if before else bound - 1 - token
    if count <= 0 or count > limit:
        return []
    step = -1 if before else 1
    far = position
    while (
        0 <= far + step < len(window)
        and abs(far + step - position) <= count
        and window[far + step] == window[far] + step
    ):
        far += step
    if far == position:
        s_from, s_to = window[position], window[position] + 1
    else:
        s_from, s_to = (window[far], window[position]) if before else (window[position] + 1, window[far] + 1)
    t_from, t_to = (bound, token) if before else (token + 1, bound)
    return [(t_from, t_to, s_from, s_to, "rewrite")]


def _label_words(
    source: CleanArticle, target: CleanArticle, anchors: list[tuple[int, int]], window: list[int]
) -> list[WordRun]:
    """The target tokens from the first to the last anchor as verbatim runs and rewrite runs.

    ``anchors``: (target token, position in ``window``) stem matches; ``window``: the source evidence tokens
    aligned against. Between consecutive anchors the exact words are matched too (a lone one only next to
    another match); matched words form verbatim
    runs (consecutive on both sides), the rest rewrite runs against the source tokens between the
    neighbouring matches (only the part in one stretch of evidence: a span never crosses a boilerplate line).
    A stem match in another form ("served" / "serving", "review" / "reviews") is a rewrite of its source word,
    as METER's annotators mark it: verbatim is the same word.
    """
    matched = dict(anchors)
    words, source_words = target.tokens.words, source.tokens.words
    for (t0, p0), (t1, p1) in itertools.pairwise(anchors):
        if t1 - t0 < 2 or p1 - p0 < 2:
            continue  # nothing between them on one side: no word to match
        between, source_between = range(t0 + 1, t1), range(p0 + 1, p1)
        found = monotone_matches([words[k] for k in between], [source_words[window[q]] for q in source_between])
        kept = {between[x]: source_between[y] for x, y in found}
        # a lone stopword matched between stem matches is chance ("with", "the"): kept only next to another match
        matched.update(
            {k: q for k, q in kept.items() if k - 1 in matched or k - 1 in kept or k + 1 in kept or k + 1 in matched}
        )
    runs: list[WordRun] = []
    after = anchors[0][1] + 1  # window position after the last matched word
    for k in range(anchors[0][0], anchors[-1][0] + 1):
        if k in matched and words[k] != source_words[window[matched[k]]]:  # the stem kept, the word changed
            if runs and runs[-1][4] == "rewrite" and runs[-1][1] == k:
                runs[-1] = (runs[-1][0], k + 1, *runs[-1][2:])
            else:
                s = window[matched[k]]
                runs.append((k, k + 1, s, s + 1, "rewrite"))
            after = matched[k] + 1
        elif k in matched:
            s = window[matched[k]]
            if runs and runs[-1][4] == "verbatim" and runs[-1][1] == k and runs[-1][3] == s:
                runs[-1] = (runs[-1][0], k + 1, runs[-1][2], s + 1, "verbatim")
            else:
                runs.append((k, k + 1, s, s + 1, "verbatim"))
            after = matched[k] + 1
        elif runs and runs[-1][4] == "rewrite" and runs[-1][1] == k:
            runs[-1] = (runs[-1][0], k + 1, *runs[-1][2:])
        else:
            following = next(matched[n] for n in range(k + 1, anchors[-1][0] + 1) if n in matched)
            begin = following
            while begin > after and window[begin - 1] == window[begin] - 1:
                begin -= 1
            end = max(window[following], window[begin] + 1) if begin < following else window[following] + 1
            runs.append((k, k + 1, window[begin], end, "rewrite"))
    return runs


def _overlay_words(
    passages: list[Passage], runs: list[WordRun], source: CleanArticle, target: CleanArticle
) -> list[Passage]:
    """``passages`` with the word runs laid over them: a verbatim word run wins over a rewrite passage (which is
    cut around it), and word runs fill target tokens no passage covers; a verbatim passage always stays."""
    starts = target.tokens.starts
    kind_at: dict[int, str] = {}
    for passage in passages:
        first = bisect.bisect_left(starts, passage.target_span[0])
        last = bisect.bisect_left(starts, passage.target_span[1])
        for k in range(first, last):
            kind_at[k] = passage.kind
    overridden: set[int] = set()
    added: list[Passage] = []
    for t_from, t_to, s_from, s_to, kind in runs:
        free = [k for k in range(t_from, t_to) if k not in kind_at or (kind == "verbatim" and kind_at[k] == "rewrite")]
        for piece in _contiguous(free):
            if kind == "verbatim":
                offset = piece[0] - t_from
                span = (s_from + offset, s_from + offset + len(piece))
            else:
                span = (s_from, s_to)
            score = 1.0 if kind == "verbatim" else WORD_REWRITE_SCORE
            added.append(token_passage(source, target, span, (piece[0], piece[-1] + 1), kind, score))
            for k in piece:
                overridden.add(k)
                kind_at.setdefault(k, kind)
    kept: list[Passage] = []
    for passage in passages:
        if passage.kind != "rewrite":
            kept.append(passage)
            continue
        first = bisect.bisect_left(starts, passage.target_span[0])
        last = bisect.bisect_left(starts, passage.target_span[1])
        remaining = [k for k in range(first, last) if k not in overridden]
        if len(remaining) == last - first:
            kept.append(passage)
            continue
        for piece in _contiguous(remaining):
            span = (target.tokens.starts[piece[0]], target.tokens.ends[piece[-1]])  # ``dataclasses.replace``, made
            kept.append(Passage(passage.source, passage.target, passage.source_span, span, passage.kind, passage.score))
    return kept + added


def _kept_words(passages: list[Passage], source_side: Side, target_side: Side) -> list[Passage]:
    """``passages`` with every content word of a rewrite passage that occurs in its source units made verbatim.

    METER's annotators mark the words a rewritten sentence kept from the wire sentence it rewrites as verbatim,
    in whatever order it kept them ("who unfortunately" for "unfortunately who", a place name moved to the
    front); only the reworded words are rewrite. The source units are those the passage's source span touches
    (the sentence it was aligned with); stopwords stay rewrite unless a copied run already took them (a lone
    "the" or "and" is in every sentence). Names and figures (a capitalised or digit token on both sides) are
    kept wherever the source has them: a rewrite moves a name from the wire's lead into its third sentence.
    A kept word's source span is its first occurrence in those units (for a name, in the source).
    """
    source, target = source_side.article, target_side.article
    starts, source_starts = target.tokens.starts, source.tokens.starts
    target_stems, target_words, target_ends, target_text = (
        target.stems,
        target.tokens.words,
        target.tokens.ends,
        target.text,
    )
    names = source_side.named_words()
    result: list[Passage] = []
    for passage in passages:
        if passage.kind != "rewrite":
            result.append(passage)
            continue
        first = bisect.bisect_left(source_starts, passage.source_span[0])
        last = max(first + 1, bisect.bisect_left(source_starts, passage.source_span[1]))
        units = sorted({source_side.sentence_of[k] for k in range(first, min(last, len(source_starts)))} - {-1})
        occurs: dict[str, int] = {}
        for unit in units:
            for word, k in source_side.unit_content_words(unit).items():
                occurs.setdefault(word, k)
        t_first = bisect.bisect_left(starts, passage.target_span[0])
        t_last = bisect.bisect_left(starts, passage.target_span[1])
        kept = _kept_tokens(range(t_first, t_last), target_stems, target_words, target_text, starts, occurs, names)
        if not kept:
            result.append(passage)
            continue
        for k in kept:  # one passage a word: words next to each other on both sides are merged later
            word = target_words[k]
            at = occurs.get(word, names.get(word, -1))
            result.append(token_passage(source, target, (at, at + 1), (k, k + 1), "verbatim", 1.0))
        taken = set(kept)
        for piece in _contiguous([k for k in range(t_first, t_last) if k not in taken]):
            # ``dataclasses.replace(passage, target_span=...)``, made directly
            span = (starts[piece[0]], target_ends[piece[-1]])
            result.append(
                Passage(passage.source, passage.target, passage.source_span, span, passage.kind, passage.score)
            )
    return result


_KIND_CODES = {"verbatim": 1, "rewrite": 2}  # a target token's kind in :func:`_overlay_runs` (0: no passage)


def _overlay_runs(runs: list[TokenRun], words: list[WordRun], target_tokens: int) -> list[TokenRun]:
    """:func:`_overlay_words` on token ranges (``target_tokens``: how many tokens the target has), each token's kind
    and whether a word run took it a byte."""
    kind_at = bytearray(target_tokens)
    for _, _, t_first, t_end, kind, _ in runs:
        kind_at[t_first:t_end] = bytes((_KIND_CODES[kind],)) * (t_end - t_first)
    overridden = bytearray(target_tokens)
    added: list[TokenRun] = []
    for t_from, t_to, s_from, s_to, kind in words:
        verbatim = kind == "verbatim"
        if verbatim:  # a verbatim word run takes the tokens of no passage or of a rewrite
            free = [k for k in range(t_from, t_to) if kind_at[k] != 1]
        else:
            free = [k for k in range(t_from, t_to) if not kind_at[k]]
        code = _KIND_CODES[kind]
        for piece in _contiguous(free):
            if verbatim:
                offset = piece[0] - t_from
                added.append((s_from + offset, s_from + offset + len(piece), piece[0], piece[-1] + 1, kind, 1.0))
            else:
                added.append((s_from, s_to, piece[0], piece[-1] + 1, kind, WORD_REWRITE_SCORE))
            for k in piece:
                overridden[k] = 1
                if not kind_at[k]:
                    kind_at[k] = code
    kept: list[TokenRun] = []
    for run in runs:
        t_first, t_end = run[2], run[3]
        if run[4] != "rewrite" or overridden.find(1, t_first, t_end) < 0:
            kept.append(run)
            continue
        s_first, s_end, _, _, kind, score = run
        for piece in _contiguous([k for k in range(t_first, t_end) if not overridden[k]]):
            kept.append((s_first, s_end, piece[0], piece[-1] + 1, kind, score))
    return kept + added


def _kept_runs(runs: list[TokenRun], source_side: Side, target_side: Side) -> list[TokenRun]:
    """:func:`_kept_words` on token ranges: a rewrite's source units read from its source tokens, their first content
    words taken as :meth:`Side.unit_content_words` holds them (one unit: that dict itself)."""
    target = target_side.article
    starts, target_stems, target_words, target_text = (
        target.tokens.starts,
        target.stems,
        target.tokens.words,
        target.text,
    )
    source_count = len(source_side.article.tokens)
    sentence_of = source_side.sentence_of
    names = source_side.named_words()
    result: list[TokenRun] = []
    for run in runs:
        if run[4] != "rewrite":
            result.append(run)
            continue
        s_first, s_end, t_first, t_end, kind, score = run
        units = sorted(set(sentence_of[s_first : min(max(s_first + 1, s_end), source_count)]) - {-1})
        if len(units) == 1:
            occurs = source_side.unit_content_words(units[0])
        else:
            occurs = {}
            for unit in reversed(units):  # the first unit holding a word gives its token, as ``setdefault`` in order
                occurs.update(source_side.unit_content_words(unit))
        kept = _kept_tokens(range(t_first, t_end), target_stems, target_words, target_text, starts, occurs, names)
        if not kept:
            result.append(run)
            continue
        for k in kept:  # one passage a word: words next to each other on both sides are merged later
            word = target_words[k]
            at = occurs.get(word, names.get(word, -1))
            result.append((at, at + 1, k, k + 1, "verbatim", 1.0))
        taken = set(kept)
        for piece in _contiguous([k for k in range(t_first, t_end) if k not in taken]):
            result.append((s_first, s_end, piece[0], piece[-1] + 1, kind, score))
    return result


def _named(article: CleanArticle, token: int) -> bool:
    """The token is written with a capital or is a figure: a name or a number (a fact a rewrite keeps)."""
    return article.text[article.tokens.starts[token]].isupper() or article.tokens.words[token].isdigit()


def _contiguous(positions: list[int]) -> list[list[int]]:
    """Ascending positions cut into runs of consecutive ones."""
    pieces: list[list[int]] = []
    for k in positions:
        if pieces and pieces[-1][-1] == k - 1:
            pieces[-1].append(k)
        else:
            pieces.append([k])
    return pieces


def cannot_reuse(
    source: Side,
    target: Side,
    settings: AlignSettings,
    cosine: np.ndarray | None,
    matches: KgramMatches | None = None,
) -> bool:
    """True when :func:`align_sides` is sure to find no passage, told from cheap facts (an exact exit, not a guess).

    Every accepted sentence pair needs a cosine of at least ``sentence_threshold`` or ``anchor_threshold``
    (context and continuation acceptances lean on a pair accepted first), and outside accepted sentence
    pairs only a tile of ``min_standalone_tile`` words counts (see :func:`may_share_run`). Most
    sentence-LSH candidates of a large run are exited here.
    """
    floor = min(settings.sentence_threshold, settings.anchor_threshold)
    if cosine is not None and cosine.size and float(cosine.max()) >= floor:
        return False
    return not may_share_run(source, target, settings, matches)


def may_share_run(source: Side, target: Side, settings: AlignSettings, matches: KgramMatches | None = None) -> bool:
    """False when the two share no run of ``min_standalone_tile`` words (a standalone tile), told without tiling.

    Such a run needs that many consecutive target words whose ``min_tile``-grams all occur in the
    source; keys may collide, so True means "maybe" (it costs only the full alignment). ``matches``:
    :func:`kgram_matches` of the pair at ``min_tile`` when the caller has it.
    """
    run = max(settings.min_standalone_tile, settings.min_tile) - settings.min_tile + 1
    if len(source.words) < settings.min_tile or len(target.words) < run + settings.min_tile - 1:
        return False
    if matches is None:
        matches = kgram_matches(source, target, settings.min_tile)  # not None: both sides are long enough
    if matches.longest >= 0:  # counted by the lookup kernel: the same answer as the sums below
        return matches.longest >= run
    hit = matches.found
    if int(hit.sum()) < run:
        return False
    ends = np.cumsum(hit, dtype=np.int64)
    return bool(np.any(ends[run - 1 :] - np.concatenate(([0], ends[: len(ends) - run])) == run))


def alignable_units(
    source: Side, target: Side, cosine: np.ndarray | None, settings: AlignSettings
) -> tuple[list[int], list[int]]:
    """(source units, target units) that a sentence pair accepted by :func:`_sentence_pairs` could hold.

    An exact superset, told without tiling: a pair is acceptable at the lowest threshold with
    ``min_shared_stems - 1`` shared stems (no figure conflict); a target unit is reached on its own
    at ``min(sentence_threshold, anchor_threshold)``, else only next to a reached unit (context and
    continuation acceptances), so reach spreads along runs of acceptable rows.
    """
    if cosine is None or not cosine.size:
        return [], []
    acceptable = np.zeros(cosine.shape, dtype=bool)
    needed = settings.min_shared_stems - 1  # _sentence_pairs counts no stems for a figure conflict
    target_stems, source_stems = target.stem_sets, source.stem_sets
    # the units' values read from the ``PerUnit`` lists (a Python call only for one not made yet: ``_UNMADE``)
    source_sets, source_facts, target_facts = (
        _unit_values(source_stems),
        _unit_values(source.figures),
        _unit_values(target.figures),
    )
    compare_figures = needed > 0 and settings.template_figures  # else ``figures_conflict`` is False
    accepted_rows: list[int] = []
    accepted_columns: list[int] = []
    row, row_set = -1, set()
    # the cells come row by row (np.nonzero's order): each target unit's stem set is read once too
    for j, i in zip(*(axis.tolist() for axis in np.nonzero(cosine >= sentence_floor(settings))), strict=True):
        if j != row:
            row, row_set = j, target_stems[j]
        source_set = source_sets[i]
        if source_set is _UNMADE:
            source_set = source_stems[i]
        if len(row_set & source_set) < needed:  # type: ignore[operator]
            continue
        if compare_figures:  # ``figures_conflict`` only when both units hold figures (it is False otherwise)
            source_found = source_facts[i]
            if source_found is _UNMADE:
                source_found = source.figures[i]
            if source_found:
                target_found = target_facts[j]
                if target_found is _UNMADE:
                    target_found = target.figures[j]
                if target_found and figures_conflict(source_found, target_found):  # type: ignore[arg-type]
                    continue
        accepted_rows.append(j)
        accepted_columns.append(i)
    acceptable[accepted_rows, accepted_columns] = True
    return _reached_units(acceptable, cosine, settings)


def reference_alignable_units(
    source: Side, target: Side, cosine: np.ndarray | None, settings: AlignSettings
) -> tuple[list[int], list[int]]:
    """(source units, target units) that a sentence pair accepted by :func:`_sentence_pairs` could hold.

    An exact superset, told without tiling: a pair is acceptable at the lowest threshold with
    ``min_shared_stems - 1`` shared stems (no figure conflict); a target unit is reached on its own
    at ``min(sentence_threshold, anchor_threshold)``, else only next to a reached unit (context and
    continuation acceptances), so reach spreads along runs of acceptable rows. The readable reference of
    :func:`alignable_units` (which reads the units' values without a call and compares figures only where both units
    hold some).
    """
    if cosine is None or not cosine.size:
        return [], []
    acceptable = np.zeros(cosine.shape, dtype=bool)
    needed = settings.min_shared_stems - 1  # _sentence_pairs counts no stems for a figure conflict
    target_stems, source_stems = target.stem_sets, source.stem_sets
    source_sets: dict[int, set[str]] = {}  # each source unit's stem set read once (a PerUnit read is a Python call)
    accepted_rows: list[int] = []
    accepted_columns: list[int] = []
    row, row_set = -1, set()
    # the cells come row by row (np.nonzero's order): each target unit's stem set is read once too
    for j, i in zip(*(axis.tolist() for axis in np.nonzero(cosine >= sentence_floor(settings))), strict=True):
        if j != row:
            row, row_set = j, target_stems[j]
        source_set = source_sets.get(i)
        if source_set is None:
            source_set = source_sets[i] = source_stems[i]
        if len(row_set & source_set) >= needed and (
            needed <= 0 or not figures_conflict(source.figures[i], target.figures[j], settings.template_figures)
        ):
            accepted_rows.append(j)
            accepted_columns.append(i)
    acceptable[accepted_rows, accepted_columns] = True
    return _reached_units(acceptable, cosine, settings)


def _reached_units(acceptable: np.ndarray, cosine: np.ndarray, settings: AlignSettings) -> tuple[list[int], list[int]]:
    """(source units, target units) of :func:`alignable_units` from its acceptable unit pairs: a target unit is
    reached on its own at ``min(sentence_threshold, anchor_threshold)``, else next to a reached unit along a run of
    rows with an acceptable pair; the source units are those acceptable with a reached target unit."""
    live = acceptable.any(axis=1).tolist()
    reached = (
        np.where(acceptable, cosine, -1.0).max(axis=1) >= min(settings.sentence_threshold, settings.anchor_threshold)
    ).tolist()
    for j in range(1, len(reached)):
        reached[j] = reached[j] or (live[j] and reached[j - 1])
    for j in range(len(reached) - 2, -1, -1):
        reached[j] = reached[j] or (live[j] and reached[j + 1])
    target_units = [j for j, ok in enumerate(reached) if ok]
    source_units = np.flatnonzero(acceptable[target_units].any(axis=0)).tolist() if target_units else []
    return source_units, target_units


def _kept_tokens(
    tokens: range,
    target_stems: Sequence[str],
    target_words: Sequence[str],
    target_text: str,
    starts: Sequence[int],
    occurs: dict[str, int],
    names: dict[str, int],
) -> list[int]:
    """The target tokens of a rewrite that keep a source word: a content word the source units hold (``occurs``),
    or a name (``_named(target, k)`` inline: capitalised or a number) the source names."""
    return [
        k
        for k in tokens
        if target_stems[k]
        and (
            target_words[k] in occurs
            or (target_words[k] in names and (target_text[starts[k]].isupper() or target_words[k].isdigit()))
        )
    ]


def sentence_floor(settings: AlignSettings) -> float:
    """The lowest cosine at which :func:`_sentence_pairs` may accept a sentence pair."""
    return min(
        settings.sentence_threshold,
        settings.anchor_threshold,
        settings.context_threshold,
        settings.continuation_threshold,
    )


def token_passage(
    source: CleanArticle,
    target: CleanArticle,
    source_tokens: tuple[int, int],
    target_tokens: tuple[int, int],
    kind: str,
    score: float,
) -> Passage:
    """The passage over token ranges ``[first, end)`` of both sides, as character spans of their texts."""
    (s_first, s_end), (t_first, t_end) = source_tokens, target_tokens
    return Passage(
        source=source.id,
        target=target.id,
        source_span=(source.tokens.starts[s_first], source.tokens.ends[s_end - 1]),
        target_span=(target.tokens.starts[t_first], target.tokens.ends[t_end - 1]),
        kind=kind,
        score=score,
    )


def _split_at_units(
    tile: Tile,
    source_pos: Sequence[int],
    target_pos: Sequence[int],
    source_sentence: Sequence[int],
    target_sentence: Sequence[int],
    min_tile: int,
) -> list[tuple[int, int, int, int]]:
    """A tile as token ranges ``(s_first, s_end, t_first, t_end)``, cut where either side changes unit (the readable
    reference for :func:`_split_at_breaks`, which the tiler uses).

    Evidence tokens of consecutive units are adjacent in the tiling sequence even when a boilerplate
    line sits between them; cutting at units keeps every span inside evidence text.
    """
    pieces = []
    start = 0
    for offset in range(1, tile.length + 1):
        at_end = offset == tile.length
        if at_end or (
            source_sentence[source_pos[tile.source + offset]] != source_sentence[source_pos[tile.source + offset - 1]]
            or target_sentence[target_pos[tile.target + offset]]
            != target_sentence[target_pos[tile.target + offset - 1]]
        ):
            if offset - start >= min_tile:
                pieces.append(
                    (
                        source_pos[tile.source + start],
                        source_pos[tile.source + offset - 1] + 1,
                        target_pos[tile.target + start],
                        target_pos[tile.target + offset - 1] + 1,
                    )
                )
            start = offset
    return pieces


def _split_at_breaks(
    tile: Tile,
    source_breaks: list[int],
    target_breaks: list[int],
    source_pos: Sequence[int],
    target_pos: Sequence[int],
    min_tile: int,
) -> list[tuple[int, int, int, int]]:
    """:func:`_split_at_units` from each side's unit breaks (:meth:`Side.unit_breaks`): the cuts inside the tile
    found by two binary searches a side instead of comparing the units of every pair of neighbouring words."""
    s_begin, t_begin, length = tile.source, tile.target, tile.length
    cuts = {
        x - s_begin
        for x in source_breaks[
            bisect.bisect_right(source_breaks, s_begin) : bisect.bisect_left(source_breaks, s_begin + length)
        ]
    }
    cuts.update(
        x - t_begin
        for x in target_breaks[
            bisect.bisect_right(target_breaks, t_begin) : bisect.bisect_left(target_breaks, t_begin + length)
        ]
    )
    pieces = []
    start = 0
    for offset in [*sorted(cuts), length]:
        if offset - start >= min_tile:
            pieces.append(
                (
                    source_pos[s_begin + start],
                    source_pos[s_begin + offset - 1] + 1,
                    target_pos[t_begin + start],
                    target_pos[t_begin + offset - 1] + 1,
                )
            )
        start = offset
    return pieces


def _sentence_index(article: CleanArticle) -> list[int]:
    """For every token, the index of its evidence sentence (-1 outside evidence)."""
    index = [-1] * len(article.tokens)
    for number, sentence in enumerate(article.sentences):
        index[sentence.first : sentence.last] = [number] * (sentence.last - sentence.first)
    return index


def _unit_values(values: Sequence[Value]) -> Sequence[Value | object]:
    """What a :class:`PerUnit` holds (:data:`_UNMADE` for a value not made yet: read it through the ``PerUnit``),
    or the sequence itself: a read without a Python call."""
    return values.values if isinstance(values, PerUnit) else values


def _sentence_pairs(
    source: Side,
    target: Side,
    cosine: np.ndarray | None,
    anchors: set[tuple[int, int]],
    settings: AlignSettings,
) -> list[tuple[int, int, float]]:
    """(source sentence, target sentence, cosine) for the accepted pairs, in target order.

    A pair is accepted above ``sentence_threshold``; above ``anchor_threshold`` when it
    shares a verbatim tile (an anchor); above ``context_threshold`` when a neighbouring
    target sentence aligned next to it; above ``continuation_threshold`` when it continues
    its neighbours' alignment in order (target j-1 → source i-1, or j+1 → i+1). A target
    sentence may take several source sentences (merged sentences) above ``anchor_threshold``.

    :func:`reference_sentence_pairs` with fewer Python calls, the same tests in the same order: the units' stem sets
    and figures read from the ``PerUnit`` lists (a call only for one not made yet), ``figures_conflict`` called only
    when both units hold figures (it is False otherwise), and a row's second look skipped when nothing can take it
    (no anchor, no neighbour or candidate chosen) or ended at the first candidate under every second threshold (the
    candidates come best first).
    """
    if not source.article.sentences or not target.article.sentences or cosine is None:
        return []
    source_stems, target_stems = source.stem_sets, target.stem_sets
    source_figures, target_figures = source.figures, target.figures
    source_sets, target_sets = _unit_values(source_stems), _unit_values(target_stems)
    source_facts, target_facts = _unit_values(source_figures), _unit_values(target_figures)
    template_figures = settings.template_figures

    def shares(i: int, j: int, least: int) -> bool:
        """At least ``least`` content stems shared, none if the pair is a template with other figures (counted
        first: most pairs a cosine could accept fall short of the stems before their figures are compared)."""
        if least <= 0:
            return True
        target_set = target_sets[j]
        if target_set is _UNMADE:
            target_set = target_stems[j]
        source_set = source_sets[i]
        if source_set is _UNMADE:
            source_set = source_stems[i]
        if len(target_set & source_set) < least:  # type: ignore[operator]
            return False
        if not template_figures:
            return True
        source_found = source_facts[i]
        if source_found is _UNMADE:
            source_found = source_figures[i]
        if not source_found:
            return True
        target_found = target_facts[j]
        if target_found is _UNMADE:
            target_found = target_figures[j]
        return not target_found or not figures_conflict(source_found, target_found)  # type: ignore[arg-type]

    # every acceptance below needs at least the lowest threshold: rows whose best cosine is under it are skipped
    live_rows = np.flatnonzero(cosine.max(axis=1) >= sentence_floor(settings))
    if not len(live_rows):
        return []
    scores = cosine[live_rows]
    live = live_rows.tolist()
    rows = dict(zip(live, scores.tolist(), strict=True))  # Python floats of the live rows: faster to index
    best = scores.argmax(axis=1).tolist()
    top = np.argsort(-scores, axis=1, kind="stable")[:, :3].tolist()
    sentence_threshold, anchor_threshold = settings.sentence_threshold, settings.anchor_threshold
    context_threshold, continuation_threshold = settings.context_threshold, settings.continuation_threshold
    least, second_least = settings.min_shared_stems, settings.min_shared_stems - 1
    second_floor = min(anchor_threshold, context_threshold, continuation_threshold)  # every second acceptance's
    chosen: dict[int, list[tuple[int, float]]] = {}
    for j, i in zip(live, best, strict=True):
        score = rows[j][i]
        strong = score >= sentence_threshold
        anchored = (i, j) in anchors and score >= anchor_threshold
        if (strong or anchored) and shares(i, j, least):
            chosen[j] = [(i, score)]
    for j, candidates in zip(live, top, strict=True):
        here, before, after = chosen.get(j), chosen.get(j - 1), chosen.get(j + 1)
        if not anchors and here is None and before is None and after is None:
            continue  # no anchor, nothing near, nothing to continue, nothing taken: no candidate can be accepted
        near = {i + d for k in (before, after) if k for i, _ in k for d in (-1, 0, 1)}
        continuing = {i + 1 for i, _ in before or ()} | {i - 1 for i, _ in after or ()}
        taken = {i for i, _ in here or ()}
        row = rows[j]
        for i in candidates:
            if i in taken:
                continue
            score = row[i]
            if score < second_floor:
                break  # the candidates come best first: none after this one reaches a threshold either
            if (
                ((i, j) in anchors and score >= anchor_threshold)
                or (i in near and score >= context_threshold)
                or (i in continuing and score >= continuation_threshold)
                or (taken and score >= anchor_threshold)
            ) and shares(i, j, second_least):  # the dearer test last
                chosen.setdefault(j, []).append((i, score))
                taken.add(i)
    return [(i, j, score) for j in sorted(chosen) for i, score in chosen[j]]


def reference_sentence_pairs(
    source: Side,
    target: Side,
    cosine: np.ndarray | None,
    anchors: set[tuple[int, int]],
    settings: AlignSettings,
) -> list[tuple[int, int, float]]:
    """(source sentence, target sentence, cosine) for the accepted pairs, in target order.

    A pair is accepted above ``sentence_threshold``; above ``anchor_threshold`` when it
    shares a verbatim tile (an anchor); above ``context_threshold`` when a neighbouring
    target sentence aligned next to it; above ``continuation_threshold`` when it continues
    its neighbours' alignment in order (target j-1 → source i-1, or j+1 → i+1). A target
    sentence may take several source sentences (merged sentences) above ``anchor_threshold``. The readable
    reference of :func:`_sentence_pairs`.
    """
    if not source.article.sentences or not target.article.sentences or cosine is None:
        return []
    source_stems, target_stems = source.stem_sets, target.stem_sets

    def shares(i: int, j: int, least: int) -> bool:
        """At least ``least`` content stems shared, none if the pair is a template with other figures (counted
        first: most pairs a cosine could accept fall short of the stems before their figures are compared)."""
        return least <= 0 or (
            len(target_stems[j] & source_stems[i]) >= least
            and not figures_conflict(source.figures[i], target.figures[j], settings.template_figures)
        )

    # every acceptance below needs at least the lowest threshold: rows whose best cosine is under it are skipped
    live_rows = np.flatnonzero(cosine.max(axis=1) >= sentence_floor(settings))
    if not len(live_rows):
        return []
    scores = cosine[live_rows]
    live = live_rows.tolist()
    rows = dict(zip(live, scores.tolist(), strict=True))  # Python floats of the live rows: faster to index
    best = scores.argmax(axis=1).tolist()
    top = np.argsort(-scores, axis=1, kind="stable")[:, :3].tolist()
    chosen: dict[int, list[tuple[int, float]]] = {}
    for j, i in zip(live, best, strict=True):
        strong = rows[j][i] >= settings.sentence_threshold
        anchored = (i, j) in anchors and rows[j][i] >= settings.anchor_threshold
        if (strong or anchored) and shares(i, j, settings.min_shared_stems):
            chosen[j] = [(i, rows[j][i])]
    for j, candidates in zip(live, top, strict=True):
        near = {i + d for k in (j - 1, j + 1) for i, _ in chosen.get(k, []) for d in (-1, 0, 1)}
        continuing = {i + 1 for i, _ in chosen.get(j - 1, [])} | {i - 1 for i, _ in chosen.get(j + 1, [])}
        taken = {i for i, _ in chosen.get(j, [])}
        for i in candidates:
            if i in taken:
                continue
            score = rows[j][i]
            if (
                ((i, j) in anchors and score >= settings.anchor_threshold)
                or (i in near and score >= settings.context_threshold)
                or (i in continuing and score >= settings.continuation_threshold)
                or (taken and score >= settings.anchor_threshold)
            ) and shares(i, j, settings.min_shared_stems - 1):  # the dearer test last
                chosen.setdefault(j, []).append((i, score))
                taken.add(i)
    return [(i, j, score) for j in sorted(chosen) for i, score in chosen[j]]


def _stem_set(article: CleanArticle, first: int, last: int) -> set[str]:
    return {s for s in article.stems[first:last] if s}


def _rewrite_runs(
    source_side: Side,
    target: CleanArticle,
    source_index: int,
    target_index: int,
    similarity: float,
    shared: set[str],
    covered_target: bytearray,
    tile_at: dict[int, tuple[int, int, int, int]],
    settings: AlignSettings,
) -> list[TokenRun]:
    """The tight hull of shared stems in an aligned sentence pair, minus verbatim tiles.

    Each stretch of the target hull outside tiles that holds a content word is a rewrite;
    its source side is the stretch between the same tiles in the source when the tiles
    bound it, else the source hull. Marks the stretches as covered. As token ranges (:data:`TokenRun`); the free
    stretches found with ``bytearray.find``: :func:`_rewrite_pieces` is the readable reference.
    """
    source = source_side.article
    s_sentence, t_sentence = source.sentences[source_index], target.sentences[target_index]
    s_hull = _hull(source.stems, s_sentence.first, s_sentence.last, shared, settings.max_edge_gap)
    t_hull = _hull(target.stems, t_sentence.first, t_sentence.last, shared, settings.max_edge_gap)
    if s_hull is None or t_hull is None:
        return []
    pieces: list[TokenRun] = []
    stems = target.stems
    hull_end = t_hull[1]
    start = covered_target.find(0, t_hull[0], hull_end)
    while start >= 0:  # each maximal stretch of the hull no passage covers yet, in order
        position = covered_target.find(1, start, hull_end)
        if position < 0:
            position = hull_end
        if any(stems[start:position]):
            s_begin, s_end = _source_between(tile_at.get(start - 1), tile_at.get(position), s_hull)
            if s_end > s_begin:
                covered_target[start:position] = b"\x01" * (position - start)
                for t_from, t_to, s_from, s_to, kind in _copied_runs(
                    source_side,
                    target,
                    source_index,
                    (start, position),
                    (s_begin, s_end),
                    settings.min_copied_run,
                ):
                    score = 1.0 if kind == "verbatim" else round(similarity, 4)
                    pieces.append((s_from, s_to, t_from, t_to, kind, score))
        start = covered_target.find(0, position, hull_end)
    return pieces


def _rewrite_pieces(
    source_side: Side,
    target: CleanArticle,
    source_index: int,
    target_index: int,
    similarity: float,
    shared: set[str],
    covered_target: bytearray,
    tile_at: dict[int, tuple[int, int, int, int]],
    settings: AlignSettings,
) -> list[Passage]:
    """The tight hull of shared stems in an aligned sentence pair, minus verbatim tiles.

    Each stretch of the target hull outside tiles that holds a content word is a rewrite;
    its source side is the stretch between the same tiles in the source when the tiles
    bound it, else the source hull. Marks the stretches as covered. The readable reference of
    :func:`_rewrite_runs`, a position at a time, as passages.
    """
    source = source_side.article
    s_sentence, t_sentence = source.sentences[source_index], target.sentences[target_index]
    s_hull = _hull(source.stems, s_sentence.first, s_sentence.last, shared, settings.max_edge_gap)
    t_hull = _hull(target.stems, t_sentence.first, t_sentence.last, shared, settings.max_edge_gap)
    if s_hull is None or t_hull is None:
        return []
    pieces: list[Passage] = []
    start = None
    for position in range(t_hull[0], t_hull[1] + 1):
        free = position < t_hull[1] and not covered_target[position]
        if free and start is None:
            start = position
        elif not free and start is not None:
            if any(target.stems[k] for k in range(start, position)):
                s_begin, s_end = _source_between(tile_at.get(start - 1), tile_at.get(position), s_hull)
                if s_end > s_begin:
                    covered_target[start:position] = b"\x01" * (position - start)
                    for t_from, t_to, s_from, s_to, kind in _copied_runs(
                        source_side,
                        target,
                        source_index,
                        (start, position),
                        (s_begin, s_end),
                        settings.min_copied_run,
                    ):
                        score = 1.0 if kind == "verbatim" else round(similarity, 4)
                        pieces.append(token_passage(source, target, (s_from, s_to), (t_from, t_to), kind, score))
            start = None
    return pieces


def _copied_runs(
    source: Side,
    target: CleanArticle,
    unit: int,
    stretch: tuple[int, int],
    between: tuple[int, int],
    min_run: int,
) -> list[tuple[int, int, int, int, str]]:
    """A rewritten target stretch cut into word runs copied from the source sentence (unit ``unit``) and
    reworded rest.

    ``(t_from, t_to, s_from, s_to, kind)`` token ranges: a run of at least ``min_run`` target words
    that occurs word for word in the source sentence, after the previous copied run, is ``verbatim``
    (with that occurrence as its source), everything else ``rewrite`` against the source stretch
    ``between``. ``min_run`` 0 keeps the whole stretch one rewrite.
    """
    if min_run <= 0:
        return [(stretch[0], stretch[1], between[0], between[1], "rewrite")]
    words = source.article.tokens.words
    target_words = target.tokens.words
    sentence = (source.article.sentences[unit].first, source.article.sentences[unit].last)
    starts = source.word_starts(unit)
    runs: list[tuple[int, int, int, int, str]] = []
    k = stretch[0]
    reach = sentence[0]  # copied runs follow the source order; a moved phrase is part of the rewrite
    while k < stretch[1]:
        best_length, best_at = 0, -1
        for i in starts.get(target_words[k], ()):
            if i < reach:
                continue
            length = 0
            while (
                k + length < stretch[1] and i + length < sentence[1] and words[i + length] == target_words[k + length]
            ):
                length += 1
            if length > best_length:
                best_length, best_at = length, i
        if best_length >= min_run:
            runs.append((k, k + best_length, best_at, best_at + best_length, "verbatim"))
            reach = best_at + best_length
            k += best_length
            continue
        if runs and runs[-1][4] == "rewrite" and runs[-1][1] == k:
            runs[-1] = (runs[-1][0], k + 1, between[0], between[1], "rewrite")
        else:
            runs.append((k, k + 1, between[0], between[1], "rewrite"))
        k += 1
    return runs


def _source_between(
    left: tuple[int, int, int, int] | None, right: tuple[int, int, int, int] | None, hull: tuple[int, int]
) -> tuple[int, int]:
    """Source token range between the tiles that bound a target stretch, within the hull."""
    begin = left[1] if left and hull[0] <= left[1] <= hull[1] else hull[0]
    end = right[0] if right and hull[0] <= right[0] <= hull[1] else hull[1]
    if end <= begin:
        return hull
    return begin, end


def _hull(stems: list[str], first: int, last: int, shared: set[str], max_gap: int) -> tuple[int, int] | None:
    """Token range from the first to the last shared stem, dropping matches stranded at the edges."""
    hits = list(itertools.compress(range(first, last), map(shared.__contains__, stems[first:last])))
    if len(hits) < 2:
        return None
    while len(hits) > 2 and hits[1] - hits[0] > max_gap:
        hits.pop(0)
    while len(hits) > 2 and hits[-1] - hits[-2] > max_gap:
        hits.pop()
    return hits[0], hits[-1] + 1


TRAILING_PUNCTUATION = frozenset(".,;:!?'\"’”)]}…-–—")  # written after a word, before the space
LEADING_PUNCTUATION = frozenset("\"'‘“([{£$€")  # written before a word, after the space


def attached_span(text: str, span: tuple[int, int]) -> tuple[int, int]:
    """``span`` (from a word's first character to a word's last) with the punctuation written onto its words: the
    marks right after its end up to the next space or word (a comma, a full stop, a closing quote, the apostrophe of
    "Hagland's"), and the marks right before its start when a space or the text's start precedes them (an opening
    quote, a currency sign)."""
    begin, end = span
    start = begin
    while start > 0 and text[start - 1] in LEADING_PUNCTUATION:
        start -= 1
    if start < begin and (start == 0 or text[start - 1].isspace()):
        begin = start
    while end < len(text) and text[end] in TRAILING_PUNCTUATION:
        end += 1
    return begin, end


def attach_punctuation(passages: list[Passage], source_text: str, target_text: str) -> list[Passage]:
    """``passages`` (in target order, non-overlapping on the target) with the punctuation attached to their words
    (:func:`attached_span`) on both sides; on the target a mark goes to the passage before it first and never into
    the next passage, so the passages stay non-overlapping there.

    Passages are made of whole words, so a comma after a name, the quotes around a copied statement and the
    apostrophe between two passages fell outside every passage, as new text; METER's annotators (and a reader)
    count them with the words they are written on: "Aaron Lee Martin, 25," is one verbatim span.
    :func:`_attach_spans` on the passages' spans (of one source and one target); :func:`reference_attach_punctuation`
    is the readable reference.
    """
    if not passages:
        return []
    return passages_of(
        passages[0].source, passages[0].target, _attach_spans(span_runs(passages), source_text, target_text)
    )


def _attach_spans(runs: list[SpanRun], source_text: str, target_text: str) -> list[SpanRun]:
    """:func:`attach_punctuation` on span runs, with :func:`attached_span` inline (two calls a passage saved)."""
    if not runs:
        return []
    result: list[SpanRun] = []
    leading, trailing = LEADING_PUNCTUATION, TRAILING_PUNCTUATION
    source_length, target_length = len(source_text), len(target_text)
    floor = 0  # the end of the last passage taken
    ceilings = [run[0][0] for run in runs[1:]]
    ceilings.append(target_length)
    for run, ceiling in zip(runs, ceilings, strict=True):
        old_target, old_source, kind, score = run
        first, last = old_target
        begin, end = first, last
        start = begin
        while start > 0 and target_text[start - 1] in leading:
            start -= 1
        if start < begin and (start == 0 or target_text[start - 1].isspace()):
            begin = start
        while end < target_length and target_text[end] in trailing:
            end += 1
        target_span = (max(begin, min(floor, first)), min(end, max(ceiling, last)))
        begin, end = old_source
        start = begin
        while start > 0 and source_text[start - 1] in leading:
            start -= 1
        if start < begin and (start == 0 or source_text[start - 1].isspace()):
            begin = start
        while end < source_length and source_text[end] in trailing:
            end += 1
        if target_span == old_target and begin == old_source[0] and end == old_source[1]:
            result.append(run)
        else:
            result.append((target_span, (begin, end), kind, score))
        floor = target_span[1]
    return result


def reference_attach_punctuation(passages: list[Passage], source_text: str, target_text: str) -> list[Passage]:
    """``passages`` (in target order, non-overlapping on the target) with the punctuation attached to their words
    (:func:`attached_span`) on both sides; on the target a mark goes to the passage before it first and never into
    the next passage, so the passages stay non-overlapping there.

    Passages are made of whole words, so a comma after a name, the quotes around a copied statement and the
    apostrophe between two passages fell outside every passage, as new text; METER's annotators (and a reader)
    count them with the words they are written on: "Aaron Lee Martin, 25," is one verbatim span. The readable
    reference of :func:`attach_punctuation`.
    """
    result: list[Passage] = []
    for index, passage in enumerate(passages):
        begin, end = attached_span(target_text, passage.target_span)
        floor = result[-1].target_span[1] if result else 0
        ceiling = passages[index + 1].target_span[0] if index + 1 < len(passages) else len(target_text)
        target_span = (max(begin, min(floor, passage.target_span[0])), min(end, max(ceiling, passage.target_span[1])))
        source_span = attached_span(source_text, passage.source_span)
        if target_span == passage.target_span and source_span == passage.source_span:
            result.append(passage)
        else:
            # ``dataclasses.replace(passage, source_span=..., target_span=...)``, made directly
            result.append(
                Passage(passage.source, passage.target, source_span, target_span, passage.kind, passage.score)
            )
    return result


MERGE_GAP = 3  # characters: adjacent passages this close on both sides (punctuation only on the target) join


def _merge_adjacent(passages: list[Passage], target_text: str) -> list[Passage]:
    """Join same-kind passages separated only by punctuation and whitespace on the target side: :func:`_merge_spans`
    on the passages' spans (of one source and one target)."""
    if not passages:
        return []
    return passages_of(passages[0].source, passages[0].target, _merge_spans(span_runs(passages), target_text))


def _merge_spans(runs: list[SpanRun], target_text: str) -> list[SpanRun]:
    """:func:`_merge_adjacent` on span runs (the gap's characters tested last: :func:`reference_merge_adjacent` in
    another order of its tests)."""
    merged: list[SpanRun] = []
    last: SpanRun | None = None
    for run in runs:
        if last is not None:
            last_end, begin = last[0][1], run[0][0]
            if (
                last[2] == run[2]
                and last_end <= begin
                and 0 <= run[1][0] - last[1][1] <= MERGE_GAP
                and len(gap := target_text[last_end:begin]) <= MERGE_GAP
                and not any(map(str.isalnum, gap))
            ):
                last = merged[-1] = (
                    (last[0][0], run[0][1]),
                    (last[1][0], run[1][1]),
                    last[2],
                    min(last[3], run[3]),
                )
                continue
        merged.append(run)
        last = run
    return merged


def reference_merge_adjacent(passages: list[Passage], target_text: str) -> list[Passage]:
    """Join same-kind passages separated only by punctuation and whitespace on the target side: the readable
    reference of :func:`_merge_adjacent`."""
    merged: list[Passage] = []
    for passage in passages:
        if merged:
            last = merged[-1]
            gap = target_text[last.target_span[1] : passage.target_span[0]]
            if (
                last.kind == passage.kind
                and passage.target_span[0] >= last.target_span[1]
                and not any(ch.isalnum() for ch in gap)
                and len(gap) <= MERGE_GAP
                and 0 <= passage.source_span[0] - last.source_span[1] <= MERGE_GAP
            ):
                merged[-1] = Passage(
                    last.source,
                    last.target,
                    (last.source_span[0], passage.source_span[1]),
                    (last.target_span[0], passage.target_span[1]),
                    last.kind,
                    min(last.score, passage.score),
                )
                continue
        merged.append(passage)
    return merged
