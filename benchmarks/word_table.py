"""The word-feature cache as a dict of arrays against the frozen :class:`similarity.WordTable`: bytes held, and the
CPU of ``similarity.sentence_counts`` (what a pass worker's side preparation calls) reading either.

    python benchmarks/word_table.py CORPUS.jsonl [--articles 2000] [--batch 50] [--rounds 3]

Cleans the corpus's first ``--articles`` articles in this process, hashes their words into the cache
(``sentence_counts`` of them all, under ``tracemalloc``: the dict's bytes with the arrays it holds), freezes
it (``freeze_word_features``: the table's arrays and set), then times ``sentence_counts`` over batches of
``--batch`` articles, the dict and the table alternating ``--rounds`` times (process CPU seconds; the same
counts both ways, checked). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dedup import similarity
from dedup.clean import clean_article
from dedup.read.files import stream_path


def _timed(batches: list[Any]) -> tuple[float, list[Any]]:
    started = time.process_time()
    found = [similarity.sentence_counts(batch) for batch in batches]
    return time.process_time() - started, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    articles = list(itertools.islice(stream_path(args.corpus).articles, args.articles))
    cleaned = [clean_article(article, frozenset()) for article in articles]
    batches = [cleaned[begin : begin + args.batch] for begin in range(0, len(cleaned), args.batch)]
    similarity._WORD_FEATURES.clear()
    similarity._WORD_TABLE = None
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    similarity.sentence_counts(cleaned)  # every word hashed into the cache
    dict_bytes = tracemalloc.get_traced_memory()[0] - before
    words = len(similarity._WORD_FEATURES)
    tracemalloc.stop()
    cache = dict(similarity._WORD_FEATURES)
    similarity.freeze_word_features()
    table = similarity._WORD_TABLE
    assert table is not None
    table_bytes = sum(array.nbytes for array in (table.flat, table.hashes, table.offsets)) + sys.getsizeof(table.words)
    seconds: dict[str, list[float]] = {"dict": [], "table": []}
    for _ in range(args.rounds):
        similarity._WORD_TABLE, similarity._WORD_FEATURES = None, cache
        spent, by_dict = _timed(batches)
        seconds["dict"].append(round(spent, 3))
        similarity._WORD_TABLE, similarity._WORD_FEATURES = table, {}
        spent, by_table = _timed(batches)
        seconds["table"].append(round(spent, 3))
        for one, other in zip(by_dict, by_table, strict=True):
            assert (one != other).nnz == 0 and np.array_equal(one.indices, other.indices)
    print(
        json.dumps(
            {
                "articles": len(cleaned),
                "words": words,
                "table_words": len(table),
                "dict_bytes": dict_bytes,  # the cache's arrays and entries (its dict's table included)
                "table_bytes": table_bytes,  # the table's arrays and its set of words (the words are the same strings)
                "batches": len(batches),
                "cpu_s": seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
