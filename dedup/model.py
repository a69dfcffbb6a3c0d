"""Plain records passed between the pipeline stages.

Every offset is a half-open ``[begin, end)`` Python string index into ``Article.text``,
the article text exactly as read (after decoding), so every span points into what the
user gave us.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np

Span = tuple[int, int]


@dataclass(slots=True)
class Article:
    """One input article. ``id`` is unique within a run."""

    id: str
    text: str
    title: str | None = None
    url: str | None = None
    outlet: str | None = None
    published: str | None = None  # ISO 8601 date or datetime, as given or extracted
    path: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class Skipped:
    """An input that could not be read, and why."""

    path: str
    reason: str


@dataclass(slots=True)
class ReadResult:
    """What a reader produced: the articles, and the inputs it had to skip."""

    articles: list[Article]
    skipped: list[Skipped]


@dataclass(slots=True, frozen=True)
class Credit:
    """A credit line found in an article.

    ``own`` credits name the article's own outlet (dateline "(Bloomberg) —", copyright
    "©2022 Bloomberg L.P.", byline "By X, PA News"); the others name a source the article
    draws on ("According to Bloomberg", "With information from AFP").
    """

    source: str
    own: bool
    span: Span
    snippet: str
    why: str


@dataclass(slots=True, frozen=True)
class Passage:
    """A reused passage: ``target_span`` of ``target`` comes from ``source_span`` of ``source``."""

    source: str
    target: str
    source_span: Span
    target_span: Span
    kind: str  # "verbatim" | "rewrite"
    score: float


@dataclass(slots=True, frozen=True)
class PassageColumns:
    """The passages of one source and one target as columns (:meth:`PassageSequence.columns`): ``spans`` (n, 4)
    source begin, end, target begin, end; ``kinds`` indices into ``kind_names``; ``scores`` float64."""

    source: str
    target: str
    spans: np.ndarray
    kinds: np.ndarray
    kind_names: tuple[str, ...]
    scores: np.ndarray


class PassageSequence(Sequence[Passage]):
    """A compact read-only sequence of passages, each made a ``Passage`` when read (subclasses hold them as they
    will and give ``__len__``, ``__iter__`` and ``_passage``). Equal to any sequence of the same passages in the
    same order."""

    __slots__ = ()

    def _passage(self, index: int) -> Passage:  # 0 <= index < len(self)
        raise NotImplementedError

    def columns(self) -> PassageColumns | None:
        """The passages as columns, when a subclass holds them so (None: read them one by one)."""
        return None

    @overload
    def __getitem__(self, index: int) -> Passage: ...

    @overload
    def __getitem__(self, index: slice) -> list[Passage]: ...

    def __getitem__(self, index: int | slice) -> Passage | list[Passage]:
        if isinstance(index, slice):
            return [self[k] for k in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("passage index out of range")
        return self._passage(index)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(mine == theirs for mine, theirs in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]


REORDER_ROWS = 1 << 16  # rows of a column put in order at a time by :func:`reordered`


def reordered(values: np.ndarray, order: np.ndarray, dtype: Any, rows: int = REORDER_ROWS) -> np.ndarray:
    """``values[order].astype(dtype)`` (equal values, dtype and shape: tested), made ``rows`` rows at a time into
    the result: no whole copy of ``values`` taken in order besides the result."""
    found = np.empty((len(order), *values.shape[1:]), dtype=dtype)
    for begin in range(0, len(order), rows):
        found[begin : begin + rows] = values[order[begin : begin + rows]]
    return found


class PassageTable(PassageSequence):
    """Passages held as columns — article numbers into ``ids``, spans, kinds, scores: 33 bytes a passage where a
    ``Passage`` with its tuples is ~300 (a large run gives ~25 passages an article) — each made a ``Passage`` when
    read. Equal to any sequence of the same passages in the same order."""

    __slots__ = ("ids", "kind_names", "kinds", "numbers", "scores", "spans")

    def __init__(
        self,
        ids: Sequence[str],
        numbers: np.ndarray,
        spans: np.ndarray,
        kinds: np.ndarray,
        kind_names: Sequence[str],
        scores: np.ndarray,
    ) -> None:
        self.ids = ids  # article number → id
        self.numbers = numbers  # (n, 2): source and target numbers
        self.spans = spans  # (n, 4): source begin, end, target begin, end
        self.kinds = kinds  # index into ``kind_names``
        self.kind_names = tuple(kind_names)
        self.scores = scores

    @classmethod
    def gather(
        cls, ids: Sequence[str], chunks: Iterable[Iterable[Passage]], number: Mapping[str, int] | None = None
    ) -> PassageTable:
        """The passages of ``chunks`` (their ids among ``ids``, which are sorted) in the order
        ``sorted(passages, key=lambda p: (p.target, p.source, p.target_span, p.source_span))`` gives them (ties
        in the order given), a chunk at a time: no list of every ``Passage`` is made. A chunk that holds its
        passages as columns (:meth:`PassageSequence.columns`) is taken as they are, no ``Passage`` made of it.
        ``number``: each id's place in ``ids``, when the caller holds that map already (else made here).

        The columns are put in order one after the other, each freed once its sorted copy is made, a block of rows
        at a time (:func:`reordered`): a large run's table is ~25 passages an article, and sorting every column
        at once held the gathered columns, the order and each column's sorted copy twice (its 64-bit take and
        its narrowed copy) together: 124 bytes a passage at the highest, 77 now (1M: ~15 M passages, the
        assembly's highest, stop 28)."""
        if number is None:
            number = {key: k for k, key in enumerate(ids)}
        wide = len(ids) >= 2**31
        names: dict[str, int] = {}
        # article numbers 4 bytes each when they fit (the table's own width): sorted the same as 8-byte ones
        numbers, spans, kinds, scores = array("q" if wide else "i"), array("q"), array("b"), array("d")
        for chunk in chunks:
            columns = chunk.columns() if isinstance(chunk, PassageSequence) else None
            if columns is None:
                for passage in chunk:
                    numbers.extend((number[passage.source], number[passage.target]))
                    spans.extend((*passage.source_span, *passage.target_span))
                    kinds.append(names.setdefault(passage.kind, len(names)))
                    scores.append(passage.score)
                continue
            count = len(columns.scores)
            if not count:
                continue
            # the same values appended as one by one: the kinds numbered in the order they first occur
            present, first = np.unique(columns.kinds, return_index=True)
            table = np.zeros(len(columns.kind_names), dtype=np.int8)
            for kind in present[np.argsort(first)].tolist():
                table[kind] = names.setdefault(columns.kind_names[kind], len(names))
            numbers.extend((number[columns.source], number[columns.target]) * count)
            spans.frombytes(columns.spans.astype(np.int64).tobytes())
            kinds.frombytes(table[columns.kinds].tobytes())
            scores.frombytes(columns.scores.astype(np.float64).tobytes())
        del number
        narrow = np.int64 if wide else np.int32
        pairs = np.frombuffer(numbers, dtype=narrow).reshape(-1, 2)
        bounds = np.frombuffer(spans, dtype=np.int64).reshape(-1, 4)
        # a stable sort by (target, source, target span, source span); ids sorted, so numbers order them as ids do
        order = np.lexsort((bounds[:, 1], bounds[:, 0], bounds[:, 3], bounds[:, 2], pairs[:, 0], pairs[:, 1]))
        offsets = np.int32 if not len(bounds) or int(bounds.max()) < 2**31 else np.int64
        sorted_pairs = reordered(pairs, order, narrow)
        del pairs, numbers  # each column freed once its sorted copy is made
        sorted_bounds = reordered(bounds, order, offsets)
        del bounds, spans
        sorted_kinds = reordered(np.frombuffer(kinds, dtype=np.int8), order, np.int8)
        del kinds
        sorted_scores = reordered(np.frombuffer(scores, dtype=np.float64), order, np.float64)
        del scores, order
        return cls(ids, sorted_pairs, sorted_bounds, sorted_kinds, list(names), sorted_scores)

    def __len__(self) -> int:
        return len(self.scores)

    def _passage(self, index: int) -> Passage:
        return next(self._made(index, index + 1))

    def __iter__(self) -> Iterator[Passage]:
        step = 65536  # made a block of columns at a time: Python values for one block, not the whole table
        for begin in range(0, len(self), step):
            yield from self._made(begin, min(begin + step, len(self)))

    def _made(self, begin: int, end: int) -> Iterator[Passage]:
        ids, names = self.ids, self.kind_names
        for (source, target), (a, b, c, d), kind, score in zip(
            self.numbers[begin:end].tolist(),
            self.spans[begin:end].tolist(),
            self.kinds[begin:end].tolist(),
            self.scores[begin:end].tolist(),
            strict=True,
        ):
            yield Passage(ids[source], ids[target], (a, b), (c, d), names[kind], score)

    def __repr__(self) -> str:
        return f"PassageTable({len(self)} passages)"


@dataclass(slots=True)
class PairVerdict:
    """The verdict on one candidate pair and its evidence.

    ``a`` and ``b`` are ordered by id; passages are aligned with ``a`` as source.
    ``coverage_a`` / ``coverage_b`` are the shares of each side's evidence characters
    that the passages cover.
    """

    a: str
    b: str
    relation: str  # "duplicate" | "derived" | "same-story" | "unrelated"
    passages: list[Passage]
    coverage_a: float
    coverage_b: float
    verbatim_a: float
    verbatim_b: float
    score: float
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Member:
    id: str
    role: str  # "origin" | "derived" | "same-story" | "duplicate"
    sources: list[str] = field(default_factory=list)
    coverage: float | None = None
    extent: str | None = None  # "whole" | "partial" for derived members


@dataclass(slots=True)
class Cluster:
    id: str
    relation: str  # "duplicate" | "derived" | "same-story"
    origin: str | None
    origin_evidence: list[dict[str, Any]]
    credited_sources: list[dict[str, Any]]
    members: list[Member]


@dataclass(slots=True)
class Result:
    """One run's output: clusters, the passages behind them, and what was left out."""

    clusters: list[Cluster]
    passages: Sequence[Passage]  # a ``PassageTable`` from the pipeline; a list where a caller builds one
    singletons: list[str]
    skipped: list[Skipped]
    parameters: dict[str, Any]
    pairs: list[PairVerdict] = field(default_factory=list)
    # id → text as read, of every article clustered (the pipeline's: decoded from its buffers when looked up), so
    # a caller that handed the articles over need not hold them to write the passages' texts
    texts: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
