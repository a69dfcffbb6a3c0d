"""Index benchmark: load N articles, then time single adds and checks on top; SQLite vs Redis vs datasketch.

    PYTHONPATH=. python benchmarks/index.py --corpus CORPUS.jsonl --size 100000 --checks 300 \
        [--batch 500] [--backends sqlite,redis,datasketch-redis,datasketch-memory] [--output JSON]

Without ``--corpus`` a corpus is generated with benchmarks/generate.py (real Reuters/BBC text with
copies, trims, rewrites and distractors). For each dedup backend: loading ``size`` articles with
``add_many`` (``--batch`` articles per transaction; ``--batch 1`` is one ``add`` per transaction) and
its adds/s, then ``add`` latency p50/p99 of ``checks`` more articles one at a time (one transaction
each), ``check`` latency p50/p99 on ``checks`` articles not in the index, and the size of the index per
article (SQLite: file + WAL, with a per-table breakdown; Redis: ``used_memory`` growth).
The datasketch rows are ``MinHashLSH`` (128 permutations, threshold 0.5, word 5-gram shingles) with its
Redis storage and in memory: loading with its ``insertion_session`` (pipelined), then single inserts
and queries of precomputed signatures — candidates only, no alignment or verdict, so they bound what
the LSH lookup alone costs. A Redis server is started on loopback for the run. Writes
benchmarks/results/index-<date>.json (machine, date, commit).

    PYTHONPATH=. python benchmarks/index.py --resume SNAPSHOT.dedup --from 25000 --size 100000 \
        --corpus CORPUS.jsonl [--keep-at 50000,100000 --keep-dir DIR] [--output JSON]

``--resume`` continues a load instead: it copies the SQLite index SNAPSHOT (the first ``--from`` articles of
the corpus, loaded in corpus order; checked: its size and the ids of its first and last article) to a
temporary file and adds articles ``--from`` .. ``--size`` with ``add_many`` (``--batch`` each), printing
and recording the curve every 5,000 articles (absolute counts); at each ``--keep-at`` count a consistent
copy (SQLite's backup API) goes to ``--keep-dir`` for ``index_time.py time``. SNAPSHOT is never written.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPOSITORY = Path(__file__).resolve().parents[1]
SCHEMA = 1


def load_corpus(path: Path | None, size: int, checks: int, seed: int) -> list[dict[str, Any]]:
    """``size + checks`` articles from a JSONL corpus (generated when ``path`` is None)."""
    if path is None:
        folder = Path(tempfile.mkdtemp(prefix="dedup-index-bench-"))
        subprocess.run(
            [
                sys.executable,
                str(REPOSITORY / "benchmarks" / "generate.py"),
                "--size",
                str(size + checks),
                "--seed",
                str(seed),
                "--output",
                str(folder),
            ],
            check=True,
        )
        path = folder / "corpus.jsonl"
    articles = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            articles.append({k: record[k] for k in ("id", "text", "title", "outlet", "published") if k in record})
            if len(articles) >= size + checks:
                break
    return articles


def percentiles(values: Sequence[float]) -> dict[str, float]:
    milliseconds = np.array(values) * 1000
    return {
        "p50_ms": round(float(np.percentile(milliseconds, 50)), 3),
        "p99_ms": round(float(np.percentile(milliseconds, 99)), 3),
        "mean_ms": round(float(milliseconds.mean()), 3),
    }


def timed(calls: Sequence[Callable[[], Any]], process: list[float] | None = None) -> tuple[list[float], float]:
    """Wall-clock latencies and total; each call's process (CPU) time appended to ``process`` when given."""
    latencies = []
    started = time.perf_counter()
    for call in calls:
        begin, begin_cpu = time.perf_counter(), time.process_time()
        call()
        latencies.append(time.perf_counter() - begin)
        if process is not None:
            process.append(time.process_time() - begin_cpu)
    return latencies, time.perf_counter() - started


def index_bytes(target: str, redis_client: Any, memory_before: int) -> int:
    """The index's size now: SQLite file after folding the WAL into it, or Redis ``used_memory`` growth."""
    if redis_client is not None:
        return int(redis_client.info("memory")["used_memory"]) - memory_before
    with sqlite3.connect(target) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return os.path.getsize(target)


def curve_point(
    done: int, started: float, started_cpu: float, last: dict[str, Any], size_bytes: int, since: int | None = None
) -> dict[str, Any]:
    """A point of a load curve at ``done`` articles: wall and process seconds since the load started, those of
    the step since ``last`` per article, bytes an article; for a resumed load (``since``: the articles its
    snapshot held), the rates since the resume too."""
    wall, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    step = max(done - last["articles"], 1)
    point: dict[str, Any] = {
        "articles": done,
        "seconds": round(wall, 1),
        "process_seconds": round(cpu, 1),
        "step_ms_per_article": round((wall - last["seconds"]) * 1000 / step, 1),
        "step_process_ms_per_article": round((cpu - last["process_seconds"]) * 1000 / step, 1),
    }
    if since is not None:
        point["cumulative_per_second"] = round((done - since) / wall, 2)
        point["cumulative_per_process_second"] = round((done - since) / cpu, 2)
    point["bytes_per_article"] = round(size_bytes / done, 1)
    point["load_average_1min"] = round(os.getloadavg()[0], 2)
    return point


def bench_index(
    target: str,
    loaded: list[dict],
    added: list[dict],
    checked: list[dict],
    batch: int,
    redis_client: Any = None,
    report: Callable[[list[dict[str, Any]]], None] | None = None,
    every: int = 5000,
) -> dict[str, Any]:
    """Load, then time single adds and checks; ``report`` gets the load curve (a point every ``every``
    articles: wall and process seconds so far, those of the last step per article, bytes per article)."""
    from dedup.index import Index

    memory_before = int(redis_client.info("memory")["used_memory"]) if redis_client is not None else 0
    curve: list[dict[str, Any]] = []
    with Index.open(target) as index:
        started, started_cpu = time.perf_counter(), time.process_time()
        for begin in range(0, len(loaded), batch):
            index.add_many(loaded[begin : begin + batch])
            done = min(begin + batch, len(loaded))
            if done % every == 0 or done == len(loaded):
                last = curve[-1] if curve else {"articles": 0, "seconds": 0.0, "process_seconds": 0.0}
                size_bytes = index_bytes(target, redis_client, memory_before)
                point = curve_point(done, started, started_cpu, last, size_bytes)
                curve.append(point)
                print(f"  loaded {json.dumps(point)}", file=sys.stderr, flush=True)
                if report is not None:
                    report(curve)
        load_seconds, load_cpu = time.perf_counter() - started, time.process_time() - started_cpu
        add_cpu: list[float] = []
        check_cpu: list[float] = []
        add_latencies, add_seconds = timed([lambda a=a: index.add(a) for a in added], add_cpu)
        check_latencies, _ = timed([lambda a=a: index.check(a) for a in checked], check_cpu)
        matched = sum(bool(index.check(a)["matches"]) for a in checked[:50])
        size = index_bytes(target, redis_client, memory_before)  # SQLite: the WAL folded into the file
        stats = index.stats()
    stored = loaded + added
    text_bytes = sum(len(zlib.compress(json.dumps(a).encode(), 6)) for a in stored)
    result: dict[str, Any] = {
        "articles": len(stored),
        "load": {
            "articles": len(loaded),
            "batch": batch,
            "seconds": round(load_seconds, 1),
            "per_second": round(len(loaded) / max(load_seconds, 1e-9), 1),
            "process_seconds": round(load_cpu, 1),
            "per_process_second": round(len(loaded) / max(load_cpu, 1e-9), 1),
            "curve": curve,
        },
        "add": {**percentiles(add_latencies), "per_second": round(len(added) / add_seconds, 1)},
        "check": percentiles(check_latencies),
        # the CPU time of this process (the other engineers' load counts far less than in wall clock)
        "add_process": percentiles(add_cpu),
        "check_process": percentiles(check_cpu),
        "checked_with_matches_of_50": matched,
        "stored_text_bytes_per_article": round(text_bytes / len(stored), 1),
    }
    added = stored
    sizes = stats["size_bytes"]
    result["size_bytes"] = size
    if redis_client is None:
        result["tables_bytes_per_article"] = {
            name.removeprefix("table:"): round(size / len(added), 1)
            for name, size in sizes.items()
            if name.startswith("table:")
        }
    result["bytes_per_article"] = round(result["size_bytes"] / len(added), 1)
    result["index_bytes_per_article_without_text"] = round(
        result["bytes_per_article"] - result["stored_text_bytes_per_article"], 1
    )
    return result


def backup(source: str, target: Path) -> None:
    """A consistent copy of an open SQLite index (the backup API, then the WAL folded into the copy)."""
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as reader, sqlite3.connect(target) as writer:
        reader.backup(writer)
        writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def resume_load(
    snapshot: Path,
    corpus: Path,
    start: int,
    size: int,
    batch: int,
    keep_at: Sequence[int],
    keep_dir: Path | None,
    report: Callable[[list[dict[str, Any]]], None],
    every: int = 5000,
) -> dict[str, Any]:
    """Continue loading a copy of ``snapshot`` (the corpus's first ``start`` articles) up to ``size``."""
    from dedup.index import Index

    articles = load_corpus(corpus, size, 0, 0)
    folder = Path(tempfile.mkdtemp(prefix="dedup-index-resume-"))
    target = folder / "resume.dedup"
    shutil.copyfile(snapshot, target)
    curve: list[dict[str, Any]] = []
    try:
        with Index.open(str(target)) as index:
            if len(index) != start or articles[0]["id"] not in index or articles[start - 1]["id"] not in index:
                raise SystemExit(f"{snapshot} does not hold the corpus's first {start} articles")
            point = {"articles": start, "seconds": 0.0, "process_seconds": 0.0}
            point["bytes_per_article"] = round(index_bytes(str(target), None, 0) / start, 1)
            curve.append(point)
            started, started_cpu = time.perf_counter(), time.process_time()
            for begin in range(start, size, batch):
                index.add_many(articles[begin : min(begin + batch, size)])
                done = min(begin + batch, size)
                if done % every and done != size:
                    continue
                size_bytes = index_bytes(str(target), None, 0)
                point = curve_point(done, started, started_cpu, curve[-1], size_bytes, since=start)
                curve.append(point)
                print(f"  loaded {json.dumps(point)}", file=sys.stderr, flush=True)
                if keep_dir is not None and done in keep_at:
                    backup(str(target), keep_dir / f"load-{done}.dedup")
                report(curve)
            stats = index.stats()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "snapshot": str(snapshot),
        "from": start,
        "articles": curve[-1]["articles"],
        "batch": batch,
        "curve": curve,
        "tables": stats.get("size_bytes", {}),
    }


def shingle_minhashes(articles: list[dict]) -> list[Any]:
    from datasketch import MinHash

    from dedup.sketch import SCHEME

    signatures = []
    for article in articles:
        words = article["text"].lower().split()
        shingles = {" ".join(words[k : k + 5]).encode() for k in range(max(len(words) - 4, 1))}
        signature = MinHash(num_perm=128, seed=1, scheme=SCHEME)
        signature.update_batch(sorted(shingles))
        signatures.append(signature)
    return signatures


def bench_datasketch(
    storage: dict | None, loaded: list[dict], added: list[dict], checked: list[dict], redis_client: Any = None
) -> dict:
    from datasketch import MinHashLSH

    preloaded, inserted, queried = shingle_minhashes(loaded), shingle_minhashes(added), shingle_minhashes(checked)
    memory_before = int(redis_client.info("memory")["used_memory"]) if redis_client is not None else 0
    options: dict[str, Any] = {"threshold": 0.5, "num_perm": 128}
    if storage is not None:
        options["storage_config"] = storage
    lsh = MinHashLSH(**options)
    started = time.perf_counter()
    with lsh.insertion_session(buffer_size=5000) as session:
        for article, signature in zip(loaded, preloaded, strict=True):
            session.insert(article["id"], signature)
    load_seconds = time.perf_counter() - started
    insert_latencies, insert_seconds = timed(
        [lambda a=a, m=m: lsh.insert(a["id"], m) for a, m in zip(added, inserted, strict=True)]
    )
    query_latencies, _ = timed([lambda m=m: lsh.query(m) for m in queried])
    stored = len(loaded) + len(added)
    result = {
        "articles": stored,
        "load": {
            "articles": len(loaded),
            "batch": "insertion_session",
            "seconds": round(load_seconds, 1),
            "per_second": round(len(loaded) / max(load_seconds, 1e-9), 1),
        },
        "add": {**percentiles(insert_latencies), "per_second": round(len(added) / insert_seconds, 1)},
        "check": percentiles(query_latencies),
    }
    if redis_client is not None:
        result["size_bytes"] = int(redis_client.info("memory")["used_memory"]) - memory_before
        result["bytes_per_article"] = round(result["size_bytes"] / stored, 1)
    return result


def machine() -> dict[str, Any]:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPOSITORY, check=False)
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "commit": commit.stdout.strip() or None,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--size", type=int, default=10000)
    parser.add_argument("--checks", type=int, default=300)
    parser.add_argument("--batch", type=int, default=500, help="articles per add_many transaction while loading")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backends", default="sqlite,redis,datasketch-redis,datasketch-memory")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--keep", type=Path, help="copy the loaded SQLite index here (for profiling)")
    parser.add_argument("--resume", type=Path, help="continue loading a copy of this SQLite index (see above)")
    parser.add_argument("--from", dest="start", type=int, help="articles SNAPSHOT holds (the corpus's first)")
    parser.add_argument("--keep-at", default="", help="comma-separated counts to copy the resumed index at")
    parser.add_argument("--keep-dir", type=Path)
    options = parser.parse_args(argv)
    if options.resume is not None:
        resume_main(options)
        return
    from dedup.store.testing import RedisServer

    articles = load_corpus(options.corpus, options.size + options.checks, options.checks, options.seed)
    loaded = articles[: options.size]
    added = articles[options.size : options.size + options.checks]
    checked = articles[options.size + options.checks :]
    backends = options.backends.split(",")
    results: dict[str, Any] = {}
    document = {
        "schema": SCHEMA,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "corpus": str(options.corpus) if options.corpus else f"benchmarks/generate.py --seed {options.seed}",
        "size": options.size,
        "checks": options.checks,
        "batch": options.batch,
        "shared_machine": "2 cores shared with two other engineers' work during the run",
        "results": results,
    }
    output = options.output or REPOSITORY / "benchmarks" / "results" / f"index-{datetime.now(UTC):%Y-%m-%d}.json"

    def write() -> None:
        output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")

    folder = Path(tempfile.mkdtemp(prefix="dedup-index-bench-"))
    with RedisServer() as server:
        import redis

        client = redis.Redis(host="127.0.0.1", port=server.port)
        for backend in backends:
            started = time.perf_counter()
            load_before = os.getloadavg()[0]
            client.flushall()

            def report(curve: list[dict[str, Any]], backend: str = backend) -> None:
                results[backend] = {"unfinished": True, "load": {"curve": curve}}  # until the backend's run ends
                write()

            if backend == "sqlite":
                results[backend] = bench_index(
                    str(folder / "bench.dedup"), loaded, added, checked, options.batch, report=report
                )
                if options.keep:
                    shutil.copyfile(folder / "bench.dedup", options.keep)
            elif backend == "redis":
                results[backend] = bench_index(server.url, loaded, added, checked, options.batch, client, report)
            elif backend == "datasketch-redis":
                storage = {"type": "redis", "redis": {"host": "127.0.0.1", "port": server.port}}
                results[backend] = bench_datasketch(storage, loaded, added, checked, client)
            elif backend == "datasketch-memory":
                results[backend] = bench_datasketch(None, loaded, added, checked)
            else:
                raise SystemExit(f"unknown backend {backend}")
            results[backend]["seconds"] = round(time.perf_counter() - started, 1)
            # the 1-minute load average of the machine (2 cores, shared) before and after the backend's run
            results[backend]["load_average_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
            print(f"{backend}: {json.dumps(results[backend])}", file=sys.stderr, flush=True)
    header = (
        ("articles", 9),
        ("load/s", 9),
        ("add p50", 10),
        ("add p99", 10),
        ("adds/s", 9),
        ("check p50", 11),
        ("check p99", 11),
    )
    print(f"{'backend':<20}" + "".join(f"{name:>{width}}" for name, width in header) + f"{'B/article':>11}")
    for backend, row in results.items():
        print(
            f"{backend:<20}{row['articles']:>9}{row['load']['per_second']:>9.1f}"
            f"{row['add']['p50_ms']:>10.2f}{row['add']['p99_ms']:>10.2f}"
            f"{row['add']['per_second']:>9.1f}{row['check']['p50_ms']:>11.2f}{row['check']['p99_ms']:>11.2f}"
            f"{row.get('bytes_per_article', float('nan')):>11.0f}"
        )
    write()
    print(f"wrote {output}", file=sys.stderr)


def resume_main(options: argparse.Namespace) -> None:
    if options.corpus is None or options.start is None:
        raise SystemExit("--resume needs --corpus and --from")
    output = options.output or REPOSITORY / "benchmarks" / "results" / f"index-{datetime.now(UTC):%Y-%m-%d}-resume.json"
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "corpus": str(options.corpus),
        "size": options.size,
        "batch": options.batch,
        "shared_machine": "2 cores shared with other work during the run",
    }

    def report(curve: list[dict[str, Any]]) -> None:
        document["sqlite"] = {"unfinished": True, "curve": curve}
        output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")

    keep_at = [int(count) for count in options.keep_at.split(",") if count]
    if options.keep_dir is not None:
        options.keep_dir.mkdir(parents=True, exist_ok=True)
    result = resume_load(
        options.resume, options.corpus, options.start, options.size, options.batch, keep_at, options.keep_dir, report
    )
    document["sqlite"] = result
    output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
