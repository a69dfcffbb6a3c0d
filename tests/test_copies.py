"""Copies-only mode: the vectorised signatures equal the readable reference; clusters and origins."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.copies import (
    CopiesSettings,
    band_pairs,
    batch_shingles,
    cluster_copies,
    prose_text,
    reference_band_pairs,
    reference_shingles,
    reference_signature,
    reference_words,
    signatures_from_shingles,
)
from dedup.text import tokenize
from dedup.write import validate_document
from dedup.write.jsondoc import result_to_dict

# letters (with accents and case), digits, '%', punctuation and white space: one-code-point case folds
ALPHABET = st.sampled_from(
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789éÉçÇöÖ%  .,;:!?'\"-_—\n\x00")
)
TEXT = st.text(alphabet=ALPHABET, max_size=300)
SHINGLES = st.lists(st.integers(min_value=0, max_value=(1 << 64) - 1), max_size=60)


@given(TEXT)
def test_reference_words_are_the_pipeline_tokens(text: str) -> None:
    assert reference_words(text) == tokenize(text).words


@given(st.lists(TEXT, min_size=1, max_size=6), st.integers(min_value=1, max_value=6))
def test_batch_shingles_equal_reference(texts: list[str], size: int) -> None:
    shingles, offsets = batch_shingles(texts, size)
    for index, text in enumerate(texts):
        got = shingles[offsets[index] : offsets[index + 1]].tolist()
        assert got == reference_shingles(reference_words(text), size)


def test_batch_shingles_one_byte_and_wide_texts_equal_reference() -> None:
    # a batch whose code points are all below 256 is hashed from one byte a character, any other from four;
    # '%' touching words and other '%' signs makes an edge that ends one word and starts the next
    narrow = ["Shares rose 5%% to £3, 10%off; 50 % of Zürich's µ-caps", "%a%%b c%", "x"]
    wide = [*narrow, "A \u2014 dash, 7% \u201cquoted\u201d"]
    for texts in (narrow, wide):
        for size in (1, 2, 5):
            shingles, offsets = batch_shingles(texts, size)
            for index, text in enumerate(texts):
                got = shingles[offsets[index] : offsets[index + 1]].tolist()
                assert got == reference_shingles(reference_words(text), size)


@settings(max_examples=60)
@given(
    st.lists(SHINGLES, min_size=1, max_size=5),
    st.sampled_from(["oph", "kperm"]),
    st.sampled_from([1, 2, 8, 64]),
    st.integers(min_value=0, max_value=5),
)
def test_fast_signatures_equal_reference(groups: list[list[int]], scheme: str, num_perm: int, seed: int) -> None:
    flat = np.array([value for group in groups for value in group], dtype=np.uint64)
    offsets = np.concatenate(([0], np.cumsum([len(group) for group in groups])))
    fast = signatures_from_shingles(flat, offsets, num_perm, scheme, seed)
    for index, group in enumerate(groups):
        assert fast[index].tolist() == reference_signature(group, num_perm, scheme, seed)


@settings(max_examples=80)
@given(
    st.lists(st.lists(st.integers(min_value=0, max_value=2), min_size=16, max_size=16), min_size=1, max_size=40),
    st.sampled_from([1, 2, 4, 8, 16]),  # 16 bands: keys are made 8 bands at a time
    st.integers(min_value=2, max_value=6),
)
def test_band_pairs_equal_reference(rows: list[list[int]], bands: int, max_bucket: int) -> None:
    # values from {0, 1, 2}: many equal bands, crowded buckets (the chain of max_bucket neighbours)
    signatures = np.array(rows, dtype=np.uint32)
    fast = band_pairs(signatures, bands, max_bucket)
    assert fast.tolist() == reference_band_pairs(signatures, bands, max_bucket).tolist()


def test_signature_agreement_estimates_jaccard() -> None:
    rng = np.random.default_rng(3)
    base = rng.integers(0, 1 << 63, size=400, dtype=np.uint64) * np.uint64(2)
    other = np.concatenate((base[:300], rng.integers(0, 1 << 63, size=100, dtype=np.uint64)))  # J = 300/500
    for scheme in ("oph", "kperm"):
        signatures = signatures_from_shingles(np.concatenate((base, other)), np.array([0, 400, 800]), 256, scheme)
        assert abs((signatures[0] == signatures[1]).mean() - 0.6) < 0.08


def test_prose_text_drops_furniture_keeps_wrapped_story() -> None:
    text = (
        "The Daily Courier\nHome | News | Sport\nAdvertisement\nBig Storm Hits Coast\n\n"
        "A storm hit the coast on Monday, officials said.\nThe damage was\nwidespread across the region and\n"
        "Emergency Services worked overnight.\n\nRelated stories\nCouncil Approves Budget\n"
        "©2024 Daily Courier. All rights reserved.\n"
    )
    assert prose_text(text) == (
        "A storm hit the coast on Monday, officials said.\nThe damage was\nwidespread across the region and\n"
        "Emergency Services worked overnight."
    )


def _articles() -> list[dict]:
    story = " ".join(f"Sentence number {k} of the wire story tells of event {k * 7} in the city." for k in range(30))
    other = " ".join(f"An unrelated report line {k} about weather pattern {k * 3} near the hills." for k in range(30))
    return [
        {"id": "b", "text": "Outlet B\n\n" + story + " Extra.", "published": "2024-01-02"},
        {"id": "a", "text": "Wire\n\n" + story, "published": "2024-01-01"},
        {"id": "c", "text": story, "published": None},
        {"id": "d", "text": other, "published": "2023-12-31"},
    ]


def test_cluster_copies_finds_copies_and_earliest_origin(tmp_path) -> None:
    for workers in (1, 2):
        result = cluster_copies(_articles(), CopiesSettings(workers=workers, batch_size=2))
        assert [c.relation for c in result.clusters] == ["duplicate"]
        cluster = result.clusters[0]
        assert cluster.origin == "a" and [m.id for m in cluster.members] == ["a", "b", "c"]
        assert [m.role for m in cluster.members] == ["origin", "derived", "derived"]
        assert all(m.extent == "whole" and m.sources == ["a"] for m in cluster.members[1:])
        assert result.singletons == ["d"] and result.passages == []
        assert result.parameters["scheme"] == "oph" and result.parameters["mode"] == "copies-only"
        document = result_to_dict(result, {})
        assert validate_document(document) == []
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(a) + "\n" for a in _articles()) + "not json\n", encoding="utf-8")
    streamed = cluster_copies(path, CopiesSettings(batch_size=1))
    assert [m.id for m in streamed.clusters[0].members] == ["a", "b", "c"]
    assert len(streamed.skipped) == 1 and "invalid JSON" in streamed.skipped[0].reason
