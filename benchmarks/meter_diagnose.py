"""METER diagnostics: align once, then re-decide and re-score many settings, and explain every paper.

    PYTHONPATH=. python benchmarks/meter_diagnose.py --data ../shared/data/meter/dev [--features CSV]
        [--sweep name=v1,v2,... ...] [--set name=value ...]

Alignment is the slow stage; the decision stages (score, cluster, origin) are cheap. This
script runs clean → candidates → align once with the alignment settings, keeps every
pair's passages (both directions on demand), and then re-runs score → cluster → origin for
each decision setting, scoring each the way ``benchmarks/meter.py`` does. Figures are
given on the whole split and on its odd- and even-numbered stories (sorted by name), so a
parameter chosen on one half can be checked on the other.

``--features`` writes, for each gold paper, what the decision saw against its best PA text:
coverage, verbatim coverage, the pair verdict, the member's role, extent and first source,
and the word 3-gram containment floor.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.meter import (
    Prediction,
    halves,
    is_pa,
    load_gold,
    load_texts,
    parse_overrides,
    parse_value,
    score_binary,
    score_clustering,
    score_origin,
    score_spans,
    score_three,
    story_of,
)
from dedup.align import align
from dedup.candidates import candidate_pairs
from dedup.clean import clean_article, repeated_lines
from dedup.grouping import group, wire_versions
from dedup.model import Article, Cluster, Passage, Result
from dedup.origin import build_cluster, measured_sources
from dedup.pipeline import Settings
from dedup.score import coverage, judge
from dedup.similarity import article_vectors, sentence_vectors

log = logging.getLogger("benchmarks.meter_diagnose")


class AlignedCorpus:
    """The corpus cleaned, its candidate pairs and their passages, computed once per alignment setting."""

    def __init__(self, texts: dict[str, tuple[str, Path]], settings: Settings, cache: Path | None = None) -> None:
        self.settings = settings
        articles = [Article(id=i, text=text, path=str(path)) for i, (text, path) in sorted(texts.items())]
        repeated = repeated_lines((a.text for a in articles), min_articles=settings.boilerplate_min_articles)
        keep = settings.keep_wrapped_repeated_lines
        self.cleaned = [clean_article(a, repeated, keep_wrapped_repeated=keep) for a in articles]
        self.by_id = {a.id: a for a in self.cleaned}
        self.index = {a.id: k for k, a in enumerate(self.cleaned)}
        self.rows = sentence_vectors(self.cleaned)
        self.pairs = candidate_pairs(self.cleaned, article_vectors(self.cleaned), settings.sketch, settings.candidates)
        self._passages: dict[tuple[int, int], list[Passage]] = {}
        if cache is not None and cache.exists():
            for key, items in json.loads(cache.read_text()).items():
                i, j = map(int, key.split(","))
                self._passages[(i, j)] = [
                    Passage(p[0], p[1], tuple(p[2]), tuple(p[3]), p[4], p[5])
                    for p in items  # type: ignore[arg-type]
                ]
        for i, j in self.pairs:
            self.passages(i, j)
        if cache is not None:
            cache.write_text(
                json.dumps(
                    {
                        f"{i},{j}": [[p.source, p.target, p.source_span, p.target_span, p.kind, p.score] for p in items]
                        for (i, j), items in self._passages.items()
                    }
                )
            )

    def passages(self, source: int, target: int) -> list[Passage]:
        key = (source, target)
        if key not in self._passages:
            self._passages[key] = align(
                self.cleaned[source], self.cleaned[target], self.rows[source], self.rows[target], self.settings.align
            )
        return self._passages[key]

    def decide(self, settings: Settings) -> Result:
        """score → cluster → origin with ``settings`` (alignment settings must be those of the corpus)."""
        verdicts = [judge(self.cleaned[i], self.cleaned[j], self.passages(i, j), settings.score) for i, j in self.pairs]
        clusters: list[Cluster] = []
        all_passages: list[Passage] = []
        singletons: list[str] = []
        versions = wire_versions([(a.id, a.text) for a in self.cleaned]) if settings.group_wire_versions else []
        for members in group([a.id for a in self.cleaned], verdicts, versions):
            if len(members) == 1:
                singletons.append(members[0])
                continue
            record, edges = build_cluster(f"c{len(clusters) + 1:04d}", members, self.by_id, verdicts, settings.origin)
            incoming: dict[str, list[Passage]] = {}
            for edge in edges:
                passages = self.passages(self.index[edge.source], self.index[edge.target])
                all_passages.extend(passages)
                incoming.setdefault(edge.target, []).extend(passages)
            for member in record.members:
                if member.role == "derived":
                    sources = measured_sources(member, record.origin, self.by_id)
                    spans = [p.target_span for p in incoming.get(member.id, []) if p.source in sources]
                    member.coverage = round(coverage(self.by_id[member.id], spans), 4)
                    member.extent = "whole" if member.coverage >= settings.origin.whole_coverage else "partial"
            clusters.append(record)
        return Result(clusters, all_passages, singletons, [], settings.as_dict(), verdicts)


def figures(
    result: Result, gold: list[dict[str, Any]], texts: dict[str, tuple[str, Path]], spans: bool = True
) -> dict[str, Any]:
    """The headline figures of ``result`` on ``gold`` (a subset of stories is fine)."""
    prediction = Prediction(result)
    stories = {row["story"] for row in gold}
    pa_ids = sorted(i for i in texts if is_pa(i) and story_of(i) in stories)
    binary = score_binary(gold, prediction)
    three = score_three(gold, prediction)
    origin = score_origin(gold, prediction)
    clustering = score_clustering(gold, pa_ids, prediction)
    out = {
        "bin": binary["macro"]["f1"],
        "der_p": binary["per_class"]["derived"]["precision"],
        "der_r": binary["per_class"]["derived"]["recall"],
        "non_f1": binary["per_class"]["non"]["f1"],
        "three": three["macro"]["f1"],
        "conf": three["confusion"],
        "p1": origin["p_at_1"],
        "mrr": origin["mrr"],
        "pw_f1": clustering["pairwise"]["f1"],
        "ari": clustering["adjusted_rand"],
    }
    if spans:
        span = score_spans(gold, texts, prediction)
        for k in ("verbatim", "rewrite", "new"):
            scores = span["per_kind"][k]
            out[f"sp_{k[:3]}"] = f"{scores['precision']:.2f}/{scores['recall']:.2f}/{scores['f1']:.3f}"
        out["sp_macro"] = span["macro"]["f1"]
    return out


def line(name: str, values: dict[str, Any]) -> str:
    parts = [f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items()]
    return f"{name:<28} " + "  ".join(parts)


def word_3gram_containment(a: str, b: str) -> float:
    """Share of ``a``'s word 3-grams found in ``b`` (the floor's feature)."""

    def grams(text: str) -> set[tuple[str, ...]]:
        words = "".join(ch.lower() if ch.isalnum() else " " for ch in text).split()
        return set(zip(words, words[1:], words[2:], strict=False))

    mine = grams(a)
    return len(mine & grams(b)) / max(len(mine), 1)


def paper_features(
    corpus: AlignedCorpus, result: Result, gold: list[dict[str, Any]], texts: dict[str, tuple[str, Path]]
) -> list[dict[str, Any]]:
    """For each gold paper: what the decision saw against its own-story PA texts."""
    prediction = Prediction(result)
    verdict_of = {(v.a, v.b): v for v in result.pairs}
    pa_texts = {i: texts[i][0] for i in texts if is_pa(i)}
    rows = []
    for row in gold:
        paper = row["id"]
        best: dict[str, Any] = {"pa": None, "cov": 0.0, "verb": 0.0, "pa_cov": 0.0, "relation": "none"}
        for pa in row["pa_sources"]:
            key = (pa, paper) if pa < paper else (paper, pa)
            verdict = verdict_of.get(key)
            if verdict is None:
                continue
            cov, verb, other = (
                (verdict.coverage_b, verdict.verbatim_b, verdict.coverage_a)
                if verdict.b == paper
                else (verdict.coverage_a, verdict.verbatim_a, verdict.coverage_b)
            )
            if cov > best["cov"]:
                best = {"pa": pa, "cov": cov, "verb": verb, "pa_cov": other, "relation": verdict.relation}
        member = prediction.member.get(paper)
        containment = max(word_3gram_containment(texts[paper][0], t) for t in pa_texts.values())
        own_containment = max(
            (word_3gram_containment(texts[paper][0], pa_texts[p]) for p in row["pa_sources"]), default=0.0
        )
        pa_cluster = prediction.cluster_of.get(best["pa"]) if best["pa"] else None
        rows.append(
            {
                "id": paper,
                "gold": row["label"],
                "pred": prediction.three(paper),
                "role": prediction.role(paper),
                "extent": member.extent if member else None,
                "member_cov": member.coverage if member else None,
                "first_source": member.sources[0] if member and member.sources else None,
                "best_pa": best["pa"],
                "best_cov": round(best["cov"], 3),
                "best_verb": round(best["verb"], 3),
                "best_pa_cov": round(best["pa_cov"], 3),
                "best_relation": best["relation"],
                "pa_role": prediction.role(best["pa"]) if best["pa"] else None,
                "same_cluster": pa_cluster is not None and pa_cluster == prediction.cluster_of.get(paper),
                "c3": round(containment, 3),
                "c3_own": round(own_containment, 3),
            }
        )
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--limit-stories", type=int, default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--sweep", action="append", default=[], metavar="NAME=V1,V2", help="decision setting grid")
    parser.add_argument("--features", type=Path, default=None, help="per-paper features CSV (base settings)")
    parser.add_argument("--cache", type=Path, default=None, help="JSON cache of the passages (same align settings!)")
    parser.add_argument("--no-spans", action="store_true", help="skip span scoring in sweeps")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    texts = load_texts(args.data.resolve(), args.limit_stories)
    gold = load_gold(args.data.resolve(), texts.keys())
    base = Settings().with_overrides(**parse_overrides(args.overrides))
    started = time.perf_counter()
    corpus = AlignedCorpus(texts, base, args.cache)
    log.info("aligned %d pairs in %.1f s", len(corpus.pairs), time.perf_counter() - started)
    parts = halves(gold)
    grid_names = [item.partition("=")[0] for item in args.sweep]
    grid_values = [[parse_value(v) for v in item.partition("=")[2].split(",")] for item in args.sweep]
    for combination in itertools.product(*grid_values) if args.sweep else [()]:
        settings = base.with_overrides(**dict(zip(grid_names, combination, strict=True)))
        result = corpus.decide(settings)
        name = ",".join(f"{n}={v}" for n, v in zip(grid_names, combination, strict=True)) or "base"
        print(line(name, figures(result, gold, texts, spans=not args.no_spans)), flush=True)
        for part, stories in parts.items():
            subset = [row for row in gold if row["story"] in stories]
            values = figures(result, subset, texts, spans=False)
            print(line(f"  {part}", {k: values[k] for k in ("bin", "three", "p1", "ari")}), flush=True)
        if args.features and not args.sweep:
            rows = paper_features(corpus, result, gold, texts)
            with args.features.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
            log.info("wrote %s", args.features)


if __name__ == "__main__":
    main()
