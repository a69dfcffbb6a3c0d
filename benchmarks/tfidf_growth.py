"""Why the pruned TF-IDF search grows faster than the articles: its work per article on prefixes of one corpus, and
the product's CPU a multiply-add, the library's (``sparse_dot_topn``) against the compiled pools.

    python benchmarks/tfidf_growth.py COUNTS.npz N [N ...]

``COUNTS.npz``: stem counts (``benchmarks/stem_counts.py``). For each N, the first N rows weighed as their own corpus
(``article_vectors``), their suffix and capped posting lists as ``cluster()`` makes them; prints one JSON line: stored
values, suffix entries and the product's multiply-adds an article (capped, and uncapped), the share of suffix entries
whose list is at the cap, the suffix's and lists' CPU s, and on three blocks of 2,048 rows (a quarter, half and three
quarters in) the CPU a multiply-add of ``reference_pruned_pools`` and of ``pruned_pools``, whose pools are checked
equal row by row. Stop 24 (tfidf24), docs/scale.md.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import sparse

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dedup.candidates import (
    CandidateSettings,
    load_pool_kernels,
    posting_lists,
    pruned_pools,
    reference_pruned_pools,
    tfidf_suffix,
)
from dedup.similarity import article_vectors


def main() -> None:
    saved = np.load(sys.argv[1])
    counts = sparse.csr_matrix((saved["data"], saved["indices"], saved["indptr"]), shape=tuple(saved["shape"]))
    settings = CandidateSettings()
    cap, pool = settings.tfidf_posting_cap, settings.tfidf_pool
    kernels = load_pool_kernels()
    for articles in (int(value) for value in sys.argv[2:]):
        vectors = article_vectors([], counts[:articles].copy())
        started = time.process_time()
        suffix = tfidf_suffix(vectors, settings.tfidf_guarantee)
        made = time.process_time()
        lists = posting_lists(vectors, cap)
        listed = time.process_time()
        frequency = np.bincount(vectors.indices, minlength=vectors.shape[1])
        lengths = np.diff(lists.indptr)
        multiply_adds = lengths[suffix.indices]
        library = compiled = block_multiply_adds = 0.0
        for begin in (articles // 4, articles // 2, 3 * articles // 4):
            block = suffix[begin : begin + 2048]
            block_multiply_adds += lengths[block.indices].sum()
            clock = time.process_time()
            expected = reference_pruned_pools(block, lists, pool)
            library += time.process_time() - clock
            clock = time.process_time()
            found = pruned_pools(block, lists, pool)
            compiled += time.process_time() - clock
            assert np.array_equal(found[0], expected[0])
            for row in range(block.shape[0]):
                places = slice(found[0][row], found[0][row + 1])
                assert set(found[1][places].tolist()) == set(expected[1][places].tolist())
        result = {
            "articles": articles,
            "stored_per_article": round(vectors.nnz / articles, 1),
            "suffix_per_article": round(suffix.nnz / articles, 2),
            "multiply_adds_per_article": round(multiply_adds.sum() / articles, 1),
            "multiply_adds_per_suffix_entry": round(multiply_adds.mean(), 1),
            "suffix_entries_at_cap": round(float((multiply_adds >= cap).mean()), 3),
            "uncapped_multiply_adds_per_article": round(frequency[suffix.indices].sum() / articles, 1),
            "stems_over_cap": int((frequency > cap).sum()),
            "largest_df": int(frequency.max()),
            "suffix_cpu_s": round(made - started, 2),
            "lists_cpu_s": round(listed - made, 2),
            "compiled_pools": kernels,
            "library_ns_per_multiply_add": round(library / block_multiply_adds * 1e9, 1),
            "compiled_ns_per_multiply_add": round(compiled / block_multiply_adds * 1e9, 1),
            "pools_equal": True,
        }
        print(json.dumps(result), flush=True)
        del vectors, suffix, lists


if __name__ == "__main__":
    main()
