"""Pure metric functions for the benchmarks: classification, clustering, ranking and character spans.

Nothing here reads files or runs the pipeline, so every function can be checked on small hand-computed cases
(tests/test_metrics.py).
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

PRF = dict[str, float]


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, 0.0 when the denominator is 0 (nothing predicted / nothing to find)."""
    return numerator / denominator if denominator else 0.0


def prf1(true_positives: int, false_positives: int, false_negatives: int) -> PRF:
    """Precision, recall and F1 from counts; an empty denominator scores 0."""
    precision = _ratio(true_positives, true_positives + false_positives)
    recall = _ratio(true_positives, true_positives + false_negatives)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1}


def confusion(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> list[list[int]]:
    """The confusion matrix: ``matrix[i][j]`` counts items of gold ``labels[i]`` predicted as ``labels[j]``."""
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted must have the same length")
    position = {label: k for k, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, predicted, strict=True):
        matrix[position[g]][position[p]] += 1
    return matrix


def per_class(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support of each class of a confusion matrix (rows gold, columns predicted)."""
    scores: dict[str, dict[str, float]] = {}
    for k, label in enumerate(labels):
        true_positives = matrix[k][k]
        false_negatives = sum(matrix[k]) - true_positives
        false_positives = sum(row[k] for row in matrix) - true_positives
        scores[label] = {**prf1(true_positives, false_positives, false_negatives), "support": sum(matrix[k])}
    return scores


def macro_f1(matrix: Sequence[Sequence[int]]) -> float:
    """The unweighted mean of the per-class F1 scores of a confusion matrix."""
    labels = [str(k) for k in range(len(matrix))]
    scores = per_class(matrix, labels)
    return sum(s["f1"] for s in scores.values()) / len(labels) if labels else 0.0


def classification_report(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Per-class P/R/F1, macro averages, accuracy and the confusion matrix in one dict."""
    matrix = confusion(gold, predicted, labels)
    classes = per_class(matrix, labels)
    count = len(labels) or 1
    return {
        "labels": list(labels),
        "per_class": classes,
        "macro": {key: sum(c[key] for c in classes.values()) / count for key in ("precision", "recall", "f1")},
        "accuracy": _ratio(sum(matrix[k][k] for k in range(len(labels))), len(gold)),
        "confusion": matrix,
        "n": len(gold),
    }


def _pairs(count: int) -> int:
    return count * (count - 1) // 2


def pairwise_prf(gold: Mapping[Hashable, Hashable], predicted: Mapping[Hashable, Hashable]) -> dict[str, float]:
    """Pairwise clustering P/R/F1 over the items of ``gold`` (item → cluster label).

    A pair of items is positive when both share a cluster; precision is the share of predicted same-cluster
    pairs that share a gold cluster, recall the share of gold same-cluster pairs the prediction keeps together.
    Every gold item must have a predicted label (give singletons a label of their own).
    """
    cells = Counter((gold[item], predicted[item]) for item in gold)
    gold_sizes = Counter(gold[item] for item in gold)
    predicted_sizes = Counter(predicted[item] for item in gold)
    together = sum(_pairs(n) for n in cells.values())
    gold_pairs = sum(_pairs(n) for n in gold_sizes.values())
    predicted_pairs = sum(_pairs(n) for n in predicted_sizes.values())
    scores = prf1(together, predicted_pairs - together, gold_pairs - together)
    return {**scores, "gold_pairs": gold_pairs, "predicted_pairs": predicted_pairs, "true_pairs": together}


def reciprocal_rank(ranked: Sequence[Hashable], relevant: Iterable[Hashable]) -> float:
    """1 / (1-based rank of the first relevant item in ``ranked``), 0.0 when none is relevant."""
    wanted = set(relevant)
    for position, item in enumerate(ranked, start=1):
        if item in wanted:
            return 1.0 / position
    return 0.0


def mrr(rankings: Iterable[tuple[Sequence[Hashable], Iterable[Hashable]]]) -> float:
    """Mean reciprocal rank over (ranked list, relevant items) queries; 0.0 for no queries."""
    ranks = [reciprocal_rank(ranked, relevant) for ranked, relevant in rankings]
    return _ratio(sum(ranks), len(ranks))


# --- character-level span scoring -----------------------------------------------------------------------------

SPAN_PRIORITY = {"verbatim": 2, "rewrite": 1, "new": 0}


def paint_spans(
    length: int,
    spans: Iterable[tuple[int, int, str]],
    default: str | None = None,
    priority: Mapping[str, int] = SPAN_PRIORITY,
) -> list[str | None]:
    """One label per character of a text of ``length``; where spans overlap the higher ``priority`` wins.

    Characters outside every span get ``default`` (``"new"`` for predictions, ``None`` = ignored for gold).
    """
    labels: list[str | None] = [default] * length
    rank: list[int] = [-1] * length
    for begin, end, kind in spans:
        weight = priority.get(kind, 0)
        for position in range(max(begin, 0), min(end, length)):
            if weight > rank[position]:
                labels[position] = kind
                rank[position] = weight
    return labels


def nonspace_positions(text: str) -> list[int]:
    """Indices of the non-whitespace characters of ``text``."""
    return [k for k, char in enumerate(text) if not char.isspace()]


def map_nonspace(source: str, target: str) -> list[int | None]:
    """For each character of ``source``, the index of the same character in ``target``, ignoring whitespace.

    Whitespace characters map to ``None``. When the two texts agree once whitespace is dropped, the k-th
    non-whitespace character of one maps to the k-th of the other; otherwise (a word or a sentence differs)
    the non-whitespace strings are aligned with ``difflib.SequenceMatcher`` and unmatched characters map to
    ``None``.
    """
    source_positions = nonspace_positions(source)
    target_positions = nonspace_positions(target)
    mapping: list[int | None] = [None] * len(source)
    source_chars = "".join(source[k] for k in source_positions)
    target_chars = "".join(target[k] for k in target_positions)
    if source_chars == target_chars:
        for s, t in zip(source_positions, target_positions, strict=True):
            mapping[s] = t
        return mapping
    matcher = difflib.SequenceMatcher(None, source_chars, target_chars, autojunk=False)
    for block in matcher.get_matching_blocks():
        for offset in range(block.size):
            mapping[source_positions[block.a + offset]] = target_positions[block.b + offset]
    return mapping


SpanCounts = dict[str, list[int]]  # kind → [true positives, false positives, false negatives]


def char_counts(
    gold_labels: Sequence[str | None],
    predicted_labels: Sequence[str | None],
    kinds: Sequence[str] = ("verbatim", "rewrite", "new"),
) -> SpanCounts:
    """Per-kind character counts over the positions where both labels are known (not ``None``)."""
    counts: SpanCounts = {kind: [0, 0, 0] for kind in kinds}
    for gold, predicted in zip(gold_labels, predicted_labels, strict=True):
        if gold is None or predicted is None:
            continue
        if gold == predicted:
            if gold in counts:
                counts[gold][0] += 1
            continue
        if predicted in counts:
            counts[predicted][1] += 1
        if gold in counts:
            counts[gold][2] += 1
    return counts


def project_labels(
    gold_text: str,
    gold_labels: Sequence[str | None],
    predicted_text: str,
    predicted_labels: Sequence[str | None],
) -> tuple[list[str | None], list[str | None]]:
    """Gold and predicted labels side by side on the non-whitespace characters of ``gold_text``.

    ``predicted_labels`` index ``predicted_text`` (the file as read); gold characters with no counterpart in
    it get a predicted ``None`` (not counted).
    """
    mapping = map_nonspace(gold_text, predicted_text)
    gold_out: list[str | None] = []
    predicted_out: list[str | None] = []
    for position, target in enumerate(mapping):
        if gold_text[position].isspace():
            continue
        gold_out.append(gold_labels[position])
        predicted_out.append(None if target is None else predicted_labels[target])
    return gold_out, predicted_out


def add_counts(total: SpanCounts, more: SpanCounts) -> SpanCounts:
    """Add ``more`` into ``total`` (in place) and return it."""
    for kind, values in more.items():
        row = total.setdefault(kind, [0, 0, 0])
        for k in range(3):
            row[k] += values[k]
    return total


def span_scores(counts: SpanCounts) -> dict[str, Any]:
    """Per-kind P/R/F1 (with gold character support) and their macro average from accumulated counts."""
    kinds = {kind: {**prf1(*values), "support": values[0] + values[2]} for kind, values in counts.items()}
    count = len(kinds) or 1
    macro = {key: sum(k[key] for k in kinds.values()) / count for key in ("precision", "recall", "f1")}
    return {"per_kind": kinds, "macro": macro}
