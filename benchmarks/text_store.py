"""What holding the texts costs: take N articles into ``pipeline.ArticleStore`` (compressed as they come) and sort
it, then read each back READS times (a run reads a text ~5 times: furniture lines, clean, the sides of the two
passes, the wire versions, members and output). Prints the process CPU of each half and the bytes held.

Under callgrind only the two halves are counted (both run under ``functools.reduce``)::

    valgrind --tool=callgrind --toggle-collect=functools_reduce python benchmarks/text_store.py CORPUS 3000 5
"""

from __future__ import annotations

import functools
import itertools
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dedup.model import Article
from dedup.pipeline import ArticleStore


def main() -> None:
    corpus, count, reads = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    with open(corpus, encoding="utf-8") as handle:
        articles = [
            Article(r["id"], r["text"], outlet=r.get("outlet"), published=r.get("published"))
            for r in map(json.loads, itertools.islice(handle, count))
        ]

    def take(_: object, __: object) -> ArticleStore:
        store = ArticleStore()
        for article in articles:
            store.add(article)
        store.sort()
        return store

    def read(store: ArticleStore, _: object) -> ArticleStore:
        for _ in range(reads):
            for index in range(len(store)):
                store.article(index)
        return store

    started = time.process_time()
    store = functools.reduce(take, [0], ArticleStore())
    taken = time.process_time()
    functools.reduce(read, [0], store)
    done = time.process_time()
    raw = sum(len(article.text.encode("utf-8", "surrogatepass")) for article in articles)
    print(
        json.dumps(
            {
                "articles": len(articles),
                "take_cpu_s": round(taken - started, 3),
                "read_cpu_s": round(done - taken, 3),
                "reads": reads * len(articles),
                "raw_bytes": raw,
                "held_bytes": store.texts.nbytes,
            }
        )
    )


if __name__ == "__main__":
    main()
