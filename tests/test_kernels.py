"""The compiled kernels (``dedup.kernels``) give what their readable references in ``dedup.align`` give."""

from __future__ import annotations

import dataclasses
from array import array

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


@st.composite
def _sentence_rows(draw: st.DrawFn) -> sparse.csr_matrix:
    """A side's sentence rows as the pipeline has them (CSR, float64, non-negative, in the 2**20 hashed space), with
    rows of no value, columns shared with other sides (a few of a small set) and, now and then, a column twice in a
    row (summed by the reference's dense source, added apart in a target row)."""
    rows = draw(st.integers(0, 6))
    values = st.sampled_from([0.0, 1e-3, 0.1, 0.25, 1 / 3, 0.5, 0.7071067811865476, 1.0]) | st.floats(1e-6, 1.0)
    columns = st.sampled_from([0, 1, 7, 4096, 65_537, (1 << 20) - 1]) | st.integers(0, (1 << 20) - 1)
    indptr, indices, data = [0], [], []
    for _ in range(rows):
        row = draw(st.lists(st.tuples(columns, values), max_size=8))
        if not draw(st.integers(0, 9)):
            row = row + row[:1]
        elif draw(st.booleans()):
            row = sorted(dict(row).items())
        indices += [column for column, _ in row]
        data += [value for _, value in row]
        indptr.append(len(indices))
    return sparse.csr_matrix(
        (np.array(data, dtype=np.float64), np.array(indices, dtype=np.int32), np.array(indptr, dtype=np.int32)),
        shape=(rows, 1 << 20),
    )


def _side_of(rows: sparse.csr_matrix) -> align.Side:
    """A prepared side whose sentence rows are ``rows`` (what ``sentence_cosines`` reads of a side)."""
    return align.Side(clean_article(Article("x", "")), rows, [], array("i"), array("i"), [], [])


@settings(max_examples=400, deadline=None)
@given(_sentence_rows(), st.lists(_sentence_rows(), min_size=1, max_size=5), st.booleans())
def test_kernel_sentence_cosines_equal_the_reference(source, targets, shared):
    """``kernels.sentence_cosines`` (through ``align.sentence_cosines``) against ``align.reference_sentence_cosines``
    bit for bit (``+0.0`` where the reference has it), on generated rows; ``shared``: each target made of the
    source's columns, so that most products are not zero."""
    if shared and source.nnz:
        targets = [
            sparse.csr_matrix((t.data, source.indices[np.arange(t.nnz) % source.nnz], t.indptr), shape=t.shape)
            for t in targets
        ]
    own, sides = _side_of(source), [_side_of(t) for t in targets]
    expected = align.reference_sentence_cosines(own, sides)
    assert align.use_kernels()
    try:
        found = align.sentence_cosines(own, sides)
    finally:
        align.use_kernels(False)
    assert len(found) == len(expected)
    for cosine, reference in zip(found, expected, strict=True):
        assert cosine.shape == reference.shape and cosine.dtype == reference.dtype
        assert np.array_equal(cosine, reference) and np.array_equal(np.signbit(cosine), np.signbit(reference))


def test_kernel_sentence_cosines_on_real_articles_equal_the_full_product(kernels_on):
    """Every real seed-like article against all the others, kernels on: the full-space product's floats."""
    texts = [
        "A man who attacked a pensioner with a hammer was jailed for eight years at Leeds Crown Court today. "
        "The judge said he had shown no remorse. Police said the victim was recovering at home.",
        "A man who attacked a pensioner with a hammer was jailed for eight years at Leeds Crown Court. "
        "Police said the victim, 81, was recovering at home with her family.",
        "Oil prices fell sharply on Monday as traders worried about demand in China and Europe.",
        "Oil prices dropped sharply on Monday because traders worried about demand in Europe and China. "
        "Brent crude lost two dollars a barrel.",
        "",
    ]
    cleaned = [clean_article(Article(f"a{k}", text)) for k, text in enumerate(texts)]
    sides = [prepare(article, rows) for article, rows in zip(cleaned, sentence_vectors(cleaned), strict=True)]
    for source in sides:
        for target, cosine in zip(sides, align.sentence_cosines(source, sides), strict=True):
            assert np.array_equal(cosine, (target.vectors @ source.vectors.T).toarray())
