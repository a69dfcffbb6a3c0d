"""The TF-IDF candidate stage on its own, as ``pipeline.cluster`` runs it: CPU, multiply-adds and the tree's memory.

    python benchmarks/tfidf_stage.py VECTORS.npz [--limit N] [--cap C] [--workers 2] [--label L] [--output X.jsonl]

``VECTORS.npz``: the article TF-IDF vectors ``benchmarks/stages.py --vectors`` saved (``--limit``: the first N rows;
``--counts``: the file holds stem counts instead, weighed into the N rows' vectors as ``cluster()`` does). The pruned
search's pools are compiled (``dedup.tfidf_kernels``) unless ``DEDUP_KERNELS=0``.
Runs the lines of ``cluster()`` that make the stage: ``tfidf_suffix`` (when the run is large enough for the pruned
search), the posting lists (``posting_lists``, capped to ``--cap`` for the pruned search; ``vectors.T.tocsr()`` on
code without it, so that main's commit can be measured too) and ``run_batches(tfidf_batch, …)`` over blocks of 2,048
rows on ``--workers`` processes, while a thread samples the PSS of this process and its workers every 0.1 s.
Prints and appends one JSON line: CPU seconds (this process and its workers) and wall seconds of the suffix and of
the search; the suffix's nonzeros and the pruned product's multiply-adds (each suffix entry times its stem's posting
list length, the cap applied); the pairs and a digest of them (equal digests: equal pairs); the tree's highest PSS
above what it held before the stage (the vectors loaded) while the suffix is made and while the search runs, and the
parent's peak RSS. Stop 20 (tfidf14), docs/scale.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import sparse

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.scale import _pss
from dedup import candidates as candidates_module
from dedup.candidates import CandidateSettings, tfidf_suffix
from dedup.engine import run_batches
from dedup.pipeline import _pruned_tfidf, tfidf_batch
from dedup.similarity import article_vectors


def cpu_seconds() -> float:
    """CPU seconds of this process and of its finished workers."""
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


class TreePss:
    """The highest PSS of this process and its workers, sampled every ``interval`` seconds, per named phase."""

    def __init__(self, interval: float = 0.1) -> None:
        import psutil

        self.me = psutil.Process()
        self.interval = interval
        self.phase = "before"
        self.highest: dict[str, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def sample(self) -> int:
        try:
            children = self.me.children(recursive=True)
        except Exception:  # a worker gone between listing and reading
            children = []
        return _pss(self.me.pid) + sum(_pss(child.pid) for child in children)

    def run(self) -> None:
        while not self.stop.is_set():
            tree = self.sample()
            self.highest[self.phase] = max(self.highest.get(self.phase, 0), tree)
            self.stop.wait(self.interval)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("vectors", type=Path)
    parser.add_argument("--limit", type=int, default=0, help="the first N rows only")
    parser.add_argument("--cap", type=int, default=0, help="tfidf_posting_cap (0: the full posting lists)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--counts", action="store_true", help="VECTORS.npz holds stem counts: weigh them first")
    parser.add_argument("--label", default="")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    saved = np.load(args.vectors)
    vectors = sparse.csr_matrix((saved["data"], saved["indices"], saved["indptr"]), shape=tuple(saved["shape"]))
    del saved
    if args.limit:
        vectors = vectors[: args.limit]
    if args.counts:  # stem counts (rows independent of each other): the vectors of these rows as cluster() weighs them
        vectors = article_vectors([], sparse.csr_matrix(vectors))
    count = vectors.shape[0]
    settings = CandidateSettings()
    if hasattr(settings, "tfidf_posting_cap"):
        settings = CandidateSettings(tfidf_posting_cap=args.cap)
    elif args.cap:
        raise SystemExit("this commit has no tfidf_posting_cap")
    sampler = TreePss()
    baseline = sampler.sample()
    sampler.thread.start()
    blocks = [(begin, min(begin + 2048, count)) for begin in range(0, count, 2048)]
    started = (time.perf_counter(), cpu_seconds())
    sampler.phase = "suffix"
    suffix = tfidf_suffix(vectors, settings.tfidf_guarantee) if _pruned_tfidf(settings, count) else None
    made = (time.perf_counter(), cpu_seconds())
    sampler.phase = "search"
    kernels = hasattr(candidates_module, "load_pool_kernels") and suffix is not None
    kernels = kernels and candidates_module.load_pool_kernels()  # before the workers fork, as cluster() does
    if hasattr(candidates_module, "posting_lists"):
        lists = candidates_module.posting_lists(vectors, args.cap if suffix is not None else 0)
    else:
        lists = vectors.T.tocsr()
    found = run_batches(tfidf_batch, (vectors, lists, suffix, settings), blocks, workers=args.workers)
    ended = (time.perf_counter(), cpu_seconds())
    sampler.stop.set()
    sampler.thread.join()
    codes = np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
    searched = suffix if suffix is not None else vectors
    list_lengths = np.diff(lists.indptr)
    result = {
        "label": args.label,
        "vectors": str(args.vectors),
        "articles": count,
        "vector_nnz": int(vectors.nnz),
        "pruned": suffix is not None,
        "pool_kernels": bool(kernels),
        "suffix_per_article": round(searched.nnz / max(count, 1), 2),
        "multiply_adds_per_article": round(int(list_lengths[searched.indices].sum()) / max(count, 1), 1),
        "lists_at_cap": int((list_lengths >= args.cap).sum()) if args.cap else 0,
        "cap": args.cap,
        "workers": args.workers,
        "suffix_cpu_s": round(made[1] - started[1], 2),
        "suffix_wall_s": round(made[0] - started[0], 2),
        "search_cpu_s": round(ended[1] - made[1], 2),
        "search_wall_s": round(ended[0] - made[0], 2),
        "stage_cpu_s": round(ended[1] - started[1], 2),
        "searched_nnz": int(searched.nnz),
        "product_multiply_adds": int(list_lengths[searched.indices].sum()),
        "largest_posting_list": int(list_lengths.max(initial=0)),
        "pairs": len(codes),
        "digest": hashlib.sha1(codes.tobytes()).hexdigest(),
        "baseline_pss_gb": round(baseline / 1e9, 3),
        "suffix_peak_pss_above_gb": round((sampler.highest.get("suffix", baseline) - baseline) / 1e9, 3),
        "search_peak_pss_above_gb": round((sampler.highest.get("search", baseline) - baseline) / 1e9, 3),
        "parent_peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 3),
        "load": Path("/proc/loadavg").read_text(encoding="ascii").split()[:3],
    }
    print(json.dumps(result), flush=True)
    if args.output:
        with open(args.output, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
