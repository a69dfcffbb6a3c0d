"""The clean stage's fast paths against their readable references: stem counts, quoted-token runs, word gathers."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from dedup import similarity as similarity_module
from dedup.clean import (
    _SENTENCE_FINAL,
    clean_article,
    reference_short_line_counts,
    sentence_final,
    short_line_counts,
)
from dedup.model import Article
from dedup.similarity import (
    N_FEATURES,
    PackedCounts,
    SpilledCounts,
    article_counts,
    reference_article_counts,
    reference_sentence_counts,
    sentence_counts,
    stack_rows,
)
from dedup.store.cleaned import _runs, reference_runs
from dedup.text import _TERMINAL, terminal

_WORDS = st.sampled_from(["The", "running", "runs", "ran", "and", "42", "5%", "Über", "co-operation", "a", "said"])
_TEXTS = st.lists(
    st.lists(_WORDS, min_size=1, max_size=12).map(" ".join).map(lambda sentence: sentence + "."), max_size=6
).map(" ".join)


def _same_matrix(found, expected) -> None:
    assert type(found) is type(expected) and found.shape == expected.shape
    for name in ("data", "indices", "indptr"):
        assert getattr(found, name).dtype == getattr(expected, name).dtype, name
        assert np.array_equal(getattr(found, name), getattr(expected, name)), name
    assert found.has_sorted_indices == expected.has_sorted_indices
    assert found.has_canonical_format == expected.has_canonical_format


def test_article_counts_equal_the_hashing_vectorizer_on_the_seeds(seed_texts):
    cleaned = [clean_article(Article(key, text)) for key, text in sorted(seed_texts.items())]
    _same_matrix(article_counts(cleaned), reference_article_counts(cleaned))
    _same_matrix(article_counts(cleaned[:1]), reference_article_counts(cleaned[:1]))
    packed = PackedCounts.of(article_counts(cleaned))  # as a clean batch holds them
    assert isinstance(packed, PackedCounts) and packed.nbytes < article_counts(cleaned).data.nbytes
    _same_matrix(packed.csr(), reference_article_counts(cleaned))


def test_stem_counts_beyond_a_key_are_held_as_they_are(seed_texts):
    text = next(iter(seed_texts.values()))
    long = text + "\n\n" + " ".join(f"Copper markets rallied for the {k}th time in Lima." for k in range(4100))
    cleaned = [clean_article(Article("long", long)), clean_article(Article("s", text))]
    counts = article_counts(cleaned)
    assert counts.data.max() > PackedCounts.MOST
    assert PackedCounts.of(counts) is counts
    _same_matrix(PackedCounts.of(article_counts(cleaned[1:])).csr(), reference_article_counts(cleaned[1:]))


def _csr(data: st.DataObject) -> sparse.csr_matrix:
    """A CSR matrix of counts, mostly as ``article_counts`` makes them, sometimes not packable: a count of 0, of
    4,096 or more, or not whole; unsorted or repeated features; another dtype."""
    rows = data.draw(st.integers(0, 6))
    values = st.one_of(st.integers(1, 4095), st.sampled_from([0, 4096, 2.5, 1e6]))
    matrix_rows = [data.draw(st.dictionaries(st.integers(0, N_FEATURES - 1), values, max_size=8)) for _ in range(rows)]
    indptr = np.cumsum([0] + [len(row) for row in matrix_rows]).astype(np.int32)
    indices = np.array([f for row in matrix_rows for f in sorted(row)], dtype=np.int32)
    found = np.array([row[f] for row in matrix_rows for f in sorted(row)], dtype=np.float64)
    counts = sparse.csr_matrix((rows, N_FEATURES))
    counts.data, counts.indices, counts.indptr = found, indices, indptr
    counts.has_sorted_indices = True
    counts.has_canonical_format = True
    if data.draw(st.booleans()) and len(indices) > 1:  # unsorted: not packed
        counts.indices = indices[::-1].copy()
        counts.has_sorted_indices = False
    if data.draw(st.integers(0, 9)) == 0:
        counts = counts.astype(np.float32)
    return counts


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_packed_stem_counts_give_back_the_matrix(data) -> None:
    pieces = [_csr(data) for _ in range(data.draw(st.integers(1, 4)))]
    packed = [PackedCounts.of(piece) for piece in pieces]
    for piece, held in zip(pieces, packed, strict=True):
        if isinstance(held, PackedCounts):
            _same_matrix(held.csr(), piece)
            assert held.nnz == piece.nnz and held.shape == piece.shape and held.dtype == piece.dtype
        else:
            assert held is piece
            assert (
                piece.dtype != np.float64
                or not piece.has_sorted_indices
                or (piece.nnz and (piece.data.min() < 1 or piece.data.max() > 4095 or (piece.data % 1).any()))
            )
    if len({piece.dtype for piece in pieces}) == 1:  # stacked as the unpacked parts are, and as scipy stacks them
        stacked = stack_rows(packed)
        _same_matrix(stacked, stack_rows(list(pieces)))
        assert (stacked != sparse.vstack(pieces, format="csr")).nnz == 0


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_spilled_stem_counts_stack_as_the_held_ones(data) -> None:
    """The parts written out as they come (``SpilledCounts``, as a run takes its clean batches' counts in) and read
    back when stacked give the matrix the held parts give: every array, dtype and flag; the file removed on close."""
    pieces = [_csr(data) for _ in range(data.draw(st.integers(1, 5)))]
    pieces = [piece for piece in pieces if piece.dtype == np.float64] or [pieces[0].astype(np.float64)]
    spilled = SpilledCounts()
    for piece in pieces:
        spilled.append(PackedCounts.of(piece))
    held_bytes = sum(
        piece.data.nbytes + piece.indices.nbytes + piece.indptr.nbytes
        for piece in pieces
        if not isinstance(PackedCounts.of(piece), PackedCounts)
    )
    assert spilled.nbytes == held_bytes  # only the parts that could not be packed are held
    folder = spilled.folder
    try:
        _same_matrix(stack_rows(spilled.taken()), stack_rows([PackedCounts.of(piece) for piece in pieces]))
    finally:
        spilled.close()
    assert folder is None or not folder.exists()


@settings(max_examples=100, deadline=None)
@given(st.lists(_TEXTS, min_size=1, max_size=5), st.booleans())
def test_article_counts_equal_the_hashing_vectorizer(texts: list[str], small_cache: bool) -> None:
    cleaned = [clean_article(Article(str(number), text)) for number, text in enumerate(texts)]
    saved = dict(similarity_module._STEM_FEATURES), similarity_module._STEM_FEATURE_CACHE_SIZE
    try:
        if small_cache:  # cleared on the way: the stems of the call are hashed again
            similarity_module._STEM_FEATURE_CACHE_SIZE = 3
        _same_matrix(article_counts(cleaned), reference_article_counts(cleaned))
        _same_matrix(article_counts(cleaned), reference_article_counts(cleaned))  # every stem held now
    finally:
        similarity_module._STEM_FEATURES.clear()
        similarity_module._STEM_FEATURES.update(saved[0])
        similarity_module._STEM_FEATURE_CACHE_SIZE = saved[1]


@settings(max_examples=100, deadline=None)
@given(st.lists(_TEXTS, min_size=1, max_size=5))
def test_sentence_counts_gathered_per_distinct_word_equal_the_hashing_vectorizer(texts: list[str]) -> None:
    cleaned = [clean_article(Article(str(number), text)) for number, text in enumerate(texts)]
    found, expected = sentence_counts(cleaned), reference_sentence_counts(cleaned)
    assert found.shape == expected.shape
    for name in ("data", "indices", "indptr"):
        assert np.array_equal(getattr(found, name), getattr(expected, name)), name


@settings(max_examples=300, deadline=None)
@given(st.lists(st.booleans(), max_size=40))
def test_quoted_runs_equal_the_reference(flags: list[bool]) -> None:
    assert _runs(flags) == reference_runs(flags)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(alphabet=st.sampled_from(list("aB \t\r\n\x1c\u2028\u00a0ßΣ.")), max_size=60), max_size=4),
    st.integers(1, 4),
)
def test_short_line_counts_equal_the_reference(texts: list[str], max_words: int) -> None:
    assert short_line_counts(texts, max_words) == reference_short_line_counts(texts, max_words)


_LINE = st.text(alphabet=st.sampled_from(list("ab .!?…:;,\"'”’»)]<\u00a0\r\t“(")), max_size=12).map(str.strip)


@settings(max_examples=500, deadline=None)
@given(_LINE)
def test_sentence_final_equals_the_pattern(line: str) -> None:
    assert sentence_final(line) == bool(_SENTENCE_FINAL.search(line))


@settings(max_examples=500, deadline=None)
@given(_LINE.filter(lambda line: not line.endswith("<")))
def test_terminal_equals_the_pattern(line: str) -> None:
    assert terminal(line) == bool(_TERMINAL.search(line))
