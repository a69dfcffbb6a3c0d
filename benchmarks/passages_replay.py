"""The passages pass replayed: the batches of a run's passages pass (each derived edge aligned again in detail, each
reversed edge in its own direction), aligned in this process exactly as a passages worker aligns them, for
instruction counts under callgrind or a cProfile of the pass.

    PYTHONPATH=. python benchmarks/passages_replay.py record CORPUS.jsonl STATE.pickle
    PYTHONPATH=. python benchmarks/passages_replay.py replay STATE.pickle [--kernels] [--digest] [--pairs N]
        [--skip N] [--profile OUT.prof] [--callgrind]

``record`` runs ``pipeline.cluster`` (one worker) on ``CORPUS.jsonl`` through its judging pass, clustering and
origin, up to the passages pass, and pickles what a passages worker is given (the ``PreparedArticles`` with no side
prepared, the wanted settings of each key, the judge's tiles) with every batch of the pass (``_local_batches``'
order and batch size, as the run has them); the run stops there.

``replay`` loads a recording, turns the kernels on with ``--kernels`` (as a run of ≥ 15,000 candidate pairs does), takes
the batches holding the pass's first ``--pairs`` keys after ``--skip`` (all by default), warms up on a copy of the
state, then aligns them again on a fresh copy inside ``functools.reduce`` — run under ``valgrind --tool=callgrind
--collect-atstart=no --toggle-collect=functools_reduce`` to count that part alone. ``--digest`` prints a digest of the
passages (equal digests, equal outputs of the pass); ``--profile``: a cProfile (CPU clock) of the counted part;
``--callgrind``: instrumentation on around it alone (with ``--instr-atstart=no``). The cyclic garbage collector is off,
as in a worker.
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
from pathlib import Path

from benchmarks.pass_recording import Recorded, replayed, run_to_pass
from dedup import align, pipeline


def record(corpus: str, output: str) -> None:
    """Run the pipeline to its passages pass and pickle the pass's shared values and batches."""

    def recording(original, function, shared, pairs, batch_pairs, sides, workers, tick, reduced=None):
        if function is not pipeline.passage_groups:
            return original(function, shared, pairs, batch_pairs, sides, workers, tick, reduced)
        batches, _ = pipeline._local_batches(pairs, batch_pairs, len(sides.corpus))
        sides.sides = [None] * len(sides.sides)  # as a forked worker begins (the parent's are a cache)
        sides.held = set()
        sides.prepared = 0
        with open(output, "wb") as handle:
            pickle.dump(
                {"shared": shared, "batches": batches, "keys": len(pairs)}, handle, protocol=pickle.HIGHEST_PROTOCOL
            )
        raise Recorded

    run_to_pass(corpus, recording)


def replay(
    path: str, kernels: bool, digest: bool, most: int, skip: int, profile: str | None, callgrind: bool = False
) -> None:
    """Align a recording's batches twice (warm-up, then the counted pass) on fresh copies of its state."""
    if kernels:
        align.use_kernels()
    state, batches, found, warm_seconds, seconds = replayed(
        Path(path).read_bytes(), pipeline.passage_groups, most, skip, profile, callgrind
    )
    keys = sum(len(targets) for batch in batches for _, targets in batch)
    line = f"keys {keys} (of {state['keys']}), warm-up {warm_seconds:.3f} s, counted {seconds:.3f} s"
    if digest:
        flat = [
            [(p.source, p.target, p.source_span, p.target_span, p.kind, p.score) for p in s] for k in found for s in k
        ]
        line += " digest " + hashlib.sha256(pickle.dumps(flat, protocol=4)).hexdigest()[:16]
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("corpus")
    rec.add_argument("output")
    rep = sub.add_parser("replay")
    rep.add_argument("state")
    rep.add_argument("--kernels", action="store_true")
    rep.add_argument("--digest", action="store_true")
    rep.add_argument("--pairs", type=int, default=0)
    rep.add_argument("--skip", type=int, default=0)
    rep.add_argument("--profile")
    rep.add_argument("--callgrind", action="store_true", help="instrumentation on around the counted pass alone")
    args = parser.parse_args()
    if args.command == "record":
        record(args.corpus, args.output)
    else:
        replay(args.state, args.kernels, args.digest, args.pairs, args.skip, args.profile, args.callgrind)


if __name__ == "__main__":
    main()
