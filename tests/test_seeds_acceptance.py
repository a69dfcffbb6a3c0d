"""The five seed articles, read exactly as expected.json says (clusters, origin, passages)."""

from __future__ import annotations

import pytest

from dedup import cluster, read_path
from dedup.clean import clean_article
from dedup.model import Article
from dedup.write import result_to_dict


def _span(text: str, snippet: str) -> tuple[int, int]:
    begin = text.index(snippet)
    return begin, begin + len(snippet)


def _overlap(a: tuple[int, int] | list[int], b: tuple[int, int] | list[int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@pytest.fixture(scope="module")
def document(seeds_dir, seed_texts) -> dict:
    read = read_path(seeds_dir)
    assert sorted(a.id for a in read.articles) == sorted(seed_texts)
    result = cluster(read.articles, skipped=read.skipped)
    return result_to_dict(result, seed_texts)


def test_exact_clusters(document, expected):
    found = {frozenset(m["id"] for m in c["members"]): c for c in document["clusters"]}
    wanted = {frozenset(c["members"]): c for c in expected["clusters"]}
    assert set(found) == set(wanted)
    for members, reference in wanted.items():
        assert found[members]["relation"] == reference["relation"]
        assert found[members]["origin"] == reference["origin"]
    assert document["singletons"] == expected["singletons"]


def test_roles_sources_and_extent(document, expected):
    derived = next(c for c in document["clusters"] if c["relation"] == "derived")
    roles = {m["id"]: m for m in derived["members"]}
    assert roles["000_41bc1a141fd2626e"]["role"] == "origin"
    copy = roles["001_ed645eac0db3a975"]
    assert copy["role"] == "derived"
    assert copy["sources"] == ["000_41bc1a141fd2626e"]
    assert 0.2 < copy["coverage"] < 1.0
    assert copy["extent"] == "partial"  # 001 adds its own paragraphs (CGTN, sanctions history)
    same = next(c for c in document["clusters"] if c["relation"] == "same-story")
    assert {m["role"] for m in same["members"]} == {"same-story"}


def test_origin_evidence(document, expected, seed_texts):
    for reference in expected["clusters"]:
        if reference["origin"] is None:
            continue
        found = next(c for c in document["clusters"] if c["origin"] == reference["origin"])
        for item in reference["origin_evidence"]:
            span = _span(seed_texts[item["doc"]], item["snippet"])
            assert any(
                e.get("doc") == item["doc"] and "span" in e and _overlap(e["span"], span)
                for e in found["origin_evidence"]
            ), item


def test_credited_sources_outside_corpus(document, expected, seed_texts):
    for reference in expected["clusters"]:
        if reference["origin"] is not None:
            continue
        found = next(c for c in document["clusters"] if set(reference["members"]) == {m["id"] for m in c["members"]})
        assert found["origin"] is None
        for item in reference["credited_sources"]:
            span = _span(seed_texts[item["doc"]], item["snippet"])
            assert any(
                c["source"] == item["source"] and c["doc"] == item["doc"] and _overlap(c["span"], span)
                for c in found["credited_sources"]
            ), item


def _passage_matches(
    passage: dict, kind: str, side_a: tuple[str, tuple[int, int]], side_b: tuple[str, tuple[int, int]]
):
    if passage["kind"] != kind:
        return False
    for (source, source_span), (target, target_span) in ((side_a, side_b), (side_b, side_a)):
        if (
            passage["source"] == source
            and passage["target"] == target
            and _overlap(passage["source_span"], source_span)
            and _overlap(passage["target_span"], target_span)
        ):
            return True
    return False


def test_every_expected_passage_is_found(document, expected, seed_texts):
    missing = []
    for reference in expected["clusters"]:
        for item in reference["passages"]:
            if "derived" in item:
                origin = reference["origin"]
                side_a = (origin, _span(seed_texts[origin], item["origin_snippet"]))
                side_b = (item["derived"], _span(seed_texts[item["derived"]], item["derived_snippet"]))
                # derived passages must point from the origin to the derived article
                ok = any(
                    p["kind"] == item["kind"]
                    and p["source"] == origin
                    and p["target"] == item["derived"]
                    and _overlap(p["source_span"], side_a[1])
                    and _overlap(p["target_span"], side_b[1])
                    for p in document["passages"]
                )
            else:
                side_a = (item["a"], _span(seed_texts[item["a"]], item["a_snippet"]))
                side_b = (item["b"], _span(seed_texts[item["b"]], item["b_snippet"]))
                ok = any(_passage_matches(p, item["kind"], side_a, side_b) for p in document["passages"])
            if not ok:
                missing.append(item)
    assert not missing


def test_not_derived_lines_are_in_no_passage(document, expected, seed_texts):
    for reference in expected["clusters"]:
        for item in reference.get("not_derived", []):
            span = _span(seed_texts[item["doc"]], item["snippet"])
            for p in document["passages"]:
                if p["target"] == item["doc"]:
                    assert not _overlap(p["target_span"], span), (item, p["target_text"])
                if p["source"] == item["doc"]:
                    assert not _overlap(p["source_span"], span), (item, p["source_text"])


def test_hard_negatives_stay_apart(document, expected):
    clustered = {m["id"]: c["id"] for c in document["clusters"] for m in c["members"]}
    for item in expected["hard_negatives"]:
        assert clustered.get(item["a"]) is None or clustered.get(item["a"]) != clustered.get(item["b"])
        for p in document["passages"]:
            assert {p["source"], p["target"]} != {item["a"], item["b"]}, p


def test_boilerplate_is_recognised_and_kept_out_of_passages(document, expected, seed_texts):
    for item in expected["boilerplate"]:
        text = seed_texts[item["doc"]]
        span = _span(text, item["snippet"])
        cleaned = clean_article(Article(item["doc"], text))
        assert any(b <= span[0] and span[1] <= e for b, e in cleaned.boilerplate), item
        for p in document["passages"]:
            if p["target"] == item["doc"]:
                assert not _overlap(p["target_span"], span)
            if p["source"] == item["doc"]:
                assert not _overlap(p["source_span"], span)


def test_passage_texts_are_the_spans(document, seed_texts):
    assert document["passages"]
    for p in document["passages"]:
        assert seed_texts[p["source"]][slice(*p["source_span"])] == p["source_text"]
        assert seed_texts[p["target"]][slice(*p["target_span"])] == p["target_text"]


def test_deterministic(seeds_dir, seed_texts, document):
    read = read_path(seeds_dir)
    again = result_to_dict(cluster(read.articles, skipped=read.skipped), seed_texts)
    assert again == document
