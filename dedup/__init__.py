"""dedup: near-duplicate and syndication detection for news.

Public API::

    from dedup import cluster, read_path
    result = cluster(read_path("articles/").articles)
"""

from dedup.errors import DedupError, InputError, NoArticlesError, SettingsError
from dedup.model import Article, Cluster, Member, PairVerdict, Passage, ReadResult, Result, Skipped

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
    """The pipeline, the readers and the index load on first use: the pipeline pulls in scikit-learn and
    HTML support trafilatura (seconds of imports), which the copies-only path (``dedup.copies``, whose
    import runs this package's) and a crawler calling ``cluster`` on its own records do not need."""
    if name in ("cluster", "Settings"):
        from dedup import pipeline

        return getattr(pipeline, name)
    if name in ("read_path", "read_stream"):
        from dedup import read

        return getattr(read, name)
    if name == "Index":  # the persistent index (dedup.index), loaded on first use
        from dedup.index import Index

        return Index
    raise AttributeError(f"module 'dedup' has no attribute {name!r}")
