"""The judging pass replayed: the first batches of a run's judging pass (its screened pass, in pass order), judged
in this process exactly as a judging worker judges them, for instruction counts under callgrind.

    PYTHONPATH=. python benchmarks/judge_replay.py record CORPUS.jsonl STATE.pickle [--pairs 400]
        [--batches-from OTHER.batches.json]
    PYTHONPATH=. python benchmarks/judge_replay.py replay STATE.pickle [--kernels] [--digest] [--profile OUT.prof]
        [--callgrind] [--verdicts]
    PYTHONPATH=. python benchmarks/judge_replay.py calls STATE.pickle CALLS.pickle [--kernels]
    PYTHONPATH=. python benchmarks/judge_replay.py products STATE.pickle PRODUCTS.pickle
    PYTHONPATH=. python benchmarks/judge_replay.py replay PRODUCTS.pickle --products [--kernels] [--digest]
        [--callgrind] [--check]

``record`` runs ``pipeline.cluster`` (one worker) on ``CORPUS.jsonl`` up to the judging pass and pickles what a
worker is given (the ``PreparedArticles`` with no side prepared, the settings) with the pass's first batches
holding ``--pairs`` pairs at least (``_local_batches``' order and batch size, as the run has them); the run stops
there. ``--skip N``: begin after the batches that hold the pass's first N pairs (a later part of the pass: its
first batches are denser in related pairs than the whole pass). The batches also go to ``STATE.batches.json``;
``--batches-from``: take another recording's batches instead (the same pairs judged on another commit; the script
runs unchanged on stop 19's bab568c).

``replay`` loads a recording, turns the kernels on with ``--kernels`` (as a run of ≥ 15,000 candidate pairs does), warms
them up by judging the batches once on a copy of the state, then judges them again on a fresh copy inside
``functools.reduce`` — run under ``valgrind --tool=callgrind --collect-atstart=no --toggle-collect=functools_reduce`` to
count that part alone (docs/scale.md, stop 21). ``--callgrind``: instrumentation switched on around the counted part
alone (run under ``--instr-atstart=no`` as well: loading and warm-up several times faster). ``--digest`` prints a digest
of the verdicts (the pickled verdicts and tiles: equal digests, equal outputs of the pass). Both judge with the cyclic
garbage collector off, as a judging worker does (``pipeline.cluster`` pauses it and the workers it forks inherit the
pause; stop 21's counts had it on: ~5 % of their instructions were collections).

``--verdicts``: the counted part is ``score.judge`` alone — every call the pass made (its arguments caught on a first
pass over the batches), made again with each side's cached unit names emptied (as a worker's sides start); the digest
is then of those verdicts (stop 26: the verdict's own cost, apart from the alignment). ``calls`` pickles those calls
once (each side as a :class:`NameCache`, what ``judge`` reads of it); ``replay CALLS.pickle --verdicts`` judges them
without running the pass first.

``products`` pickles the rows of every ``align.sentence_cosines`` call of a recording's pass (the source's and its
targets' sentence rows); ``replay PRODUCTS.pickle --products`` makes those calls again, warmed up once, then counted
inside ``functools.reduce`` (stop 28: the sentence product alone; ``--kernels``: the compiled product); the digest
is of the cosines' bytes. ``--check``: each call's cosines with the kernels on, off and the full hashed-space
product (``target @ source.T``), ``tobytes`` equal.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import hashlib
import json
import pickle
import time
from pathlib import Path
from types import SimpleNamespace

from benchmarks.pass_recording import Recorded, chosen, instrument, replayed, run_to_pass, worked
from dedup import align, pipeline, score
from dedup.engine import paused_collection


def record(corpus: str, output: str, most: int, batches_from: str | None, skip: int = 0) -> None:
    """Run the pipeline to its judging pass and pickle a worker's share of its first batches."""

    def recording(original, function, shared, pairs, batch_pairs, sides, workers, tick, reduced=None):
        if function is not pipeline.judge_groups or not shared[2]:
            raise AssertionError("the first pass is the screened judging pass")
        if batches_from:
            batches = json.loads(Path(batches_from).read_text())
        else:
            batches = chosen(pipeline._local_batches(pairs, batch_pairs, len(sides.corpus))[0], most, skip)
        with open(output, "wb") as handle:
            pickle.dump(
                {"shared": shared, "batches": batches, "candidate_pairs": len(pairs)},
                handle,
                protocol=pickle.HIGHEST_PROTOCOL,
            )
        Path(output).with_suffix(".batches.json").write_text(json.dumps(batches))
        raise Recorded

    run_to_pass(corpus, recording)


def replay(path: str, kernels: bool, digest: bool, profile: str | None = None, callgrind: bool = False) -> None:
    """Judge a recording's batches twice (warm-up, then the counted pass) on fresh copies of its state; ``profile``:
    a cProfile of the counted pass (CPU clock) written there."""
    if kernels:
        align.use_kernels()
    state, _, found, warm_seconds, seconds = replayed(
        Path(path).read_bytes(), pipeline.judge_groups, profile=profile, callgrind=callgrind
    )
    pairs = sum(len(targets) for batch in state["batches"] for _, targets in batch)
    line = f"pairs {pairs} (of {state['candidate_pairs']}), warm-up {warm_seconds:.3f} s, counted {seconds:.3f} s"
    if digest:
        line += " digest " + hashlib.sha256(pickle.dumps(found, protocol=4)).hexdigest()[:16]
    print(line)


def judge_calls(raw: bytes) -> list[tuple]:
    """The arguments of every ``judge`` call of a recording's pass, in order (its sides prepared, their unit names
    emptied again)."""
    state = pickle.loads(raw)
    calls: list[tuple] = []
    original = pipeline.judge

    def caught(a, b, passages, settings, sides=None):
        calls.append((a, b, passages, settings, sides))
        return original(a, b, passages, settings, sides)

    pipeline.judge = caught
    try:
        for batch in state["shared"][0].schedule(state["batches"]):
            pipeline.judge_groups(state["shared"], batch)
    finally:
        pipeline.judge = original
    for *_, sides in calls:
        for side in sides or ():
            side.unit_names.clear()
    return calls


class NameCache:
    """What ``score.judge`` reads of a prepared side (its caches of unit names and unit bounds), picklable: a
    ``Side``'s lazy lists are not."""

    def __init__(self) -> None:
        self.unit_names: dict = {}
        self.unit_bounds = None


def save_calls(path: str, output: str, kernels: bool) -> None:
    """The ``judge`` calls of a recording's pass pickled (each side as a fresh :class:`NameCache`), for
    ``replay --verdicts`` to read without judging the pass twice first (minutes under valgrind)."""
    if kernels:
        align.use_kernels()
    with paused_collection():
        calls = judge_calls(Path(path).read_bytes())
    caches: dict[int, NameCache] = {}
    plain = [
        (
            a,
            b,
            passages,
            settings,
            None if sides is None else tuple(caches.setdefault(id(s), NameCache()) for s in sides),
        )
        for a, b, passages, settings, sides in calls
    ]
    with open(output, "wb") as handle:
        pickle.dump(plain, handle, protocol=pickle.HIGHEST_PROTOCOL)
    print(f"judge calls {len(plain)}, {len(caches)} sides")


def replay_verdicts(path: str, kernels: bool, digest: bool, profile: str | None, callgrind: bool) -> None:
    """``score.judge`` of every call of a recording's pass (or of a ``calls`` file), counted alone (``--verdicts``)."""
    if kernels:
        align.use_kernels()
    raw = Path(path).read_bytes()
    with paused_collection():
        loaded = pickle.loads(raw)
        if isinstance(loaded, list):  # a calls file (``calls``): fresh copies, one to warm up
            for call in loaded:
                score.judge(*call)
            calls = pickle.loads(raw)
        else:
            del loaded
            for call in judge_calls(raw):
                score.judge(*call)
            calls = judge_calls(raw)
        aligned = sum(1 for call in calls if call[2])

        def judged(calls: list[tuple]) -> list:
            return functools.reduce(lambda found, call: found.append(score.judge(*call)) or found, calls, [])

        start = time.process_time()
        if profile:
            profiler = cProfile.Profile(time.process_time)
            found = profiler.runcall(judged, calls)
            profiler.dump_stats(profile)
        else:
            if callgrind:
                instrument("on")
            found = judged(calls)
            if callgrind:
                instrument("off")
        seconds = time.process_time() - start
    line = f"judge calls {len(calls)} ({aligned} with passages), counted {seconds:.3f} s"
    if digest:
        line += " digest " + hashlib.sha256(pickle.dumps(found, protocol=4)).hexdigest()[:16]
    print(line)


def save_products(path: str, output: str) -> None:
    """The rows of every ``sentence_cosines`` call of a recording's pass, pickled (sides are not needed: the product
    reads only their ``vectors``)."""
    state = pickle.loads(Path(path).read_bytes())
    calls = []
    original = pipeline.sentence_cosines

    def catching(source, targets):
        calls.append((source.vectors, [target.vectors for target in targets]))
        return original(source, targets)

    pipeline.sentence_cosines = catching
    try:
        worked(pipeline.judge_groups, state, state["batches"])
    finally:
        pipeline.sentence_cosines = original
    Path(output).write_bytes(pickle.dumps(calls, protocol=pickle.HIGHEST_PROTOCOL))
    print(f"sentence_cosines calls {len(calls)}, {sum(len(targets) for _, targets in calls)} targets")


def replay_products(path: str, kernels: bool, digest: bool, callgrind: bool, check: bool) -> None:
    """``sentence_cosines`` of every call of a ``products`` file: warmed up, then counted (``--products``)."""
    calls = [
        (SimpleNamespace(vectors=source), [SimpleNamespace(vectors=target) for target in targets])
        for source, targets in pickle.loads(Path(path).read_bytes())
    ]
    if check:
        for source, targets in calls:
            assert align.use_kernels()
            compiled = align.sentence_cosines(source, targets)
            align.use_kernels(False)
            library = align.sentence_cosines(source, targets)
            for target, one, other in zip(targets, compiled, library, strict=True):
                full = (target.vectors @ source.vectors.T).toarray()
                assert one.shape == other.shape == full.shape
                assert one.tobytes() == other.tobytes() == full.tobytes()
        print(f"checked {len(calls)} calls: the compiled, the library and the full product bit for bit")
        return
    if kernels:
        align.use_kernels()

    def multiplied() -> list:
        return functools.reduce(lambda found, call: found + align.sentence_cosines(*call), calls, [])

    with paused_collection():
        multiplied()
        if callgrind:
            instrument("on")
        start = time.process_time()
        found = multiplied()
        seconds = time.process_time() - start
        if callgrind:
            instrument("off")
    line = f"sentence_cosines calls {len(calls)}, counted {seconds:.3f} s"
    if digest:
        line += " digest " + hashlib.sha256(b"".join(cosine.tobytes() for cosine in found)).hexdigest()[:16]
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("corpus")
    rec.add_argument("output")
    rec.add_argument("--pairs", type=int, default=400)
    rec.add_argument("--skip", type=int, default=0)
    rec.add_argument("--batches-from")
    cal = sub.add_parser("calls")
    cal.add_argument("state")
    cal.add_argument("output")
    cal.add_argument("--kernels", action="store_true")
    pro = sub.add_parser("products")
    pro.add_argument("state")
    pro.add_argument("output")
    rep = sub.add_parser("replay")
    rep.add_argument("state")
    rep.add_argument("--kernels", action="store_true")
    rep.add_argument("--digest", action="store_true")
    rep.add_argument("--profile")
    rep.add_argument("--callgrind", action="store_true", help="instrumentation on around the counted pass alone")
    rep.add_argument("--verdicts", action="store_true", help="count score.judge alone")
    rep.add_argument("--products", action="store_true", help="count sentence_cosines alone (a products file)")
    rep.add_argument("--check", action="store_true", help="with --products: compiled = library = full product")
    args = parser.parse_args()
    if args.command == "record":
        record(args.corpus, args.output, args.pairs, args.batches_from, args.skip)
    elif args.command == "calls":
        save_calls(args.state, args.output, args.kernels)
    elif args.command == "products":
        save_products(args.state, args.output)
    elif args.products:
        replay_products(args.state, args.kernels, args.digest, args.callgrind, args.check)
    elif args.verdicts:
        replay_verdicts(args.state, args.kernels, args.digest, args.profile, args.callgrind)
    else:
        replay(args.state, args.kernels, args.digest, args.profile, args.callgrind)


if __name__ == "__main__":
    main()
