"""The compiled kernels (``dedup.kernels``) give what their readable references in ``dedup.align`` give."""

from __future__ import annotations

import dataclasses
import unittest.mock
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from dedup import align
from dedup.align import AlignSettings, KgramIndex, KgramMatches, _split_at_breaks, kgram_keys, prepare, tiles
from dedup.clean import clean_article
from dedup.model import Article
from dedup.pipeline import cluster
from dedup.similarity import sentence_vectors

kernels = pytest.importorskip("dedup.kernels")  # numba missing: the Python path is all there is


@pytest.fixture
def kernels_on():
    assert align.use_kernels()
    yield
    align.use_kernels(False)


_words = st.lists(st.sampled_from(["the", "court", "heard", "a", "man", "was", "jailed", "for", "two"]), max_size=45)


@st.composite
def _sides(draw: st.DrawFn) -> tuple[list[str], list[int], list[int]]:
    """Words, the unit breaks among them (ascending, first word left out) and their token positions (with gaps, as
    evidence tokens have around boilerplate lines)."""
    words = draw(_words)
    breaks = sorted(draw(st.sets(st.integers(1, max(1, len(words) - 1)), max_size=6)) & set(range(1, len(words))))
    gaps = draw(st.lists(st.integers(0, 3), min_size=len(words), max_size=len(words)))
    return words, breaks, np.cumsum([0, *gaps])[: len(words)].tolist() if words else []


@settings(max_examples=400, deadline=None)
@given(_sides(), _sides(), st.integers(1, 5), st.sampled_from(["real", "all equal", "mod 3"]))
def test_kernel_unit_tiles_equal_the_reference(source, target, min_tile, keying):
    """Against ``align.tiles`` and ``_split_at_breaks``, with the real k-gram keys and with forged colliding ones
    (every k-gram one key, or three keys in all): the kernel compares the words' ids where the reference compares
    the words, so k-grams that share a key are told apart the same way."""
    (source_words, source_breaks, source_pos), (target_words, target_breaks, target_pos) = source, target
    if len(source_words) < min_tile or len(target_words) < min_tile:
        return  # align.unit_tiles answers [] before either path
    source_keys, target_keys = kgram_keys(source_words, min_tile), kgram_keys(target_words, min_tile)
    if keying == "all equal":
        source_keys, target_keys = np.zeros_like(source_keys), np.zeros_like(target_keys)
    elif keying == "mod 3":
        source_keys, target_keys = source_keys % np.uint64(3), target_keys % np.uint64(3)
    index = KgramIndex.of(source_keys)
    lookup = KgramMatches.of(index, target_keys)
    expected = [
        piece
        for tile in tiles(source_words, target_words, min_tile, index, target_keys, lookup)
        for piece in _split_at_breaks(tile, source_breaks, target_breaks, source_pos, target_pos, min_tile)
    ]
    found = kernels.unit_tiles(
        kernels.word_ids(source_words),
        kernels.word_ids(target_words),
        min_tile,
        index.keys,
        index.positions,
        target_keys,
        lookup.low,
        lookup.found,
        np.array(source_breaks, dtype=np.int64),
        np.array(target_breaks, dtype=np.int64),
        np.array(source_pos, dtype=np.int32),
        np.array(target_pos, dtype=np.int32),
    )
    assert [tuple(row) for row in found.tolist()] == expected


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.integers(0, 12), max_size=30),
    st.lists(st.integers(0, 12), max_size=30),
    st.integers(1, 12),
    st.sampled_from([0, 1, 2, 3]),
)
def test_kernel_kgram_lookup_equals_the_reference(source_keys, target_keys, run, min_tile):
    """``kgram_lookup`` against ``reference_kgram_matches`` (numpy), and its longest run of found keys against
    ``may_share_run``'s sums, on small keys (many repeats, absent keys on both ends of the index)."""
    index = KgramIndex.of(np.array(source_keys, dtype=np.uint64))
    keys = np.array(target_keys, dtype=np.uint64)
    low, found, longest = kernels.kgram_lookup(index.keys, keys)
    expected = align.reference_kgram_matches(index, keys)
    assert np.array_equal(low, expected.low) and low.dtype == expected.low.dtype
    assert np.array_equal(found, expected.found) and found.dtype == expected.found.dtype
    words = [str(k) for k in range(len(target_keys) + min_tile - 1)]  # only the side lengths matter here
    source_side = dataclasses.replace(_SIDE, words=["x"] * max(min_tile, len(source_keys) + min_tile - 1))
    target_side = dataclasses.replace(_SIDE, words=words)
    standalone = AlignSettings(min_tile=max(min_tile, 1), min_standalone_tile=max(min_tile, 1) + run - 1)
    assert align.may_share_run(source_side, target_side, standalone, align.KgramMatches(low, found, longest)) == (
        align.may_share_run(source_side, target_side, standalone, expected)
    )


def test_word_ids_are_equal_exactly_for_equal_words():
    words = ["Court", "court", "the", "court", "", "the", "Court", "cour"]
    first, second = kernels.word_ids(words), kernels.word_ids(list(reversed(words)))
    for x, a in enumerate(words):
        for y, b in enumerate(words):
            assert (first[x] == first[y]) == (a == b)
            assert (first[x] == second[len(words) - 1 - y]) == (a == b)  # the same ids in a later call


_SIDE = prepare(clean_article(Article("s", "A short text.")), sentence_vectors([clean_article(Article("s", "x"))])[0])
_TEXTS = [
    "The court heard that the man was jailed for two years. He denied it.\n\nAdvertisement\n\n"
    "The judge said the man, 45, was jailed for two years in Leeds on Monday.",
    "A man was jailed for two years, the court heard. The judge said the man, 45, was jailed for two years "
    "in Leeds on Monday. He denied it.",
    "Prices rose 5 percent in May. The court heard that the man was jailed. Shares fell.",
]


def test_unit_tiles_of_prepared_sides_equal_the_reference(kernels_on):
    cleaned = [clean_article(Article(f"a{k}", text)) for k, text in enumerate(_TEXTS)]
    sides = [prepare(article, vectors) for article, vectors in zip(cleaned, sentence_vectors(cleaned), strict=True)]
    compared = 0
    for source in sides:
        for target in sides:
            assert list(source.kernel_arrays()[1]) == source.unit_breaks()
            for min_tile in (1, 2, 3, 5):
                matches = align.kgram_matches(source, target, min_tile)
                found = align.unit_tiles(source, target, min_tile, matches)
                assert found == align.reference_unit_tiles(source, target, min_tile, matches)
                assert all(type(value) is int for tile in found for value in tile)
                compared += bool(found)
    assert compared


def test_a_run_with_the_kernels_equals_one_without(seed_texts, kernels_on):
    articles = [Article(key, text) for key, text in seed_texts.items()]
    with_kernels = cluster(articles, workers=1)
    align.use_kernels(False)
    without = cluster(articles, workers=1)
    assert with_kernels.clusters == without.clusters
    assert list(with_kernels.passages) == list(without.passages)
    assert with_kernels.pairs == without.pairs


def test_the_vocabulary_is_bounded_and_renewed_exactly(kernels_on, monkeypatch):
    """A long-lived process (the crawler's index aligns pairs for ever) does not grow the word vocabulary past
    ``MAX_VOCABULARY`` words and one pair's; sides whose ids are of a renewed vocabulary make them again, so the
    tiles stay the reference's; a run's start (``use_kernels``) starts an empty vocabulary."""
    kernels.word_ids(["words", "of", "an", "earlier", "run"])
    assert align.use_kernels()
    assert kernels.vocabulary_size() == 0
    monkeypatch.setattr(kernels, "MAX_VOCABULARY", 12)
    cleaned = [clean_article(Article(f"a{k}", text)) for k, text in enumerate(_TEXTS * 3)]
    sides = [prepare(article, vectors) for article, vectors in zip(cleaned, sentence_vectors(cleaned), strict=True)]
    start = kernels.vocabulary_generation()
    for _ in range(3):  # the same sides again: their ids made in a vocabulary renewed since
        for source in sides:
            for target in sides:
                matches = align.kgram_matches(source, target, 3)
                assert align.unit_tiles(source, target, 3, matches) == align.reference_unit_tiles(
                    source, target, 3, matches
                )
                assert kernels.vocabulary_size() <= 12 + len(set(source.words) | set(target.words))
    assert kernels.vocabulary_generation() > start


_RUN_WORDS = ["court", "courts", "judge", "man", "jailed", "years", "the", "a", "of", "said", "Leeds", "5", "police"]


@st.composite
def _run_side(draw: st.DrawFn) -> align.Side:
    """A prepared article of a few sentences over a small vocabulary (stems shared in other forms, stopwords)."""
    sentences = draw(st.lists(st.lists(st.sampled_from(_RUN_WORDS), min_size=1, max_size=16), min_size=1, max_size=5))
    text = " ".join(" ".join(words).capitalize() + "." for words in sentences)
    article = clean_article(Article("x", text))
    return prepare(article, sentence_vectors([article])[0])


@settings(max_examples=400, deadline=None)
@given(
    _run_side(),
    _run_side(),
    st.data(),
    st.integers(1, 4),
    st.sampled_from([0.0, 0.2, 0.3, 0.5]),
    st.integers(0, 6),
    st.integers(0, 10),
)
def test_kernel_word_runs_equal_the_reference(source, target, data, min_matches, share, gap, edge):
    """``kernels.word_runs`` (through ``align.word_runs``) against ``align._word_runs`` on generated articles, on
    their real sentence cosines or generated ones, with and without verbatim tiles to skip."""
    if data.draw(st.booleans()):
        cosine = (target.vectors @ source.vectors.T).toarray()
    else:
        shape = (len(target.article.sentences), len(source.article.sentences))
        cells = data.draw(st.lists(st.sampled_from([0.0, 0.05, 0.1, 0.3, 0.3, 0.9]), min_size=shape[0] * shape[1]))
        cosine = np.array(cells[: shape[0] * shape[1]], dtype=np.float64).reshape(shape)
    tokens = len(target.article.tokens)
    verbatim = (
        bytes(data.draw(st.lists(st.integers(0, 1), min_size=tokens + 1, max_size=tokens + 1)))
        if data.draw(st.booleans())
        else None
    )
    run_settings = AlignSettings(word_min_matches=min_matches, word_min_share=share, max_edge_gap=gap, word_edge=edge)
    expected = align._word_runs(source, target.article, cosine, run_settings, verbatim)
    assert align.use_kernels()
    try:
        assert align.word_runs(source, target, cosine, run_settings, verbatim) == expected
    finally:
        align.use_kernels(False)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.integers(0, 6), max_size=25), st.lists(st.integers(0, 6), max_size=25))
def test_kernel_monotone_matches_equal_the_reference(target, source):
    found = kernels._monotone_matches(np.array(target, dtype=np.int64), np.array(source, dtype=np.int64))
    assert [tuple(row) for row in found.tolist()] == align.monotone_matches(target, source)


_hashed_entries = st.lists(
    st.lists(st.tuples(st.sampled_from([0, 3, 7, 100, 4095, (1 << 20) - 1]), st.floats(0.0, 1.0)), max_size=5),
    max_size=4,
)


def _hashed_rows(rows: list[list[tuple[int, float]]]) -> sparse.csr_matrix:
    """Sentence rows in the hashed space, each row's columns distinct and ascending (as ``sentence_counts`` makes)."""
    rows = [sorted(dict(row).items()) for row in rows]
    data = np.array([value for row in rows for _, value in row], dtype=np.float64)
    indices = np.array([column for row in rows for column, _ in row], dtype=np.int32)
    indptr = np.cumsum([0] + [len(row) for row in rows])
    return sparse.csr_matrix((data, indices, indptr), shape=(len(rows), 1 << 20))


@pytest.mark.parametrize("dense_limit", [1 << 22, 0])  # the compiled product whichever path the library would take
@settings(max_examples=300, deadline=None)
@given(_hashed_entries, st.lists(_hashed_entries, max_size=4))
def test_compiled_sentence_product_is_the_full_product(dense_limit, source_rows, target_rows):
    """``sentence_cosines`` with the kernels on (``kernels.sentence_product``: the source held by column, only the
    terms with a source value added) gives the full hashed-space product, bit for bit
    (zeros' signs too), on targets sharing none, some or all of the source's columns, empty rows and targets."""
    source = SimpleNamespace(vectors=_hashed_rows(source_rows))
    targets = [SimpleNamespace(vectors=_hashed_rows(rows)) for rows in target_rows]
    assert align.use_kernels()
    try:
        with unittest.mock.patch.object(align, "_DENSE_SOURCE_LIMIT", dense_limit):
            found = align.sentence_cosines(source, targets)
    finally:
        align.use_kernels(False)
    for target, cosine in zip(targets, found, strict=True):
        full = (target.vectors @ source.vectors.T).toarray()
        assert cosine.shape == full.shape
        assert cosine.tobytes() == full.tobytes()


def test_compiled_sentence_product_on_news(news_articles):
    """Every source of the seeds and the first generated articles against all of them: the same cosines with the
    kernels on and off, and the full product's, bit for bit."""
    cleaned = [clean_article(article) for article in news_articles[:40]]
    sides = [prepare(a, r) for a, r in zip(cleaned, sentence_vectors(cleaned), strict=True)]
    compared = 0
    for source in sides:
        without = align.sentence_cosines(source, sides)
        assert align.use_kernels()
        try:
            found = align.sentence_cosines(source, sides)
        finally:
            align.use_kernels(False)
        for target, cosine, reference in zip(sides, found, without, strict=True):
            full = (target.vectors @ source.vectors.T).toarray()
            assert cosine.tobytes() == reference.tobytes() == full.tobytes()
            compared += int(np.count_nonzero(full))
    assert compared
