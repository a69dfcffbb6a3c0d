"""A full ``dedup cluster`` run with the parent process profiled (cProfile on the CPU clock; the forked workers
not profiled), optionally recording the passages pass's state on the way for ``benchmarks/passages_replay.py``.

    PYTHONPATH=. python benchmarks/parent_profile.py CORPUS.jsonl OUT.json PROFILE.prof [--record STATE.pickle]

The output written is the CLI's (``dedup cluster CORPUS -q -o OUT.json``), the same as without the profile. Read the
profile with ``python -c "import pstats; pstats.Stats('PROFILE.prof').sort_stats('tottime').print_stats(40)"``.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pickle
import sys
import time

from dedup import pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("output")
    parser.add_argument("profile")
    parser.add_argument("--record")
    args = parser.parse_args()
    if args.record:
        original = pipeline._pass_in_pair_order

        def recording(function, shared, pairs, batch_pairs, sides, workers, tick, reduced=None):
            if function is pipeline.passage_groups:
                batches, _ = pipeline._local_batches(pairs, batch_pairs, len(sides.corpus))
                kept = sides.sides, sides.held, sides.prepared
                sides.sides, sides.held, sides.prepared = [None] * len(sides.sides), set(), 0  # as a worker begins
                with open(args.record, "wb") as handle:
                    pickle.dump({"shared": shared, "batches": batches, "keys": len(pairs)}, handle, protocol=5)
                sides.sides, sides.held, sides.prepared = kept
            return original(function, shared, pairs, batch_pairs, sides, workers, tick, reduced)

        pipeline._pass_in_pair_order = recording
    os.register_at_fork(after_in_child=lambda: sys.setprofile(None))  # the workers unprofiled
    from dedup.cli import app

    sys.argv = ["dedup", "cluster", args.corpus, "-q", "-o", args.output]
    profiler = cProfile.Profile(time.process_time)
    with contextlib.suppress(SystemExit):
        profiler.runcall(app)
    profiler.dump_stats(args.profile)


if __name__ == "__main__":
    main()
