"""Memory of the full pipeline along the CLI's path: read as streamed, cluster (no pairs kept), the document written.

Runs that path in a child process and reports the scale runner's figures (wall and CPU seconds of the process
tree, its peak summed RSS and peak PSS) with the pipeline's stage log (each stage's seconds and the parent's
RSS and peak RSS after it), and writes the JSON result, so that two commits can be compared byte for byte::

    PYTHONPATH=. python benchmarks/memory.py /tmp/dedup-scale/corpus-10000-s1-pool2/corpus.jsonl \\
        --document /tmp/out.json --output benchmarks/results/memory-NAME.json
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _resident_gb() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e9
    return 0.0


class TreeSampler:
    """Samples the PSS of this process and its workers every ``interval`` seconds (a thread: forked workers do not
    inherit it) and notes, per stage, the tree's highest PSS and the parent's share of it, so the log says where
    the run's peak is (the scale runner gives only its height)."""

    def __init__(self, interval: float = 0.5) -> None:
        import threading

        self.interval = interval
        self.stage = "read and furniture lines"
        self.highest: dict[str, tuple[float, float, int]] = {}  # stage → (tree PSS GB, parent PSS GB, processes)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        import os

        while not self.stop.is_set():
            sizes = tree_pss()
            parent, tree = sizes[os.getpid()], sum(sizes.values())
            known = self.highest.get(self.stage)
            if known is None or tree / 1e9 > known[0]:
                self.highest[self.stage] = (round(tree / 1e9, 3), round(parent / 1e9, 3), len(sizes))
            self.stop.wait(self.interval)

    def report(self) -> list[str]:
        return [
            f"highest PSS during {stage}: tree {tree:.3f} GB (parent {parent:.3f} GB, {count} processes)"
            for stage, (tree, parent, count) in self.highest.items()
        ]


def tree_pss() -> dict[int, int]:
    """The PSS in bytes of this process (first) and of each process under it."""
    import psutil

    from benchmarks.scale import _pss

    me = psutil.Process()
    try:
        pids = [me.pid] + [child.pid for child in me.children(recursive=True)]
    except psutil.Error:
        pids = [me.pid]
    return {pid: _pss(pid) for pid in pids}


class _StageNames(logging.Handler):
    """Tells the sampler which stage (or stage step) runs: the one after the last logged."""

    def __init__(self, sampler: TreeSampler) -> None:
        super().__init__()
        self.sampler = sampler

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("stage "):
            self.sampler.stage = "the stage after " + message[len("stage ") :].split(":")[0]
        elif message.startswith("step "):  # a stage's steps (the LSH stage's): where within it the peak is
            self.sampler.stage = "the step after " + message[len("step ") :].split(":")[0]


def print_result(result: dict, output: Path | None) -> None:
    """A replay tool's result as one JSON line on stdout, appended to ``output`` (JSON Lines) when given."""
    line = json.dumps(result)
    print(line)
    if output:
        with open(output, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def child(corpus: Path, document_path: Path, log_path: Path) -> None:
    from dedup.pipeline import HELD, cluster
    from dedup.read.files import stream_path
    from dedup.write import write_json
    from dedup.write.jsondoc import streamed_document

    with open(log_path, "w", encoding="utf-8", buffering=1) as log_file:
        handler = logging.StreamHandler(log_file)
        handler.setFormatter(logging.Formatter("%(relativeCreated)8.0f ms %(message)s"))
        pipeline_log = logging.getLogger("dedup.pipeline")
        pipeline_log.addHandler(handler)
        pipeline_log.setLevel(HELD)  # the stage log and the "held" lines: what each structure holds
        sampler = TreeSampler()
        pipeline_log.addHandler(_StageNames(sampler))
        sampler.thread.start()
        started = time.perf_counter()
        read = stream_path(corpus)  # as the CLI reads it: one article at a time into the pipeline's buffers
        result = cluster(read.articles, skipped=read.skipped, keep_pairs=False)  # as the CLI runs it
        log_file.write(
            f"read and cluster returned: {time.perf_counter() - started:.2f}s, RSS {_resident_gb():.2f} GB, "
            f"{len(result.passages)} passages\n"
        )
        # written a cluster and a passage at a time, the texts decoded from the run's buffers, as the CLI does
        sampler.stage = "writing the document"
        write_json(streamed_document(result, result.texts), document_path)
        sampler.stop.set()
        sampler.thread.join()
        log_file.write("\n".join(sampler.report()) + "\n")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
        log_file.write(f"document written: RSS {_resident_gb():.2f} GB, max RSS {peak:.2f} GB\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--document", type=Path, required=True, help="where the JSON result goes")
    parser.add_argument("--output", type=Path, help="the measurement (JSON)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    log_path = args.document.with_suffix(".log")
    if args.child:
        child(args.corpus, args.document, log_path)
        return
    from benchmarks.scale import measure

    command = [sys.executable, __file__, str(args.corpus), "--document", str(args.document), "--child"]
    record = measure(command, timeout=7200)
    record["stage_log"] = log_path.read_text(encoding="utf-8").splitlines() if log_path.exists() else []
    record["corpus"] = str(args.corpus)
    print(json.dumps({key: value for key, value in record.items() if key != "stage_log"}))
    print("\n".join(record["stage_log"]))
    if args.output:
        args.output.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
