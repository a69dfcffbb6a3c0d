"""Index process time on a prebuilt index: build a base once, then time checks and adds on copies of it.

    PYTHONPATH=. python benchmarks/index_time.py build BASE.dedup CORPUS.jsonl --size 10000 [--batch 500]
    PYTHONPATH=. python benchmarks/index_time.py time BASE.dedup CORPUS.jsonl --first 10000 \
        [--warmup 50] [--checks 200] [--adds 100] [--label after] [--output JSON]
    PYTHONPATH=. python benchmarks/index_time.py refresh OLD.dedup CORPUS.jsonl --to NEW.dedup

``build`` loads the first ``--size`` articles of the corpus with ``add_many`` (``--batch`` per transaction) and
prints the load's wall and process time and the file's size per article. ``time`` copies BASE to a temporary file (a
``redis://`` BASE is used as it is: its adds stay), checks ``--warmup`` articles from line ``--first`` (not timed),
times ``--checks`` checks of the articles after them, then ``--adds`` more articles with ``add_many`` in batches of
50, and reports the process (CPU) time of this process per check (mean, p50, p99) and per added article, with wall
clock beside it, and the cyclic garbage collector's share (``gc.callbacks``: its process time per check, the
generation-2 collections and the longest one) with the process's peak RSS and the objects the collector tracks (and
has frozen) at the end. Run every timed run under ``flock /tmp/bench.lock``; alternate before and after. ``refresh``
copies an index made before a change of the grouping rules to ``--to`` with its cluster records made again by the
code under test (CORPUS is not read), so that timings are not of stale records.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def read_articles(path: str, first: int, count: int) -> list[dict[str, Any]]:
    articles = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if number < first:
                continue
            if len(articles) >= count:
                break
            record = json.loads(line)
            articles.append({k: record[k] for k in ("id", "text", "title", "outlet", "published") if k in record})
    return articles


def file_size(path: str) -> int:
    """The SQLite file's size after a checkpoint of its WAL; a Redis index: the server's ``used_memory``."""
    if path.startswith("redis://"):
        from dedup.index import open_backend

        backend = open_backend(path)
        try:
            return backend.size_bytes()["used_memory"]
        finally:
            backend.close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return os.path.getsize(path)


def build(args: argparse.Namespace) -> dict[str, Any]:
    from dedup.index import Index

    articles = read_articles(args.corpus, 0, args.size)
    started, started_cpu = time.perf_counter(), time.process_time()
    with Index.open(args.index) as index:
        for begin in range(0, len(articles), args.batch):
            index.add_many(articles[begin : begin + args.batch])
            done = min(begin + args.batch, len(articles))
            size = f", {file_size(args.index) / done:.0f} B/article" if done % 5000 == 0 else ""
            print(
                f"  {done} in {time.perf_counter() - started:.0f} s wall, "
                f"{time.process_time() - started_cpu:.0f} s process{size}",
                file=sys.stderr,
                flush=True,
            )
        stats = index.stats()
    wall, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    size = file_size(args.index)
    text = sum(len(zlib.compress(json.dumps(a).encode(), 6)) for a in articles)
    return {
        "mode": "build",
        "articles": len(articles),
        "batch": args.batch,
        "seconds": round(wall, 1),
        "process_seconds": round(cpu, 1),
        "per_second": round(len(articles) / wall, 2),
        "per_process_second": round(len(articles) / cpu, 2),
        "bytes_per_article": round(size / len(articles), 1),
        "stored_text_bytes_per_article": round(text / len(articles), 1),
        "tables": stats.get("size_bytes", {}),
    }


def refresh(args: argparse.Namespace) -> dict[str, Any]:
    """A copy of INDEX (``--to``) whose stored cluster records are made again, component by component, with the
    grouping and cluster rules of the code under test (``Index.regroup``, ``dedup index regroup``): what a build
    with this code stores, up to the statistics of the moment in pairs judged then. An index made before a change of
    those rules (stop 17's support both ways, 2053e06) holds records of the old groups, which every check and add
    joining the component then remakes in full."""
    from dedup.index import Index

    shutil.copyfile(args.index, args.to)
    started, started_cpu = time.perf_counter(), time.process_time()
    with Index.open(args.to) as index:
        done = index.regroup()
    components, changed = done["components"], done["changed"]
    return {
        "mode": "refresh",
        "components": components,
        "components_with_other_records": changed,
        "seconds": round(time.perf_counter() - started, 1),
        "process_seconds": round(time.process_time() - started_cpu, 1),
        "to": args.to,
    }


def summary(values: list[float]) -> dict[str, float]:
    milliseconds = np.array(values) * 1000
    return {
        "mean_ms": round(float(milliseconds.mean()), 2),
        "p50_ms": round(float(np.percentile(milliseconds, 50)), 2),
        "p99_ms": round(float(np.percentile(milliseconds, 99)), 2),
        "max_ms": round(float(milliseconds.max()), 2),
    }


class Collections:
    """The collector's process time (``gc.callbacks``): each collection's generation and duration."""

    def __init__(self) -> None:
        self.done: list[tuple[int, float]] = []
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.process_time()
        else:
            self.done.append((info["generation"], time.process_time() - self._began))

    def summary(self, during: list[tuple[int, int]]) -> dict[str, Any]:
        """Over the collections ``during[i]`` (slices of ``done``) of each check."""
        per_check = [sum(seconds for _, seconds in self.done[a:b]) for a, b in during]
        full = [seconds for a, b in during for generation, seconds in self.done[a:b] if generation == 2]
        return {
            "ms_per_check": round(1000 * sum(per_check) / max(len(per_check), 1), 2),
            "generation_2": len(full),
            "generation_2_ms": round(1000 * sum(full), 1),
            "longest_ms": round(1000 * max((s for _, s in self.done), default=0.0), 1),
            "checks_with_over_20_ms": sum(seconds > 0.02 for seconds in per_check),
        }


def timing(args: argparse.Namespace) -> dict[str, Any]:
    from dedup.index import Index

    articles = read_articles(args.corpus, args.first, args.warmup + args.checks + args.adds)
    warm, checked = articles[: args.warmup], articles[args.warmup : args.warmup + args.checks]
    added = articles[args.warmup + args.checks :]
    folder = Path(tempfile.mkdtemp(prefix="dedup-index-time-"))
    copy: Path | str = folder / "index.dedup"
    if args.index.startswith("redis://"):
        copy = args.index  # not copied: the adds stay in it (time a Redis index once, or rebuild it)
    else:
        shutil.copyfile(args.index, copy)
    try:
        load_before = os.getloadavg()[0]
        collections = Collections()
        with Index.open(str(copy)) as index:
            for article in warm:
                index.check(article)
            check_cpu, check_wall, matched, during = [], [], 0, []
            gc.callbacks.append(collections)
            for article in checked:
                first = len(collections.done)
                begin, begin_cpu = time.perf_counter(), time.process_time()
                verdict = index.check(article)
                check_cpu.append(time.process_time() - begin_cpu)
                check_wall.append(time.perf_counter() - begin)
                during.append((first, len(collections.done)))
                matched += bool(verdict["matches"])
            gc.callbacks.remove(collections)
            begin, begin_cpu = time.perf_counter(), time.process_time()
            for start in range(0, len(added), 50):
                index.add_many(added[start : start + 50])
            add_cpu, add_wall = time.process_time() - begin_cpu, time.perf_counter() - begin
        return {
            "mode": "time",
            "label": args.label,
            "index_articles": args.first,
            "warmup": args.warmup,
            "checks": len(checked),
            "checked_with_matches": matched,
            "check_process": summary(check_cpu),
            "check_wall": summary(check_wall),
            "adds": len(added),
            "add_process_ms_per_article": round(add_cpu * 1000 / max(len(added), 1), 2),
            "add_wall_ms_per_article": round(add_wall * 1000 / max(len(added), 1), 2),
            "collector": collections.summary(during),
            # each timed check's process time and the collector's share of it, ms (the tail, check by check)
            "check_process_ms": [round(1000 * seconds, 1) for seconds in check_cpu],
            "check_collector_ms": [
                round(1000 * sum(seconds for _, seconds in collections.done[a:b]), 1) for a, b in during
            ],
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "tracked_objects": len(gc.get_objects()),
            "frozen_objects": gc.get_freeze_count(),
            "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("build", "time", "refresh"))
    parser.add_argument("index")
    parser.add_argument("corpus")
    parser.add_argument("--size", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--first", type=int, default=10000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--checks", type=int, default=200)
    parser.add_argument("--adds", type=int, default=100)
    parser.add_argument("--label", default="")
    parser.add_argument("--to", help="refresh: the copy to write")
    parser.add_argument("--output")
    args = parser.parse_args(argv)
    result = {"build": build, "time": timing, "refresh": refresh}[args.mode](args)
    import dedup

    result["code"] = str(Path(dedup.__file__).parents[1])
    result["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    result["index"] = args.index
    result["corpus"] = args.corpus
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
