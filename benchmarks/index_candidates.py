"""Where an index check's candidates come from: article band keys, sentence band keys, TF-IDF neighbours.

    PYTHONPATH=. python benchmarks/index_candidates.py INDEX CORPUS.jsonl --first 20300 --checks 200 \
        --output benchmarks/results/index-candidates-....json

Checks ``--checks`` articles of the corpus from line ``--first`` (articles not in the index) against a
copy-free read of INDEX (``check`` stores nothing) and counts, per check: the stored articles sharing an
article band key, a sentence band key, the TF-IDF neighbours (``Index._neighbours`` of the code under test),
those found by sentence keys only and, of them, how many fail the batch's verification
(the batch's ``banded_pairs(verify=True)`` over the two articles' sentence rows does not pair them)
and how many of those the check aligned, related or kept as weak pairs, and how many sentence-only ones pass
the same test on the low 2, 4 and 8 bits of every signature value (schema 7 stores the low byte: an exact
pre-filter, the rest are verified in full), and how many of the article's sentence rows were left out as stock
(since stop 19; 0 before). Prints the means as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dedup.candidates import banded_pairs
from dedup.index import Index
from dedup.sketch import article_shingles, sentence_stem_sets
from dedup.store.features import band_keys, sentences_agree_each, signatures

LOW_BITS = (2, 4, 8)  # b-bit signatures: how many sentence-only collisions pass the test on the low b bits


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index")
    parser.add_argument("corpus")
    parser.add_argument("--first", type=int, required=True)
    parser.add_argument("--checks", type=int, default=200)
    parser.add_argument("--output")
    args = parser.parse_args(argv)
    records: list[dict[str, Any]] = []
    articles = []
    with open(args.corpus, encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if number < args.first:
                continue
            if len(articles) >= args.checks:
                break
            record = json.loads(line)
            articles.append({k: record[k] for k in ("id", "text", "title", "outlet", "published") if k in record})
    index = Index.open(args.index)
    size = len(index)
    sketch_settings = index.settings.sketch
    threshold = index.settings.candidates.sentence_threshold
    article_banding, sentence_banding = index._article_banding, index._sentence_banding
    judge, may_relate = Index._judge_candidates, Index._may_relate
    possible: dict[str, bool] = {}

    def sentence_rows(cleaned: Any) -> np.ndarray:
        return signatures(sentence_stem_sets(cleaned, sketch_settings.min_sentence_stems), sentence_banding)

    def spy_may_relate(self: Index, prepared: Any, others: list[Any], cosines: list[Any]) -> list[bool]:
        found = may_relate(self, prepared, others, cosines)
        possible.clear()
        possible.update({other.cleaned.id: flag for other, flag in zip(others, found, strict=True)})
        return found

    def spy_judge(self: Index, session: Any, evaluation: Any, **options: Any) -> None:
        possible.clear()
        begin = time.process_time()
        judge(self, session, evaluation, **options)  # ``screen=True`` since stop 16 (a check's screen)
        spent = time.process_time() - begin
        cleaned = evaluation.prepared.cleaned
        article_rows = signatures([article_shingles(cleaned, sketch_settings.shingle_size)], article_banding)
        rows_x = sentence_rows(cleaned)
        by_article = session.lookup(band_keys(article_rows, article_banding, b"a"))
        by_sentence = session.lookup(band_keys(rows_x, sentence_banding, b"s"))
        terms, radius = evaluation.terms, evaluation.radius if hasattr(evaluation, "radius") else None
        by_neighbours = self._neighbours(session, evaluation)
        evaluation.terms = terms
        if radius is not None:
            evaluation.radius = radius
        sentence_only = by_sentence - by_article - by_neighbours
        read = session.articles(sentence_only)
        failing = set()
        passing_low = dict.fromkeys(LOW_BITS, 0)  # pass the test on the low b bits of every value
        for key, row in read.items():
            prepared = self._prepare_row(row, self._furniture_of(evaluation, row))
            rows_o = sentence_rows(prepared.cleaned)
            owners = np.array([0] * len(rows_x) + [1] * len(rows_o), dtype=np.int64)
            if not banded_pairs(np.vstack([rows_x, rows_o]), owners, threshold, verify=True):
                failing.add(key)
            for bits in LOW_BITS:
                mask = np.uint32((1 << bits) - 1)
                low = sentences_agree_each(rows_x & mask, [rows_o & mask], sentence_banding, threshold)
                passing_low[bits] += low[0]
        ids = {key: row.article.id for key, row in evaluation.rows.items()}
        aligned = {key for key, name in ids.items() if possible.get(name)}
        records.append(
            {
                "candidates": len(evaluation.rows),
                "sentence_rows": len(rows_x),
                "stock_rows": getattr(evaluation, "stock", 0),  # left out as stock (since stop 19)
                "article_keys": len(by_article),
                "sentence_keys": len(by_sentence),
                "tfidf_neighbours": len(by_neighbours),
                "sentence_keys_only": len(sentence_only),
                "sentence_keys_only_failing_verification": len(failing),
                **{f"sentence_keys_only_passing_low_{bits}_bits": passing_low[bits] for bits in LOW_BITS},
                "failing_and_candidates": len(failing & set(ids)),
                "failing_aligned": len(failing & aligned),
                "failing_related": len(failing & set(evaluation.verdicts)),
                "failing_weak": len(failing & set(evaluation.weak)),
                "aligned": len(aligned),
                "related": len(evaluation.verdicts),
                "weak": len(evaluation.weak),
                "judge_process_ms": 1000 * spent,
            }
        )

    Index._judge_candidates = spy_judge  # type: ignore[method-assign]
    Index._may_relate = spy_may_relate  # type: ignore[method-assign]
    try:
        for article in articles:
            index.check(article)
    finally:
        Index._judge_candidates, Index._may_relate = judge, may_relate  # type: ignore[method-assign]
        index.close()
    summary = {key: round(float(np.mean([r[key] for r in records])), 3) for key in records[0]}
    summary["judge_process_ms_p50"] = round(float(np.median([r["judge_process_ms"] for r in records])), 3)
    result = {"index": args.index, "articles": size, "checks": len(records), **summary}
    print(json.dumps(result))
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
