"""The passages pass's plan and known tiles held flat (``pipeline.FlatPairSettings``, ``pipeline.FlatPairTiles``)
give, pair by pair, what the dicts they are made from give."""

from __future__ import annotations

from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.align import AlignSettings, detail_settings
from dedup.pipeline import FlatPairSettings, FlatPairTiles, unpack_tiles

_ALIGN = AlignSettings()
_DETAIL = detail_settings(_ALIGN) or AlignSettings(min_tile=_ALIGN.min_tile + 1)
_CHOICES = [(_ALIGN,), (_DETAIL,), (_ALIGN, _DETAIL)]

pairs = st.sets(st.tuples(st.integers(0, 40), st.integers(0, 40)), max_size=60)
tiles = st.lists(st.integers(-(2**40), 2**40), max_size=12).map(lambda values: values[: len(values) // 4 * 4])


@settings(max_examples=60, deadline=None)
@given(pairs, st.data())
def test_flat_settings_are_the_dicts(keys, data) -> None:
    wanted = {key: _CHOICES[data.draw(st.integers(0, 2))] for key in keys}
    flat = FlatPairSettings(wanted, 41)
    assert len(flat) == len(wanted) and set(flat) == set(wanted)
    for key, value in wanted.items():
        assert flat[key] == value and all(a is b for a, b in zip(flat[key], value, strict=True))
    for key in ((s, t) for s in range(41) for t in range(41)):
        if key not in wanted:
            assert key not in flat


@settings(max_examples=60, deadline=None)
@given(pairs, st.data())
def test_flat_tiles_are_the_dicts(keys, data) -> None:
    known = {
        key: (
            data.draw(st.integers(1, 9)),
            array("q", data.draw(tiles)),
        )
        for key in keys
    }
    expected = {key: (min_tile, array("q", values)) for key, (min_tile, values) in known.items()}
    flat = FlatPairTiles(known, 41)
    assert not known  # emptied as it was copied
    assert len(flat) == len(expected) and set(flat) == set(expected)
    for key, (min_tile, values) in expected.items():
        found = flat.get(key)
        assert found[0] == min_tile and found[1] == values
        assert unpack_tiles(found) == unpack_tiles((min_tile, values))
    for key in ((s, t) for s in range(41) for t in range(41)):
        if key not in expected:
            assert flat.get(key) is None and key not in flat
