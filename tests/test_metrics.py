"""The benchmark metrics on small hand-computed cases, and a smoke run of the METER benchmark."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmarks.metrics import (
    add_counts,
    char_counts,
    classification_report,
    confusion,
    macro_f1,
    map_nonspace,
    mrr,
    paint_spans,
    pairwise_prf,
    per_class,
    prf1,
    project_labels,
    reciprocal_rank,
    span_scores,
)

METER_DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "meter" / "dev"


def test_prf1_counts() -> None:
    scores = prf1(3, 1, 2)
    assert scores["precision"] == pytest.approx(0.75)
    assert scores["recall"] == pytest.approx(0.6)
    assert scores["f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)


def test_prf1_empty_is_zero() -> None:
    assert prf1(0, 0, 0) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_confusion_rows_gold_columns_predicted() -> None:
    gold = ["a", "a", "b", "c", "c", "c"]
    predicted = ["a", "b", "b", "c", "a", "c"]
    assert confusion(gold, predicted, ["a", "b", "c"]) == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_macro_f1_known_matrix() -> None:
    matrix = [[5, 1, 0], [2, 3, 1], [0, 0, 4]]
    # class 0: P 5/7 R 5/6; class 1: P 3/4 R 3/6; class 2: P 4/5 R 4/4
    f1s = [2 * p * r / (p + r) for p, r in ((5 / 7, 5 / 6), (3 / 4, 3 / 6), (4 / 5, 1.0))]
    assert macro_f1(matrix) == pytest.approx(sum(f1s) / 3)
    classes = per_class(matrix, ["x", "y", "z"])
    assert classes["y"]["support"] == 6
    assert classes["x"]["precision"] == pytest.approx(5 / 7)


def test_classification_report_baseline() -> None:
    report = classification_report(["d", "d", "d", "n"], ["d", "d", "d", "d"], ["d", "n"])
    assert report["per_class"]["d"]["precision"] == pytest.approx(0.75)
    assert report["per_class"]["n"]["f1"] == 0.0
    assert report["macro"]["f1"] == pytest.approx((2 * 0.75 / 1.75) / 2)
    assert report["accuracy"] == pytest.approx(0.75)


def test_pairwise_known_clustering() -> None:
    gold = {"a": 1, "b": 1, "c": 1, "d": 2, "e": 2}
    predicted = {"a": "x", "b": "x", "c": "y", "d": "y", "e": "z"}
    # gold pairs: ab ac bc de = 4; predicted pairs: ab cd = 2; together: ab = 1
    scores = pairwise_prf(gold, predicted)
    assert (scores["gold_pairs"], scores["predicted_pairs"], scores["true_pairs"]) == (4, 2, 1)
    assert scores["precision"] == pytest.approx(0.5)
    assert scores["recall"] == pytest.approx(0.25)


def test_pairwise_perfect_and_all_singletons() -> None:
    gold = {"a": 1, "b": 1, "c": 2}
    assert pairwise_prf(gold, {"a": 0, "b": 0, "c": 9})["f1"] == pytest.approx(1.0)
    assert pairwise_prf(gold, {"a": 1, "b": 2, "c": 3})["recall"] == 0.0


def test_reciprocal_rank_and_mrr() -> None:
    assert reciprocal_rank(["x", "p1", "p2"], {"p2"}) == pytest.approx(1 / 3)
    assert reciprocal_rank(["x"], {"p"}) == 0.0
    assert mrr([(["p"], ["p"]), (["x", "p"], ["p"]), ([], ["p"])]) == pytest.approx(0.5)
    assert mrr([]) == 0.0


def test_paint_spans_verbatim_wins_over_rewrite() -> None:
    labels = paint_spans(8, [(0, 5, "rewrite"), (3, 6, "verbatim")], default="new")
    assert labels == ["rewrite"] * 3 + ["verbatim"] * 3 + ["new"] * 2
    # order does not matter
    assert paint_spans(8, [(3, 6, "verbatim"), (0, 5, "rewrite")], default="new") == labels
    assert paint_spans(3, [(1, 2, "new")]) == [None, "new", None]


def test_map_nonspace_across_whitespace() -> None:
    gold_text = "Ab  c\nd"
    file_text = " A b c d"
    mapping = map_nonspace(gold_text, file_text)
    assert mapping == [1, 3, None, None, 5, None, 7]


def test_map_nonspace_with_a_changed_word() -> None:
    mapping = map_nonspace("his imprisonment ends", "his unprisonment ends")
    assert mapping[4] is None and mapping[5] is None  # 'im' vs 'un' have no counterpart
    assert mapping[6] == 6 and mapping[-1] == 20


def test_char_level_scoring_across_whitespace() -> None:
    gold_text = "aa bb\ncc"
    gold_labels = paint_spans(len(gold_text), [(0, 2, "verbatim"), (3, 5, "rewrite"), (6, 8, "new")])
    file_text = "aa  bb cc"
    predicted = paint_spans(len(file_text), [(0, 6, "verbatim")], default="new")
    gold_side, predicted_side = project_labels(gold_text, gold_labels, file_text, predicted)
    assert gold_side == ["verbatim"] * 2 + ["rewrite"] * 2 + ["new"] * 2
    assert predicted_side == ["verbatim"] * 4 + ["new"] * 2
    counts = char_counts(gold_side, predicted_side)
    assert counts == {"verbatim": [2, 2, 0], "rewrite": [0, 0, 2], "new": [2, 0, 0]}
    scores = span_scores(add_counts({}, counts))
    assert scores["per_kind"]["verbatim"]["precision"] == pytest.approx(0.5)
    assert scores["per_kind"]["rewrite"]["support"] == 2
    assert scores["macro"]["f1"] == pytest.approx((2 / 3 + 0 + 1) / 3)


def test_char_counts_ignore_unlabelled_gold() -> None:
    counts = char_counts([None, "new", "verbatim"], ["verbatim", "verbatim", None])
    assert counts == {"verbatim": [0, 1, 0], "rewrite": [0, 0, 0], "new": [0, 0, 1]}


def test_meter_smoke(tmp_path: Path) -> None:
    if not METER_DEV.exists():
        pytest.skip(f"{METER_DEV} absent: the shared evaluation data lives beside the repository")
    from benchmarks.meter import main

    output = tmp_path / "meter.json"
    report = main(["--data", str(METER_DEV), "--limit-stories", "3", "--output", str(output)])
    assert output.exists()
    for key in ("binary", "three_class", "origin", "clustering", "spans", "run", "machine", "parameters"):
        assert key in report
    assert report["n_stories"] == 3 and report["n_gold"] > 0
    figures = [
        report["binary"]["macro"]["f1"],
        report["three_class"]["macro"]["f1"],
        report["origin"]["p_at_1"],
        report["origin"]["mrr"],
        report["clustering"]["pairwise"]["f1"],
        report["spans"]["macro"]["f1"],
        *report["clustering"]["non_derived"]["shares"].values(),
    ]
    assert all(0.0 <= value <= 1.0 and not math.isnan(value) for value in figures)
    assert -1.0 <= report["clustering"]["adjusted_rand"] <= 1.0
    assert sum(map(sum, report["three_class"]["confusion"])) == report["n_gold"]
    assert report["run"]["seconds"] >= 0


def test_meter_spans_cells_add_up_to_the_span_scores() -> None:
    if not METER_DEV.exists():
        pytest.skip(f"{METER_DEV} absent: the shared evaluation data lives beside the repository")
    from benchmarks.meter import evaluate
    from benchmarks.meter_spans import diagnose

    report = evaluate(METER_DEV, limit_stories=3)
    cells = diagnose(METER_DEV, {}, limit_stories=3)["cells"]
    assert cells
    for kind, scores in report["spans"]["counts"].items():  # the same characters, cut finer
        assert sum(v for (gold, _, _), v in cells.items() if gold == kind) == scores["tp"] + scores["fn"]
        assert sum(v for (gold, guess, _), v in cells.items() if gold == guess == kind) == scores["tp"]
        assert sum(v for (gold, guess, _), v in cells.items() if guess == kind != gold) == scores["fp"]
    reasons = {reason for (_, guess, reason) in cells if guess == "new"}
    assert reasons <= {"not-derived", "outside-units", "unit-missed", "unit-boundary"}
