"""The article stem counts of a corpus's first N articles, as ``pipeline.cluster`` makes them, saved for the TF-IDF
stage's measurements (``benchmarks/tfidf_stage.py --counts``, ``benchmarks/tfidf_growth.py``).

    python benchmarks/stem_counts.py CORPUS.jsonl N OUTPUT.npz [WORKERS]

Reads the first N articles (streamed), finds the furniture lines and cleans them in ``cluster()``'s batches, keeping
only each batch's stem counts (a cleaned corpus's other parts are not held: 400k articles in 1.26 GB). Rows do not
depend on each other but through the furniture lines, so the first n rows of the file are the counts of an n-article
prefix up to those lines. Stop 24 (tfidf24), docs/scale.md.
"""

from __future__ import annotations

import itertools
import resource
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dedup.clean import frequent_lines
from dedup.engine import paused_collection, run_batches
from dedup.pipeline import ArticleStore, Settings, clean_stored, line_counts_stored
from dedup.read.files import stream_path
from dedup.similarity import stack_rows


@paused_collection()
def main() -> None:
    corpus, limit, output = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    workers = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    settings = Settings()
    started = time.time()
    store = ArticleStore()
    for article in itertools.islice(stream_path(corpus).articles, limit):
        store.add(article)
    store.sort()
    count = len(store)
    size = max(8, min(500, count // (8 * max(workers, 1)) + 1))
    batches = [(begin, min(begin + size, count)) for begin in range(0, count, size)]
    lines: Counter[str] = Counter()
    for part in run_batches(line_counts_stored, store, batches, workers=workers):
        lines.update(part)
    repeated = frequent_lines(lines, settings.boilerplate_min_articles)
    del lines
    shared = (store, (repeated, settings.sketch, settings.keep_wrapped_repeated_lines))
    kept = run_batches(clean_stored, shared, batches, workers=workers, each=lambda part: part.stem_counts)
    del store, shared
    counts = stack_rows(kept)
    np.savez(output, data=counts.data, indices=counts.indices, indptr=counts.indptr, shape=np.array(counts.shape))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(
        f"{counts.shape[0]} articles, {counts.nnz} stored counts, {time.time() - started:.1f} s, peak RSS {peak:.2f} GB"
    )


if __name__ == "__main__":
    main()
