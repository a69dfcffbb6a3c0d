"""One short shared sentence is no candidate (``CandidateSettings.lone_sentence_min_shared``): the fast owner pairs
equal the readable reference over brute-force row pairs, held or spilled, and on real-shaped articles only the
pairs with two shared sentences, or one long one, are left."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.candidates import (
    CandidateSettings,
    SpilledRows,
    banded_pair_codes,
    banded_pairs,
    bands,
    candidate_pairs,
    evidenced_pair_codes,
    pairs_of_codes,
    reference_evidenced_pairs,
    sentence_row_sizes,
    sentence_signatures,
)
from dedup.clean import clean_article
from dedup.model import Article
from dedup.pipeline import Settings
from dedup.similarity import article_vectors
from dedup.sketch import SketchSettings
from dedup.store.features import sentences_agree_each, sentences_evidence_each, settings_banding

# few distinct values: bands collide and rows agree often, so rows pair on one or several rows per owner pair
_values = st.integers(0, 2)
_rows = st.integers(min_value=0, max_value=24).flatmap(
    lambda count: st.tuples(
        st.lists(st.lists(_values, min_size=64, max_size=64), min_size=count, max_size=count),
        st.lists(st.integers(0, 5), min_size=count, max_size=count),
        st.lists(st.integers(4, 14), min_size=count, max_size=count),
    )
)


def _brute_row_pairs(rows: np.ndarray, owners: np.ndarray, threshold: float) -> list[tuple[int, int, int]]:
    """Every row pair of distinct owners that shares a band and agrees on ``threshold`` of its positions, with the
    number of positions it agrees on."""
    band_count, width = bands(threshold, rows.shape[1])
    found = []
    for a in range(len(rows)):
        for b in range(a + 1, len(rows)):
            shares = any(
                np.array_equal(rows[a, k * width : (k + 1) * width], rows[b, k * width : (k + 1) * width])
                for k in range(band_count)
            )
            if owners[a] != owners[b] and shares and np.mean(rows[a] == rows[b]) >= threshold:
                found.append((a, b, int(np.sum(rows[a] == rows[b]))))
    return found


@settings(max_examples=60, deadline=None)
@given(_rows, st.sampled_from([0.4, 0.6]), st.sampled_from([0, 3, 6, 8, 14]))
def test_evidenced_pairs_equal_the_reference(data, threshold, lone_min_shared) -> None:
    rows, owners, sizes = data
    values = np.array(rows, dtype=np.uint32).reshape(len(rows), 64)
    owners = np.array(owners, dtype=np.int64)
    sizes = np.array(sizes, dtype=np.uint16)
    row_pairs = _brute_row_pairs(values, owners, threshold)
    expected = reference_evidenced_pairs(row_pairs, 64, owners.tolist(), sizes.tolist(), lone_min_shared)
    span = 6
    if lone_min_shared == 0:  # the rule off: every verified pair, as banded_pairs gives them without sizes
        assert expected == (banded_pairs(values, owners, threshold, verify=True) if len(values) else set())
    found = banded_pair_codes(values, owners, threshold, 0, True, span, sizes, lone_min_shared)
    assert pairs_of_codes(found, span) == expected
    if len(values):
        spilled = SpilledRows(64)
        spilled.append(values)
        spilled = spilled.finish()
        try:
            assert banded_pair_codes(spilled, owners, threshold, 0, True, span, sizes, lone_min_shared).tolist() == (
                found.tolist()
            )
        finally:
            spilled.close()
    codes = sorted((a * len(values) + b) * 65 + agreeing for a, b, agreeing in row_pairs)
    direct = evidenced_pair_codes(
        np.array(codes, dtype=np.int64), len(values), 64, owners, sizes, lone_min_shared, span
    )
    assert pairs_of_codes(direct, span) == expected


_COMPANY = "The company said it sold 4.6 pct of the shares."
_QUOTE = (
    '"We expect the new plant in Leeds to double our output of steel tubes and to employ four hundred people by '
    'the end of next year," chairman Robert Hale told shareholders.'
)
_TEXTS = [
    # 0 and 1 share one short sentence only; 0 and 2 share two; 3 and 4 one long one
    "Harbour Metals posted record profits on Tuesday after a strong quarter in Asia and Latin America. "
    f"{_COMPANY} Analysts in London cheered the figures and raised their targets for the year ahead. "
    "Its rivals in Sheffield reported weaker orders from car makers and builders across Europe.",
    "Grain shipments from the northern port resumed after the storm cleared overnight and the cranes restarted. "
    f"{_COMPANY} Farmers waited for the first barges to reach the mills upstream before the frost. "
    "The harbour master warned that fog could close the channel again on Thursday morning.",
    "Harbour Metals posted record profits on Tuesday after a strong quarter in Asia and Latin America. "
    f"{_COMPANY} Its chief executive will step down in the spring after eleven years in charge. "
    "The board named a former banker as chairman and promised a larger dividend for investors.",
    "Hale Tubes will build a factory in the north, its first new site in two decades, the group said. "
    f"{_QUOTE} The shares rose sharply in early trading as brokers welcomed the plan. "
    "Planning permission is expected within weeks, the council's officers said on Monday.",
    "Unions welcomed plans for a factory at a former colliery where thousands once worked underground. "
    f"{_QUOTE} Councillors were divided over the road traffic the site would bring to the village. "
    "A public meeting will be held in the miners' welfare hall next month, organisers said.",
]


def _cleaned() -> list:
    return [clean_article(Article(f"a{k}", text)) for k, text in enumerate(_TEXTS)]


def _sentence_pairs(articles: list, lone_min_shared: int) -> set[tuple[int, int]]:
    sketch = SketchSettings()
    rows, owners = sentence_signatures(articles, sketch)
    sizes = sentence_row_sizes(articles, sketch.min_sentence_stems)
    return banded_pairs(rows, owners, 0.4, verify=True, sizes=sizes, lone_min_shared=lone_min_shared)


def test_one_short_shared_sentence_pairs_nothing() -> None:
    articles = _cleaned()
    every = _sentence_pairs(articles, 0)
    assert {(0, 1), (0, 2), (1, 2), (3, 4)} <= every  # the shared sentences collide
    assert _sentence_pairs(articles, 8) == every - {(0, 1), (1, 2)}  # two shared, or one long shared
    assert _sentence_pairs(articles, 40) == every - {(0, 1), (1, 2), (3, 4)}  # the quote shares fewer than 40 stems


def test_candidate_pairs_apply_the_rule() -> None:
    articles = _cleaned()
    vectors = article_vectors(articles)
    sketch = SketchSettings()
    settings = CandidateSettings(tfidf_threshold=1.1, lone_sentence_min_shared=0)  # no neighbours, no rule
    assert (0, 1) in candidate_pairs(articles, vectors, sketch, settings)
    ruled = CandidateSettings(tfidf_threshold=1.1, lone_sentence_min_shared=8)
    assert (0, 1) not in candidate_pairs(articles, vectors, sketch, ruled)
    assert {(0, 2), (3, 4)} <= set(candidate_pairs(articles, vectors, sketch, ruled))


@settings(max_examples=60, deadline=None)
@given(_rows, st.sampled_from([0, 3, 6, 8, 14]))
def test_the_index_rule_equals_the_batch_rule(data, lone_min_shared) -> None:
    """``features.sentences_evidence_each`` (the index: one new article against stored ones) pairs the new article
    with a stored one exactly when the batch's rule pairs their owners."""
    rows, owners, sizes = data
    values = np.array(rows, dtype=np.uint32).reshape(len(rows), 64)
    owners = np.array(owners, dtype=np.int64)
    sizes = np.array(sizes, dtype=np.int64)
    banding = settings_banding(Settings())[1]
    mine = owners == 0
    others = [values[owners == k] for k in range(1, 6)]
    other_sizes = [sizes[owners == k] for k in range(1, 6)]
    found = sentences_evidence_each(values[mine], sizes[mine], others, other_sizes, banding, 0.4, lone_min_shared)
    expected = reference_evidenced_pairs(
        _brute_row_pairs(values, owners, 0.4), 64, owners.tolist(), sizes.tolist(), lone_min_shared
    )
    assert found == [(0, k) in expected for k in range(1, 6)]
    if lone_min_shared == 0:  # the rule off: the index's plain verified test
        assert found == sentences_agree_each(values[mine], others, banding, 0.4)


_ascending = st.integers(min_value=0, max_value=30).flatmap(
    lambda count: st.tuples(
        st.lists(st.lists(_values, min_size=64, max_size=64), min_size=count, max_size=count),
        st.lists(st.integers(0, 3), min_size=count, max_size=count).map(sorted),  # a run's rows, article by article
        st.lists(st.integers(4, 14), min_size=count, max_size=count),
    )
)


@settings(max_examples=80, deadline=None)
@given(_ascending, st.sampled_from([0.4, 0.6]), st.sampled_from([0, 8, 14]), st.integers(1, 6))
def test_evidenced_pairs_in_stretches_equal_all_at_once(data, threshold, lone_min_shared, chunk) -> None:
    """Owners ascending with the rows (as a run stacks them): the row codes taken a few at a time, each stretch cut
    where a lower owner's rows end, give the same owner pairs in the same order as all at once, and the reference's."""
    rows, owners, sizes = data
    values = np.array(rows, dtype=np.uint32).reshape(len(rows), 64)
    owners = np.array(owners, dtype=np.int64)
    sizes = np.array(sizes, dtype=np.uint16)
    row_pairs = _brute_row_pairs(values, owners, threshold)
    codes = np.array(sorted((a * len(values) + b) * 65 + agreeing for a, b, agreeing in row_pairs), dtype=np.int64)
    whole = evidenced_pair_codes(codes, len(values), 64, owners, sizes, lone_min_shared, 4, chunk=len(codes) + 1)
    stretched = evidenced_pair_codes(codes, len(values), 64, owners, sizes, lone_min_shared, 4, chunk=chunk)
    assert stretched.tolist() == whole.tolist()
    expected = reference_evidenced_pairs(row_pairs, 64, owners.tolist(), sizes.tolist(), lone_min_shared)
    assert pairs_of_codes(stretched, 4) == expected
