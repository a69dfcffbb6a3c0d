"""The index's pair-verdict encoding: round trips on real verdicts, the fast passage decoder equals its reference."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.model import Article, PairVerdict, Passage
from dedup.pipeline import Settings, cluster
from dedup.store.codec import (
    _VERDICT_ZDICT,
    _passage_bytes,
    _passages_from,
    pack_term_features,
    pack_verdict,
    reference_passages_from,
    unpack_term_features,
    unpack_verdict,
)
from dedup.store.errors import CorruptIndexError

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def _seed_verdicts() -> list[PairVerdict]:
    articles = [Article(id=path.stem, text=path.read_text(encoding="utf-8")) for path in sorted(SEEDS.glob("*.txt"))]
    return cluster(articles, settings=Settings()).pairs


def test_real_verdicts_round_trip_with_their_reverse_passages():
    verdicts = _seed_verdicts()
    assert any(verdict.passages for verdict in verdicts)
    for verdict in verdicts:
        reverse = [Passage(p.target, p.source, p.target_span, p.source_span, p.kind, p.score) for p in verdict.passages]
        for stored in (None, reverse):
            decoded, decoded_reverse = unpack_verdict(pack_verdict(verdict, stored))
            assert decoded == verdict
            assert decoded_reverse == stored
            assert all(type(p) is Passage for p in decoded.passages)


spans = st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
passages = st.lists(
    st.builds(
        Passage,
        st.just("a"),
        st.just("b"),
        spans,
        spans,
        st.sampled_from(["verbatim", "rewrite"]),
        st.floats(allow_nan=False),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(passages=passages, prefix=st.binary(max_size=7))
def test_fast_passage_decoder_equals_the_reference(passages, prefix):
    body = prefix + _passage_bytes(passages) + b"tail"
    fast = _passages_from(body, len(prefix), len(passages), "a", "b")
    assert fast == reference_passages_from(body, len(prefix), len(passages), "a", "b")
    assert fast[0] == passages
    assert [hash(p) for p in fast[0]] == [hash(p) for p in passages]


def test_truncated_or_damaged_verdicts_are_refused():
    verdict = next(v for v in _seed_verdicts() if v.passages)
    data = pack_verdict(verdict)
    inflate = zlib.decompressobj(zdict=_VERDICT_ZDICT)
    body = inflate.decompress(data) + inflate.flush()
    for cut in (1, 8, 9, 30):  # inside the last scores, the kinds, the spans: the arrays no longer fit
        deflate = zlib.compressobj(6, zdict=_VERDICT_ZDICT)
        with pytest.raises(CorruptIndexError):
            unpack_verdict(deflate.compress(body[:-cut]) + deflate.flush())
    with pytest.raises(CorruptIndexError):
        unpack_verdict(data[: len(data) // 2])
    with pytest.raises(CorruptIndexError):
        unpack_verdict(b"not a verdict")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=(1 << 20) - 1), max_size=20))
def test_signature_term_features_round_trip_in_three_bytes_each(features: list[int]) -> None:
    """Schema 10 stores an article's signature terms as their features, 3 bytes each, in the order given."""
    data = pack_term_features(features)
    assert len(data) == 3 * len(features)
    assert unpack_term_features(data) == features


def test_damaged_or_oversized_signature_terms_are_refused() -> None:
    with pytest.raises(CorruptIndexError, match="signature terms"):
        unpack_term_features(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="3 bytes"):
        pack_term_features([1 << 24])
