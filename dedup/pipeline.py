"""The batch pipeline, one way through: clean → sketch → candidates → align → score → cluster → origin.

``cluster(articles, **settings)`` is the library door; the CLI calls the same function.
Reading and writing stay outside (``dedup.read``, ``dedup.write``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dedup.align import AlignSettings, align
from dedup.candidates import CandidateSettings, candidate_pairs
from dedup.clean import CleanArticle, clean_article, repeated_lines
from dedup.cluster import group, wire_versions
from dedup.errors import DedupError, NoArticlesError, SettingsError
from dedup.model import Article, Cluster, PairVerdict, Passage, Result, Skipped
from dedup.origin import OriginSettings, build_cluster, measured_sources
from dedup.score import ScoreSettings, coverage, judge
from dedup.similarity import article_vectors, sentence_vectors
from dedup.sketch import SCHEME, SketchSettings

log = logging.getLogger(__name__)
Progress = Callable[[str, int], Callable[[int], None]]


@dataclass(slots=True, frozen=True)
class Settings:
    """Every parameter of a run, grouped by stage; ``Settings.with_overrides`` sets them by name."""

    sketch: SketchSettings = field(default_factory=SketchSettings)
    candidates: CandidateSettings = field(default_factory=CandidateSettings)
    align: AlignSettings = field(default_factory=AlignSettings)
    score: ScoreSettings = field(default_factory=ScoreSettings)
    origin: OriginSettings = field(default_factory=OriginSettings)
    boilerplate_min_articles: int = 3
    group_wire_versions: bool = True  # wire takes under one slug start as one cluster

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the named parameters changed (names are unique across stages)."""
        stages = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        changed: dict[str, Any] = {}
        for name, value in overrides.items():
            owners = [
                stage
                for stage, part in stages.items()
                if dataclasses.is_dataclass(part) and name in {f.name for f in dataclasses.fields(part)}
            ]
            if owners:
                part = changed.get(owners[0], stages[owners[0]])
                changed[owners[0]] = dataclasses.replace(part, **{name: value})
            elif name in stages and not dataclasses.is_dataclass(stages[name]):
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


def cluster(
    articles: Iterable[Article | Mapping[str, Any]],
    *,
    settings: Settings | None = None,
    skipped: Iterable[Skipped] = (),
    progress: Progress = _no_progress,
    **overrides: Any,
) -> Result:
    """Cluster ``articles`` into wire-story clusters with origins and derived passages.

    ``overrides`` set parameters by name (``sentence_threshold=0.5``). Raises
    ``NoArticlesError`` when there is nothing to cluster.
    """
    settings = (settings or Settings()).with_overrides(**overrides)
    skipped = list(skipped)
    by_id: dict[str, Article] = {}
    for item in articles:
        article = _as_article(item)
        if article.id in by_id:
            skipped.append(Skipped(article.path or article.id, f"duplicate id {article.id!r}"))
            continue
        by_id[article.id] = article
    if not by_id:
        raise NoArticlesError("no readable article to cluster")
    ordered = [by_id[key] for key in sorted(by_id)]
    repeated = repeated_lines((a.text for a in ordered), min_articles=settings.boilerplate_min_articles)
    tick = progress("clean", len(ordered))
    cleaned: list[CleanArticle] = []
    for article in ordered:
        cleaned.append(clean_article(article, repeated))
        tick(1)
    sentence_rows = sentence_vectors(cleaned)
    pairs = candidate_pairs(cleaned, article_vectors(cleaned), settings.sketch, settings.candidates)
    log.info("%d articles, %d candidate pairs", len(cleaned), len(pairs))
    tick = progress("align", len(pairs))
    verdicts: list[PairVerdict] = []
    for i, j in pairs:
        passages = align(cleaned[i], cleaned[j], sentence_rows[i], sentence_rows[j], settings.align)
        verdicts.append(judge(cleaned[i], cleaned[j], passages, settings.score))
        tick(1)
    index = {article.id: k for k, article in enumerate(cleaned)}
    by_clean = {article.id: article for article in cleaned}

    def directed_passages(source: str, target: str, verdict: PairVerdict) -> list[Passage]:
        if verdict.a == source:
            return verdict.passages
        s, t = index[source], index[target]
        return align(cleaned[s], cleaned[t], sentence_rows[s], sentence_rows[t], settings.align)

    clusters: list[Cluster] = []
    all_passages: list[Passage] = []
    singletons: list[str] = []
    versions = wire_versions([(a.id, a.text) for a in cleaned]) if settings.group_wire_versions else []
    for members in group([a.id for a in cleaned], verdicts, versions):
        if len(members) == 1:
            singletons.append(members[0])
            continue
        record, edges = build_cluster(f"c{len(clusters) + 1:04d}", members, by_clean, verdicts, settings.origin)
        incoming: dict[str, list[Passage]] = {}
        for edge in edges:
            passages = directed_passages(edge.source, edge.target, edge.verdict)
            all_passages.extend(passages)
            incoming.setdefault(edge.target, []).extend(passages)
        for member in record.members:
            if member.role == "derived":
                sources = measured_sources(member, record.origin, by_clean)
                spans = [p.target_span for p in incoming.get(member.id, []) if p.source in sources]
                member.coverage = round(coverage(by_clean[member.id], spans), 4)
                member.extent = "whole" if member.coverage >= settings.origin.whole_coverage else "partial"
        clusters.append(record)
    all_passages.sort(key=lambda p: (p.target, p.source, p.target_span, p.source_span))
    return Result(
        clusters=clusters,
        passages=all_passages,
        singletons=singletons,
        skipped=skipped,
        parameters=settings.as_dict(),
        pairs=verdicts,
    )
