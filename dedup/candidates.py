"""Candidate pairs: which articles are worth aligning.

Three sources, united: MinHash LSH over whole articles (copies), MinHash LSH over sentence
stem sets (rewrites that reuse a few passages: whole-article Jaccard of a rewrite can be
0.07), and TF-IDF nearest neighbours over article stems (rewrites that hide from
shingles). Candidates are cheap and generous; alignment decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from datasketch import MinHashLSH
from scipy import sparse

from dedup.clean import CleanArticle
from dedup.sketch import SketchSettings, article_shingles, minhash, sentence_stem_sets


@dataclass(slots=True, frozen=True)
class CandidateSettings:
    article_threshold: float = 0.5
    sentence_threshold: float = 0.4
    tfidf_neighbours: int = 20
    tfidf_threshold: float = 0.2


Pair = tuple[int, int]


def article_lsh_pairs(articles: Sequence[CleanArticle], sketch: SketchSettings, threshold: float) -> set[Pair]:
    """Pairs whose whole-article shingle sets are near-duplicates."""
    lsh = MinHashLSH(threshold=threshold, num_perm=sketch.num_perm)
    signatures = []
    for index, article in enumerate(articles):
        signature = minhash(article_shingles(article, sketch.shingle_size), sketch.num_perm, sketch.seed)
        signatures.append(signature)
        lsh.insert(index, signature)
    return {
        _ordered(index, other) for index, sig in enumerate(signatures) for other in lsh.query(sig) if other != index
    }


def sentence_lsh_pairs(articles: Sequence[CleanArticle], sketch: SketchSettings, threshold: float) -> set[Pair]:
    """Pairs of articles that have two similar sentences (by content-stem Jaccard)."""
    lsh = MinHashLSH(threshold=threshold, num_perm=sketch.sentence_num_perm)
    owners: list[int] = []
    signatures = []
    for index, article in enumerate(articles):
        for stems in sentence_stem_sets(article, sketch.min_sentence_stems):
            signature = minhash(stems, sketch.sentence_num_perm, sketch.seed)
            lsh.insert(len(owners), signature)
            owners.append(index)
            signatures.append(signature)
    pairs: set[Pair] = set()
    for key, signature in enumerate(signatures):
        for other in lsh.query(signature):
            if owners[other] != owners[key]:
                pairs.add(_ordered(owners[key], owners[other]))
    return pairs


def tfidf_pairs(vectors: sparse.csr_matrix, neighbours: int, threshold: float, chunk: int = 2048) -> set[Pair]:
    """Each article's nearest neighbours by TF-IDF cosine, above ``threshold``."""
    pairs: set[Pair] = set()
    count = vectors.shape[0]
    for begin in range(0, count, chunk):
        block = (vectors[begin : begin + chunk] @ vectors.T).toarray()
        for row, scores in enumerate(block):
            index = begin + row
            scores[index] = -1.0
            k = min(neighbours, count - 1)
            if k <= 0:
                continue
            top = np.argpartition(-scores, k - 1)[:k]
            pairs.update(_ordered(index, int(other)) for other in top if scores[other] >= threshold)
    return pairs


def candidate_pairs(
    articles: Sequence[CleanArticle],
    vectors: sparse.csr_matrix,
    sketch: SketchSettings,
    settings: CandidateSettings,
) -> list[Pair]:
    """The union of the three candidate sources, sorted."""
    pairs = article_lsh_pairs(articles, sketch, settings.article_threshold)
    pairs |= sentence_lsh_pairs(articles, sketch, settings.sentence_threshold)
    pairs |= tfidf_pairs(vectors, settings.tfidf_neighbours, settings.tfidf_threshold)
    return sorted(pairs)


def _ordered(a: int, b: int) -> Pair:
    return (a, b) if a < b else (b, a)
