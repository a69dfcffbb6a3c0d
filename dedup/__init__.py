"""dedup: near-duplicate and syndication detection for news.

Public API::

    from dedup import cluster, read_path
    result = cluster(read_path("articles/").articles)
"""

from dedup.errors import DedupError, InputError, NoArticlesError, SettingsError
from dedup.model import Article, Cluster, Member, PairVerdict, Passage, ReadResult, Result, Skipped
from dedup.pipeline import Settings, cluster

__version__ = "0.1.0"

__all__ = [
    "Article",
    "Cluster",
    "DedupError",
    "Index",
    "InputError",
    "Member",
    "NoArticlesError",
    "PairVerdict",
    "Passage",
    "ReadResult",
    "Result",
    "Settings",
    "SettingsError",
    "Skipped",
    "__version__",
    "cluster",
    "read_path",
    "read_stream",
]


def __getattr__(name: str):
    """Readers load lazily: HTML support pulls in trafilatura, which a crawler calling
    ``cluster`` on its own records does not need."""
    if name in ("read_path", "read_stream"):
        from dedup import read

        return getattr(read, name)
    if name == "Index":  # the persistent index (dedup.index), loaded on first use
        from dedup.index import Index

        return Index
    raise AttributeError(f"module 'dedup' has no attribute {name!r}")
