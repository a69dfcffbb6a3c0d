"""The batch fast paths equal their readable references: signatures, LSH pairs, sentence cosines, engines."""

from __future__ import annotations

import dataclasses
import itertools
import unittest.mock
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import sparse

from dedup import align as align_module
from dedup import candidates as candidates_module
from dedup import pipeline
from dedup import similarity as similarity_module
from dedup.align import AlignSettings, align, align_sides, prepare, sentence_cosines
from dedup.candidates import (
    article_lsh_pairs,
    article_signatures,
    banded_pairs,
    bands,
    grouped_run_pairs,
    merged_codes,
    posting_lists,
    pruned_pools,
    pruned_tfidf_block_pairs,
    reference_article_lsh_pairs,
    reference_posting_lists,
    reference_pruned_pools,
    reference_sentence_lsh_pairs,
    reference_tfidf_block_pairs,
    reference_tfidf_suffix,
    run_pairs,
    sentence_lsh_pairs,
    sentence_signatures,
    tfidf_block_pairs,
    tfidf_pairs,
    tfidf_suffix,
)
from dedup.clean import clean_article
from dedup.model import Article, Passage, PassageTable, reordered
from dedup.pipeline import cluster
from dedup.score import ScoreSettings, could_relate, judge
from dedup.similarity import (
    article_vectors,
    reference_sentence_counts,
    reference_sentence_matrix,
    sentence_counts,
    sentence_matrix,
    sentence_vectors,
)
from dedup.sketch import SketchSettings, article_shingles, minhash, sentence_stem_sets, signatures, xxh32_slices

value_sets = st.lists(st.sets(st.binary(min_size=1, max_size=6), max_size=25), max_size=30)


@settings(max_examples=100, deadline=None)
@given(value_sets, st.sampled_from([16, 64, 128]), st.integers(min_value=1, max_value=5), st.sampled_from([7, 1 << 16]))
def test_batch_signatures_equal_datasketch(sets, num_perm, seed, chunk):
    fast = signatures(sets, num_perm, seed, chunk=chunk)
    assert fast.shape == (len(sets), num_perm)
    for row, values in zip(fast, sets, strict=True):
        assert np.array_equal(row, minhash(values, num_perm, seed).hashvalues)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 8), st.sets(st.sampled_from([b"a", b"b", b"c", b"d", b"e"]), max_size=5))),
    st.sampled_from([0.3, 0.5, 0.8]),
)
def test_banded_pairs_equal_datasketch_lsh(rows, threshold):
    from datasketch import MinHashLSH

    owners = np.array([owner for owner, _ in rows], dtype=np.int64)
    sigs = signatures([values for _, values in rows], 32, 1)
    lsh = MinHashLSH(threshold=threshold, num_perm=32)
    sketches = [minhash(values, 32, 1) for _, values in rows]
    for key, sketch in enumerate(sketches):
        lsh.insert(key, sketch)
    expected = {
        (min(owners[k], owners[o]), max(owners[k], owners[o]))
        for k, sketch in enumerate(sketches)
        for o in lsh.query(sketch)
        if owners[o] != owners[k]
    }
    assert banded_pairs(sigs, owners, threshold) == expected
    verified = {
        (min(owners[k], owners[o]), max(owners[k], owners[o]))
        for k, sketch in enumerate(sketches)
        for o in lsh.query(sketch)
        if owners[o] != owners[k] and sketch.jaccard(sketches[o]) >= threshold
    }
    assert banded_pairs(sigs, owners, threshold, verify=True) == verified


def _articles() -> list:
    texts = [
        "A man who attacked a pensioner with a hammer was jailed for eight years at Leeds Crown Court today. "
        "The judge said he had shown no remorse. Police said the victim was recovering at home.",
        "A man who attacked a pensioner with a hammer was jailed for eight years at Leeds Crown Court. "
        "Police said the victim, 81, was recovering at home with her family.",
        "A pensioner was attacked with a hammer; her attacker got eight years at Leeds Crown Court on Monday. "
        "He showed no remorse, the judge said.",
        "Oil prices fell sharply on Monday as traders worried about demand in China and Europe.",
        "Oil prices dropped sharply on Monday because traders worried about demand in Europe and China. "
        "Brent crude lost two dollars a barrel.",
        "",
    ]
    return [clean_article(Article(f"a{k}", text)) for k, text in enumerate(texts)]


def test_candidate_pairs_equal_reference():
    cleaned = _articles()
    sketch = SketchSettings()
    assert article_lsh_pairs(cleaned, sketch, 0.5) == reference_article_lsh_pairs(cleaned, sketch, 0.5)
    assert sentence_lsh_pairs(cleaned, sketch, 0.4) == reference_sentence_lsh_pairs(cleaned, sketch, 0.4)
    verified = sentence_lsh_pairs(cleaned, sketch, 0.4, verify=True)
    assert verified == reference_sentence_lsh_pairs(cleaned, sketch, 0.4, verify=True)
    assert {(0, 1), (3, 4)} <= verified  # the near-copied sentences still pair their articles


def test_tfidf_neighbours_equal_the_dense_reference(seed_texts):
    # copies make exact ties at the last place, which the exact row settles as the reference does
    texts = [a.text for a in _articles()] + sorted(seed_texts.values())
    texts += [texts[0]] * 3 + [texts[3]] * 2 + [texts[-1]] * 4
    cleaned = [clean_article(Article(f"a{k:02d}", text)) for k, text in enumerate(texts)]
    vectors = article_vectors(cleaned)
    for neighbours in (1, 2, 3, 20):
        for threshold in (0.0, 0.2, 0.5):
            for begin, end in ((0, len(cleaned)), (0, 5), (5, 100)):
                fast = tfidf_block_pairs(vectors, begin, end, neighbours, threshold)
                assert fast == reference_tfidf_block_pairs(vectors, begin, end, neighbours, threshold)


def _unit_rows(weights: list[list[float]]) -> sparse.csr_matrix:
    """Non-negative rows scaled to norm 1 (an all-zero row stays empty), as TF-IDF rows are."""
    dense = np.array(weights, dtype=np.float64)
    norms = np.linalg.norm(dense, axis=1, keepdims=True)
    return sparse.csr_matrix(np.divide(dense, norms, out=np.zeros_like(dense), where=norms > 0))


tfidf_rows = st.integers(2, 24).flatmap(
    lambda count: st.integers(1, 10).flatmap(
        lambda width: st.lists(
            st.lists(st.sampled_from([0.0, 0.0, 0.0, 0.1, 0.3, 0.5, 1.0, 2.0]), min_size=width, max_size=width),
            min_size=count,
            max_size=count,
        )
    )
)


@settings(max_examples=150, deadline=None)
@given(tfidf_rows, st.sampled_from([0.1, 0.3, 0.5, 0.8, 0.95]))
def test_two_rows_at_the_guarantee_share_a_suffix_stem(weights, guarantee):
    vectors = _unit_rows(weights)
    suffix = tfidf_suffix(vectors, guarantee)
    cosines = (vectors @ vectors.T).toarray()
    reach = (suffix @ vectors.T).toarray()
    assert (suffix != vectors.multiply(suffix != 0)).nnz == 0  # the suffix is part of each row, weights kept
    assert np.all(reach[cosines >= guarantee] > 0)


@settings(max_examples=150, deadline=None)
@given(tfidf_rows, st.sampled_from([0.2, 0.5, 0.8]), st.sampled_from([1, 2, 5]), st.sampled_from([0.0, 0.2, 0.4]))
def test_pruned_tfidf_search_finds_the_reference_pairs_above_its_guarantee(weights, guarantee, neighbours, threshold):
    vectors = _unit_rows(weights)
    count = vectors.shape[0]
    cosines = (vectors @ vectors.T).toarray()
    pruned = pruned_tfidf_block_pairs(
        vectors, tfidf_suffix(vectors, guarantee), 0, count, neighbours, threshold, pool=count
    )
    assert all(cosines[a, b] >= threshold - 1e-12 for a, b in pruned)
    for row in range(count):
        others = np.delete(cosines[row], row)
        ranked = np.sort(others)[::-1]
        cut = ranked[neighbours] if len(ranked) > neighbours else -1.0  # the best not in the row's top
        for other in range(count):
            score = cosines[row, other]
            # clearly among the reference's nearest (no near tie at the last place), at the guarantee or above
            if other != row and score >= max(guarantee, threshold) and score > cut + 1e-9:
                assert (min(row, other), max(row, other)) in pruned
                assert (min(row, other), max(row, other)) in reference_tfidf_block_pairs(
                    vectors, row, row + 1, neighbours, threshold
                )


def test_pruned_tfidf_search_on_real_articles(seed_texts):
    # a real-shaped fixture: the pruned search finds every reference pair at its guarantee or above, and keeps
    # only pairs at the threshold or above; its recall below the guarantee is measured at scale (too few articles
    # here for document frequencies to mean much: docs/scale.md, stop 14)
    texts = [a.text for a in _articles()] + sorted(seed_texts.values())
    cleaned = [clean_article(Article(f"a{k:02d}", text)) for k, text in enumerate(texts)]
    vectors = article_vectors(cleaned)
    cosines = (vectors @ vectors.T).toarray()
    for guarantee in (0.3, 0.5, 0.7):
        for neighbours in (2, 20):
            reference = tfidf_pairs(vectors, neighbours, 0.2)
            pruned = tfidf_pairs(vectors, neighbours, 0.2, guarantee=guarantee, pool=40)
            assert {(a, b) for a, b in reference if cosines[a, b] >= guarantee} <= pruned
            assert all(cosines[a, b] >= 0.2 for a, b in pruned)


def _random_tfidf_rows(seed: int, rows: int, columns: int, density: float) -> sparse.csr_matrix:
    """Random rows of norm 1, some empty, a few stored values an explicit 0 (as eliminate_zeros would drop)."""
    generator = np.random.default_rng(seed)
    vectors = sparse.random(rows, columns, density=density, format="csr", random_state=generator)
    vectors = sparse.csr_matrix(vectors.multiply(generator.random((rows, 1)) < 0.8))  # empty rows
    norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
    vectors = sparse.csr_matrix(sparse.diags(np.divide(1.0, norms, out=np.zeros(rows), where=norms > 0)) @ vectors)
    vectors.sort_indices()
    vectors.data[generator.random(vectors.nnz) < 0.02] = 0.0
    return vectors


def _same_matrix(first: sparse.csr_matrix, second: sparse.csr_matrix) -> bool:
    return (
        first.shape == second.shape
        and np.array_equal(first.indptr, second.indptr)
        and np.array_equal(first.indices, second.indices)
        and np.array_equal(first.data, second.data)
    )


@settings(max_examples=80, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 300),
    st.sampled_from([5, 40, 400]),
    st.sampled_from([0.01, 0.1, 0.5]),
    st.sampled_from([0.3, 0.7, 0.95]),
    st.sampled_from([1, 7, 64, 1 << 19]),
)
def test_the_blockwise_suffix_equals_the_whole_matrix_reference(seed, rows, columns, density, guarantee, block):
    """A block of rows at a time (blocks of ``block`` stored values, a row at least), the running sums carried
    across blocks: the same stored values, weights and floats as the reference's one pass over every row."""
    vectors = _random_tfidf_rows(seed, rows, columns, density)
    assert _same_matrix(tfidf_suffix(vectors, guarantee, block), reference_tfidf_suffix(vectors, guarantee))


@settings(max_examples=60, deadline=None)
@given(tfidf_rows, st.sampled_from([0.1, 0.5, 0.8]), st.sampled_from([1, 2, 1 << 19]))
def test_the_blockwise_suffix_equals_the_reference_on_small_rows(weights, guarantee, block):
    vectors = _unit_rows(weights)
    assert _same_matrix(tfidf_suffix(vectors, guarantee, block), reference_tfidf_suffix(vectors, guarantee))


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 200), st.sampled_from([0.05, 0.3]), st.integers(0, 12))
def test_capped_posting_lists_keep_each_stems_heaviest_articles(seed, rows, density, cap):
    vectors = _random_tfidf_rows(seed, rows, 30, density)
    lists = posting_lists(vectors, cap)
    full = vectors.T.tocsr()
    assert lists.shape == full.shape
    for stem in range(full.shape[0]):
        articles = full.indices[full.indptr[stem] : full.indptr[stem + 1]]
        weights = full.data[full.indptr[stem] : full.indptr[stem + 1]]
        # readable: the articles by weight, heaviest first, ties to the lower article; the first ``cap`` kept
        ranked = sorted(zip(-weights, articles, strict=True))[: cap if cap > 0 else len(articles)]
        expected = sorted((int(article), -weight) for weight, article in ranked)
        kept = lists.indices[lists.indptr[stem] : lists.indptr[stem + 1]]
        assert [
            (int(a), w) for a, w in zip(kept, lists.data[lists.indptr[stem] : lists.indptr[stem + 1]], strict=True)
        ] == expected


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 300),
    st.sampled_from([3, 30, 200]),
    st.sampled_from([0.02, 0.1, 0.5]),
    st.integers(0, 40),
    st.booleans(),
)
def test_the_compiled_capped_lists_are_the_references(seed, rows, columns, density, cap, coarse):
    """``posting_lists`` (compiled when capped: each crowded stem's best in a heap as the rows go by) equals
    ``reference_posting_lists`` (the whole transposed copy, then the cut) bit for bit, index types included: stems
    held by fewer, exactly and more than ``cap`` rows, few weight levels (ties to the lower row), explicit zeros,
    empty rows."""
    vectors = _random_tfidf_rows(seed, rows, columns, density)
    if coarse:
        vectors.data = np.round(vectors.data * 4) / 4
    found, expected = posting_lists(vectors, cap), reference_posting_lists(vectors, cap)
    assert _same_matrix(found, expected)
    assert (found.indptr.dtype, found.indices.dtype, found.data.dtype) == (
        expected.indptr.dtype,
        expected.indices.dtype,
        expected.data.dtype,
    )


def test_the_compiled_capped_lists_are_the_references_on_news(seed_texts):
    """The same on the TF-IDF rows of real articles (the seeds and the news fixtures), every cap from 1 up."""
    texts = [a.text for a in _articles()] + sorted(seed_texts.values())
    vectors = article_vectors([clean_article(Article(f"a{k:02d}", text)) for k, text in enumerate(texts)])
    assert candidates_module.load_pool_kernels()
    for cap in range(1, len(texts) + 2):
        assert _same_matrix(posting_lists(vectors, cap), reference_posting_lists(vectors, cap))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([0.1, 0.25, 0.5, 0.75, 1.0]), min_size=1, max_size=60), st.integers(1, 70))
def test_a_posting_lists_heaviest_are_the_first_of_its_stable_sort(weights, cap):
    """The partition keeps what ``argsort(-weights, kind="stable")[:cap]`` keeps: ties (few weight levels) to the
    earlier article."""
    weights = np.array(weights)
    cap = min(cap, len(weights))
    expected = np.zeros(len(weights), dtype=bool)
    expected[np.argsort(-weights, kind="stable")[:cap]] = True
    assert np.array_equal(candidates_module._heaviest(weights, cap), expected)


def test_the_pruned_search_with_a_cap_no_posting_list_reaches_is_the_uncapped_search(seed_texts):
    texts = [a.text for a in _articles()] + sorted(seed_texts.values())
    cleaned = [clean_article(Article(f"a{k:02d}", text)) for k, text in enumerate(texts)]
    vectors = article_vectors(cleaned)
    uncapped = tfidf_pairs(vectors, 20, 0.2, guarantee=0.5, pool=40)
    assert tfidf_pairs(vectors, 20, 0.2, guarantee=0.5, pool=40, posting_cap=len(cleaned)) == uncapped
    # one article a stem: fewer partners meet in the product (with the pool and the neighbours above the article
    # count, those it finds are the uncapped search's), each rescored on the whole vectors
    capped = tfidf_pairs(vectors, 20, 0.2, guarantee=0.5, pool=40, posting_cap=1)
    cosines = (vectors @ vectors.T).toarray()
    assert capped < uncapped and all(cosines[a, b] >= 0.2 for a, b in capped)
    assert tfidf_pairs(vectors, 20, 0.2, posting_cap=2) == tfidf_pairs(vectors, 20, 0.2)  # the exact search: no cap


def _pool_sets(indptr: np.ndarray, partners: np.ndarray) -> list[set[int]]:
    return [set(partners[indptr[row] : indptr[row + 1]].tolist()) for row in range(len(indptr) - 1)]


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 120),
    st.sampled_from([4, 30, 200]),
    st.sampled_from([0.02, 0.1, 0.4]),
    st.sampled_from([1, 3, 40]),
    st.integers(0, 8),
    st.sampled_from([0, 2, 1000]),
)
def test_the_compiled_pools_are_the_librarys(seed, rows, columns, density, top, copies, cap):
    """The compiled pools (``tfidf_kernels.pools`` through ``pruned_pools``) hold each row's partners as
    ``sparse_dot_topn`` keeps them, ties included: rows repeated (equal scores for the copies), few weight levels
    (equal products), rows with fewer partners than the pool."""
    generator = np.random.default_rng(seed)
    vectors = _random_tfidf_rows(seed, rows, columns, density)
    if copies:
        vectors = sparse.vstack([vectors, vectors[generator.integers(0, rows, copies)]], format="csr")
    if seed % 2:  # coarse weights: many partners with equal products
        vectors.data = np.round(vectors.data * 4) / 4
    suffix = tfidf_suffix(vectors, 0.5)
    lists = posting_lists(vectors, cap)
    expected = reference_pruned_pools(suffix, lists, top)
    assert candidates_module.load_pool_kernels()
    found = pruned_pools(suffix, lists, top)
    assert np.array_equal(found[0], expected[0]) and _pool_sets(*found) == _pool_sets(*expected)
    for begin in range(0, vectors.shape[0], 7):  # blocks, as the search takes them
        block = suffix[begin : begin + 7]
        assert _pool_sets(*pruned_pools(block, lists, top)) == _pool_sets(*reference_pruned_pools(block, lists, top))


def test_the_compiled_pools_keep_tied_partners_as_the_library_does():
    """Three partners tie behind the row itself: the kernel keeps the one the library's heap keeps."""
    from dedup import tfidf_kernels

    vectors = _unit_rows([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0], [1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    lists = vectors.T.tocsr()
    for top in (1, 2, 3):
        found = tfidf_kernels.pools(
            vectors.indptr, vectors.indices, vectors.data, lists.indptr, lists.indices, lists.data, 4, top
        )
        assert _pool_sets(*found) == _pool_sets(*reference_pruned_pools(vectors, lists, top))
    with unittest.mock.patch.dict("os.environ", {"DEDUP_KERNELS": "0"}):
        candidates_module._pool_kernels.cache_clear()
        try:
            assert not candidates_module.load_pool_kernels()
        finally:
            candidates_module._pool_kernels.cache_clear()
    assert candidates_module.load_pool_kernels()


def test_rescoring_in_chunks_gives_the_same_pairs(seed_texts):
    texts = [a.text for a in _articles()] + sorted(seed_texts.values())
    cleaned = [clean_article(Article(f"a{k:02d}", text)) for k, text in enumerate(texts)]
    vectors = article_vectors(cleaned)
    suffix = tfidf_suffix(vectors, 0.5)
    whole = pruned_tfidf_block_pairs(vectors, suffix, 0, len(cleaned), 20, 0.2, 40)
    chunk = candidates_module._RESCORE_CHUNK
    candidates_module._RESCORE_CHUNK = 3
    try:
        assert pruned_tfidf_block_pairs(vectors, suffix, 0, len(cleaned), 20, 0.2, 40) == whole
    finally:
        candidates_module._RESCORE_CHUNK = chunk


def test_the_pipeline_prunes_the_tfidf_search_from_a_corpus_size(seed_texts):
    articles = [Article(key, text) for key, text in sorted(seed_texts.items())]
    for pruned_from, expected in ((len(articles), True), (len(articles) + 1, False)):
        with unittest.mock.patch.object(pipeline, "tfidf_suffix", wraps=pipeline.tfidf_suffix) as suffix:
            cluster(articles, workers=1, tfidf_pruned_from=pruned_from, tfidf_guarantee=0.5)
        assert suffix.called == expected
    with unittest.mock.patch.object(pipeline, "tfidf_suffix", wraps=pipeline.tfidf_suffix) as suffix:
        cluster(articles, workers=1, tfidf_pruned_from=1, tfidf_guarantee=0.0)  # 0: the exact search
    assert not suffix.called


def test_sentence_counts_equal_the_hashing_vectorizer(seed_texts):
    cleaned = _articles() + [clean_article(Article(key, text)) for key, text in sorted(seed_texts.items())]
    fast, reference = sentence_counts(cleaned), reference_sentence_counts(cleaned)
    assert fast.shape == reference.shape
    assert np.array_equal(fast.indptr, reference.indptr)
    assert np.array_equal(fast.indices, reference.indices)
    assert np.array_equal(fast.data, reference.data)
    assert sentence_counts([]).shape == reference_sentence_counts([]).shape


@pytest.mark.parametrize("parts", [1, 3, 7])
def test_sentence_matrix_in_place_equals_the_reference_bit_for_bit(seed_texts, parts, monkeypatch):
    monkeypatch.setattr(similarity_module, "_CHUNK", 100)  # several chunks of the idf product
    cleaned = _articles() + [clean_article(Article(key, text)) for key, text in sorted(seed_texts.items())]
    cuts = np.linspace(0, len(cleaned), parts + 1).astype(int)
    pieces = [sentence_counts(cleaned[begin:end]) for begin, end in itertools.pairwise(cuts)]
    reference, reference_bounds = reference_sentence_matrix(cleaned, sentence_counts(cleaned))
    fast, bounds = sentence_matrix(cleaned, pieces)
    assert not pieces  # the parts were handed over
    assert type(fast) is type(reference) and fast.dtype == reference.dtype and fast.shape == reference.shape
    for name in ("data", "indices", "indptr"):
        assert np.array_equal(getattr(fast, name), getattr(reference, name)), name
        assert getattr(fast, name).dtype == getattr(reference, name).dtype, name
    assert np.array_equal(bounds, reference_bounds)


@pytest.mark.parametrize("dense_limit", [1 << 22, 0])  # a dense source, and the sparse product of long ones
def test_batched_cosines_are_the_full_product_bit_for_bit(dense_limit, monkeypatch):
    monkeypatch.setattr(align_module, "_DENSE_SOURCE_LIMIT", dense_limit)
    cleaned = _articles()
    vectors = sentence_vectors(cleaned)
    sides = [prepare(article, rows) for article, rows in zip(cleaned, vectors, strict=True)]
    for source in sides:
        batched = sentence_cosines(source, sides)
        for target, cosine in zip(sides, batched, strict=True):
            full = (target.vectors @ source.vectors.T).toarray()
            assert cosine.shape == full.shape
            assert np.array_equal(cosine, full)
            assert align_sides(source, target, AlignSettings(), cosine) == align(
                source.article, target.article, source.vectors, target.vectors, AlignSettings()
            )


_rows = st.lists(
    st.lists(st.tuples(st.sampled_from([0, 3, 7, 100, 4095, (1 << 20) - 1]), st.floats(0.0, 1.0)), max_size=5),
    max_size=4,
)


def _hashed_rows(rows: list[list[tuple[int, float]]]) -> sparse.csr_matrix:
    """Sentence rows in the hashed space, each row's columns distinct and ascending (as ``sentence_counts`` makes)."""
    rows = [sorted(dict(row).items()) for row in rows]
    data = [value for row in rows for _, value in row]
    indices = [column for row in rows for column, _ in row]
    indptr = np.cumsum([0] + [len(row) for row in rows])
    return sparse.csr_matrix((np.array(data, dtype=np.float64), np.array(indices, dtype=np.int32), indptr),
                             shape=(len(rows), 1 << 20))  # fmt: skip


@pytest.mark.parametrize("dense_limit", [1 << 22, 0])
@settings(max_examples=200, deadline=None)
@given(_rows, st.lists(_rows, max_size=4))
def test_batched_cosines_equal_the_full_product_on_random_rows(dense_limit, source_rows, target_rows):
    """Targets whose entries the source lacks in part, in whole or not at all (those entries left out before the
    product), empty rows and empty targets: every cosine the full product's, bit for bit."""
    source = unittest.mock.Mock(vectors=_hashed_rows(source_rows))
    targets = [unittest.mock.Mock(vectors=_hashed_rows(rows)) for rows in target_rows]
    with unittest.mock.patch.object(align_module, "_DENSE_SOURCE_LIMIT", dense_limit):
        found = sentence_cosines(source, targets)
    for target, cosine in zip(targets, found, strict=True):
        full = (target.vectors @ source.vectors.T).toarray()
        assert cosine.shape == full.shape
        assert np.array_equal(cosine, full)
        assert cosine.tobytes() == full.tobytes()  # the zeros' signs too


def test_result_does_not_depend_on_workers(seed_texts, monkeypatch):
    articles = [{"id": key, "text": text} for key, text in seed_texts.items()]
    articles += [{"id": f"extra{k}", "text": a.text} for k, a in enumerate(_articles())]
    one = cluster(articles, workers=1)
    monkeypatch.setattr(pipeline, "MIN_BATCH_PAIRS", 1)
    monkeypatch.setattr(pipeline, "MIN_PARALLEL_PAIRS", 1)
    monkeypatch.setattr(pipeline, "MIN_PARALLEL_ARTICLES", 1)
    batches: list = []
    real = pipeline.run_batches
    monkeypatch.setattr(
        pipeline, "run_batches", lambda *a, **k: batches.append((a[0].__name__, len(a[2]))) or real(*a, **k)
    )
    two = cluster(articles, workers=2)
    ran = dict(batches)
    assert ran["clean_stored"] > 1 and ran["judge_groups"] > 1  # the pool really ran several batches
    assert dataclasses.asdict(one) == dataclasses.asdict(two)


def test_bucket_cap_skips_only_crowded_buckets():
    rows = np.array([[1, 2, 3, 4]] * 4 + [[9, 9, 9, 9]] * 2, dtype=np.uint32)
    owners = np.array([0, 1, 2, 3, 4, 5], dtype=np.int64)
    assert banded_pairs(rows, owners, 0.5) == {(a, b) for a in range(4) for b in range(a + 1, 4)} | {(4, 5)}
    assert banded_pairs(rows, owners, 0.5, cap=3) == {(4, 5)}
    assert banded_pairs(rows, owners, 0.5, cap=3, verify=True) == {(4, 5)}
    assert banded_pairs(rows, owners, 0.5, cap=4, verify=True) == banded_pairs(rows, owners, 0.5, cap=4)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 7), max_size=12), st.integers(1, 12))
def test_grouped_run_pairs_are_the_run_pairs_a_group_at_a_time(sizes, most):
    starts = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    order = np.random.default_rng(len(sizes)).permutation(int(starts[-1]))
    groups = list(grouped_run_pairs(order, starts, most))
    left, right = run_pairs(order, starts)
    found = [pair for a, b in groups for pair in zip(a.tolist(), b.tolist(), strict=True)]
    assert sorted(found) == sorted(zip(left.tolist(), right.tolist(), strict=True))
    runs = [size * (size - 1) // 2 for size in sizes]
    assert all(len(a) <= max([most, *runs]) for a, _ in groups)  # a group over ``most`` is one run alone


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(0, 60), max_size=40),
    st.lists(st.integers(0, 60), max_size=40),
    st.booleans(),
    st.sampled_from([0, 2**40]),
)
def test_merged_codes_are_the_union_of_sorted_codes(codes, new, unique, offset):
    codes = np.unique(np.array(codes, dtype=np.int64) + offset)
    new = np.array(new, dtype=np.int64) + offset
    expected = np.union1d(codes, new)
    got = merged_codes(codes, np.unique(new) if unique else new, unique=unique)
    assert got.dtype == np.int64 and got.tolist() == expected.tolist()


def reference_crowded_pairs(rows: np.ndarray, owners: np.ndarray, threshold: float, crowd: int) -> set:
    """Band by band, rows grouped by their band's values; a group of more than ``crowd`` rows pairs nothing on that
    band; the others pair distinct owners whose rows agree on ``threshold`` of their positions."""
    band_count, width = bands(threshold, rows.shape[1])
    found = set()
    for band in range(band_count):
        groups: dict[tuple, list[int]] = {}
        for row in range(len(rows)):
            groups.setdefault(tuple(rows[row, band * width : (band + 1) * width].tolist()), []).append(row)
        for members in groups.values():
            if len(members) > crowd:
                continue
            for i, a in enumerate(members):
                for b in members[i + 1 :]:
                    if owners[a] != owners[b] and np.mean(rows[a] == rows[b]) >= threshold:
                        found.add((int(min(owners[a], owners[b])), int(max(owners[a], owners[b]))))
    return found


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 8), st.sets(st.sampled_from([b"a", b"b", b"c", b"d", b"e"]), max_size=5))),
    st.integers(1, 6),
    st.integers(0, 4),
)
def test_crowded_band_buckets_pair_nothing_on_their_band(rows, crowd, cap):
    owners = np.array([owner for owner, _ in rows], dtype=np.int64)
    sigs = signatures([values for _, values in rows], 32, 1)
    expected = reference_crowded_pairs(sigs, owners, 0.5, crowd)
    if cap == 0:
        assert banded_pairs(sigs, owners, 0.5, verify=True, crowd=crowd) == expected
    else:  # with the owner cap too: the pairs of both rules, never more than either gives alone
        both = banded_pairs(sigs, owners, 0.5, cap=cap, verify=True, crowd=crowd)
        assert both <= expected and both <= banded_pairs(sigs, owners, 0.5, cap=cap, verify=True)
    assert banded_pairs(sigs, owners, 0.5, verify=True, crowd=len(rows) + 1) == banded_pairs(
        sigs, owners, 0.5, verify=True
    )


def test_credit_lines_without_a_case_sensitive_name_still_found():
    from dedup.credits import find_credits

    text = "Shares rose on Monday.\n©2022 BLOOMBERG L.P.\n"
    assert [(c.source, c.own) for c in find_credits(text)] == [("Bloomberg", True)]
    assert find_credits("Shares rose on Monday, according to the ministry.") == []


_VOCABULARY = ["court", "heard", "man", "jailed", "two", "years", "police", "said", "oil", "prices", "fell", "the"]
_sentence = st.lists(st.sampled_from(_VOCABULARY), min_size=2, max_size=14).map(lambda w: " ".join(w).capitalize())
_texts = st.lists(_sentence, min_size=1, max_size=5).map(lambda sentences: ". ".join(sentences) + ".")
_settings = st.builds(
    AlignSettings,
    min_tile=st.integers(2, 4),
    min_standalone_tile=st.integers(2, 12),
    sentence_threshold=st.sampled_from([0.2, 0.45, 0.7]),
    anchor_threshold=st.sampled_from([0.1, 0.35, 0.6]),
    context_threshold=st.sampled_from([0.1, 0.35, 0.6]),
    continuation_threshold=st.sampled_from([0.05, 0.25, 0.5]),
    min_shared_stems=st.integers(0, 4),
)


def _align_without_exit(source, target, settings, cosine):
    with unittest.mock.patch.object(align_module, "cannot_reuse", lambda *args: False):
        return align_sides(source, target, settings, cosine)


@settings(max_examples=150, deadline=None)
@given(_texts, _texts, _settings)
def test_early_exit_only_where_alignment_finds_nothing(source_text, target_text, align_settings):
    cleaned = [clean_article(Article("s", source_text)), clean_article(Article("t", target_text))]
    source, target = (prepare(a, rows) for a, rows in zip(cleaned, sentence_vectors(cleaned), strict=True))
    (cosine,) = sentence_cosines(source, [target])
    full = _align_without_exit(source, target, align_settings, cosine)
    if align_module.cannot_reuse(source, target, align_settings, cosine):
        assert full == []
    assert align_sides(source, target, align_settings, cosine) == full


def test_early_exit_on_seed_pairs_changes_nothing(seed_texts):
    cleaned = [clean_article(Article(key, text)) for key, text in seed_texts.items()] + _articles()
    sides = [prepare(a, rows) for a, rows in zip(cleaned, sentence_vectors(cleaned), strict=True)]
    exits = 0
    for source in sides:
        for target, cosine in zip(sides, sentence_cosines(source, sides), strict=True):
            full = _align_without_exit(source, target, AlignSettings(), cosine)
            exits += align_module.cannot_reuse(source, target, AlignSettings(), cosine)
            assert align_sides(source, target, AlignSettings(), cosine) == full
    assert exits > 0


_score_settings = st.builds(
    ScoreSettings,
    min_sentences=st.integers(0, 3),
    long_verbatim_tokens=st.integers(3, 25),
    brief_coverage=st.sampled_from([0.0, 0.2, 0.5, 0.9]),
    stock_min_stories=st.just(0),
)


_sentences = st.lists(_sentence, min_size=1, max_size=6)
_OTHER_WORDS = ["bank", "rates", "rose", "shares", "market", "closed", "higher", "week", "minister", "visit", "talks"]
_other_sentences = st.lists(
    st.lists(st.sampled_from(_OTHER_WORDS), min_size=2, max_size=14).map(lambda w: " ".join(w).capitalize()),
    min_size=1,
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(_sentences, _other_sentences, st.data(), _settings, _score_settings)
def test_screened_pairs_are_unrelated_whatever_their_alignment(own, new, data, align_settings, score):
    kept = data.draw(st.lists(st.sampled_from(own), max_size=2))  # a target reusing a sentence or two
    source_text = ". ".join(own) + "."
    target_text = ". ".join(new[:1] + kept + new[1:]) + "."
    cleaned = [clean_article(Article("s", source_text)), clean_article(Article("t", target_text))]
    source, target = (prepare(a, rows) for a, rows in zip(cleaned, sentence_vectors(cleaned), strict=True))
    (cosine,) = sentence_cosines(source, [target])
    if not could_relate(source, target, cosine, align_settings, score):
        found = align_sides(source, target, align_settings, cosine)
        assert judge(source.article, target.article, found, score).relation == "unrelated"


def test_prepared_sides_are_dropped_after_their_last_batch(seed_texts):
    cleaned = _articles() + [clean_article(Article(key, text)) for key, text in sorted(seed_texts.items())]
    articles = pipeline.PreparedArticles(pipeline.CleanedCorpus.of(cleaned))
    pairs = [(0, 1), (0, 2), (1, 2), (2, 3)]
    batches = articles.schedule(pipeline._groups(pairs, 1))
    assert [number for number, _ in batches] == list(range(len(batches)))
    held = []
    for batch in batches:
        pipeline.judge_groups((articles, pipeline.Settings(), True), batch)
        held.append({k for k, side in enumerate(articles.sides) if side is not None})
    assert held == [{1, 2}, {2}, set()]  # article k's side lives from its first batch to its last


def test_cluster_pauses_the_garbage_collector_and_restores_it(seed_texts):
    import gc

    seen: list[bool] = []

    def progress(label: str, total: int):
        return lambda advance: seen.append(gc.isenabled())

    articles = [{"id": key, "text": text} for key, text in seed_texts.items()]
    before = pipeline.cluster(articles, workers=1, progress=progress)
    assert seen and not any(seen)  # off while the stages ran
    assert gc.isenabled()
    gc.disable()
    try:
        again = pipeline.cluster(articles, workers=1)
        assert not gc.isenabled()  # a caller's own pause is left as it was
    finally:
        gc.enable()
    assert [c.members for c in again.clusters] == [c.members for c in before.clusters]


def test_passages_under_several_settings_in_one_pass_equal_each_alone(seed_texts):
    # the passages stage aligns a reversed derived edge once for both settings (one sentence product, one
    # tiling) on sides that keep per-article lookups across pairs: the same passages as fresh single alignments
    cleaned = [clean_article(Article(key, text)) for key, text in seed_texts.items()] + _articles()
    vectors = sentence_vectors(cleaned)
    plain = AlignSettings()
    detailed = align_module.detail_settings(plain)
    assert detailed is not None
    choices = [(plain,), (detailed,), (plain, detailed)]
    pairs = [(s, t) for s in range(len(cleaned)) for t in range(len(cleaned)) if s != t]
    wanted = {pair: choices[k % 3] for k, pair in enumerate(pairs)}
    sides = pipeline.PreparedArticles(pipeline.CleanedCorpus.of(cleaned))
    found = [
        passages
        for batch in sides.schedule(pipeline._groups(pairs, 3))
        for passages in pipeline.passage_groups((sides, wanted, {}), batch)
    ]
    for (s, t), passages in zip(pairs, found, strict=True):
        alone = [align(cleaned[s], cleaned[t], vectors[s], vectors[t], chosen) for chosen in wanted[s, t]]
        assert passages == alone
    assert any(passages[-1] for passages in found)


_words = st.sampled_from(
    ["wire", "Copy", "ſtraße", "İstanbul", "café", "naïve", "fell", "rose", "5", "%", "the", "and"]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(_words, max_size=30).map(" ".join), min_size=1, max_size=6), st.integers(1, 6))
def test_signatures_of_hashed_slices_equal_those_of_the_shingle_and_stem_sets(texts, size):
    articles = [clean_article(Article(f"a{k}", text.replace("rose", "rose.\n"))) for k, text in enumerate(texts)]
    sketch = SketchSettings(shingle_size=size, min_sentence_stems=2)
    shingle_sets = [article_shingles(article, size) for article in articles]
    assert np.array_equal(article_signatures(articles, sketch), signatures(shingle_sets, sketch.num_perm, sketch.seed))
    rows, owners = sentence_signatures(articles, sketch)
    stem_sets = [(k, stems) for k, article in enumerate(articles) for stems in sentence_stem_sets(article, 2)]
    assert np.array_equal(rows, signatures([s for _, s in stem_sets], sketch.sentence_num_perm, sketch.seed))
    assert owners.tolist() == [k for k, _ in stem_sets]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.lists(st.tuples(st.integers(0, 300), st.integers(0, 120)), max_size=20))
def test_xxh32_of_slices_equals_xxhash(data, slices):
    import xxhash

    starts = np.array([min(begin, len(data)) for begin, _ in slices], dtype=np.int64)
    lengths = np.array(
        [min(length, len(data) - begin) for begin, (_, length) in zip(starts, slices, strict=True)], dtype=np.int64
    )
    found = xxh32_slices(np.frombuffer(data, dtype=np.uint8), starts, lengths)
    assert found.tolist() == [xxhash.xxh32_intdigest(data[b : b + n]) for b, n in zip(starts, lengths, strict=True)]


_SOURCES = ["Reuters", "AFP", "PA", "Bloomberg", "BBC", "Xinhua"]


@settings(max_examples=150, deadline=None)
@given(
    credits=st.lists(st.lists(st.tuples(st.sampled_from(_SOURCES), st.booleans()), max_size=4), min_size=1, max_size=9),
    dates=st.lists(st.sampled_from([None, "2022-01-01", "2022-01-02"]), min_size=9, max_size=9),
    edges=st.lists(
        st.tuples(
            st.integers(0, 8),
            st.integers(0, 8),
            st.sampled_from(["duplicate", "derived", "same-story"]),
            st.floats(0, 1),
            st.floats(0, 1),
        ),
        max_size=12,
    ),
)
def test_origin_scores_equal_the_reference(credits, dates, edges):
    from dedup.clean import CleanArticle
    from dedup.model import Credit, PairVerdict
    from dedup.origin import origin_scores, reference_origin_scores
    from dedup.text import tokenize

    members = [f"m{k}" for k in range(len(credits))]
    articles = {
        m: CleanArticle(
            id=m,
            text="",
            tokens=tokenize(""),
            stems=[],
            quoted=[],
            sentences=[],
            boilerplate=[],
            credits=[Credit(source, own, (k, k + 1), source, "why") for k, (source, own) in enumerate(found)],
            evidence_chars=0,
            published=dates[number],
        )
        for number, (m, found) in enumerate(zip(members, credits, strict=True))
    }
    verdicts = [
        PairVerdict(members[min(a, b)], members[max(a, b)], relation, [], coverage_a, coverage_b, 0.0, 0.0, 0.5, {})
        for a, b, relation, coverage_a, coverage_b in edges
        if a != b and max(a, b) < len(members)
    ]
    assert origin_scores(members, articles, verdicts) == reference_origin_scores(members, articles, verdicts)


def _seed_pairs(seed_texts):
    """Every ordered pair of the seed articles (and the small fixtures), prepared, with their sentence cosines."""
    cleaned = [clean_article(Article(key, text)) for key, text in sorted(seed_texts.items())] + _articles()
    vectors = sentence_vectors(cleaned)
    sides = [prepare(article, rows) for article, rows in zip(cleaned, vectors, strict=True)]
    for source in sides:
        for target, cosine in zip(sides, sentence_cosines(source, sides), strict=True):
            if target is not source:
                yield source, target, cosine


def test_judge_with_the_sides_name_caches_equals_judge_without(seed_texts):
    # the judge pass hands the prepared sides to ``judge``: their caches keep each unit's names across pairs
    plain, detailed = AlignSettings(), align_module.detail_settings(AlignSettings())
    score = ScoreSettings()
    related = 0
    for source, target, cosine in _seed_pairs(seed_texts):
        for chosen in (plain, detailed):
            found = align_sides(source, target, chosen, cosine)
            verdict = judge(source.article, target.article, found, score, (source, target))
            assert verdict == judge(source.article, target.article, found, score)
            related += verdict.relation != "unrelated"
    assert related  # the seeds hold related pairs, whose names were looked up


_unit_layouts = st.lists(st.tuples(st.integers(0, 6), st.integers(1, 30)), min_size=1, max_size=8)
_spans = st.lists(st.tuples(st.integers(0, 200), st.integers(0, 40)), max_size=12)


@settings(max_examples=300, deadline=None)
@given(_unit_layouts, _spans, st.sampled_from([0.0, 0.2, 0.4, 0.5, 1.0]))
@example(layout=[(0, 1), (0, 2)], spans=[(2, 0)], share=0.0)  # an empty span inside a unit (found in CI)
def test_reused_sentences_sweep_equals_the_reference(layout, spans, share):
    from dedup.clean import Sentence
    from dedup.score import _reused_sentences, reference_reused_sentences

    units, position = [], 0
    for gap, length in layout:  # units in text order, not overlapping, with gaps between them
        units.append(Sentence((position + gap, position + gap + length), 0, 0))
        position += gap + length
    article = dataclasses.replace(clean_article(Article("a", "x")), sentences=units)
    spans = [(begin, begin + length) for begin, length in spans]  # empty spans included
    assert _reused_sentences(article, spans, share) == reference_reused_sentences(article, spans, share)


@settings(max_examples=300, deadline=None)
@given(_unit_layouts, _spans, st.sampled_from([0.0, 0.2, 0.4, 0.5, 1.0]))
@example(layout=[(0, 1), (0, 2)], spans=[(2, 0)], share=0.0)
def test_one_sweep_gives_coverage_reused_units_and_covered_chars(layout, spans, share):
    """``score._swept`` (the judge's one sweep a side) gives what ``coverage``, ``_reused_sentences`` and
    ``covered_chars`` give, each sweeping on its own."""
    from dedup.clean import Sentence
    from dedup.score import _coverage_of, _reused_of, _reused_sentences, _swept, coverage, covered_chars

    units, position = [], 0
    for gap, length in layout:
        units.append(Sentence((position + gap, position + gap + length), 0, 0))
        position += gap + length
    article = dataclasses.replace(clean_article(Article("a", "x")), sentences=units)
    spans = [(begin, begin + length) for begin, length in spans]
    cover, chars = _swept(article, spans)
    assert _coverage_of(article, cover) == coverage(article, spans)
    assert _reused_of(article, spans, cover, share) == _reused_sentences(article, spans, share)
    assert chars == covered_chars(spans)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 6), st.lists(st.tuples(*[st.integers(0, 1 << 40)] * 4), max_size=20))
def test_packed_tiles_unpack_to_the_same_tiles(min_tile, tiles):
    assert pipeline.unpack_tiles(pipeline.pack_tiles(min_tile, tiles)) == tiles


_spans = st.tuples(st.integers(0, 1 << 33), st.integers(0, 1 << 33))
_passage_lists = st.lists(
    st.builds(
        Passage,
        st.sampled_from(["a", "b"]),
        st.sampled_from(["b", "c"]),
        _spans,
        _spans,
        st.sampled_from(["verbatim", "rewrite", "other"]),
        st.floats(allow_nan=False) | st.integers(0, 3),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(_passage_lists)
def test_packed_passages_read_back_as_the_passages(passages):
    """A pair's passages packed read back equal, in order, one at a time and by slices, and the same in JSON; a
    list that cannot be packed exactly (two sources or targets, another kind, a span beyond int32, an int score)
    is given back as it is."""
    import orjson

    packed = pipeline.PackedPassages.of(passages)
    reference = pipeline.PackedPassages.reference_of(passages)  # a record at a time
    assert type(packed) is type(reference) and (packed is passages) == (reference is passages)
    if isinstance(packed, pipeline.PackedPassages):
        assert (packed.source, packed.target, packed.data) == (reference.source, reference.target, reference.data)
    assert packed == passages and list(packed) == passages and len(packed) == len(passages)
    assert [packed[k] for k in range(-len(passages), len(passages))] == passages * 2
    assert packed[1:5] == passages[1:5] and bool(packed) == bool(passages)
    assert orjson.dumps([dataclasses.asdict(p) for p in packed]) == orjson.dumps(
        [dataclasses.asdict(p) for p in passages]
    )
    exact = all(
        p.source == passages[0].source
        and p.target == passages[0].target
        and p.kind in ("verbatim", "rewrite")
        and type(p.score) is float
        and max(*p.source_span, *p.target_span) < 2**31
        for p in passages
    )
    assert isinstance(packed, pipeline.PackedPassages) == (exact and bool(passages))
    if not isinstance(packed, pipeline.PackedPassages):
        assert packed is passages


def test_passages_with_the_judges_tiles_equal_those_tiled_again(seed_texts):
    # the judge pass carries the tiles of derived pairs to the passages stage, which then does not tile them again
    cleaned = [clean_article(Article(key, text)) for key, text in seed_texts.items()] + _articles()
    sides = pipeline.PreparedArticles(pipeline.CleanedCorpus.of(cleaned))
    settings_ = pipeline.Settings()
    pairs = [(s, t) for s in range(len(cleaned)) for t in range(len(cleaned)) if s != t]
    judged = [
        item
        for batch in sides.schedule(pipeline._groups(pairs, 3))
        for item in pipeline.judge_groups((sides, settings_, False), batch)
    ]
    known = {pair: tiles for pair, (_, tiles) in zip(pairs, judged, strict=True) if tiles is not None}
    assert known  # the seeds hold derived pairs
    plain, detailed = settings_.align, align_module.detail_settings(settings_.align)
    wanted = {pair: (detailed,) if k % 2 else (plain, detailed) for k, pair in enumerate(pairs)}
    found = {}
    for given_tiles in ({}, known):
        found[len(given_tiles)] = [
            passages
            for batch in sides.schedule(pipeline._groups(pairs, 3))
            for passages in pipeline.passage_groups((sides, wanted, given_tiles), batch)
        ]
    assert found[0] == found[len(known)]
    for verdict, tiles in judged:
        assert (tiles is not None) == (verdict.relation in pipeline.CARRIED_RELATIONS)


def test_tiles_cut_at_unit_breaks_equal_those_cut_word_by_word(seed_texts):
    cut = 0
    for source, target, _ in _seed_pairs(seed_texts):
        for min_tile in (1, 3):
            found = align_module.tiles(source.words, target.words, min_tile)
            for tile in found:
                pieces = align_module._split_at_units(
                    tile, source.positions, target.positions, source.sentence_of, target.sentence_of, min_tile
                )
                fast = align_module._split_at_breaks(
                    tile, source.unit_breaks(), target.unit_breaks(), source.positions, target.positions, min_tile
                )
                assert fast == pieces
                cut += len(pieces) > 1
    assert cut  # some tiles of the seeds cross unit boundaries


_IDS = [f"a{k:02d}" for k in range(6)]
_SPANS = st.tuples(st.integers(0, 5), st.integers(0, 5)).map(sorted).map(tuple)
_PASSAGES = st.builds(
    Passage,
    st.sampled_from(_IDS),
    st.sampled_from(_IDS),
    _SPANS,
    _SPANS,
    st.sampled_from(["verbatim", "rewrite"]),
    st.floats(0, 1, allow_nan=False),
)


@given(st.lists(st.lists(_PASSAGES, max_size=8), max_size=5))
def test_passage_table_equals_the_sorted_passages(chunks: list[list[Passage]]) -> None:
    """``PassageTable.gather`` (columns, one stable lexsort) holds what the readable reference gives: every
    passage, sorted by (target, source, target span, source span) with ties in the order given; read whole, by
    index, by slice."""
    expected = sorted(
        (passage for chunk in chunks for passage in chunk),
        key=lambda p: (p.target, p.source, p.target_span, p.source_span),
    )
    table = PassageTable.gather(_IDS, iter(chunks))
    assert list(table) == expected and table == expected and len(table) == len(expected)
    assert [table[k] for k in range(-len(table), 0)] == expected
    assert table[1:-1] == expected[1:-1]
    assert all(type(p.score) is float and type(p.source_span[0]) is int for p in table)


_PAIR_PASSAGES = st.tuples(
    st.sampled_from(_IDS),
    st.sampled_from(_IDS),
    st.lists(st.tuples(_SPANS, _SPANS, st.sampled_from(["verbatim", "rewrite"]), st.floats(0, 1)), max_size=6),
    st.booleans(),
).map(
    lambda pair: (pipeline.PackedPassages.of if pair[3] else list)(
        [Passage(pair[0], pair[1], *values) for values in pair[2]]
    )
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-(2**40), 2**40), st.integers(-5, 5)), max_size=40),
    st.integers(1, 7),
    st.randoms(use_true_random=False),
)
def test_reordered_equals_the_whole_take(rows: list[tuple[int, int]], block: int, random) -> None:
    """``reordered`` (a block of rows at a time into the result) gives what ``values[order].astype(dtype)`` gives:
    the same values, dtype and shape, for columns of one and of two values a row, narrowed or not."""
    values = np.array(rows, dtype=np.int64).reshape(-1, 2)
    order = np.array(random.sample(range(len(values)), len(values)), dtype=np.int64)
    for column in (values, values[:, 1]):
        for dtype in (np.int64, np.int32, np.float64):
            if dtype is np.int32 and len(column) and np.abs(column).max() >= 2**31:
                continue
            whole = column[order].astype(dtype)
            found = reordered(column, order, dtype, rows=block)
            assert found.dtype == whole.dtype and found.shape == whole.shape
            assert np.array_equal(found, whole)


@settings(max_examples=100, deadline=None)
@given(st.lists(_PAIR_PASSAGES, max_size=8))
def test_passage_table_with_the_callers_numbers_is_the_same(chunks) -> None:
    """``PassageTable.gather`` given the ids' places (the pipeline's index) makes the table it makes by itself."""
    table = PassageTable.gather(_IDS, iter(chunks))
    given_numbers = PassageTable.gather(_IDS, iter(chunks), {key: k for k, key in enumerate(_IDS)})
    for name in ("numbers", "spans", "kinds", "scores"):
        assert np.array_equal(getattr(table, name), getattr(given_numbers, name)), name
        assert getattr(table, name).dtype == getattr(given_numbers, name).dtype, name
    assert table.kind_names == given_numbers.kind_names


@settings(max_examples=300, deadline=None)
@given(st.lists(_PAIR_PASSAGES, max_size=8))
def test_passage_table_takes_packed_chunks_as_columns(chunks) -> None:
    """Chunks of packed passages (``PassageSequence.columns``) among chunks read one by one gather to the same table
    as the same passages all read one by one: the same passages in the same order, the same kind numbering."""
    table = PassageTable.gather(_IDS, iter(chunks))
    plain = PassageTable.gather(_IDS, iter([list(chunk) for chunk in chunks]))
    assert (
        list(table)
        == list(plain)
        == sorted(
            (passage for chunk in chunks for passage in chunk),
            key=lambda p: (p.target, p.source, p.target_span, p.source_span),
        )
    )
    assert table.kind_names == plain.kind_names
    for name in ("numbers", "spans", "kinds", "scores"):
        assert np.array_equal(getattr(table, name), getattr(plain, name)), name
        assert getattr(table, name).dtype == getattr(plain, name).dtype, name


@settings(max_examples=150, deadline=None)
@given(_texts, _texts, _settings, st.lists(st.integers(-6, 6), max_size=8))
def test_prepared_sides_made_unit_by_unit_equal_the_reference(source_text, target_text, align_settings, reads):
    # ``prepare`` makes a unit's stem set and figures when first read; ``reference_prepare`` makes them all at once
    cleaned = [
        clean_article(Article("s", f"{source_text} It cost 5,000 dollars in 1999.")),
        clean_article(Article("t", target_text)),
    ]
    vectors = sentence_vectors(cleaned)
    lazy = [prepare(article, rows) for article, rows in zip(cleaned, vectors, strict=True)]
    eager = [align_module.reference_prepare(article, rows) for article, rows in zip(cleaned, vectors, strict=True)]
    for unit in reads:  # units read first in any order (negative ones from the end, as a list reads them)
        for made, reference in zip(lazy, eager, strict=True):
            if -len(reference.figures) <= unit < len(reference.figures):
                assert made.figures[unit] == reference.figures[unit]
                assert made.stem_sets[unit] == reference.stem_sets[unit]
    for made, reference in zip(lazy, eager, strict=True):
        assert list(made.stem_sets) == reference.stem_sets and list(made.figures) == reference.figures
        assert made.stem_sets == reference.stem_sets and len(made.figures) == len(reference.figures)
    (cosine,) = sentence_cosines(lazy[0], [lazy[1]])
    fresh = [prepare(article, rows) for article, rows in zip(cleaned, vectors, strict=True)]
    assert align_sides(*fresh, align_settings, cosine) == align_sides(*eager, align_settings, cosine)


def test_seed_pairs_align_the_same_with_sides_made_unit_by_unit(seed_texts):
    cleaned = [clean_article(Article(key, text)) for key, text in sorted(seed_texts.items())] + _articles()
    vectors = sentence_vectors(cleaned)
    eager = [align_module.reference_prepare(article, rows) for article, rows in zip(cleaned, vectors, strict=True)]
    for settings_ in (AlignSettings(), align_module.detail_settings(AlignSettings())):
        lazy = [prepare(article, rows) for article, rows in zip(cleaned, vectors, strict=True)]
        for k, source in enumerate(lazy):
            for target, reference, cosine in zip(lazy, eager, sentence_cosines(source, lazy), strict=True):
                if target is not source:
                    assert align_sides(source, target, settings_, cosine) == align_sides(
                        eager[k], reference, settings_, cosine
                    )


def _where_run(shared: int, batch: int) -> list[tuple[int, int, int, bool]]:
    import os

    from dedup.engine import walks_backward

    return [(batch * shared, batch, os.getpid(), walks_backward())]


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_both_ends_runs_every_batch_once_each_worker_in_one_direction(workers):
    from dedup.engine import run_batches

    batches = list(range(40))
    ticks: list[int] = []
    found = run_batches(_where_run, 3, batches, workers=workers, done=ticks.append, from_both_ends=True)
    assert [value for value, *_ in found] == [3 * b for b in batches]  # results in batch order
    assert sorted(ticks) == batches
    by_process: dict[int, list[tuple[int, bool]]] = {}
    for _, batch, pid, backward in found:
        by_process.setdefault(pid, []).append((batch, backward))
    for runs in by_process.values():
        assert len({backward for _, backward in runs}) == 1  # one direction per worker
    if workers == 2 and len(by_process) == 2:  # one stretch each: the front worker's batches, then the back one's
        front, back = sorted(by_process.values(), key=lambda runs: runs[0][1])
        assert not front[0][1] and back[0][1]
        assert max(b for b, _ in front) < min(b for b, _ in back)


def _batch_seen(shared: None, batch: tuple[int, list[tuple[int, list[int]]]]) -> list[tuple[int, Any, int]]:
    return [(batch[0], batch[1], id(batch[1]))]


def test_both_ends_workers_read_their_own_copy_of_each_batch():
    # a both-ends pass's worker gets each batch equal to the parent's but unpickled into its own objects: reading
    # the parent's (inherited) ones wrote their reference counts, copying their pages into every worker
    from dedup.engine import run_batches

    batches = [(number, [(number, list(range(number, number + 5)))]) for number in range(12)]
    found = run_batches(_batch_seen, None, batches, workers=2, from_both_ends=True)
    assert [(number, groups) for number, groups, _ in found] == batches
    assert all(seen != id(groups) for (_, groups), (_, _, seen) in zip(batches, found, strict=True))


@pytest.mark.parametrize("workers", [1, 2])
def test_ended_is_called_once_before_held_results_are_read_back(workers):
    # the passages pass frees what no one reads any more there: the held results are unpickled into that space
    from dedup.engine import run_batches

    calls: list[int] = []
    seen: list[int] = []
    found = run_batches(
        _where_run,
        3,
        list(range(10)),
        workers=workers,
        each=lambda item: (seen.append(len(calls)), item)[1],
        from_both_ends=True,
        held_pickled=True,
        ended=lambda: calls.append(1),
    )
    assert calls == [1]
    assert [value for value, *_ in found] == [3 * b for b in range(10)]
    if workers > 1:  # held pickled: each result read back (``each``) once the workers have ended
        assert seen == [1] * 10


@pytest.mark.parametrize("both_ends", [False, True])
@pytest.mark.parametrize("each", [None, repr])
def test_results_held_pickled_until_the_workers_end_are_the_same(both_ends, each):
    # a pass's results held as one pickled bytes a batch while its workers run, unpickled once they have ended:
    # the same results in the same order, ``each`` applied to every one, ``done`` called for every batch
    from dedup.engine import run_batches

    batches = list(range(25))
    found = {}
    for pickled in (False, True):
        ticks: list[int] = []
        found[pickled] = run_batches(
            _where_run,
            3,
            batches,
            workers=2,
            done=ticks.append,
            each=each,
            from_both_ends=both_ends,
            held_pickled=pickled,
        )
        assert sorted(ticks) == batches
    strip = (lambda item: item[:2]) if each is None else (lambda item: item.split(",")[:2])
    assert [strip(item) for item in found[True]] == [strip(item) for item in found[False]]
    assert [strip(item)[0] for item in found[True]] == [3 * b if each is None else f"({3 * b}" for b in batches]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12), max_size=30))
def test_word_features_handed_back_and_remembered_equal_those_hashed_again(words):
    # a clean worker hands back the features it hashed (``cached_word_features``); the parent remembers them
    # (``remember_word_features``) for the workers it forks later; they must be what hashing gives
    saved, table = dict(similarity_module._WORD_FEATURES), similarity_module._WORD_TABLE
    try:
        similarity_module._WORD_FEATURES.clear()
        similarity_module._WORD_TABLE = None  # the cache alone (an earlier run of the session froze a table)
        hashed = similarity_module.word_features(words)
        handed = similarity_module.cached_word_features(sorted(set(words)))
        similarity_module._WORD_FEATURES.clear()
        similarity_module.remember_word_features(*handed)
        assert sorted(similarity_module._WORD_FEATURES) == sorted(set(words))
        remembered = similarity_module.word_features(words)
        for word, made, again in zip(words, hashed, remembered, strict=True):
            reference = similarity_module._SENTENCE_HASHER.transform([word]).tocsr()
            expected = np.repeat(reference.indices, reference.data.astype(np.int64))
            assert np.array_equal(made, expected) and np.array_equal(again, expected) and again.dtype == made.dtype
    finally:
        similarity_module._WORD_FEATURES.clear()
        similarity_module._WORD_FEATURES.update(saved)
        similarity_module._WORD_TABLE = table


_words = st.lists(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12), max_size=30)


@settings(max_examples=80, deadline=None)
@given(_words, _words, _words, st.sampled_from([3, 40, 300_000]))
def test_word_features_from_the_frozen_table_equal_those_hashed_again(before, after, later, most):
    # the parent freezes its cache into a table (``freeze_word_features``) that the pass workers read; words met
    # after it are hashed and cached again (the cache cleared when full); a second freeze merges the two
    saved, table = dict(similarity_module._WORD_FEATURES), similarity_module._WORD_TABLE
    size = similarity_module._WORD_CACHE_SIZE
    try:
        similarity_module._WORD_FEATURES.clear()
        similarity_module._WORD_TABLE = None
        similarity_module._WORD_CACHE_SIZE = most
        for words in (before, after, later):
            expected = similarity_module.reference_word_features(words)
            found = similarity_module.word_features(words)
            assert [piece.tolist() for piece in found] == [piece.tolist() for piece in expected]
            lengths, flat = similarity_module.word_feature_runs(words)
            assert lengths.tolist() == [len(piece) for piece in expected]
            assert flat.dtype == np.int32 and flat.tolist() == [value for piece in expected for value in piece]
            similarity_module.freeze_word_features()
            frozen = similarity_module._WORD_TABLE
            assert len(frozen) <= most and not frozen.words & set(similarity_module._WORD_FEATURES)
    finally:
        similarity_module._WORD_CACHE_SIZE = size
        similarity_module._WORD_FEATURES.clear()
        similarity_module._WORD_FEATURES.update(saved)
        similarity_module._WORD_TABLE = table


def test_a_full_word_cache_is_emptied_and_every_word_of_the_call_hashed(monkeypatch):
    # a cache that fills with words cached and new in one call: emptied, every word of the call hashed again (main
    # before stop 26 emptied it and then read the words it had held: KeyError once a run met 300k distinct words)
    monkeypatch.setattr(similarity_module, "_WORD_CACHE_SIZE", 3)
    monkeypatch.setattr(similarity_module, "_WORD_FEATURES", {})
    for table in (None, similarity_module.WordTable({})):
        monkeypatch.setattr(similarity_module, "_WORD_TABLE", table)
        similarity_module._WORD_FEATURES.clear()
        similarity_module.word_features(["alpha", "beta"])
        found = similarity_module.word_features(["alpha", "gamma", "delta"])
        expected = similarity_module.reference_word_features(["alpha", "gamma", "delta"])
        assert [piece.tolist() for piece in found] == [piece.tolist() for piece in expected]
        assert sorted(similarity_module._WORD_FEATURES) == ["alpha", "delta", "gamma"]


def test_a_word_whose_hash_another_shares_stays_out_of_the_table(monkeypatch):
    # two words with one hash cannot be told apart by it: both stay in the cache, the others go to the table
    hashed = similarity_module.reference_word_features(["alpha", "beta", "gamma"])
    features = dict(zip(["alpha", "beta", "gamma"], hashed, strict=True))
    monkeypatch.setattr(similarity_module, "hash", lambda word: 7 if word in ("alpha", "beta") else 9, raising=False)
    frozen = similarity_module.WordTable(features)
    assert frozen.words == {"gamma"} and frozen.places(["gamma", "alpha", "delta"]).tolist() == [0, -1, -1]


def _readable_banded_pairs(rows: np.ndarray, owners: np.ndarray, threshold: float, cap: int, verify: bool) -> set:
    """Band by band, a dict of each band's values to its rows; every pair of distinct owners of a bucket (of at
    most ``cap`` owners when ``cap`` > 0), with ``verify`` only those whose rows agree on ``threshold``."""
    from dedup.candidates import bands

    band_count, width = bands(threshold, rows.shape[1])
    pairs = set()
    for band in range(band_count):
        buckets: dict[tuple[int, ...], list[int]] = {}
        for number, row in enumerate(rows.tolist()):
            buckets.setdefault(tuple(row[band * width : (band + 1) * width]), []).append(number)
        for members in buckets.values():
            if cap > 0 and len({int(owners[m]) for m in members}) > cap:
                continue
            for a, b in itertools.combinations(members, 2):
                agree = np.count_nonzero(rows[a] == rows[b]) / rows.shape[1]
                if owners[a] != owners[b] and (not verify or agree >= threshold):
                    pairs.add((min(int(owners[a]), int(owners[b])), max(int(owners[a]), int(owners[b]))))
    return pairs


@settings(max_examples=120, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 9), st.lists(st.integers(0, 2), min_size=16, max_size=16)), min_size=0, max_size=30
    ),
    st.sampled_from([0.3, 0.5]),
    st.integers(0, 4),
    st.booleans(),
    st.sampled_from([1, 3, 1 << 16]),
)
def test_banded_pair_codes_equal_a_readable_reference(rows, threshold, cap, verify, chunk):
    """The pair codes of every band path (with and without ``cap`` and ``verify``, verified a few rows at a time
    or all at once) are the pairs a dict of buckets gives, in sorted order."""
    from dedup import candidates
    from dedup.candidates import banded_pair_codes, pairs_of_codes

    owners = np.array([owner for owner, _ in rows], dtype=np.int64)
    values = np.array([row for _, row in rows], dtype=np.uint32).reshape(len(rows), 16)
    expected = _readable_banded_pairs(values, owners, threshold, cap, verify)
    kept, candidates._VERIFY_CHUNK = candidates._VERIFY_CHUNK, chunk
    try:
        codes = banded_pair_codes(values, owners.astype(np.int32), threshold, cap, verify, span=10)
    finally:
        candidates._VERIFY_CHUNK = kept
    assert codes.tolist() == sorted(a * 10 + b for a, b in expected)
    assert pairs_of_codes(codes, 10) == expected
    assert banded_pairs(values, owners, threshold, cap, verify) == expected


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, 30).flatmap(
        lambda count: st.tuples(
            st.lists(st.lists(st.integers(0, 2**32 - 1), min_size=3, max_size=3), min_size=count, max_size=count),
            st.lists(st.booleans(), min_size=count, max_size=count),
        )
    ),
    st.sampled_from([1, 2, 7, 1 << 16]),
)
def test_kept_rows_equal_boolean_indexing(rows_and_keep, chunk):
    """``kept_rows``, made in place a chunk at a time, equals ``rows[keep]``."""
    from dedup import candidates

    rows, keep = rows_and_keep
    values = np.array(rows, dtype=np.uint32).reshape(len(rows), 3)
    mask = np.array(keep, dtype=bool)
    expected = values[mask].copy()
    kept, candidates._KEPT_CHUNK = candidates._KEPT_CHUNK, chunk
    try:
        found = candidates.kept_rows(values.copy(), mask)
    finally:
        candidates._KEPT_CHUNK = kept
    assert found.dtype == expected.dtype and np.array_equal(found, expected)


def test_tfidf_batches_hand_back_the_neighbour_pairs_as_codes(seed_texts):
    """``pipeline.tfidf_batch`` gives a block's TF-IDF pairs (exact and pruned search) as sorted pair codes."""
    from dedup.candidates import CandidateSettings, neighbour_block_pairs, pairs_of_codes

    texts = [a.text for a in _articles()] + sorted(seed_texts.values())
    cleaned = [clean_article(Article(f"a{k:02d}", text)) for k, text in enumerate(texts)]
    vectors = article_vectors(cleaned)
    transposed = vectors.T.tocsr()
    settings = CandidateSettings()
    for suffix in (None, tfidf_suffix(vectors, 0.5)):
        for block in ((0, 7), (7, len(cleaned))):
            (codes,) = pipeline.tfidf_batch((vectors, transposed, suffix, settings), block)
            expected = neighbour_block_pairs(vectors, suffix, *block, 20, 0.2, 40, transposed)
            assert codes.tolist() == sorted(codes.tolist()) and pairs_of_codes(codes, len(cleaned)) == expected


def test_article_vectors_weigh_given_counts_as_scikit_learn_does(seed_texts):
    """Given counts are weighed in place: the same floats as ``TfidfTransformer.fit_transform`` of a copy."""
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.preprocessing import normalize

    from dedup.similarity import article_counts

    cleaned = [clean_article(Article(key, text)) for key, text in sorted(seed_texts.items())]
    counts = article_counts(cleaned)
    expected = normalize(TfidfTransformer(sublinear_tf=True).fit_transform(counts.copy()), copy=False).tocsr()
    found = article_vectors([], counts)
    assert np.array_equal(found.indptr, expected.indptr) and np.array_equal(found.indices, expected.indices)
    assert found.data.tobytes() == expected.data.tobytes()
