"""The full pipeline's candidate stages (furniture, clean and sketch, sentence idf, LSH, TF-IDF), timed, with the
counts that say why a stage grows as it does.

    python benchmarks/stages.py CORPUS.jsonl LABEL OUTPUT.jsonl [--workers 2] [--limit N] [--pairs PAIRS.npy]

Runs the stages with the pipeline's own functions (``pipeline.ArticleStore``, ``line_counts_stored``,
``clean_stored``, ``candidates.banded_pairs``, ``unit_stories``, ``pipeline.tfidf_batch``), in the order and with the
batches of ``pipeline.cluster``, on ``--workers`` processes, the cyclic collector paused as there.
Prints and appends one JSON line: per stage the wall
seconds and the CPU seconds of this process and its workers; the LSH stage split in its three steps; the counts
(articles, sentence rows, row pairs in shared band buckets and the largest bucket, candidate pairs per source,
the TF-IDF vectors' and suffix's nonzeros, the pruned product's multiply-adds — each suffix entry times its stem's
posting list length: its document frequency, or ``--posting-cap`` — and the rows it rescored); peak RSS of this
process; a digest of the pairs and of each article's stock units (sentence stories ``>= stock_min_stories``, all
that the run reads of them: since stop 24 the stories are counted only up to it; equal digests: equal values).
``--pairs``: the candidate pairs (sorted, int64 n × 2) saved for the judging-pass replay (``benchmarks/sides.py``);
``--vectors``: the article TF-IDF vectors and the LSH pairs (.npz, for the TF-IDF search's measurements);
``--limit``: the first N lines of the corpus only (streamed: the rest is not read); ``--tfidf-only``: without the
LSH steps (their counts left out, the digest over the TF-IDF pairs alone); ``--set NAME=VALUE``: a setting
(``lone_sentence_min_shared=0``); ``--as-run``: the LSH stage as the run takes it (``pipeline.lsh_pair_codes``: the
sentence rows spilled to files as the clean parts arrive, the stock rows dropped in place), timed step by step — the
article pairs, the sentence rows stacked, the sentence groups and story counts (the sentence stories), the evidence
rows, the sentence pairs — with the parent's CPU seconds apart (the band counts left out: the rows are not held; the
same digest); ``--crowds 0,100,50``: the sentence pairs again under each ``sentence_band_crowd`` (timed apart from
the stages), with the row pairs each enumerates, the candidate pairs it gives with the other sources', and —
truth.json beside the corpus — the truth pairs among them.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import resource
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.meter import parse_overrides
from dedup import candidates as candidates_module
from dedup.candidates import (
    SpilledRows,
    band_runs,
    banded_pair_codes,
    banded_pairs,
    bands,
    posting_lists,
    tfidf_suffix,
    unit_stories,
)
from dedup.clean import frequent_lines
from dedup.engine import paused_collection, run_batches
from dedup.pipeline import (
    ArticleStore,
    CleanBatch,
    Settings,
    _narrowed,
    _pruned_tfidf,
    clean_stored,
    line_counts_stored,
    tfidf_batch,
)
from dedup.read.files import stream_path
from dedup.similarity import N_FEATURES, article_vectors, sentence_idf, stack_rows


def cpu_seconds() -> float:
    """CPU seconds of this process and of its finished workers."""
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def band_pair_counts(rows: np.ndarray, owners: np.ndarray, threshold: float, crowd: int = 0) -> dict[str, int]:
    """Row pairs that share a band bucket (summed over bands, other owners' or not), the largest bucket, and the row
    pairs enumerated when buckets of more than ``crowd`` rows are left out (``sentence_band_crowd``; 0: none)."""
    band_count, width = bands(threshold, rows.shape[1])
    pairs, largest, enumerated = 0, 0, 0
    for band in range(band_count):
        _, starts = band_runs(rows, band, width)
        sizes = np.diff(starts)
        pairs += int((sizes * (sizes - 1) // 2).sum())
        enumerated += int((sizes * (sizes - 1) // 2)[sizes <= crowd if crowd > 0 else slice(None)].sum())
        largest = max(largest, int(sizes.max(initial=0)))
    return {"rows": len(rows), "bucket_row_pairs": pairs, "largest_bucket": largest, "enumerated": enumerated}


def crowd_run(
    rows: np.ndarray, owners: np.ndarray, sizes: np.ndarray, candidates: Any, crowd: int, count: int, workers: int
) -> dict[str, Any]:
    """The sentence pairs under ``sentence_band_crowd`` ``crowd``, timed: their codes, wall and CPU seconds, and the
    row pairs enumerated."""
    began = (time.perf_counter(), cpu_seconds())
    codes = banded_pair_codes(
        rows,
        owners,
        candidates.sentence_threshold,
        candidates.sentence_bucket_cap,
        candidates.verify_sentence_pairs,
        count,
        sizes,
        candidates.lone_sentence_min_shared,
        crowd,
        workers,
    )
    ended = (time.perf_counter(), cpu_seconds())
    return {
        "crowd": crowd,
        "codes": codes,
        "wall_s": round(ended[0] - began[0], 2),
        "cpu_s": round(ended[1] - began[1], 2),
        "enumerated": band_pair_counts(rows, owners, candidates.sentence_threshold, crowd)["enumerated"],
    }


def truth_labels(corpus: Path, ids: Sequence[str]) -> np.ndarray | None:
    """Each article's truth cluster ('' for none), from the truth.json beside ``corpus`` (None without one)."""
    path = corpus.parent / "truth.json"
    if not path.exists():
        return None
    cluster_of = {
        member["id"]: cluster["id"]
        for cluster in json.loads(path.read_text(encoding="utf-8"))["clusters"]
        for member in cluster["members"]
    }
    return np.array([cluster_of.get(key, "") for key in ids], dtype=object)


def true_pairs(codes: np.ndarray, count: int, labels: np.ndarray) -> int:
    """How many pair codes (``first * count + second``) join two articles of one truth cluster."""
    first, second = labels[codes // count], labels[codes % count]
    return int(((first == second) & (first != "")).sum())


def lsh_steps(
    parts: list[CleanBatch],
    spilled: SpilledRows,
    units: np.ndarray,
    settings: Settings,
    workers: int,
    steps: list[dict[str, object]],
) -> tuple[list[np.ndarray], np.ndarray | None]:
    """``pipeline.lsh_pair_codes`` with each step's wall seconds, this process's CPU seconds and the workers' CPU
    seconds appended to ``steps``, the sentence stories split in their groups and their story counts."""
    last = [time.perf_counter(), time.process_time(), cpu_seconds()]

    def step(name: str) -> None:
        now = [time.perf_counter(), time.process_time(), cpu_seconds()]
        steps.append(
            {
                "step": name,
                "wall_s": round(now[0] - last[0], 2),
                "parent_cpu_s": round(now[1] - last[1], 2),
                "cpu_s": round(now[2] - last[2], 2),
            }
        )
        last[:] = now

    def timed(function: Any, name: str) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            value = function(*args, **kwargs)
            step(name)
            return value

        return run

    from dedup.pipeline import lsh_pair_codes  # here: the stages run without it on a checkout before stop 24

    original = candidates_module.sentence_groups, candidates_module._story_counts
    candidates_module.sentence_groups = timed(original[0], "sentence groups")
    candidates_module._story_counts = timed(original[1], "story counts")
    try:
        return lsh_pair_codes(parts, spilled, units, settings, workers, step)
    finally:
        candidates_module.sentence_groups, candidates_module._story_counts = original


@paused_collection()  # as pipeline.cluster runs: the collector's full scans of a growing heap are not the stages'
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus")
    parser.add_argument("label")
    parser.add_argument("output")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="the corpus's first N articles only")
    parser.add_argument("--pairs", type=Path, default=None, help="save the candidate pairs here (.npy)")
    parser.add_argument("--vectors", type=Path, default=None, help="save the TF-IDF vectors and LSH pairs (.npz)")
    parser.add_argument("--tfidf-only", action="store_true", help="skip the LSH steps (less memory; no LSH counts)")
    parser.add_argument(
        "--crowds",
        type=lambda text: [int(value) for value in text.split(",")],
        default=[],
        help="also time the sentence pairs under each of these sentence_band_crowd values (0: off), with their counts "
        "and, where truth.json lies beside the corpus, the truth pairs among the candidates",
    )
    parser.add_argument("--as-run", action="store_true", help="the LSH stage as the run takes it, step by step")
    parser.add_argument("--posting-cap", type=int, default=None, help="tfidf_posting_cap (default: the setting's)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE", help="a setting, repeatable"
    )
    args = parser.parse_args(argv)
    workers = args.workers
    settings = Settings().with_overrides(**parse_overrides(args.overrides))
    if args.posting_cap is not None:
        settings = settings.with_overrides(tfidf_posting_cap=args.posting_cap)
    candidates = settings.candidates
    started = (time.perf_counter(), cpu_seconds())
    store = ArticleStore()
    read = stream_path(args.corpus).articles  # a chunk at a time: --limit reads only its lines, not the whole file
    for article in itertools.islice(read, args.limit) if args.limit else read:
        store.add(article)
    store.sort()
    count = len(store)
    size = max(8, min(500, count // (8 * max(workers, 1)) + 1))
    batches = [(begin, min(begin + size, count)) for begin in range(0, count, size)]
    stages: list[dict[str, object]] = []
    last = (time.perf_counter(), cpu_seconds())
    stages.append({"stage": "read", "wall_s": round(last[0] - started[0], 2), "cpu_s": round(last[1] - started[1], 2)})

    def stage(name: str) -> None:
        nonlocal last
        now = (time.perf_counter(), cpu_seconds())
        stages.append({"stage": name, "wall_s": round(now[0] - last[0], 2), "cpu_s": round(now[1] - last[1], 2)})
        last = now

    counts: Counter[str] = Counter()
    for part in run_batches(line_counts_stored, store, batches, workers=workers):
        counts.update(part)
    repeated = frequent_lines(counts, settings.boilerplate_min_articles)
    del counts
    stage("furniture lines")
    shared = (repeated, settings.sketch, settings.keep_wrapped_repeated_lines)
    frequency = np.zeros(N_FEATURES, dtype=np.int64)
    spilled = SpilledRows(settings.sketch.sentence_num_perm) if args.as_run else None

    def folded(part: CleanBatch, frequency: np.ndarray = frequency) -> CleanBatch:
        """As the run folds a part in (``pipeline.cluster``): its frequencies added, with ``--as-run`` its sentence
        rows spilled and its sizes and owners narrowed."""
        frequency[part.features] += part.holders
        if spilled is not None:
            spilled.append(part.sentence_rows)
            part.sentence_rows = np.zeros((0, 0), dtype=np.uint32)
            part.unit_sizes, part.sentence_owners = _narrowed(part.unit_sizes), _narrowed(part.sentence_owners)
        return part

    parts: list[CleanBatch] = run_batches(clean_stored, (store, shared), batches, workers=workers, each=folded)
    stage("clean and sketch")
    units = np.concatenate([part.units for part in parts])
    sentence_idf(frequency, int(units.sum()))
    del frequency
    stage("sentence idf")
    found: set[tuple[int, int]] = set()
    article_pairs = lsh_pairs = 0
    lsh_found: set[tuple[int, int]] = set()
    article_found: set[tuple[int, int]] = set()
    crowd_runs: list[dict[str, Any]] = []
    steps: list[dict[str, object]] = []
    if args.as_run and not args.tfidf_only:
        codes, stories = lsh_steps(parts, spilled, units, settings, workers, steps)
        del spilled
        article_pairs = len(codes[0])
        found = set(zip((codes[0] // count).tolist(), (codes[0] % count).tolist(), strict=True))
        article_found = set(found)
        found.update(zip((codes[1] // count).tolist(), (codes[1] % count).tolist(), strict=True))
        lsh_pairs = len(found)
        lsh_found = set(found) if args.vectors is not None else set()
        del codes
        stage("LSH (as the run)")
    elif not args.tfidf_only:
        firsts = np.cumsum([0] + [len(part.compact) for part in parts])
        article_rows = np.vstack([part.article_rows for part in parts])
        found = banded_pairs(article_rows, np.arange(count, dtype=np.int64), candidates.article_threshold)
        article_pairs = len(found)
        stage("LSH: article pairs")
        rows = np.vstack([part.sentence_rows for part in parts])
        owners = np.concatenate([part.sentence_owners + first for part, first in zip(parts, firsts, strict=False)])
        stock = settings.score.stock_min_stories
        unit_sizes = np.concatenate([part.unit_sizes for part in parts])
        row_sizes = unit_sizes[unit_sizes >= settings.sketch.min_sentence_stems]
        stories, row_stories = unit_stories(
            rows,
            candidates.near_copy_threshold,
            unit_sizes,
            [unit for part in parts for unit in part.short_units],
            units,
            settings.sketch.min_sentence_stems,
            stock,
            workers,
        )
        stage("LSH: sentence stories")
        evidence = row_stories < stock
        article_found = set(found)
        evidence_rows, evidence_owners = rows[evidence], owners[evidence]  # taken once: the crowds and counts read them
        found |= banded_pairs(
            evidence_rows,
            evidence_owners,
            candidates.sentence_threshold,
            candidates.sentence_bucket_cap,
            candidates.verify_sentence_pairs,
            row_sizes[evidence],
            candidates.lone_sentence_min_shared,
            candidates.sentence_band_crowd,
            workers,
        )
        lsh_pairs = len(found)
        lsh_found = set(found) if args.vectors is not None else set()
        stage("LSH: sentence pairs")
        crowd_runs = [
            crowd_run(evidence_rows, evidence_owners, row_sizes[evidence], candidates, crowd, count, workers)
            for crowd in args.crowds
        ]
    stem_counts = stack_rows([part.stem_counts for part in parts])  # packed parts unpacked
    vectors = article_vectors([], stem_counts)
    del stem_counts
    pruned = _pruned_tfidf(candidates, count)
    suffix = tfidf_suffix(vectors, candidates.tfidf_guarantee) if pruned else None
    chunk = 2048
    blocks = [(begin, min(begin + chunk, count)) for begin in range(0, count, chunk)]
    postings = posting_lists(vectors, candidates.tfidf_posting_cap if pruned else 0)
    tfidf_found: set[tuple[int, int]] = set()
    for codes in run_batches(tfidf_batch, (vectors, postings, suffix, candidates), blocks, workers=workers):
        tfidf_found.update(zip((codes // count).tolist(), (codes % count).tolist(), strict=True))  # pair codes
    found |= tfidf_found
    if not crowd_runs:
        del tfidf_found
    stage("TF-IDF neighbours")
    peak_rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    # counts (untimed)
    frequency_of_stem = np.bincount(vectors.indices, minlength=vectors.shape[1])
    searched = suffix if suffix is not None else vectors
    pairs = np.array(sorted(found), dtype=np.int64).reshape(-1, 2)
    partners = np.bincount(pairs.ravel(), minlength=count) if len(pairs) else np.zeros(count, np.int64)
    bounds = np.concatenate(([0], np.cumsum(units))).tolist()
    flat = [] if args.tfidf_only or stories is None else (stories >= settings.score.stock_min_stories).tolist()
    lists = [flat[bounds[k] : bounds[k + 1]] for k in range(count)]
    result = {
        "label": args.label,
        "corpus": args.corpus,
        "articles": count,
        "workers": workers,
        "pairs": len(pairs),
        "article_lsh_pairs": article_pairs,
        "lsh_pairs": lsh_pairs,
        "tfidf_only_pairs": len(pairs) - lsh_pairs,
        "partners_per_article": {
            "mean": round(float(partners.mean()), 2),
            "p99": int(np.percentile(partners, 99)),
            "max": int(partners.max(initial=0)),
        },
        "article_bands": None
        if args.tfidf_only or args.as_run
        else band_pair_counts(article_rows, np.arange(count), candidates.article_threshold),
        "sentence_bands": None
        if args.tfidf_only or args.as_run
        else band_pair_counts(
            evidence_rows, evidence_owners, candidates.sentence_threshold, candidates.sentence_band_crowd
        ),
        "sentence_rows_all": None if args.tfidf_only or args.as_run else len(rows),
        "tfidf": {
            "pruned": pruned,
            "vector_nnz": int(vectors.nnz),
            "searched_nnz": int(searched.nnz),
            "posting_cap": candidates.tfidf_posting_cap if pruned else 0,
            "product_multiply_adds": int(np.diff(postings.indptr)[searched.indices].sum()),
            "full_product_multiply_adds": int((frequency_of_stem.astype(np.float64) ** 2).sum()),
            "stems": int(np.count_nonzero(frequency_of_stem)),
            "largest_df": int(frequency_of_stem.max(initial=0)),
        },
        "peak_rss_gb": round(peak_rss_gb, 2),
        "digest": hashlib.sha1(repr((pairs.tolist(), lists)).encode()).hexdigest(),
        "load": Path("/proc/loadavg").read_text(encoding="ascii").split()[:3],
        "stages": stages,
    }
    if steps:
        result["lsh_steps"] = steps
    if crowd_runs:
        labels = truth_labels(Path(args.corpus), store.ids)
        others = article_found | tfidf_found
        other_codes = np.array(sorted(a * count + b for a, b in others), dtype=np.int64)
        for run in crowd_runs:
            codes = run.pop("codes")
            union = np.union1d(other_codes, codes)
            run.update(sentence_pairs=len(codes), pairs=len(union))
            if labels is not None:
                run.update(sentence_true=true_pairs(codes, count, labels), true=true_pairs(union, count, labels))
        result["crowds"] = crowd_runs
    if args.pairs is not None:
        np.save(args.pairs, pairs)
    if args.vectors is not None:
        np.savez(
            args.vectors,
            data=vectors.data,
            indices=vectors.indices,
            indptr=vectors.indptr,
            shape=np.array(vectors.shape),
            lsh_pairs=np.array(sorted(lsh_found), dtype=np.int64).reshape(-1, 2),
        )
    print(json.dumps(result))
    with open(args.output, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
