"""Process time of a check (or an add) by phase, on a copy of a prebuilt index.

    PYTHONPATH=. python benchmarks/index_phases.py BASE.dedup CORPUS.jsonl --first 9600 [--count 150] \
        [--what check|add] [--output JSON]

Checks ``--count`` articles from line ``--first`` of the corpus after 50 warm-up checks (``add``: adds them with
``add_many`` in batches of 50), with the index's stage functions, SQL reads and helpers wrapped to add up the
process (CPU) time spent in each; time spent in a wrapped function called by another is counted for the inner
one only, so the phases add up to the whole. Garbage collection is timed apart (``gc.callbacks``) and falls in
whatever phase it interrupted. A name absent from the code under test is skipped, so two versions can be
compared; run before and after alternately under ``flock /tmp/bench.lock``.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

INDEX_METHODS = (
    "check", "_evaluate", "_prepare", "_judge_candidates", "_prepare_rows", "_stacked_vectors", "_may_relate",
    "_neighbours", "_most_holding", "_article_vector", "_sentence_rows_of", "_cluster_of_new", "_verdict", "_apply",
    "_sync", "_store", "_build_clusters", "_cluster_record", "_component", "_stored_pairs", "_cleaned_row",
    "_stored_verdict",
)  # fmt: skip
HELPERS = (
    "align_sides", "judge", "prepare_side", "sentences_may_agree_each", "sentences_agree_each", "stems_matrix",
    "term_keys", "top_terms", "row_dots", "stem_radii", "pack_stems", "cleaned_from_bytes", "batch_sentence_counts",
    "pack_verdict", "clean_bytes", "pack_low_bytes", "build_cluster", "measure_members", "regroup", "combine",
    "build_state", "unpack_verdict", "verdict_order_fields", "align",
)  # fmt: skip
ORIGIN_HELPERS = ("origin_scores", "credited_list", "_union_coverage", "coverage_of_spans")  # inside build_cluster
SESSION_METHODS = (
    "articles", "lookup", "most_holding", "holders", "stems", "sentence_signatures", "lines", "pair_blobs", "key_of",
    "head", "changes", "checkpoint", "slug_holders", "members", "names", "clusters", "slugs", "insert_article",
    "add_keys", "remove_keys", "put_lines", "log_change", "put_pair", "put_weak_pair", "set_components",
    "put_clusters", "delete_clusters", "set_furniture", "write_checkpoint",
)  # fmt: skip


class Phases:
    """Process time per wrapped function, nested calls counted for the innermost only."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.stack: list[float] = []

    def wrap(self, owner: Any, name: str, label: str | None = None) -> None:
        original = getattr(owner, name, None)
        if original is None:  # not in this version of the code
            return
        key = label or name

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            start = time.process_time()
            self.stack.append(0.0)
            try:
                return original(*args, **kwargs)
            finally:
                spent = time.process_time() - start
                inner = self.stack.pop()
                self.totals[key] = self.totals.get(key, 0.0) + spent - inner
                if self.stack:
                    self.stack[-1] += spent

        setattr(owner, name, wrapped)


def collection_timer() -> tuple[Callable[[str, dict], None], list[float]]:
    spent, started = [0.0], [0.0]

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.process_time()
        else:
            spent[0] += time.process_time() - started[0]

    return callback, spent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index")
    parser.add_argument("corpus")
    parser.add_argument("--first", type=int, default=9600)
    parser.add_argument("--count", type=int, default=150)
    parser.add_argument("--what", choices=("check", "add"), default="check")
    parser.add_argument("--output")
    args = parser.parse_args(argv)
    import dedup.index as index_module
    import dedup.origin as origin
    import dedup.store.features as features
    from benchmarks.index_time import read_articles
    from dedup.index import Index
    from dedup.store.sqlite import SQLiteSession

    phases = Phases()
    for name in INDEX_METHODS:
        phases.wrap(Index, name)
    for name in HELPERS:
        phases.wrap(index_module, name)
    phases.wrap(features.Prepared, "side", "prepare_side")
    for name in ORIGIN_HELPERS:
        phases.wrap(origin, name, f"origin.{name}")
    for name in SESSION_METHODS:
        phases.wrap(SQLiteSession, name, f"sql.{name}")
    articles = read_articles(args.corpus, args.first, 50 + args.count)
    folder = Path(tempfile.mkdtemp(prefix="dedup-index-phases-"))
    copy = folder / "index.dedup"
    shutil.copyfile(args.index, copy)
    callback, collecting = collection_timer()
    try:
        with Index.open(str(copy)) as index:
            for article in articles[:50]:
                index.check(article)
            phases.totals.clear()
            gc.callbacks.append(callback)
            begin = time.process_time()
            if args.what == "check":
                for article in articles[50:]:
                    index.check(article)
            else:
                for start in range(50, len(articles), 50):
                    index.add_many(articles[start : start + 50])
            total = time.process_time() - begin
            gc.callbacks.remove(callback)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    count = max(len(articles) - 50, 1)
    result = {
        "what": args.what,
        "code": str(Path(index_module.__file__).parents[1]),
        "index": args.index,
        "first": args.first,
        "count": count,
        "total_ms": round(1000 * total / count, 2),
        "gc_ms": round(1000 * collecting[0] / count, 2),
        "phases_ms": {k: round(1000 * v / count, 2) for k, v in sorted(phases.totals.items(), key=lambda kv: -kv[1])},
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
