"""What the pass replays share (``judge_replay.py``, ``passages_replay.py``): a run of ``pipeline.cluster`` stopped
at one of its passes in pair order, and a recorded pass's batches worked through in this process as a worker works
through them (inside ``functools.reduce``, which callgrind's ``--toggle-collect=functools_reduce`` counts alone)."""

from __future__ import annotations

import contextlib
import cProfile
import functools
import os
import pickle
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dedup import pipeline
from dedup.engine import paused_collection
from dedup.read import read_path


class Recorded(Exception):
    """Raised by a recording to end its run at the pass it recorded."""


def run_to_pass(corpus: str, recording: Callable[..., Any]) -> None:
    """``pipeline.cluster`` (one worker) on ``corpus`` with ``recording(original, *arguments)`` in place of each pass
    in pair order (``original``: the pass itself, for the passes it lets run); the run ends where it raises
    :class:`Recorded`."""
    original = pipeline._pass_in_pair_order
    pipeline._pass_in_pair_order = functools.partial(recording, original)
    try:
        with contextlib.suppress(Recorded):
            pipeline.cluster(read_path(Path(corpus)).articles, workers=1)
    finally:
        pipeline._pass_in_pair_order = original


def worked(function: Callable[[Any, Any], list], state: dict, batches: list) -> list:
    """``function``'s results for every batch of ``batches`` on ``state``'s shared values, as a worker makes them."""
    shared = state["shared"]
    numbered = shared[0].schedule(batches)
    return functools.reduce(lambda found, batch: found + function(shared, batch), numbered, [])


def chosen(batches: list, most: int, skip: int) -> list:
    """The batches holding the first ``most`` keys (0: all) after the first ``skip`` (whole batches)."""
    out, count, skipped = [], 0, 0
    for batch in batches:
        size = sum(len(targets) for _, targets in batch)
        if skipped < skip:
            skipped += size
            continue
        if most and count >= most:
            break
        out.append(batch)
        count += size
    return out


def instrument(mode: str) -> None:
    """Callgrind's instrumentation switched ``mode`` (on/off) for this process, as ``benchmarks/clean_replay.py`` does
    (run under ``valgrind --tool=callgrind --instr-atstart=no``: loading and the warm-up run uninstrumented, several
    times faster)."""
    subprocess.run(["callgrind_control", "-i", mode, str(os.getpid())], check=True, capture_output=True)


def replayed(
    raw: bytes,
    function: Callable[[Any, Any], list],
    most: int = 0,
    skip: int = 0,
    profile: str | None = None,
    callgrind: bool = False,
) -> tuple[dict, list, list, float, float]:
    """A recording (``raw``: its pickled bytes, the recorder's own file) worked through twice on fresh copies of its
    state, the collector paused as in a worker: a warm-up, then the counted pass (``profile``: a cProfile of it on the
    CPU clock, written there; ``callgrind``: callgrind's instrumentation on around it alone). The state, the batches
    (:func:`chosen`), the counted pass's results, and the two passes' CPU seconds."""
    with paused_collection():
        warm = pickle.loads(raw)
        batches = chosen(warm["batches"], most, skip)
        start = time.process_time()
        for batch in warm["shared"][0].schedule(batches):
            function(warm["shared"], batch)
        warm_seconds = time.process_time() - start
        del warm
        state = pickle.loads(raw)
        start = time.process_time()
        if profile:
            profiler = cProfile.Profile(time.process_time)
            found = profiler.runcall(worked, function, state, batches)
            profiler.dump_stats(profile)
        else:
            if callgrind:
                instrument("on")
            found = worked(function, state, batches)
            if callgrind:
                instrument("off")
        seconds = time.process_time() - start
    return state, batches, found, warm_seconds, seconds
