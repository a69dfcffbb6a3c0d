"""METER span diagnosis: where the gold rewrite (and every other gold kind of) character goes, and why.

    PYTHONPATH=. python benchmarks/meter_spans.py --data ../shared/data/meter/dev [--set name=value ...]
        [--examples N] [--output JSON]

One ``cluster(...)`` run as ``benchmarks/meter.py`` makes it, then, over the 288 span-annotated papers (whitespace
ignored), every gold character is put in one cell:

- the predicted label (verbatim / rewrite / new);
- for a predicted new character, why it is new: the paper is not derived (only strict passages), the character is
  outside every evidence unit (boilerplate, a headline), its unit holds no passage at all (a whole unit missed), or
  the unit holds passages elsewhere (a boundary: the unit is aligned, this part is not).

The same for the predicted rewrite characters by gold label, with whether the gold unit holds any reuse at all (a
new sentence called rewrite, or a boundary inside a reused one). Prints the tables and a few examples of each kind
of error; ``--output`` writes the counts as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.meter import (
    KINDS,
    Prediction,
    halves,
    is_pa,
    load_gold,
    load_texts,
    parse_overrides,
    predicted_span_labels,
    run_tool,
)
from benchmarks.metrics import map_nonspace, paint_spans
from dedup.clean import clean_article, repeated_lines
from dedup.model import Article
from dedup.pipeline import Settings

log = logging.getLogger("benchmarks.meter_spans")

NEW_REASONS = ("not-derived", "outside-units", "unit-missed", "unit-boundary")


def unit_of_chars(length: int, units: list[tuple[int, int]]) -> list[int]:
    """For each character of a text of ``length``, the index of the evidence unit holding it (-1 outside)."""
    index = [-1] * length
    for number, (begin, end) in enumerate(units):
        for position in range(begin, min(end, length)):
            index[position] = number
    return index


def diagnose(
    data: Path,
    overrides: dict[str, Any],
    examples: int = 3,
    stories: set[str] | None = None,
    limit_stories: int | None = None,
) -> dict[str, Any]:
    """Run the tool on ``data`` and return the character cells (see the module docstring) and examples; ``stories``:
    count only the papers of these stories (the run holds all); ``limit_stories``: run on the first N stories only."""
    texts = load_texts(data, limit_stories)
    gold = [row for row in load_gold(data, texts.keys()) if row.get("spans")]
    if stories is not None:
        gold = [row for row in gold if row["story"] in stories]
    settings = Settings().with_overrides(**overrides)
    result, _ = run_tool(texts, overrides)
    prediction = Prediction(result)
    repeated = repeated_lines((t for t, _ in texts.values()), min_articles=settings.boilerplate_min_articles)
    cells: Counter[tuple[str, str, str]] = Counter()  # (gold, predicted, reason)
    predicted_rewrite: Counter[tuple[str, str]] = Counter()  # (gold, whether the gold unit holds reuse)
    unit_examples: dict[str, list[dict[str, Any]]] = {}
    for row in gold:
        paper = row["id"]
        text = texts[paper][0]
        cleaned = clean_article(
            Article(id=paper, text=text), repeated, keep_wrapped_repeated=settings.keep_wrapped_repeated_lines
        )
        units = [s.span for s in cleaned.sentences]
        unit_at = unit_of_chars(len(text), units)
        predicted = predicted_span_labels(paper, text, prediction)
        in_passage = paint_spans(
            len(text),
            [
                (p.target_span[0], p.target_span[1], "x")
                for p in prediction.passages_into.get(paper, [])
                if is_pa(p.source)
            ],
            default=None,
            priority={"x": 0},
        )
        unit_has_passage = {unit_at[k] for k in range(len(text)) if in_passage[k] is not None and unit_at[k] >= 0}
        derived = prediction.binary(paper) == "derived"
        gold_text = row["span_text"]
        gold_labels = paint_spans(len(gold_text), [tuple(s) for s in row["spans"]], default=None)
        mapping = map_nonspace(gold_text, text)
        unit_gold: dict[int, Counter[str]] = {}
        pairs = []
        for position, target in enumerate(mapping):
            if gold_text[position].isspace() or gold_labels[position] is None or target is None:
                continue
            unit = unit_at[target]
            unit_gold.setdefault(unit, Counter())[gold_labels[position]] += 1
            pairs.append((gold_labels[position], target, unit))
        unit_cells: dict[int, Counter[tuple[str, str]]] = {}
        for label, target, unit in pairs:
            guess = predicted[target] or "new"
            reason = ""
            if guess == "new":
                if not derived:
                    reason = "not-derived"
                elif unit < 0:
                    reason = "outside-units"
                elif unit not in unit_has_passage:
                    reason = "unit-missed"
                else:
                    reason = "unit-boundary"
            cells[(label, guess, reason)] += 1
            if guess == "rewrite":
                reused = unit_gold.get(unit, Counter())
                predicted_rewrite[
                    (label, "gold unit reused" if reused["verbatim"] + reused["rewrite"] else "gold unit new")
                ] += 1
            unit_cells.setdefault(unit, Counter())[(label, guess + (":" + reason if reason else ""))] += 1
        for unit, counts in unit_cells.items():
            if unit < 0:
                continue
            begin, end = units[unit]
            kinds = {
                "rewrite-as-new-missed": counts[("rewrite", "new:unit-missed")],
                "rewrite-as-new-boundary": counts[("rewrite", "new:unit-boundary")],
                "rewrite-as-verbatim": counts[("rewrite", "verbatim")],
                "new-as-rewrite": counts[("new", "rewrite")],
            }
            for kind, count in kinds.items():
                if count >= 20:
                    unit_examples.setdefault(kind, []).append(
                        {
                            "paper": paper,
                            "chars": count,
                            "unit": text[begin:end],
                            "predicted": _bracketed(text, begin, end, predicted),
                            "gold": _gold_bracketed(gold_text, gold_labels, mapping, begin, end),
                        }
                    )
    for kind in unit_examples:
        unit_examples[kind].sort(key=lambda e: -e["chars"])
        unit_examples[kind] = unit_examples[kind][: max(examples, 0) * 5]
    return {"cells": cells, "predicted_rewrite": predicted_rewrite, "examples": unit_examples, "n_papers": len(gold)}


MARKS = {"verbatim": ("[", "]"), "rewrite": ("{", "}"), "new": ("", "")}


def _bracketed(text: str, begin: int, end: int, labels: Sequence[str | None]) -> str:
    """``text[begin:end]`` with verbatim runs in [brackets] and rewrite runs in {braces}."""
    out: list[str] = []
    current = "new"
    for k in range(begin, end):
        label = labels[k] or "new"
        if text[k].isspace() and k + 1 < end and (labels[k + 1] or "new") == current:
            label = current
        if label != current:
            out.append(MARKS[current][1] + MARKS[label][0])
            current = label
        out.append(text[k])
    out.append(MARKS[current][1])
    return "".join(out)


def _gold_bracketed(
    gold_text: str, gold_labels: Sequence[str | None], mapping: Sequence[int | None], begin: int, end: int
) -> str:
    """The gold labelling of the gold characters that map into ``[begin, end)`` of the paper, marked as above."""
    positions = [k for k, target in enumerate(mapping) if target is not None and begin <= target < end]
    if not positions:
        return ""
    first, last = positions[0], positions[-1] + 1
    return _bracketed(gold_text, first, last, [label or "new" for label in gold_labels])


def render(report: dict[str, Any]) -> str:
    cells: Counter[tuple[str, str, str]] = report["cells"]
    lines = [f"{report['n_papers']} annotated papers; gold rows, predicted columns (characters, whitespace ignored)"]
    header = (
        f"  {'gold':<9}{'total':>9}"
        + "".join(f"{k:>10}" for k in ("verbatim", "rewrite"))
        + "".join(f"{'new:' + r:>18}" for r in NEW_REASONS)
    )
    lines.append(header)
    for label in KINDS:
        total = sum(v for (g, _, _), v in cells.items() if g == label)
        values = [cells[(label, "verbatim", "")], cells[(label, "rewrite", "")]] + [
            cells[(label, "new", r)] for r in NEW_REASONS
        ]
        lines.append(
            f"  {label:<9}{total:>9}"
            + "".join(f"{v:>10}" for v in values[:2])
            + "".join(f"{v:>18}" for v in values[2:])
        )
    lines.append("predicted rewrite characters by gold label and whether the gold unit holds any reuse:")
    for (label, where), count in sorted(report["predicted_rewrite"].items()):
        lines.append(f"  gold {label:<9} {where:<17} {count:>8}")
    for kind, items in report["examples"].items():
        lines.append(f"\n== {kind}: units with the most such characters")
        for item in items[:3]:
            lines.append(f"  {item['paper']} ({item['chars']} chars)")
            lines.append(f"    predicted: {item['predicted']!r}")
            lines.append(f"    gold:      {item['gold']!r}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--examples", type=int, default=3)
    parser.add_argument("--half", choices=("odd", "even"), default=None, help="only the stories of one half")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    data = args.data.resolve()
    stories = None
    if args.half:
        stories = halves(load_gold(data, load_texts(data).keys()))[args.half]
    report = diagnose(data, parse_overrides(args.overrides), args.examples, stories)
    print(render(report))
    if args.output:
        args.output.write_text(
            json.dumps(
                {
                    "cells": [[*key, value] for key, value in sorted(report["cells"].items())],
                    "predicted_rewrite": [[*key, value] for key, value in sorted(report["predicted_rewrite"].items())],
                    "examples": report["examples"],
                },
                indent=1,
                ensure_ascii=False,
            )
            + "\n"
        )
    return report


if __name__ == "__main__":
    main()
