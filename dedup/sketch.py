"""Shingles and MinHash signatures for articles and for their sentences.

Article sketches use word 5-gram shingles of the evidence text (copies). Sentence sketches
use the set of content stems of each evidence unit, which survives reordering and light
rewording, so a rewrite that reuses a few sentences still collides. Hashing is xxhash
(32-bit) with datasketch's ``affine32`` permutation scheme, stored with every signature.
"""

from __future__ import annotations

from dataclasses import dataclass

import xxhash
from datasketch import MinHash

from dedup.clean import CleanArticle

SCHEME = "affine32"


@dataclass(slots=True, frozen=True)
class SketchSettings:
    num_perm: int = 128
    seed: int = 1
    shingle_size: int = 5
    sentence_num_perm: int = 64
    min_sentence_stems: int = 4


def _hash(value: bytes) -> int:
    return xxhash.xxh32_intdigest(value)


def article_shingles(article: CleanArticle, size: int) -> set[bytes]:
    """Word ``size``-gram shingles over the evidence tokens."""
    words = [article.tokens.words[i] for i in article.evidence_tokens()]
    if len(words) < size:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[k : k + size]).encode() for k in range(len(words) - size + 1)}


def sentence_stem_sets(article: CleanArticle, min_stems: int) -> list[set[bytes]]:
    """The content-stem set of every evidence unit with at least ``min_stems`` stems."""
    result = []
    for sentence in article.sentences:
        stems = {s.encode() for s in article.stems[sentence.first : sentence.last] if s}
        if len(stems) >= min_stems:
            result.append(stems)
    return result


def minhash(values: set[bytes], num_perm: int, seed: int) -> MinHash:
    """A datasketch MinHash of ``values`` (xxhash32 + affine32 scheme)."""
    signature = MinHash(num_perm=num_perm, seed=seed, hashfunc=_hash, scheme=SCHEME)
    signature.update_batch(sorted(values))
    return signature
