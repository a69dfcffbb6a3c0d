"""Replay the clean stage's worker on a fixed batch, for callgrind counts and exactness digests.

``python benchmarks/clean_replay.py CORPUS [--skip N] [--warm N] [--batch N] [--callgrind] [--digest] [--inflated]``

The first ``skip + warm + batch`` articles of ``CORPUS`` (read with ``dedup.read.stream_path``, put in an
``ArticleStore`` as the pipeline does), the furniture lines counted over all of them as a run counts them
(``line_counts_stored``, ``frequent_lines``); the ``warm`` articles after the first ``skip`` are cleaned in batches
of 500 to warm the per-process caches (stems, word features, stem hashes) as a long run has them, then the last
``batch`` articles cleaned exactly as a worker cleans them (``clean_stored`` → ``clean_batch``; the compiled sentence
holders loaded first, as a run of 10k articles or more loads them, unless ``DEDUP_KERNELS=0``). ``--callgrind``:
instrumentation switched on around that last call only (run under ``valgrind --tool=callgrind
--instr-atstart=no``). ``--digest``: every ``CleanBatch`` field of every batch (values and dtypes) hashed, printed;
``--inflated``: the stored forms hashed inflated (``zlib.decompress``), so a change of their zlib settings, which
changes their bytes but not what they hold, keeps the digest.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import subprocess
import zlib

import numpy as np
from scipy import sparse

from dedup.batch_words import load_kernels
from dedup.clean import frequent_lines
from dedup.pipeline import ArticleStore, Settings, clean_stored, line_counts_stored
from dedup.read.files import stream_path
from dedup.similarity import PackedCounts


def _feed(digest: hashlib._Hash, value: object) -> None:
    if isinstance(value, np.ndarray):
        digest.update(f"nd{value.dtype.str}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, PackedCounts):
        digest.update(b"packed")
        for part in (value.keys, value.indptr):
            _feed(digest, part)
        digest.update(repr(value.shape).encode())
    elif isinstance(value, sparse.csr_matrix):
        digest.update(f"csr{value.shape}{value.has_sorted_indices}{value.has_canonical_format}".encode())
        for part in (value.data, value.indices, value.indptr):
            _feed(digest, part)
    elif isinstance(value, (list, tuple)):
        digest.update(f"{type(value).__name__}{len(value)}".encode())
        for item in value:
            _feed(digest, item)
    elif isinstance(value, (bytes, frozenset, str, int, float)):
        digest.update(type(value).__name__.encode())
        digest.update(
            value
            if isinstance(value, bytes)
            else repr(sorted(value) if isinstance(value, frozenset) else value).encode()
        )
    else:
        raise TypeError(type(value))


def batch_digest(part: object, inflated: bool = False) -> str:
    digest = hashlib.sha256()
    for name in part.__slots__:
        digest.update(name.encode())
        value = getattr(part, name)
        if inflated and name == "compact":  # the stored forms, by what they hold
            value = [zlib.decompress(form) for form in value]
        _feed(digest, value)
    return digest.hexdigest()


def _instrument(mode: str) -> None:
    """Callgrind's instrumentation switched ``mode`` (on/off) for this process (``callgrind_control`` waits for
    callgrind to answer)."""
    subprocess.run(["callgrind_control", "-i", mode, str(os.getpid())], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus")
    parser.add_argument("--skip", type=int, default=0)
    parser.add_argument("--warm", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--digest", action="store_true")
    parser.add_argument("--inflated", action="store_true")
    options = parser.parse_args()
    settings = Settings()
    load_kernels()  # as a run of 10k articles or more loads them before its clean workers fork (DEDUP_KERNELS=0: not)
    store = ArticleStore()
    total = options.skip + options.warm + options.batch
    for article in itertools.islice(stream_path(options.corpus).articles, total):
        store.add(article)
    store.sort()
    repeated = frequent_lines(line_counts_stored(store, (0, len(store)))[0], settings.boilerplate_min_articles)
    shared = (
        store,
        (repeated, settings.sketch, settings.keep_wrapped_repeated_lines),
    )
    digest = hashlib.sha256()
    for begin in range(options.skip, options.skip + options.warm, 500):
        for part in clean_stored(shared, (begin, min(begin + 500, options.skip + options.warm))):
            digest.update(batch_digest(part, options.inflated).encode())
    last = (options.skip + options.warm, len(store))
    if options.callgrind:
        _instrument("on")
    parts = clean_stored(shared, last)
    if options.callgrind:
        _instrument("off")
    for part in parts:
        digest.update(batch_digest(part, options.inflated).encode())
    if options.digest:
        print(f"{len(store)} articles, {len(repeated)} repeated lines, digest {digest.hexdigest()}")


if __name__ == "__main__":
    main()
