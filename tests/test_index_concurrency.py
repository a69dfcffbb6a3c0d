"""The index under kill -9 and under 8 concurrent writer processes (SQLite file and real Redis)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import dedup
from dedup.index import Index
from dedup.store.errors import StoreError

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"

WORKER = """
import json, sys
from dedup.index import Index
target, path = sys.argv[1], sys.argv[2]
with open(path, encoding="utf-8") as handle:
    articles = json.load(handle)
with Index.open(target) as index:
    for article in articles:
        verdict = index.add(article)
        print(article["id"], verdict["added"], flush=True)
"""


def corpus() -> list[dict[str, str]]:
    """The seeds and edited copies of them (dropped paragraph, new line on top): clusters to find."""
    articles = []
    for path in sorted(SEEDS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        paragraphs = [p for p in text.split("\n\n") if p.strip()]
        articles.append({"id": path.stem, "text": text})
        for k in range(4):
            kept = [p for i, p in enumerate(paragraphs) if i != 1 + k] if len(paragraphs) > 3 else paragraphs
            edited = f"Syndicated copy number {k} from our partners.\n\n" + "\n\n".join(kept)
            articles.append({"id": f"{path.stem}-copy{k}", "text": edited, "published": f"2022-10-0{k + 1}"})
    return articles


def relations(index: Index, articles: list[dict]) -> dict:
    found = {}
    for article in articles:
        for match in index.check(article)["matches"]:
            found[tuple(sorted((article["id"], match["id"])))] = (match["relation"], match["score"])
    return found


def memberships(index: Index, articles: list[dict]) -> set[tuple[str, ...]]:
    groups = set()
    for article in articles:
        cluster = index.cluster(article["id"])
        if cluster:
            groups.add(tuple(sorted(m["id"] for m in cluster["members"])))
    return groups


def start_worker(target: str, articles: list[dict], folder: Path, env: dict | None = None) -> subprocess.Popen:
    path = folder / f"articles-{uuid.uuid4().hex}.json"
    path.write_text(json.dumps(articles), encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, target, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def kill_and_resume(target: str, articles: list[dict], folder: Path, rounds: int, env: dict | None = None) -> None:
    """Kill a writer at random moments; after each kill every acknowledged add must be in a sound index."""
    chance = random.Random(5)
    acknowledged: set[str] = set()
    for _ in range(rounds):
        worker = start_worker(target, articles, folder, env)
        time.sleep(chance.uniform(1.5, 3.0))  # imports take about a second; then adds
        worker.kill()  # SIGKILL: no cleanup at all
        output, _ = worker.communicate()
        acknowledged |= {line.split()[0] for line in output.splitlines() if line.strip()}
        with Index.open(target) as index:
            missing = [a for a in acknowledged if a not in index]
            assert not missing, f"acknowledged adds lost: {missing}"
            assert index.verify() == []
    worker = start_worker(target, articles, folder, env)
    output, errors = worker.communicate(timeout=300)
    assert worker.returncode == 0, errors


def test_kill_9_sqlite_loses_nothing_and_stays_consistent(tmp_path: Path) -> None:
    articles = corpus()
    killed = str(tmp_path / "killed.dedup")
    kill_and_resume(killed, articles, tmp_path, rounds=6)
    straight = str(tmp_path / "straight.dedup")
    with Index.open(straight) as index:
        for article in articles:
            index.add(article)
        expected = relations(index, articles), memberships(index, articles)
    with Index.open(killed) as index:
        assert len(index) == len(articles)
        assert index.verify() == []
        # killed and resumed in the same order: exactly the verdicts of an uninterrupted run
        assert (relations(index, articles), memberships(index, articles)) == expected


def test_kill_9_redis_loses_nothing_and_stays_consistent(redis_url: str, tmp_path: Path) -> None:
    articles = corpus()
    target = f"{redis_url}?prefix=k{uuid.uuid4().hex}"
    kill_and_resume(target, articles, tmp_path, rounds=3, env={"DEDUP_REDIS_LOCK_MS": "1500"})
    with Index.open(target) as index:
        assert len(index) == len(articles)
        assert index.verify() == []


FIRST_ADD = """
import json, sys
import dedup.store.sqlite as store
from dedup.index import Index
target, text = sys.argv[1], sys.argv[2]
loaded_when_locked = []
taking = store.SQLiteBackend._transaction
def watched(self, begin):
    if begin == "BEGIN IMMEDIATE":
        loaded_when_locked.append("dedup.store.postings_kernels" in sys.modules)
    return taking(self, begin)
with Index.open(target) as index:
    store.SQLiteBackend._transaction = watched
    index.add({"id": "first", "text": text})
print(json.dumps(loaded_when_locked))
"""


def test_a_writer_loads_the_compiled_code_before_it_takes_the_sqlite_lock(tmp_path: Path) -> None:
    """Loading numba and the postings code takes about a second of CPU (tens of seconds on a starved machine); a
    process's first add must not hold the write lock meanwhile, or other writers time out waiting for it."""
    from dedup.store import postings

    if postings._kernels() is None:
        pytest.skip("numba missing or DEDUP_KERNELS=0: nothing compiled to load")
    text = (SEEDS / "000_41bc1a141fd2626e.txt").read_text(encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", FIRST_ADD, str(tmp_path / "first.dedup"), text],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    locks = json.loads(done.stdout)
    assert locks and all(locks), f"write locks taken before the compiled code was loaded: {locks}"


def test_a_slow_redis_writer_keeps_its_lock_and_commits(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A live writer whose unit of work outlasts the lock's time (a starved machine) keeps the lock, renewed while it
    works: no other writer gets in meanwhile, and its write commits; only a writer that dies lets its lock expire
    (the kill -9 test above)."""
    from dedup.store import redis as store

    monkeypatch.setattr(store, "LOCK_MILLISECONDS", 300)
    target = f"{redis_url}?prefix=s{uuid.uuid4().hex}"
    Index.open(target).close()
    slow, other = store.RedisBackend(target), store.RedisBackend(target)
    try:
        with slow.writing() as session:
            time.sleep(1.2)  # four times the lock's time
            with pytest.raises(StoreError, match="could not take the write lock"):
                other._acquire(timeout=0.6)
            session.put_meta("probe", "kept")
        assert (slow.meta() or {}).get("probe") == "kept"
    finally:
        slow.close()
        other.close()


def eight_writers(target: str, folder: Path) -> None:
    articles = corpus()
    shared = articles[:3]  # every writer also adds these: overlapping ids
    slices = [shared + articles[3 + k :: 8] for k in range(8)]
    workers = [start_worker(target, part, folder) for part in slices]
    added: list[str] = []
    for worker in workers:
        output, errors = worker.communicate(timeout=600)
        assert worker.returncode == 0, errors
        added += [line.split()[0] for line in output.splitlines() if line.split()[1] == "True"]
    assert sorted(added) == sorted(a["id"] for a in articles)  # each article stored exactly once
    with Index.open(target) as index:
        assert len(index) == len(articles)
        assert index.verify() == []
        batch = dedup.cluster(articles)
        assert memberships(index, articles) == {tuple(sorted(m.id for m in c.members)) for c in batch.clusters}


def test_eight_writers_on_one_sqlite_file(tmp_path: Path) -> None:
    eight_writers(str(tmp_path / "eight.dedup"), tmp_path)


def test_eight_writers_on_one_redis(redis_url: str, tmp_path: Path) -> None:
    eight_writers(f"{redis_url}?prefix=e{uuid.uuid4().hex}", tmp_path)
