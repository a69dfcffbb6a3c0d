"""The TF-IDF neighbour search on its own: the exact search against the pruned one, on a generated corpus.

    python benchmarks/tfidf_search.py --corpus /tmp/dedup-scale/corpus-10000-s1-pool2 [--guarantees 0.5,0.7]

Builds the article vectors the pipeline builds (furniture lines, ``clean_article``, ``article_vectors``; one
process), then times ``candidates.tfidf_pairs`` exact and at each guarantee (CPU seconds: compare those on a
shared machine), and reports the pruned search's recall of the exact pairs and of the truth pairs
(``truth.json``) that the exact search finds. Prints a table and writes JSON
(benchmarks/results/tfidf-search-<date>.json unless ``--output``). docs/scale.md (stop 14) holds the figures
measured with it, and the methods that did not pay (pynndescent, SVD + faiss, dropping common stems).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dedup.candidates import CandidateSettings, tfidf_pairs
from dedup.clean import clean_article, frequent_lines, short_line_counts
from dedup.read import read_path
from dedup.similarity import article_vectors


def truth_pairs(truth_path: Path, position: dict[str, int]) -> set[tuple[int, int]]:
    """Every pair of members of one generated story, as article positions (smaller first)."""
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    pairs: set[tuple[int, int]] = set()
    for story in truth["clusters"]:
        members = sorted(position[member["id"]] for member in story["members"] if member["id"] in position)
        pairs.update((a, b) for k, a in enumerate(members) for b in members[k + 1 :])
    return pairs


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True, help="a generate.py folder (corpus.jsonl, truth.json)")
    parser.add_argument("--guarantees", default="0.5,0.7", help="pruned searches to time, comma-separated")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    settings = CandidateSettings()
    read = read_path(args.corpus / "corpus.jsonl")
    articles = sorted(read.articles, key=lambda article: article.id)  # the pipeline's order
    started = time.process_time()
    counts: Counter[str] = Counter(short_line_counts(article.text for article in articles))
    repeated = frequent_lines(counts, 3)
    cleaned = [clean_article(article, repeated) for article in articles]
    vectors = article_vectors(cleaned)
    prepare_cpu = time.process_time() - started
    position = {article.id: k for k, article in enumerate(articles)}
    truth = truth_pairs(args.corpus / "truth.json", position)

    rows = []
    exact: set[tuple[int, int]] = set()
    for guarantee in [0.0, *(float(value) for value in args.guarantees.split(",") if value)]:
        wall, cpu = time.perf_counter(), time.process_time()
        found = tfidf_pairs(
            vectors, settings.tfidf_neighbours, settings.tfidf_threshold, guarantee=guarantee, pool=settings.tfidf_pool
        )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if guarantee == 0.0:
            exact = found
        rows.append(
            {
                "method": "exact" if guarantee == 0.0 else f"pruned {guarantee}",
                "guarantee": guarantee,
                "wall_seconds": round(wall, 2),
                "cpu_seconds": round(cpu, 2),
                "pairs": len(found),
                "recall_of_exact": round(len(found & exact) / max(len(exact), 1), 4),
                "truth_pairs_of_exact_found": len(found & exact & truth),
            }
        )
    found_truth = len(exact & truth)
    print(f"{len(articles)} articles, vectors in {prepare_cpu:.1f} CPU s; exact search: {found_truth} truth pairs")
    print(f"{'method':<14} {'CPU s':>8} {'wall s':>8} {'pairs':>9} {'recall':>8} {'truth':>7}")
    for row in rows:
        print(
            f"{row['method']:<14} {row['cpu_seconds']:>8.2f} {row['wall_seconds']:>8.2f} {row['pairs']:>9} "
            f"{row['recall_of_exact']:>8.4f} {row['truth_pairs_of_exact_found']:>7}"
        )
    now = datetime.now(UTC)
    document = {
        "benchmark": "tfidf-search",
        "date": now.isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "corpus": str(args.corpus),
        "articles": len(articles),
        "prepare_cpu_seconds": round(prepare_cpu, 2),
        "rows": rows,
    }
    output = args.output or Path(__file__).parent / "results" / f"tfidf-search-{now:%Y-%m-%d}.json"
    output.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
