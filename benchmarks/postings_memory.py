"""The capped posting lists of the TF-IDF stage (``candidates.posting_lists``): their highest traced bytes above the
vectors, and what they keep.

    python benchmarks/postings_memory.py VECTORS.npz [--counts] [--cap 500] [--label L] [--output FILE.jsonl]

``VECTORS.npz``: a CSR matrix's ``data``, ``indices``, ``indptr`` and ``shape`` (``benchmarks/stages.py --vectors``);
``--counts``: stem counts, weighed into vectors first (``similarity.article_vectors``, as ``cluster()`` does). Then
``posting_lists(vectors, cap)`` runs under ``tracemalloc`` (numpy's arrays included): its highest bytes above the
vectors, the bytes it holds after, the vectors' and the lists' stored values, CPU seconds, and a digest of the lists
(equal digests: equal lists). At 1M this step was the run's highest (stop 28: the parent alone, the TF-IDF stage).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
from scipy import sparse

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.memory import print_result
from dedup.candidates import load_pool_kernels, posting_lists, reference_posting_lists
from dedup.similarity import article_vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("vectors", type=Path)
    parser.add_argument("--counts", action="store_true", help="the file holds stem counts: weighed first")
    parser.add_argument("--cap", type=int, default=500)
    parser.add_argument("--label", default="")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--reference", action="store_true", help="the reference (whole transposed copy) instead")
    args = parser.parse_args()
    with np.load(args.vectors) as stored:
        matrix = sparse.csr_matrix(
            (stored["data"], stored["indices"], stored["indptr"]), shape=tuple(stored["shape"].tolist())
        )
    vectors = article_vectors([], matrix) if args.counts else matrix
    del matrix
    load_pool_kernels()  # the compiled lists loaded (or compiled) outside the measured part, as a run loads them
    make = reference_posting_lists if args.reference else posting_lists
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    started = time.process_time()
    lists = make(vectors, args.cap)
    cpu = time.process_time() - started
    current, highest = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    digest = hashlib.sha256()
    for part in (lists.indptr, lists.indices, lists.data):
        digest.update(str(part.dtype).encode() + part.tobytes())
    print_result(
        {
            "label": args.label,
            "articles": vectors.shape[0],
            "vectors_values": int(vectors.nnz),
            "vectors_mb": round((vectors.data.nbytes + vectors.indices.nbytes + vectors.indptr.nbytes) / 1e6, 1),
            "lists_values": int(lists.nnz),
            "cap": args.cap,
            "highest_above_vectors_mb": round((highest - before) / 1e6, 1),
            "held_after_mb": round((current - before) / 1e6, 1),
            "cpu_s": round(cpu, 2),
            "digest": digest.hexdigest()[:16],
        },
        args.output,
    )


if __name__ == "__main__":
    main()
