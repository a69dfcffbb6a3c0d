"""Shared fixtures: the seed articles, where present the shared evaluation data, and a real Redis server."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from dedup.model import Article
from dedup.store.testing import RedisServer, RedisUnavailable

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
SHARED_DATA = ROOT.parent / "shared" / "data"

# No per-example time limit: the properties are about results, and a loaded machine (CI, several runs at once) made
# examples miss hypothesis's default 200 ms deadline without anything being wrong. Speed lives in benchmarks/.
settings.register_profile("dedup", deadline=None)
settings.load_profile("dedup")


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    return SEEDS


@pytest.fixture(scope="session")
def expected() -> dict:
    return json.loads((SEEDS / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def seed_texts() -> dict[str, str]:
    return {path.stem: path.read_text(encoding="utf-8") for path in sorted(SEEDS.glob("*.txt"))}


@pytest.fixture(scope="session")
def news_articles(seed_texts: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> list[Article]:
    """The seed articles and, where the generator's data is present, a generated corpus of 240 (real-shaped news for
    the stages' fast paths)."""
    from benchmarks.generate import DEFAULT_DATA, load_pool, write_corpus

    articles = [Article(key, text, outlet="seed") for key, text in sorted(seed_texts.items())]
    if (DEFAULT_DATA / "bbc").exists():
        folder = tmp_path_factory.mktemp("generated")
        write_corpus(folder, 240, 5, pool=load_pool(DEFAULT_DATA))
        for line in (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            articles.append(
                Article(record["id"], record["text"], outlet=record.get("outlet"), published=record.get("published"))
            )
    return articles


def require_shared(*parts: str) -> Path:
    """The path under ../shared/data, or skip: the research data is not in the repository."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared evaluation data lives beside the repository, not in it")
    return path


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A real redis-server on loopback for the module that asks (installed from apt when missing, as root); the Redis
    tests fail rather than skip in CI."""
    try:
        server = RedisServer().start()
    except RedisUnavailable as error:
        if os.environ.get("CI"):
            pytest.fail(f"the Redis tests must run in CI: {error}")
        pytest.skip(f"no Redis server: {error}")
    yield server.url
    server.stop()
