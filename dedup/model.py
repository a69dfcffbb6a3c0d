"""Plain records passed between the pipeline stages.

Every offset is a half-open ``[begin, end)`` Python string index into ``Article.text``,
the article text exactly as read (after decoding), so every span points into what the
user gave us.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    passages: list[Passage]
    singletons: list[str]
    skipped: list[Skipped]
    parameters: dict[str, Any]
    pairs: list[PairVerdict] = field(default_factory=list)
