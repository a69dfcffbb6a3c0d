"""What the pass replays share (``judge_replay.py``, ``passages_replay.py``): a run of ``pipeline.cluster`` stopped
at one of its passes in pair order, and a recorded pass's batches worked through in this process as a worker works
through them (inside ``functools.reduce``, which callgrind's ``--toggle-collect=functools_reduce`` counts alone)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dedup import pipeline
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
