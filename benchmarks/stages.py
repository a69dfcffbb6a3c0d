"""The full pipeline's stages up to the LSH pairs, as ``dedup.pipeline.cluster`` runs them (2 workers), timed.

Prints and appends one JSON line: per stage the wall seconds and the CPU seconds of this process and its
workers, the number of candidate pairs and a digest of the pairs and per-article story counts (equal digests:
equal values). Used for docs/scale.md, stop 15:

    python benchmarks/stages.py CORPUS.jsonl LABEL OUTPUT.jsonl
"""

from __future__ import annotations

import hashlib
import json
import resource
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from dedup.candidates import banded_pairs, unit_stories
from dedup.clean import frequent_lines
from dedup.engine import run_batches
from dedup.pipeline import Settings, clean_batch, line_counts_batch
from dedup.read import read_path
from dedup.similarity import N_FEATURES, sentence_idf


def cpu_seconds() -> float:
    """CPU seconds of this process and of its finished workers."""
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def main(path: str, label: str, output: str) -> None:
    ordered = sorted(read_path(path).articles, key=lambda article: article.id)
    settings, workers = Settings(), 2
    size = max(8, min(500, len(ordered) // (8 * workers) + 1))
    batches = [ordered[k : k + size] for k in range(0, len(ordered), size)]
    stages: list[dict[str, object]] = []
    last = (time.perf_counter(), cpu_seconds())

    def stage(name: str) -> None:
        nonlocal last
        now = (time.perf_counter(), cpu_seconds())
        stages.append({"stage": name, "wall_s": round(now[0] - last[0], 2), "cpu_s": round(now[1] - last[1], 2)})
        last = now

    counts: Counter[str] = Counter()
    for part in run_batches(line_counts_batch, None, batches, workers=workers):
        counts.update(part)
    repeated = frequent_lines(counts, settings.boilerplate_min_articles)
    stage("furniture lines")
    shared = (repeated, settings.sketch, settings.keep_wrapped_repeated_lines, settings.sketch.min_sentence_stems)
    parts = run_batches(clean_batch, shared, batches, workers=workers)
    stage("clean and sketch")
    frequency = np.zeros(N_FEATURES, dtype=np.int64)
    for part in parts:
        frequency[part.features] += part.holders
    units = np.concatenate([part.units for part in parts])
    sentence_idf(frequency, int(units.sum()))
    stage("sentence idf")
    candidates = settings.candidates
    articles = np.arange(len(ordered), dtype=np.int64)
    found = banded_pairs(np.vstack([part.article_rows for part in parts]), articles, candidates.article_threshold)
    rows = np.vstack([part.sentence_rows for part in parts])
    firsts = np.cumsum([0] + [len(part.compact) for part in parts])
    owners = np.concatenate([part.sentence_owners + first for part, first in zip(parts, firsts, strict=False)])
    stock = settings.score.stock_min_stories
    stories, row_stories = unit_stories(
        rows,
        candidates.near_copy_threshold,
        np.concatenate([part.unit_sizes for part in parts]),
        [unit for part in parts for unit in part.short_units],
        units,
        settings.sketch.min_sentence_stems,
        stock,
    )
    bounds = np.concatenate(([0], np.cumsum(units))).tolist()
    flat = stories.tolist()
    lists = [flat[bounds[k] : bounds[k + 1]] for k in range(len(ordered))]
    evidence = row_stories < stock
    found |= banded_pairs(
        rows[evidence],
        owners[evidence],
        candidates.sentence_threshold,
        candidates.sentence_bucket_cap,
        candidates.verify_sentence_pairs,
    )
    stage("LSH pairs")
    result = {
        "label": label,
        "corpus": path,
        "articles": len(ordered),
        "pairs": len(found),
        "digest": hashlib.sha1(repr((sorted(found), lists, "")).encode()).hexdigest(),
        "load": Path("/proc/loadavg").read_text(encoding="ascii").split()[:3],
        "stages": stages,
    }
    print(json.dumps(result))
    with open(output, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
