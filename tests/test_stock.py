"""Stock text is not evidence: sentences found in many separate stories, and templates refilled with new figures."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup import candidates
from dedup.align import _figures, figures_conflict
from dedup.candidates import (
    _group_holders,
    _group_stories,
    _story_bounds,
    _story_counts,
    band_runs,
    reference_band_buckets,
    reference_group_holders,
    reference_sentence_groups,
    reference_story_counts,
    run_numbers,
    sentence_groups,
)
from dedup.pipeline import cluster

STOCK = ("Further details were not disclosed.", "Officials did not respond to a request for comment.")

LEADS = [
    "Harbour officials in Rotterdam reported that container traffic slowed sharply during the dock strike. "
    "Shipping lines diverted vessels to Antwerp and Hamburg while negotiations dragged on.",
    "A regional airline based in Cork has ordered six turboprop aircraft to replace its ageing fleet. "
    "The carrier expects the first deliveries before the summer timetable begins.",
    "Farmers in the Loire valley warned that late frost destroyed much of this season's early vegetable crop. "
    "Growers' associations asked the ministry for emergency assistance.",
    "The city council of Leeds approved plans for a new cycle route linking the station with the university. "
    "Construction is due to start after the consultation closes.",
    "A mining group in Western Australia suspended operations at its nickel smelter after a fire in the furnace hall. "
    "Nobody was injured and engineers are assessing the damage.",
    "The national orchestra announced that its conductor will step down at the end of next season. "
    "The board has begun an international search for a successor.",
    "Police in Glasgow are appealing for witnesses after a lorry overturned on the motorway during the night. "
    "The carriageway was closed for several hours while the load was recovered.",
    "A software company in Tallinn raised venture funding to expand its payroll service into Poland and Latvia. "
    "Its founders said hiring would double the engineering team this year.",
    "Researchers at a Danish hospital published results showing a cheaper test for early kidney disease. "
    "The trial followed four hundred patients over three years.",
]

WIRE = [
    "A former bank clerk was jailed for six years at Leeds Crown Court for stealing from elderly customers.",
    "Peter Hollis, 52, of Headingley, took money from the accounts of eleven pensioners over four years.",
    "The court heard that he used the cash to pay gambling debts and to fund holidays abroad.",
    "Judge Margaret Ellison told him he had betrayed the trust placed in him by vulnerable people.",
    "Detectives began an inquiry after a customer's daughter noticed withdrawals she could not explain.",
    "Hollis admitted fourteen charges of theft and asked for twenty other offences to be considered.",
    "The bank has repaid every customer and said it had tightened its controls since the case.",
    "Outside court the daughter said the family was relieved that the ordeal was finally over.",
]

OWN = [
    "Neighbours described him as a quiet man who kept to himself.",
    "The branch closed two years ago as part of a wider restructuring.",
    "Campaigners for older people called for stronger checks on bank staff.",
    "His solicitor said he was deeply ashamed of what he had done.",
    "The victims were aged between seventy and ninety-one.",
    "A spokeswoman for the bank declined to say how much had been repaid.",
    "He was led from the dock in tears.",
    "Local councillors welcomed the sentence.",
    "The family thanked detectives for their patience.",
]


def _filler_articles() -> list[dict[str, str]]:
    return [{"id": f"s{k}", "text": f"{lead} {STOCK[0]} {STOCK[1]}"} for k, lead in enumerate(LEADS)]


def _wire_story() -> list[dict[str, str]]:
    """A wire text and nine papers, each copying the lead and a different few sentences, adding its own."""
    articles = [{"id": "wire", "text": " ".join(WIRE)}]
    for k in range(9):
        copied = [WIRE[0], WIRE[1 + k % 7], WIRE[1 + (k + 3) % 7]]
        articles.append({"id": f"paper{k}", "text": " ".join([*copied, OWN[k], OWN[(k + 4) % 9]])})
    return articles


def _relations(result) -> dict[tuple[str, str], str]:
    return {(v.a, v.b): v.relation for v in result.pairs}


def test_stock_sentences_in_separate_stories_relate_nothing() -> None:
    result = cluster(_filler_articles(), workers=1)
    assert all(v.relation == "unrelated" for v in result.pairs), _relations(result)
    assert not result.clusters
    # a stock sentence makes no candidate pair; a pair that is a candidate anyway shows its stock passages (the
    # fillers share one sketched sentence, which the lone-sentence rule would not pair either: off here)
    paired = cluster(_filler_articles(), workers=1, skip_stock_sentences=False, lone_sentence_min_shared=0)
    assert len(result.pairs) < len(paired.pairs)
    assert all(v.relation == "unrelated" for v in paired.pairs) and not paired.clusters
    shown = [v for v in paired.pairs if v.passages]
    assert shown and all(v.evidence.get("stock_passages", 0) > 0 for v in shown)  # kept for display


def test_without_the_rule_stock_sentences_relate_the_articles() -> None:
    relations = _relations(cluster(_filler_articles(), workers=1, stock_min_stories=0, lone_sentence_min_shared=0))
    assert "same-story" in relations.values() or "derived" in relations.values()
    # the fillers share one sketched sentence of four stems ("Officials did not respond…"): one short shared
    # sentence pairs no articles either, with or without the stock rule
    assert not cluster(_filler_articles(), workers=1, stock_min_stories=0).pairs


def test_a_wire_sentence_copied_by_many_papers_stays_evidence() -> None:
    result = cluster(_wire_story(), workers=1)
    relations = _relations(result)
    for k in range(9):
        pair = ("paper" + str(k), "wire") if ("paper" + str(k), "wire") in relations else ("wire", f"paper{k}")
        assert relations[pair] == "derived", pair
    assert all(v.evidence.get("stock_passages", 0) == 0 for v in result.pairs)
    assert len(result.clusters) == 1 and result.clusters[0].origin == "wire"


MONTHLY = [
    (
        "n1",
        "Norway's central bank reserves totalled 91.06 billion crowns in January, against 93.07 billion in "
        "December and 105.29 billion in January 1986, the central bank said in its monthly balance sheet. "
        "Foreign exchange reserves totalled 83.68 billion crowns, compared with 85.52 billion in December and "
        "99.19 billion crowns a year ago.",
    ),
    (
        "n2",
        "Norway's central bank reserves totalled 74.77 billion crowns in March, against 70.56 billion in "
        "February and 98.55 billion in March 1986, the central bank said in its monthly balance sheet. "
        "Foreign exchange reserves totalled 67.05 billion crowns, compared with 67.21 billion in February and "
        "92.08 billion crowns a year ago.",
    ),
]


def test_a_template_refilled_with_new_figures_is_not_reuse() -> None:
    articles = [{"id": key, "text": text} for key, text in MONTHLY]
    copy = MONTHLY[1][1].replace("the central bank said in its monthly balance sheet", "the bank said")
    articles.append({"id": "n3", "text": "OSLO (Reuters) - " + copy})
    relations = _relations(cluster(articles, workers=1, min_name_share=0))  # the figures alone refuse it
    assert relations.get(("n1", "n2"), "unrelated") == "unrelated"
    assert relations[("n2", "n3")] in {"duplicate", "derived"}
    off = _relations(cluster(articles, workers=1, template_figures=False, min_name_share=0))
    assert off.get(("n1", "n2")) in {"derived", "same-story"}  # the frame alone looks like reuse


def test_figures_in_other_slots_are_a_rewrites_own_choice() -> None:
    def facts(text: str):
        return _figures(text, (0, len(text)))

    wire = "The jury found that Mr Price had been detained at the roadside in 1995 and again in 1996."
    paper = "The jury found that Mark Price, 36, a community worker, had been detained on four occasions."
    assert not figures_conflict(facts(wire), facts(paper))
    updated = "Police said 15 people were killed in the blast at the market on Tuesday."
    first = "Police said 12 people were killed in the blast at the market on Tuesday."
    assert figures_conflict(facts(first), facts(updated))  # one slot refilled, nothing kept
    assert not figures_conflict(facts("Shares rose 5,000 to 12.5 pct."), facts("Shares rose 5000 to 12.5 pct."))


def test_sentence_groups_are_one_hop_and_verified() -> None:
    rows = np.array([[1] * 64, [1] * 32 + [2] * 32, [2] * 64, [7] * 64], dtype=np.uint32)
    groups = sentence_groups(rows, 0.4)
    assert groups.tolist()[0] == groups.tolist()[1] == 0
    assert groups[2] == 1  # like row 1, not like row 0: no chains
    assert groups[3] == 3


def test_story_counts_link_holders_by_other_shared_sentences() -> None:
    # group 0 (common) held by articles 0..3; 0 and 1 also share group 1 (rare): one story.
    # 2 and 3 also share group 2, but group 2 is common too: two stock sentences do not vouch for each other
    group = np.array([0, 1, 0, 1, 0, 2, 0, 2, 2], dtype=np.int64)
    owners = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4], dtype=np.int64)
    assert _story_counts(group, owners, 3).tolist() == [3, 2, 3, 2, 3, 3, 3, 3, 3]


# rows over a few values, so that bands collide and near-copies are common
_signature_rows = st.integers(min_value=0, max_value=40).flatmap(
    lambda count: st.lists(
        st.lists(st.integers(min_value=0, max_value=2), min_size=64, max_size=64), min_size=count, max_size=count
    )
)


@settings(max_examples=150, deadline=None)
@given(_signature_rows, st.sampled_from([0.3, 0.4, 0.6]))
def test_sentence_groups_equal_the_reference(rows, threshold) -> None:
    values = np.array(rows, dtype=np.uint32).reshape(len(rows), 64)
    assert sentence_groups(values, threshold).tolist() == reference_sentence_groups(values, threshold).tolist()


@settings(max_examples=60, deadline=None)
@given(_signature_rows, st.sampled_from([0.3, 0.4]), st.sampled_from([1, 3]))
def test_sentence_groups_compared_a_few_rows_at_a_time_equal_the_reference(rows, threshold, chunk) -> None:
    from dedup import candidates

    values = np.array(rows, dtype=np.uint32).reshape(len(rows), 64)
    kept, candidates._VERIFY_CHUNK = candidates._VERIFY_CHUNK, chunk
    try:
        found = sentence_groups(values, threshold).tolist()
    finally:
        candidates._VERIFY_CHUNK = kept
    assert found == reference_sentence_groups(values, threshold).tolist()


@settings(max_examples=100, deadline=None)
@given(_signature_rows, st.integers(min_value=0, max_value=15))
def test_band_runs_are_the_reference_buckets(rows, band) -> None:
    values = np.array(rows, dtype=np.uint32).reshape(len(rows), 64)
    order, starts = band_runs(values, band, 4)
    expected = reference_band_buckets(values, band, 4)
    found = run_numbers(order, starts)
    assert sorted(order.tolist()) == list(range(len(rows)))
    # the same partition of the rows: equal runs exactly where equal buckets
    assert (found[:, None] == found[None, :]).tolist() == (expected[:, None] == expected[None, :]).tolist()


def test_band_runs_fall_back_to_the_reference_when_keys_collide(monkeypatch) -> None:
    values = np.array([[1] * 8, [2] * 8, [1] * 8, [3] * 4 + [1] * 4], dtype=np.uint32)
    monkeypatch.setattr(candidates, "band_keys", lambda rows, first, last, width: np.zeros((1, len(rows)), np.uint64))
    order, starts = band_runs(values, 0, 4)
    assert run_numbers(order, starts).tolist() == reference_band_buckets(values, 0, 4).tolist() == [0, 1, 0, 2]


def _capped_as_the_reference(found: np.ndarray, expected: np.ndarray, at_least: int) -> None:
    """Stories counted up to ``at_least`` (``_story_counts``) against the reference's exact counts: the same stock
    units, counted ``at_least``; below it, at least the reference's count and still below ``at_least``."""
    stock = expected >= at_least
    assert ((found >= at_least) == stock).all()
    assert (found[stock] == at_least).all()
    assert (found[~stock] >= expected[~stock]).all()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(min_value=-1, max_value=12), st.integers(min_value=0, max_value=9)), max_size=80),
    st.integers(min_value=1, max_value=5),
    st.sampled_from([1, 2, 7, 40, 1 << 22]),
    st.sampled_from([1, 5, 30, 1 << 22]),
)
def test_story_counts_equal_the_reference_up_to_the_stock_count(units, at_least, most_pairs, most_edges) -> None:
    # ``most_pairs``, ``most_edges``: the groups examined a few at a time (or one by one), as a large run's are
    group = np.array([g for g, _ in units], dtype=np.int64)
    owners = np.array([o for _, o in units], dtype=np.int64)
    expected = reference_story_counts(group, owners, at_least)
    _capped_as_the_reference(_story_counts(group, owners, at_least, most_pairs, most_edges), expected, at_least)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(20, 400), st.integers(2, 60), st.sampled_from([2, 3, 8]))
def test_story_bounds_hold_the_exact_stories_between_them(seed, units, articles, at_least) -> None:
    """Many holders a group (a stock sentence among stories whose copies share rare and common sentences): each
    group's exact stories lie between its bounds, and the capped counts are the reference's."""
    generator = np.random.default_rng(seed)
    spread = max(2, units // 6)
    group = generator.integers(0, spread, size=units) ** 2 // spread  # the low groups held by many
    group[generator.random(units) < 0.1] = -1  # units too short to be grouped
    owners = generator.integers(0, articles, size=units)
    expected = reference_story_counts(group, owners, at_least)
    grouped = group >= 0
    holding, by_group, holders_per_group, weight = _group_holders(group, owners, grouped, at_least)
    examined = np.flatnonzero(holders_per_group >= max(at_least, 2))
    lower, upper = _story_bounds(holding, by_group, weight, examined, int(generator.integers(1, 200)))
    exact = _group_stories(holding, by_group, weight, examined)
    assert (lower <= exact).all() and (exact <= upper).all()
    _capped_as_the_reference(_story_counts(group, owners, at_least), expected, at_least)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(min_value=-1, max_value=12), st.integers(min_value=0, max_value=9)), max_size=80),
    st.integers(min_value=1, max_value=5),
    st.booleans(),
    st.sampled_from([np.int64, np.int32]),
)
def test_group_holders_equal_the_reference(units, at_least, ascending, kind) -> None:
    """The holders' matrices made from ascending owners (the run's) or any, int32 or int64, are the reference's
    (made from coordinates): the same pointers, columns, values and index types."""
    if ascending:
        units = sorted(units, key=lambda unit: unit[1])
    group = np.array([g for g, _ in units], dtype=kind)
    owners = np.array([o for _, o in units], dtype=kind)
    grouped = group >= 0
    if grouped.sum() < 2:
        return
    found = _group_holders(group, owners, grouped, at_least)
    expected = reference_group_holders(group.astype(np.int64), owners.astype(np.int64), grouped, at_least)
    for mine, theirs in zip(found[:2], expected[:2], strict=True):
        assert mine.shape == theirs.shape and mine.has_canonical_format
        for name in ("indptr", "indices", "data"):
            assert getattr(mine, name).tolist() == getattr(theirs, name).tolist()
            assert getattr(mine, name).dtype == getattr(theirs, name).dtype
    for mine, theirs in zip(found[2:], expected[2:], strict=True):
        assert mine.tolist() == theirs.tolist() and mine.dtype == theirs.dtype
