"""A clean batch's evidence tokens as integer ids of its distinct words, and what the clean stage makes of them.

The clean stage (``pipeline.clean_batch``) reads every evidence token of a batch four times over: its character
n-grams (the sentence frequencies), its stem (the article stem counts), its stem again in each unit's stem set (the
unit sizes and the sentence signatures) and its word (the words handed back). Each was a pass of Python over the
tokens (a list, a set or a dictionary lookup a token). Here the tokens are looked up once, each made the id of its
word among the batch's distinct words (:func:`evidence_words`); what each pass needs of a word (its features, its
stem's feature, its stem's id and hash) is found once per distinct word and spread to the tokens by a numpy gather.

Every function gives what its reference gives, exactly (tested in ``tests/test_batch_words.py``):
:func:`sentence_holders` is ``similarity.sentence_frequencies(similarity.sentence_counts(articles))``,
:func:`evidence_article_counts` is ``similarity.article_counts(articles)``, :func:`unit_stems` is
``candidates.unit_stem_sizes`` with ``candidates.sentence_signatures``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, count
from typing import Any

import numpy as np
from scipy import sparse

from dedup.candidates import article_signatures, short_unit_key
from dedup.clean import CleanArticle
from dedup.similarity import N_FEATURES, counts_of_keys, stem_features, word_features
from dedup.sketch import SketchSettings, article_shingle_hashes, hashed_minima, permutations, stem_hashes

_FEATURE_BITS = N_FEATURES.bit_length() - 1
_KERNELS: Any = None  # ``dedup.clean_kernels`` once :func:`load_kernels` loaded it


def load_kernels() -> bool:
    """Load the compiled sentence holders (``dedup.clean_kernels``; a run calls this before its clean workers
    fork: they inherit the code); whether they are used. Not when ``DEDUP_KERNELS=0`` or numba cannot be imported:
    the numpy path, the same counts."""
    global _KERNELS
    if os.environ.get("DEDUP_KERNELS") == "0":
        _KERNELS = None
        return False
    try:
        import dedup.clean_kernels as kernels
    except ImportError:  # numba missing or unusable here
        return False
    kernels.warm()
    _KERNELS = kernels
    return True


@dataclass(slots=True)
class EvidenceWords:
    """The evidence tokens of a batch (every unit's tokens, the units in order, article after article) as ids of
    ``words``, the batch's distinct evidence words in the order first met."""

    words: list[str]
    word_of_token: np.ndarray  # int64: the id of each evidence token's word
    unit_tokens: np.ndarray  # int64: the evidence tokens of each unit
    article_units: np.ndarray  # int64: the units of each article
    unit_of_token: np.ndarray  # int64: the unit of each evidence token
    article_of_unit: np.ndarray  # int64: the article of each unit


def evidence_words(articles: Sequence[CleanArticle]) -> EvidenceWords:
    """The batch's evidence tokens as word ids: one dictionary lookup a token (``setdefault`` with a running
    count: a word's first token takes the count's value, so ids rise in the order words are first met but skip;
    they are made dense by one numpy gather)."""
    first_ids: dict[str, int] = {}
    sparse_ids = np.fromiter(
        map(
            first_ids.setdefault,
            chain.from_iterable(
                article.tokens.words[unit.first : unit.last] for article in articles for unit in article.sentences
            ),
            count(),
        ),
        dtype=np.int64,
    )
    dense = np.zeros(len(sparse_ids), dtype=np.int64)
    dense[np.fromiter(first_ids.values(), dtype=np.int64, count=len(first_ids))] = np.arange(len(first_ids))
    unit_tokens = np.fromiter(
        (unit.last - unit.first for article in articles for unit in article.sentences), dtype=np.int64
    )
    article_units = np.fromiter(map(len, (article.sentences for article in articles)), dtype=np.int64)
    return EvidenceWords(
        list(first_ids),
        dense[sparse_ids],
        unit_tokens,
        article_units,
        np.repeat(np.arange(len(unit_tokens), dtype=np.int64), unit_tokens),
        np.repeat(np.arange(len(article_units), dtype=np.int64), article_units),
    )


def sentence_holders(evidence: EvidenceWords) -> tuple[np.ndarray, np.ndarray]:
    """The sentence n-gram features held by any unit of the batch and how many units hold each: what
    ``sentence_frequencies(sentence_counts(articles))`` gives, without the counts.

    A unit's features are those of its words (``char_wb`` n-grams never cross a space); every (unit, feature)
    occurrence is one integer key, unit above the feature's 20 bits, the keys sorted (by timsort, which uses the
    runs they come in; any sort gives the same keys), and each distinct key one holder of its feature. With the
    compiled kernel loaded (:func:`load_kernels`), ``clean_kernels.feature_holders`` counts the same in one pass.
    """
    pieces = word_features(evidence.words)
    lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
    if _KERNELS is not None:  # the same counts in one pass over the occurrences (tested)
        flat = np.concatenate(pieces).astype(np.int32, copy=False) if pieces else np.zeros(0, dtype=np.int32)
        holders = _KERNELS.feature_holders(
            flat, np.cumsum(lengths) - lengths, lengths, evidence.word_of_token, evidence.unit_tokens, N_FEATURES
        )
    else:
        holders = _holders_by_keys(evidence, pieces, lengths)
    found = np.flatnonzero(holders)
    return found.astype(np.int32), holders[found]


def _holders_by_keys(evidence: EvidenceWords, pieces: list[np.ndarray], lengths: np.ndarray) -> np.ndarray:
    """How many units hold each feature (int64, ``N_FEATURES`` long), by sorting the (unit, feature) keys."""
    flat = np.concatenate(pieces).astype(np.int64) if pieces else np.zeros(0, dtype=np.int64)
    per_token = lengths[evidence.word_of_token]
    features_before = np.cumsum(per_token) - per_token  # of each token
    first_of_word = np.cumsum(lengths) - lengths
    total = int(per_token.sum())
    features = flat[np.repeat(first_of_word[evidence.word_of_token] - features_before, per_token) + np.arange(total)]
    before_unit = np.concatenate(([0], np.cumsum(per_token)))[np.concatenate(([0], np.cumsum(evidence.unit_tokens)))]
    keys = np.repeat(np.arange(len(evidence.unit_tokens), dtype=np.int64) << _FEATURE_BITS, np.diff(before_unit))
    keys |= features
    keys.sort(kind="stable")  # timsort: the keys come in unit order, in runs
    distinct = keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if len(keys) else keys
    return np.bincount(distinct & (N_FEATURES - 1), minlength=N_FEATURES)


def evidence_article_counts(evidence: EvidenceWords, stems: list[str]) -> sparse.csr_matrix:
    """``similarity.article_counts`` of the batch's articles, from ``stems`` (each distinct word's content stem)."""
    word_feature = np.array(stem_features(stems), dtype=np.int64)
    features = word_feature[evidence.word_of_token]
    before_article = np.concatenate(([0], np.cumsum(evidence.unit_tokens)))[
        np.concatenate(([0], np.cumsum(evidence.article_units)))
    ]
    return counts_of_keys(features, np.diff(before_article))


def unit_stems(
    evidence: EvidenceWords, stems: list[str], sketch: SketchSettings
) -> tuple[np.ndarray, list[bytes | frozenset[str]], np.ndarray, np.ndarray]:
    """``candidates.unit_stem_sizes(articles, sketch.min_sentence_stems)`` followed by
    ``candidates.sentence_signatures(articles, sketch)``: every unit's count of distinct content stems, each short
    unit's key, the sentence signature rows and each row's article, from ``stems`` (each distinct word's content
    stem).

    Every (unit, stem) occurrence is one integer key, sorted, each distinct key one stem of its unit; a row's
    stems' hashes come in another order than the reference's sets give them, which a minimum does not see.
    """
    distinct_stems = {stem: number for number, stem in enumerate(dict.fromkeys(stems)) if stem}
    stem_of_word = np.fromiter((distinct_stems.get(stem, -1) for stem in stems), dtype=np.int64, count=len(stems))
    stem_of_token = stem_of_word[evidence.word_of_token]
    held = stem_of_token >= 0
    width = max(len(stems), 1)
    keys = evidence.unit_of_token[held] * width + stem_of_token[held]
    keys.sort(kind="stable")  # timsort: the keys come in unit order, in runs
    distinct = keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if len(keys) else keys
    unit_of_stem, stem_ids = distinct // width, distinct % width
    units = len(evidence.unit_tokens)
    sizes = np.bincount(unit_of_stem, minlength=units).astype(np.int64)
    by_id = {number: stem for stem, number in distinct_stems.items()}
    starts = np.cumsum(sizes) - sizes
    min_stems = sketch.min_sentence_stems
    short = [
        short_unit_key({by_id[stem] for stem in stem_ids[starts[unit] : starts[unit] + sizes[unit]].tolist()})
        for unit in np.flatnonzero((sizes >= 2) & (sizes < min_stems)).tolist()
    ]
    sketched = sizes >= min_stems
    hash_of_stem = np.zeros(width, dtype=np.uint32)
    hash_of_stem[list(distinct_stems.values())] = stem_hashes(list(distinct_stems))
    rows = hashed_minima(
        hash_of_stem[stem_ids[sketched[unit_of_stem]]],
        sizes[sketched],
        *permutations(sketch.sentence_num_perm, sketch.seed),
    )
    return sizes, short, rows, evidence.article_of_unit[sketched]


def article_rows(articles: Sequence[CleanArticle], sketch: SketchSettings) -> np.ndarray:
    """``candidates.article_signatures(articles, sketch)``; with the compiled kernels loaded, the shingles hashed by
    ``clean_kernels.xxh32_slices`` (the rows by ``sketch.hashed_minima`` as there): the same rows (tested)."""
    if _KERNELS is None:
        return article_signatures(articles, sketch)
    hashes, sizes = article_shingle_hashes(articles, sketch.shingle_size, _KERNELS.xxh32_slices)
    return hashed_minima(hashes, sizes, *permutations(sketch.num_perm, sketch.seed))
