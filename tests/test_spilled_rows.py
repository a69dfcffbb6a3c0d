"""Signature rows held out of the heap (``candidates.SpilledRows``): the sentence LSH gives the same groups and the
same pairs from them as from the rows held in one array, whatever parts they came in and whichever rows were dropped."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup import candidates
from dedup.candidates import (
    HeldRows,
    SpilledRows,
    banded_pair_codes,
    reference_sentence_groups,
    sentence_groups,
)

# values over a few low bytes and a few high bits: bands collide, near-copies are common, and low bytes often agree
# where the values do not (the case the low bytes' test must leave to the full rows)
_values = st.tuples(st.integers(0, 2), st.sampled_from([0, 1 << 8, 1 << 31])).map(lambda pair: pair[0] | pair[1])
_rows = st.integers(min_value=0, max_value=30).flatmap(
    lambda count: st.tuples(
        st.lists(st.lists(_values, min_size=64, max_size=64), min_size=count, max_size=count),
        st.lists(st.booleans(), min_size=count, max_size=count),
        st.lists(st.integers(0, 4), min_size=count, max_size=count),
        st.lists(st.integers(1, 7), min_size=1, max_size=4),
    )
)


def _spilled(values: np.ndarray, cuts: list[int]) -> SpilledRows:
    """``values`` taken in as parts of the sizes ``cuts`` (repeated), then finished."""
    spilled = SpilledRows(values.shape[1])
    at = k = 0
    while at < len(values):
        spilled.append(values[at : at + cuts[k % len(cuts)]])
        at += cuts[k % len(cuts)]
        k += 1
    return spilled.finish()


@settings(max_examples=50, deadline=None)
@given(_rows, st.sampled_from([0.3, 0.4, 0.6]), st.sampled_from([1, 2, 1 << 13]), st.booleans())
def test_spilled_rows_give_the_groups_and_pairs_of_the_held_rows(data, threshold, gather, drop) -> None:
    rows, keep, owners, cuts = data
    values = np.array(rows, dtype=np.uint32).reshape(len(rows), 64)
    owners = np.array(owners, dtype=np.int64)
    spilled = _spilled(values, cuts)
    kept = np.array(keep, dtype=bool) if drop else np.ones(len(values), dtype=bool)
    if drop:
        spilled.keep(kept)
    held, owners = values[kept], owners[kept]
    before, candidates._GATHER_ROWS = candidates._GATHER_ROWS, gather
    try:
        assert spilled.shape == held.shape
        assert np.array_equal(spilled.low, (held & 0xFF).astype(np.uint8))
        for band in range(16):
            assert np.array_equal(spilled.band(band, 4), held[:, band * 4 : band * 4 + 4])
        groups = sentence_groups(spilled, threshold).tolist()
        assert groups == sentence_groups(held, threshold).tolist()
        assert groups == reference_sentence_groups(held, threshold).tolist()
        for cap in (0, 2):
            for verify in (False, True):
                found = banded_pair_codes(spilled, owners, threshold, cap, verify, span=5)
                assert found.tolist() == banded_pair_codes(held, owners, threshold, cap, verify, span=5).tolist()
        left, right = np.triu_indices(len(held), 1)
        assert np.array_equal(spilled.near(left, right, threshold), HeldRows(held).near(left, right, threshold))
    finally:
        candidates._GATHER_ROWS = before
        spilled.close()


def test_low_bytes_that_agree_leave_the_decision_to_the_full_rows() -> None:
    near = np.arange(64, dtype=np.uint32)
    values = np.stack([near, near + (1 << 8), near + (np.arange(64) < 40) * (1 << 16), near[::-1]])
    spilled = _spilled(values, [3])
    try:
        assert np.array_equal(spilled.low[0], spilled.low[1])  # every low byte agrees, no value does
        first, second = np.array([0, 0, 0]), np.array([1, 2, 3])
        assert spilled.near(first, second, 0.3).tolist() == [False, True, False]  # 0/64, 24/64, 0/64 agree
        assert spilled.near(first, second, 0.4).tolist() == [False, False, False]
    finally:
        spilled.close()


def test_spilled_rows_remove_their_files_and_check_their_width() -> None:
    spilled = SpilledRows(4)
    spilled.append(np.zeros((0, 0), dtype=np.uint32))  # an empty part takes nothing in
    assert spilled.folder is None
    spilled.append(np.arange(8, dtype=np.uint32).reshape(2, 4))
    with pytest.raises(ValueError, match="positions"):
        spilled.append(np.zeros((1, 3), dtype=np.uint32))
    spilled.finish()
    folder = spilled.folder
    assert folder is not None and (folder / "rows").stat().st_size == 32
    assert spilled.gathered(np.array([1])).tolist() == [[4, 5, 6, 7]]
    spilled.close()
    assert not folder.exists()
    empty = SpilledRows(64).finish()
    assert sentence_groups(empty, 0.4).tolist() == []
    assert banded_pair_codes(empty, np.zeros(0, dtype=np.int64), 0.4, 0, True, span=1).tolist() == []


def test_the_bands_shared_among_workers_give_the_same_groups_and_pairs(news_articles) -> None:
    """The near-copy groups and the verified sentence pass with their bands on two forked workers: the groups and
    codes of one process, from held and from spilled rows (the workers read the parent's spill files), the pairs
    with and without the crowd and owner caps."""
    from dedup.candidates import sentence_row_sizes, sentence_signatures
    from dedup.clean import clean_article
    from dedup.sketch import SketchSettings

    sketch = SketchSettings()
    cleaned = [clean_article(article) for article in news_articles]
    rows, owners = sentence_signatures(cleaned, sketch)
    sizes = sentence_row_sizes(cleaned, sketch.min_sentence_stems)
    spilled = _spilled(rows.astype(np.uint32), [50])
    try:
        groups = sentence_groups(rows, 0.4)
        assert (groups != np.arange(len(rows))).any()  # some row has a near-copy
        assert groups.tolist() == reference_sentence_groups(rows, 0.4).tolist()
        for source in (rows, spilled):
            assert sentence_groups(source, 0.4, workers=2).tolist() == groups.tolist()
        for cap, crowd in ((0, 0), (0, 2), (3, 0), (3, 2)):
            one = banded_pair_codes(rows, owners, 0.4, cap, True, sizes=sizes, lone_min_shared=8, crowd=crowd)
            assert len(one)
            for source in (rows, spilled):
                two = banded_pair_codes(
                    source, owners, 0.4, cap, True, sizes=sizes, lone_min_shared=8, crowd=crowd, workers=2
                )
                assert two.tolist() == one.tolist()
    finally:
        spilled.close()


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 2000),
    st.sampled_from([1, 3, 64, 100]),
    st.sampled_from([1, 7, 1 << 13]),
    st.integers(0, 2**32 - 1),
)
def test_gathered_rows_are_the_rows_written_there(count, width, gather, seed) -> None:
    """Whole rows read back from the file at any places (rows that straddle pages and mapping boundaries: widths
    whose rows do not divide a page), a few or many a mapping."""
    generator = np.random.default_rng(seed)
    values = generator.integers(0, 2**32, size=(count, width), dtype=np.uint32)
    spilled = _spilled(values, [max(1, count // 3)])
    places = np.unique(generator.integers(0, count, size=generator.integers(1, count + 1)))
    before, candidates._GATHER_ROWS = candidates._GATHER_ROWS, gather
    try:
        assert np.array_equal(spilled.gathered(places), values[places])
        assert np.array_equal(spilled.gathered(places.astype(np.int32)), values[places])
    finally:
        candidates._GATHER_ROWS = before
        spilled.close()


@settings(max_examples=40, deadline=None)
@given(_rows, st.sampled_from([0.3, 0.4, 0.6]), st.sampled_from([(16,), (8, 8), (1, 5, 10), (3, 3, 3, 7)]))
def test_a_stretch_of_bands_reads_no_found_pair_again_and_finds_what_its_bands_find(data, threshold, split) -> None:
    """A worker's stretch of bands (``_stretch_row_codes``, ``_stretch_leaders``), which skips the row pairs its
    earlier bands found near (and the rows already given a lower near first row), gives the codes of its bands taken
    one at a time with nothing skipped, and the groups of the reference, however the bands are split into stretches,
    from held and from spilled rows, with and without the crowd and owner caps."""
    rows, keep, owners, cuts = data
    values = np.array(rows, dtype=np.uint32).reshape(len(rows), 64)
    spilled = _spilled(values, cuts)
    kept = np.array(keep, dtype=bool)
    spilled.keep(kept)  # the run drops the stock rows before the sentence pairs
    values, owners = values[kept], np.array(owners, dtype=np.int64)[kept]
    stretches = np.split(np.arange(16), np.cumsum(split)[:-1])
    try:
        for source in (HeldRows(values), spilled):
            for cap, crowd in ((0, 0), (0, 2), (2, 3)):
                shared = (source, owners, threshold, cap, 4, crowd)
                one_at_a_time = [candidates._band_row_codes(shared, band) for band in range(16)]
                expected = np.unique(np.concatenate(one_at_a_time))
                found = [candidates._stretch_row_codes(shared, tuple(part.tolist()))[0] for part in stretches]
                assert np.unique(np.concatenate(found)).tolist() == expected.tolist()
            leaders = np.arange(len(values))
            for part in stretches:
                members, first = candidates._stretch_leaders((source, threshold, 4), tuple(part.tolist()))[0]
                leaders[members] = np.minimum(leaders[members], first)
            assert leaders.tolist() == reference_sentence_groups(values, threshold).tolist()
    finally:
        spilled.close()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-(2**62), 2**62), max_size=200), st.sampled_from([np.int64, np.int32, np.uint32]))
def test_sorted_unique_is_numpys_unique(values, dtype) -> None:
    array = np.array(values, dtype=np.int64)
    array = (array % 2**31).astype(dtype) if dtype is not np.int64 else array
    found = candidates.sorted_unique(array)
    assert found.dtype == np.unique(array).dtype
    assert found.tolist() == np.unique(array).tolist()
