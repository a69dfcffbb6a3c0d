"""The pruned TF-IDF search against the same search with each stem's posting list capped (a linear product).

    python benchmarks/tfidf_capped.py VECTORS.npz --caps 200,1000 [--corpus DIR] [--limit N] [--output X.jsonl]

``VECTORS.npz``: the article vectors and LSH pairs ``benchmarks/stages.py --vectors`` saved. For each cap, the
posting lists keep, per stem, the ``cap`` rows where the stem weighs most (``candidates.posting_lists``, the
pipeline's ``tfidf_posting_cap`` since stop 20), and the pipeline's pruned search
(``tfidf_suffix``, ``pruned_tfidf_block_pairs``, blocks of 2,048, one process) runs on them; cap 0 is the pipeline's
search, the reference. Prints one JSON line a cap (appended to ``--output``): CPU seconds, the product's
multiply-adds, pairs, recall of the reference's pairs and of its pairs that LSH does not find, the lost pairs'
median cosine and how many are at 0.7 or above; with ``--corpus`` (a generate.py folder), the truth pairs that only
TF-IDF finds (not among the LSH pairs), found and in the reference. Stop 19 (lin13), docs/scale.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import sparse

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dedup.candidates import CandidateSettings, posting_lists, pruned_tfidf_block_pairs, tfidf_suffix


def truth_positions(corpus: Path) -> set[tuple[int, int]]:
    """The generated truth's pairs as positions in id order (the pipeline's)."""
    with open(corpus / "corpus.jsonl", encoding="utf-8") as handle:
        ids = sorted(json.loads(line)["id"] for line in handle)
    position = {key: k for k, key in enumerate(ids)}
    pairs: set[tuple[int, int]] = set()
    for story in json.loads((corpus / "truth.json").read_text(encoding="utf-8"))["clusters"]:
        members = sorted(position[m["id"]] for m in story["members"] if m["id"] in position)
        pairs.update((a, b) for k, a in enumerate(members) for b in members[k + 1 :])
    return pairs


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("vectors", type=Path)
    parser.add_argument("--caps", default="200,1000")
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=0, help="the first N rows only")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    saved = np.load(args.vectors)
    vectors = sparse.csr_matrix((saved["data"], saved["indices"], saved["indptr"]), shape=tuple(saved["shape"]))
    if args.limit:
        vectors = vectors[: args.limit]
    lsh = {tuple(pair) for pair in saved["lsh_pairs"].tolist()}
    truth = truth_positions(args.corpus) if args.corpus else set()
    settings = CandidateSettings()
    suffix = tfidf_suffix(vectors, settings.tfidf_guarantee)
    reference: set[tuple[int, int]] = set()
    for cap in [0, *(int(value) for value in args.caps.split(",") if value)]:
        transposed = posting_lists(vectors, cap)
        started = time.process_time()
        found: set[tuple[int, int]] = set()
        for begin in range(0, vectors.shape[0], 2048):
            found |= pruned_tfidf_block_pairs(
                vectors,
                suffix,
                begin,
                begin + 2048,
                settings.tfidf_neighbours,
                settings.tfidf_threshold,
                settings.tfidf_pool,
                transposed,
            )
        cpu = time.process_time() - started
        reference = reference or found
        only = reference - lsh
        lost = np.array(sorted(reference - found), dtype=np.int64).reshape(-1, 2)
        cosines = np.asarray(vectors[lost[:, 0]].multiply(vectors[lost[:, 1]]).sum(axis=1)).ravel()
        row = {
            "articles": vectors.shape[0],
            "cap": cap,
            "cpu_s": round(cpu, 1),
            "multiply_adds": int(np.diff(transposed.indptr)[suffix.indices].sum()),
            "pairs": len(found),
            "recall_of_pruned": round(len(found & reference) / max(len(reference), 1), 4),
            "recall_of_tfidf_only": round(len(found & only) / max(len(only), 1), 4),
            "lost_cosines_median": round(float(np.median(cosines)), 3) if len(cosines) else None,
            "lost_at_0.7_or_more": int((cosines >= 0.7).sum()),
            "tfidf_only_truth_found": len(found & truth - lsh),
            "tfidf_only_truth_of_pruned": len(reference & truth - lsh),
        }
        print(json.dumps(row), flush=True)
        if args.output:
            with open(args.output, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
