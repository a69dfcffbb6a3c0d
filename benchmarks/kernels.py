"""The compiled tiling kernel against its Python reference, per call, on a run's own tiling calls.

Runs ``dedup.pipeline.cluster`` in this process (one worker, kernels off) on a corpus, records the inputs of its first
``--calls`` ``align.unit_tiles`` calls as plain lists and arrays, then replays them: the Python reference
(``align.tiles`` + ``_split_at_breaks``) and ``dedup.kernels.unit_tiles`` (word ids made beforehand, counted apart),
asserting both give the recorded tiles. Prints one JSON line: process-time microseconds a call, best of ``--repeat``.
Used for docs/scale.md, stop 19::

    PYTHONPATH=. python benchmarks/kernels.py /tmp/dedup-scale/corpus-2000-s1/corpus.jsonl --calls 2000

``--word-runs`` times ``align._word_runs`` against the compiled ``align.word_runs`` on a run's recorded calls instead
(stop 20, docs/scale.md).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from dedup import align, pipeline
from dedup.align import KgramIndex, KgramMatches, _split_at_breaks, tiles
from dedup.read import read_path


def record(corpus: str, most: int) -> list[dict[str, Any]]:
    """The inputs and results of the first ``most`` tiling calls of a run on ``corpus``."""
    calls: list[dict[str, Any]] = []
    original = pipeline.unit_tiles

    def recording(source: align.Side, target: align.Side, min_tile: int, matches: KgramMatches | None) -> list:
        found = original(source, target, min_tile, matches)
        if len(calls) < most and matches is not None:
            index = source.kgram_index(min_tile)
            calls.append(
                {
                    "words": (source.words, target.words),
                    "min_tile": min_tile,
                    "index": index,
                    "target_keys": target.kgram_keys(min_tile),
                    "matches": matches,
                    "breaks": (source.unit_breaks(), target.unit_breaks()),
                    "positions": (list(source.positions), list(target.positions)),
                    "expected": found,
                }
            )
        return found

    pipeline.unit_tiles = recording
    try:
        pipeline.cluster(read_path(corpus).articles, workers=1, keep_pairs=False)
    finally:
        pipeline.unit_tiles = original
    return calls


def record_word_runs(corpus: str, most: int) -> list[dict[str, Any]]:
    """The inputs and results of the first ``most`` ``align.word_runs`` calls (the passages pass's word alignment)
    of a run on ``corpus`` (one worker, kernels off)."""
    calls: list[dict[str, Any]] = []
    original = align.word_runs

    def recording(source: align.Side, target: align.Side, cosine: Any, settings: Any, verbatim: Any = None) -> Any:
        found = original(source, target, cosine, settings, verbatim)
        if len(calls) < most:
            calls.append({"arguments": (source, target, cosine, settings, verbatim), "expected": found})
        return found

    align.word_runs = recording
    try:
        pipeline.cluster(read_path(corpus).articles, workers=1, keep_pairs=False)
    finally:
        align.word_runs = original
    return calls


def word_runs(corpus: str, most: int, repeat: int) -> dict[str, Any]:
    """``align._word_runs`` (Python) against ``align.word_runs`` with the kernels on, on a run's recorded calls; the
    kernel's token ids made anew before every timed repetition (in a run: once per side and pass), and apart."""
    align.use_kernels(False)
    calls = record_word_runs(corpus, most)

    def reference() -> None:
        for call in calls:
            source, target, cosine, settings, verbatim = call["arguments"]
            assert align._word_runs(source, target.article, cosine, settings, verbatim) == call["expected"]

    def kernel() -> None:
        for call in calls:
            assert align.word_runs(*call["arguments"]) == call["expected"]

    sides = list({id(side): side for call in calls for side in call["arguments"][:2]}.values())

    def forget() -> None:
        for side in sides:
            side.token_arrays = None

    def token_ids() -> None:
        forget()
        for side in sides:
            side.token_ids()

    found: dict[str, Any] = {"corpus": corpus, "calls": len(calls), "sides": len(sides)}
    found["reference_us"] = best_microseconds(reference, len(calls), repeat)
    assert align.use_kernels(), "numba is needed for the kernel"
    found["kernel_us"] = best_microseconds(kernel, len(calls), repeat, before=forget)
    found["kernel_ids_made_before_us"] = best_microseconds(kernel, len(calls), repeat)
    found["token_ids_us_a_side"] = best_microseconds(token_ids, len(sides), repeat)
    align.use_kernels(False)
    return found


def best_microseconds(
    function: Callable[[], None], count: int, repeat: int, before: Callable[[], None] | None = None
) -> float:
    times = []
    for _ in range(repeat):
        if before is not None:
            before()
        start = time.process_time()
        function()
        times.append(time.process_time() - start)
    return round(1e6 * min(times) / max(count, 1), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--word-runs", action="store_true", help="time the word-run kernel (stop 20), not the tiling")
    options = parser.parse_args()
    if options.word_runs:
        print(json.dumps(word_runs(options.corpus, options.calls, options.repeat)))
        return
    align.use_kernels(False)
    calls = record(options.corpus, options.calls)
    assert align.use_kernels(), "numba is needed for the kernel"
    from dedup import kernels

    def reference() -> None:
        for call in calls:
            (source, target), size = call["words"], call["min_tile"]
            found = [
                piece
                for tile in tiles(source, target, size, call["index"], call["target_keys"], call["matches"])
                for piece in _split_at_breaks(tile, *call["breaks"], *call["positions"], size)
            ]
            assert found == call["expected"]

    arrays = [
        (
            kernels.word_ids(call["words"][0]),
            kernels.word_ids(call["words"][1]),
            *(np.array(breaks, dtype=np.int64) for breaks in call["breaks"]),
            *(np.array(positions, dtype=np.int32) for positions in call["positions"]),
        )
        for call in calls
    ]

    def kernel() -> None:
        for call, (source, target, source_breaks, target_breaks, source_pos, target_pos) in zip(
            calls, arrays, strict=True
        ):
            index: KgramIndex = call["index"]
            found = kernels.unit_tiles(
                source,
                target,
                call["min_tile"],
                index.keys,
                index.positions,
                call["target_keys"],
                call["matches"].low,
                call["matches"].found,
                source_breaks,
                target_breaks,
                source_pos,
                target_pos,
            )
            assert (list(map(tuple, found.tolist())) if len(found) else []) == call["expected"]

    def word_ids() -> None:
        for call in calls:
            kernels.word_ids(call["words"][0])
            kernels.word_ids(call["words"][1])

    print(
        json.dumps(
            {
                "corpus": options.corpus,
                "calls": len(calls),
                "reference_us": best_microseconds(reference, len(calls), options.repeat),
                "kernel_us": best_microseconds(kernel, len(calls), options.repeat),
                "word_ids_both_sides_us": best_microseconds(word_ids, len(calls), options.repeat),
            }
        )
    )


if __name__ == "__main__":
    main()
