"""METER benchmark: the PA wire texts and the newspaper articles written from them, pooled in one run.

    PYTHONPATH=. python benchmarks/meter.py --data ../shared/data/meter/dev [--output JSON]
        [--limit-stories N] [--set align__sentence_threshold=0.5 ...]

Every .txt under DATA/articles goes into ONE ``cluster(...)`` call (the tool is not told which story is
which); the result is scored against DATA/gold.jsonl on five tasks: derived vs non-derived, wholly /
partially / non, origin ranking, clustering, and character-level verbatim / rewrite / new spans. Prints a
table and writes the figures as JSON (default benchmarks/results/meter-dev.json).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.metrics import (
    SpanCounts,
    add_counts,
    char_counts,
    classification_report,
    mrr,
    paint_spans,
    pairwise_prf,
    project_labels,
    span_scores,
)

log = logging.getLogger("benchmarks.meter")

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPOSITORY / "benchmarks" / "results" / "meter-dev.json"
BINARY = ("derived", "non")
THREE = ("wholly", "partially", "non")
KINDS = ("verbatim", "rewrite", "new")
SCHEMA = 1


def is_pa(article_id: str) -> bool:
    """A PA wire text (``.../pa/name.txt``), as opposed to a newspaper article (``.../papers/``)."""
    return "/pa/" in article_id


def story_of(article_id: str) -> str:
    """``articles/<domain>/<date>/<catchline>/...`` → ``<domain>/<date>/<catchline>`` (gold's ``story``)."""
    return "/".join(article_id.split("/")[1:4])


# --- input ----------------------------------------------------------------------------------------------------


def load_texts(data: Path, limit_stories: int | None = None) -> dict[str, tuple[str, Path]]:
    """id → (text, path) for every .txt under ``data/articles``; ids are paths relative to ``data``.

    ``limit_stories`` keeps the first N stories sorted by name.
    """
    files = sorted(p for p in (data / "articles").rglob("*.txt") if p.is_file())
    by_id = {p.relative_to(data).as_posix(): p for p in files}
    if limit_stories is not None:
        keep = set(sorted({story_of(i) for i in by_id})[:limit_stories])
        by_id = {i: p for i, p in by_id.items() if story_of(i) in keep}
    return {i: (p.read_text(encoding="utf-8", errors="replace"), p) for i, p in by_id.items()}


def load_gold(data: Path, ids: Sequence[str] | set[str]) -> list[dict[str, Any]]:
    """The gold rows whose article was loaded, sorted by id."""
    wanted = set(ids)
    rows = []
    with (data / "gold.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                if row["id"] in wanted:
                    rows.append(row)
    return sorted(rows, key=lambda r: r["id"])


def parse_value(text: str) -> Any:
    """A ``--set`` value: JSON numbers, booleans and null as such, anything else as a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        lowered = text.lower()
        if lowered in {"true", "false"}:
            return lowered == "true"
        return text


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["name=value", ...]`` → ``{"name": value}``."""
    overrides: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise SystemExit(f"--set expects name=value, got {item!r}")
        overrides[name.strip()] = parse_value(value.strip())
    return overrides


# --- the run --------------------------------------------------------------------------------------------------


def run_tool(texts: dict[str, tuple[str, Path]], overrides: dict[str, Any]) -> tuple[Any, float]:
    """One ``cluster(...)`` call over every text; returns the result and its wall time in seconds."""
    from dedup.model import Article
    from dedup.pipeline import cluster

    articles = [Article(id=i, text=text, path=str(path)) for i, (text, path) in sorted(texts.items())]
    started = time.perf_counter()
    result = cluster(articles, **overrides)
    return result, time.perf_counter() - started


class Prediction:
    """What the tool said about each article: its cluster, its member record, and the passages into it."""

    def __init__(self, result: Any) -> None:
        self.cluster_of: dict[str, str] = {}
        self.member: dict[str, Any] = {}
        self.cluster_pa: dict[str, set[str]] = {}
        for record in result.clusters:
            self.cluster_pa[record.id] = {m.id for m in record.members if is_pa(m.id)}
            for member in record.members:
                self.cluster_of[member.id] = record.id
                self.member[member.id] = member
        for article_id in result.singletons:
            self.cluster_of.setdefault(article_id, f"singleton:{article_id}")
        self.passages_into: dict[str, list[Any]] = defaultdict(list)
        for passage in result.passages:
            self.passages_into[passage.target].append(passage)

    def role(self, article_id: str) -> str:
        member = self.member.get(article_id)
        return member.role if member else "singleton"

    def pa_sources(self, article_id: str) -> list[str]:
        member = self.member.get(article_id)
        return [s for s in member.sources if is_pa(s)] if member and member.role == "derived" else []

    def binary(self, article_id: str) -> str:
        """``derived`` iff a derived member with at least one PA text among its sources."""
        return "derived" if self.pa_sources(article_id) else "non"

    def three(self, article_id: str) -> str:
        """``wholly`` / ``partially`` by the member's extent when derived from PA, else ``non``."""
        if self.binary(article_id) == "non":
            return "non"
        return "wholly" if self.member[article_id].extent == "whole" else "partially"


# --- the five tasks -------------------------------------------------------------------------------------------


def score_binary(gold: list[dict[str, Any]], prediction: Prediction) -> dict[str, Any]:
    """Derived (wholly + partially) vs non-derived, with the always-derived baseline."""
    truth = ["non" if row["label"] == "non" else "derived" for row in gold]
    predicted = [prediction.binary(row["id"]) for row in gold]
    report = classification_report(truth, predicted, BINARY)
    report["baseline_always_derived"] = classification_report(truth, ["derived"] * len(truth), BINARY)
    return report


def score_three(gold: list[dict[str, Any]], prediction: Prediction) -> dict[str, Any]:
    """Wholly / partially / non: per-class scores, macro-F1 and the confusion matrix (rows gold)."""
    truth = [row["label"] for row in gold]
    predicted = [prediction.three(row["id"]) for row in gold]
    return classification_report(truth, predicted, THREE)


def score_origin(gold: list[dict[str, Any]], prediction: Prediction) -> dict[str, Any]:
    """P@1 and MRR of the sources list: is the top source a PA text of the paper's own story?"""
    derived = [row for row in gold if row["label"] != "non"]
    found = [row for row in derived if prediction.binary(row["id"]) == "derived"]
    hits = 0
    rankings = []
    for row in found:
        sources = prediction.member[row["id"]].sources
        hits += bool(sources) and sources[0] in set(row["pa_sources"])
        rankings.append((sources, row["pa_sources"]))
    return {
        "n_gold_derived": len(derived),
        "n_predicted_derived": len(found),
        "p_at_1": hits / len(found) if found else 0.0,
        "mrr": mrr(rankings),
        "p_at_1_all_gold_derived": hits / len(derived) if derived else 0.0,
    }


def score_clustering(gold: list[dict[str, Any]], pa_ids: Sequence[str], prediction: Prediction) -> dict[str, Any]:
    """Pairwise P/R/F1 and ARI over PA texts + gold-derived papers; where gold non-derived papers land."""
    from sklearn.metrics import adjusted_rand_score

    gold_cluster = {i: story_of(i) for i in pa_ids}
    gold_cluster.update({row["id"]: row["story"] for row in gold if row["label"] != "non"})
    items = sorted(gold_cluster)
    predicted_cluster = {i: prediction.cluster_of.get(i, f"singleton:{i}") for i in items}
    pairwise = pairwise_prf(gold_cluster, predicted_cluster)
    ari = adjusted_rand_score([gold_cluster[i] for i in items], [predicted_cluster[i] for i in items])
    landing: Counter[str] = Counter()
    for row in gold:
        if row["label"] != "non":
            continue
        article_id = row["id"]
        own_pa = set(row["pa_sources"])
        cluster_id = prediction.cluster_of.get(article_id, "")
        if prediction.binary(article_id) == "derived":
            landing["derived"] += 1
        elif prediction.role(article_id) == "same-story" and prediction.cluster_pa.get(cluster_id, set()) & own_pa:
            landing["same_story_with_own_pa"] += 1
        elif prediction.role(article_id) == "singleton":
            landing["singleton"] += 1
        else:
            landing["other"] += 1
    non_count = sum(landing.values())
    shares = {
        key: landing[key] / non_count if non_count else 0.0
        for key in ("same_story_with_own_pa", "derived", "singleton", "other")
    }
    return {
        "n_items": len(items),
        "n_gold_clusters": len(set(gold_cluster.values())),
        "n_predicted_clusters": len(set(predicted_cluster.values())),
        "pairwise": pairwise,
        "adjusted_rand": float(ari),
        "non_derived": {"n": non_count, "shares": shares, "counts": dict(landing)},
    }


def predicted_span_labels(article_id: str, text: str, prediction: Prediction) -> list[str | None]:
    """Per-character labels of the paper: verbatim / rewrite from PA-sourced passages (verbatim wins), else new."""
    spans = [
        (p.target_span[0], p.target_span[1], p.kind)
        for p in prediction.passages_into.get(article_id, [])
        if is_pa(p.source)
    ]
    return paint_spans(len(text), spans, default="new")


def score_spans(
    gold: list[dict[str, Any]], texts: dict[str, tuple[str, Path]], prediction: Prediction
) -> dict[str, Any]:
    """Character-level P/R/F1 of verbatim / rewrite / new over the annotated papers (whitespace ignored)."""
    total: SpanCounts = {kind: [0, 0, 0] for kind in KINDS}
    annotated = [row for row in gold if row.get("spans")]
    unmapped = 0
    for row in annotated:
        text = texts[row["id"]][0]
        gold_labels = paint_spans(len(row["span_text"]), [tuple(s) for s in row["spans"]], default=None)
        predicted = predicted_span_labels(row["id"], text, prediction)
        gold_side, predicted_side = project_labels(row["span_text"], gold_labels, text, predicted)
        unmapped += sum(g is not None and p is None for g, p in zip(gold_side, predicted_side, strict=True))
        add_counts(total, char_counts(gold_side, predicted_side, KINDS))
    return {
        **span_scores(total),
        "n_papers": len(annotated),
        "unmapped_gold_chars": unmapped,
        "counts": {kind: dict(zip(("tp", "fp", "fn"), values, strict=True)) for kind, values in total.items()},
    }


def halves(gold: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Stories split by their position in name order: odd (1st, 3rd, ...) and even."""
    stories = sorted({row["story"] for row in gold})
    return {"odd": set(stories[0::2]), "even": set(stories[1::2])}


def score_halves(
    gold: list[dict[str, Any]], texts: dict[str, tuple[str, Path]], pa_ids: Sequence[str], prediction: Prediction
) -> dict[str, Any]:
    """The headline figures on the odd and on the even stories: a setting chosen on one half is checked on the
    other, and a gain on the whole split that one half does not share is likely a fluke."""
    result = {}
    for part, stories in halves(gold).items():
        subset = [row for row in gold if row["story"] in stories]
        spans = score_spans(subset, texts, prediction)
        result[part] = {
            "n_stories": len(stories),
            "binary_macro_f1": score_binary(subset, prediction)["macro"]["f1"],
            "three_class_macro_f1": score_three(subset, prediction)["macro"]["f1"],
            "origin_p_at_1": score_origin(subset, prediction)["p_at_1"],
            "adjusted_rand": score_clustering(subset, [i for i in pa_ids if story_of(i) in stories], prediction)[
                "adjusted_rand"
            ],
            "spans_macro_f1": spans["macro"]["f1"],
            "spans_f1": {kind: spans["per_kind"][kind]["f1"] for kind in KINDS},
        }
    return result


def confusion_examples(gold: list[dict[str, Any]], prediction: Prediction, limit: int = 20) -> list[dict[str, Any]]:
    """Up to ``limit`` misclassified papers for the 3-class task, taken in turn from each (gold, predicted) cell."""
    cells: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in gold:
        predicted = prediction.three(row["id"])
        if predicted != row["label"]:
            member = prediction.member.get(row["id"])
            cells[(row["label"], predicted)].append(
                {
                    "id": row["id"],
                    "gold": row["label"],
                    "predicted": predicted,
                    "role": prediction.role(row["id"]),
                    "coverage": member.coverage if member else None,
                    "sources": list(member.sources[:2]) if member else [],
                }
            )
    queues = [cells[key] for key in sorted(cells)]
    picked: list[dict[str, Any]] = []
    depth = 0
    while len(picked) < limit and any(depth < len(q) for q in queues):
        picked.extend(q[depth] for q in queues if depth < len(q))
        depth += 1
    return picked[:limit]


# --- environment ----------------------------------------------------------------------------------------------


def git_commit() -> str | None:
    """``git rev-parse --short HEAD`` of the repository, or None."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPOSITORY,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def total_ram_gb() -> float | None:
    """Total RAM from /proc/meminfo in GB, or None off Linux."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        return None
    return None


def machine() -> dict[str, Any]:
    return {
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "ram_gb": total_ram_gb(),
        "platform": platform.platform(),
    }


# --- report ---------------------------------------------------------------------------------------------------


def _row(name: str, scores: dict[str, float], extra: str = "") -> str:
    return f"  {name:<24} P {scores['precision']:.3f}  R {scores['recall']:.3f}  F1 {scores['f1']:.3f}{extra}"


def render(report: dict[str, Any]) -> str:
    """The report as a plain-text table."""
    lines = [
        f"METER {report['data_name']}: {report['n_articles']} texts ({report['n_pa']} PA, "
        f"{report['n_papers']} papers, {report['n_stories']} stories)"
    ]
    run = report["run"]
    lines.append(
        f"  run {run['seconds']:.1f} s, peak RSS {run['peak_rss_mb']:.0f} MB, "
        f"{run['n_clusters']} clusters, {run['n_singletons']} singletons, {run['n_passages']} passages"
    )
    binary = report["binary"]
    lines.append("\n1. derived vs non-derived")
    for label in BINARY:
        lines.append(_row(label, binary["per_class"][label], f"  (n={binary['per_class'][label]['support']})"))
    lines.append(_row("macro", binary["macro"], f"  acc {binary['accuracy']:.3f}"))
    lines.append(_row("baseline always-derived", binary["baseline_always_derived"]["macro"]))
    three = report["three_class"]
    lines.append("\n2. wholly / partially / non   (published best average F1 0.664)")
    for label in THREE:
        lines.append(_row(label, three["per_class"][label], f"  (n={three['per_class'][label]['support']})"))
    lines.append(_row("macro", three["macro"], f"  acc {three['accuracy']:.3f}"))
    lines.append("  confusion (rows gold, cols predicted): " + "  ".join(f"{c[:5]:>5}" for c in THREE))
    for label, row in zip(THREE, three["confusion"], strict=True):
        lines.append(f"    {label:<10}" + "".join(f"{v:>7}" for v in row))
    origin = report["origin"]
    lines.append("\n3. origin")
    lines.append(
        f"  P@1 {origin['p_at_1']:.3f}  MRR {origin['mrr']:.3f}  over {origin['n_predicted_derived']} "
        f"predicted derived; P@1 over all {origin['n_gold_derived']} gold derived "
        f"{origin['p_at_1_all_gold_derived']:.3f}"
    )
    clustering = report["clustering"]
    lines.append("\n4. clustering (PA texts + gold-derived papers)")
    lines.append(_row("pairwise", clustering["pairwise"], f"  ARI {clustering['adjusted_rand']:.3f}"))
    lines.append(
        f"  {clustering['n_items']} items, {clustering['n_gold_clusters']} gold clusters, "
        f"{clustering['n_predicted_clusters']} predicted"
    )
    shares = clustering["non_derived"]["shares"]
    lines.append(
        f"  gold non-derived (n={clustering['non_derived']['n']}): "
        + ", ".join(f"{key} {value:.1%}" for key, value in shares.items())
    )
    spans = report["spans"]
    lines.append(f"\n5. character spans ({spans['n_papers']} annotated papers, whitespace ignored)")
    for kind in KINDS:
        lines.append(_row(kind, spans["per_kind"][kind], f"  (chars={spans['per_kind'][kind]['support']})"))
    lines.append(_row("macro", spans["macro"]))
    lines.append("\n6. story halves (odd / even stories by name)")
    for part, values in report["halves"].items():
        kinds = " / ".join(f"{values['spans_f1'][kind]:.3f}" for kind in KINDS)
        lines.append(
            f"  {part:<5} binary {values['binary_macro_f1']:.3f}  3-class {values['three_class_macro_f1']:.3f}  "
            f"P@1 {values['origin_p_at_1']:.3f}  ARI {values['adjusted_rand']:.3f}  "
            f"spans {values['spans_macro_f1']:.3f} (verbatim / rewrite / new {kinds})"
        )
    return "\n".join(lines)


def evaluate(data: Path, limit_stories: int | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load, run the tool once over all texts, score; returns the full report dict."""
    overrides = overrides or {}
    texts = load_texts(data, limit_stories)
    if not texts:
        raise SystemExit(f"no .txt under {data / 'articles'}")
    gold = load_gold(data, texts.keys())
    pa_ids = sorted(i for i in texts if is_pa(i))
    log.info("clustering %d texts", len(texts))
    result, seconds = run_tool(texts, overrides)
    prediction = Prediction(result)
    return {
        "schema": SCHEMA,
        "benchmark": "meter",
        "data": str(data),
        "data_name": data.name,
        "date": datetime.now(UTC).isoformat(),
        "git_commit": git_commit(),
        "machine": machine(),
        "overrides": overrides,
        "limit_stories": limit_stories,
        "n_articles": len(texts),
        "n_pa": len(pa_ids),
        "n_papers": len(texts) - len(pa_ids),
        "n_gold": len(gold),
        "n_stories": len({story_of(i) for i in texts}),
        "run": {
            "seconds": round(seconds, 3),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "n_clusters": len(result.clusters),
            "n_singletons": len(result.singletons),
            "n_passages": len(result.passages),
            "n_skipped": len(result.skipped),
        },
        "predicted_roles": {
            "pa": dict(Counter(prediction.role(i) for i in pa_ids)),
            "papers": dict(Counter(prediction.role(row["id"]) for row in gold)),
        },
        "binary": score_binary(gold, prediction),
        "three_class": score_three(gold, prediction),
        "origin": score_origin(gold, prediction),
        "clustering": score_clustering(gold, pa_ids, prediction),
        "spans": score_spans(gold, texts, prediction),
        "halves": score_halves(gold, texts, pa_ids, prediction),
        "confusion_examples": confusion_examples(gold, prediction),
        "parameters": result.parameters,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command-line entry: run, print the table, write the JSON; returns the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the METER split folder (articles/, gold.jsonl)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"JSON report (default {DEFAULT_OUTPUT})")
    parser.add_argument("--limit-stories", type=int, default=None, help="only the first N stories by name")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a cluster() setting, repeatable",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    report = evaluate(args.data.resolve(), args.limit_stories, parse_overrides(args.overrides))
    print(render(report))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    log.info("wrote %s", args.output)
    return report


if __name__ == "__main__":
    main()
