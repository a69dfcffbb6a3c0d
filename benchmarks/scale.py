"""Corpus scale: dedup and its peers side by side, on the same generated corpora, in the same run.

    python benchmarks/scale.py --sizes 10000,100000 [--modes copies,full] [--peers datasketch,textdedup]
        [--workdir /tmp/dedup-scale] [--full-cap 100000] [--textdedup-python PATH] [--output JSON]
        [--set NAME=VALUE ...]   (full-mode settings, e.g. --set stock_min_articles=2)

For every size a labelled corpus is generated once (``benchmarks/generate.py``, cached under ``--workdir``).
Each tool runs in its own subprocess; the parent measures wall time and the peak resident memory of the
whole process tree (workers included, sampled every 0.1 s with psutil). Tools:

- ``dedup copies``: ``dedup.copies.cluster_copies`` (streamed JSONL, vectorised signatures, 2 workers);
- ``dedup full``: ``dedup.pipeline.cluster`` in-process (passages, alignment, origin); sizes above
  ``--full-cap`` are not run and the table says so;
- ``datasketch``: the plain pipeline its docs show: ``MinHash.update_batch`` over word 5-grams, one
  ``MinHashLSH`` (threshold 0.5, 128 permutations), a query per article, union-find; one process;
- ``text-dedup``: ``python -m text_dedup.minhash`` (0.4: HF datasets, ``num_proc`` 2, xxh3, 5-grams,
  threshold 0.5), its union-find read back in-process (no pickle).

Quality against the generated truth: pairwise precision / recall / F1 and ARI over all articles, the same
restricted to copies (origins + verbatim copies and light edits + every non-member; trims, reorders and
rewrites left out) and to rewrites; recall per derived kind; origin accuracy (share of truth clusters whose
origin is the predicted origin of the cluster holding it); the wrong predicted pairs by what they join
(``wrong_pairs``: pool-pool, pool-story, story-story); for the full mode also "F1 der" (all, copies,
rewrites), pairwise F1 with only the members the tool calls derived (origin, duplicates, derived; its same-
story neighbours count as singletons — the METER benchmark's convention, since the generated truth models
derivation only). Peers name no origin: they get the same earliest-published rule the copies mode uses. Prints
a table with ratios (dedup copies vs each peer) and writes benchmarks/results/scale-<date>.json with the
machine, date and commit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPOSITORY = Path(__file__).resolve().parents[1]
RESULTS = REPOSITORY / "benchmarks" / "results"
COPY_KINDS = frozenset({"copy", "edit"})
REWRITE_KINDS = frozenset({"rewrite"})
SCHEMA = 1


# --- corpora --------------------------------------------------------------------------------------------------


def corpus_for(size: int, seed: int, workdir: Path) -> Path:
    """The cached corpus folder for (size, seed), generated on first use.

    Named by the generator's pool version too: a corpus cached under another pool has another truth.
    """
    from benchmarks.generate import POOL_VERSION, write_corpus

    folder = workdir / f"corpus-{size}-s{seed}-pool{POOL_VERSION}"
    if not (folder / "truth.json").exists():
        print(f"generating {size} articles → {folder}", file=sys.stderr)
        started = time.perf_counter()
        write_corpus(folder, size, seed, workers=2)
        print(f"  generated in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return folder


# --- the tools, each run in a subprocess (``--run TOOL``) ---------------------------------------------------------


def _earliest_origin(members: list[str], published: dict[str, str | None]) -> str:
    return min(members, key=lambda m: (published.get(m) is None, published.get(m) or "", m))


def _read_meta(corpus: Path) -> tuple[list[str], dict[str, str | None]]:
    ids: list[str] = []
    published: dict[str, str | None] = {}
    with open(corpus, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            ids.append(record["id"])
            published[record["id"]] = record.get("published")
    return ids, published


def run_dedup_copies(corpus: Path) -> dict[str, Any]:
    from dedup.copies import CopiesSettings, cluster_copies

    result = cluster_copies(corpus, CopiesSettings(workers=2))
    return {
        "clusters": [[m.id for m in c.members] for c in result.clusters],
        "origins": [c.origin for c in result.clusters],
        "parameters": result.parameters,
    }


class StageRecorder(logging.Handler):
    """Keeps the pipeline's stage clock (its ``stage NAME: SECONDS`` debug records): where the time goes."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.stages: list[list[Any]] = []
        self.ends: list[float] = []  # each stage's end by the wall clock (epoch seconds): the runner places its peak

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("stage ") and isinstance(record.args, tuple) and len(record.args) >= 2:
            self.stages.append([str(record.args[0]), round(float(record.args[1]), 2)])
            self.ends.append(round(record.created, 3))


_SIDES_LINE = re.compile(
    r"sides: process (\d+) after batch (\d+)( \(walking backward\))?: (\d+) prepared, (\d+) held"
    r"(?:, CPU ([\d.]+) s, clock ([\d.]+))?"  # not before stop 19
)


def side_preparations(log_text: str) -> list[dict[str, Any]]:
    """Per process of the judge and passage passes (in the order they started): its batches, the sides it prepared,
    its CPU seconds at its last batch (a worker is forked for its pass: its busy time), and when its first and last
    batches ended, seconds after the first process's first (a worker that ends early idles until its pass ends)."""
    found: dict[int, dict[str, Any]] = {}
    for match in _SIDES_LINE.finditer(log_text):
        pid, backward = int(match[1]), bool(match[3])
        prepared, cpu, clock = int(match[4]), float(match[6] or 0), float(match[7] or 0)
        row = found.setdefault(pid, {"process": pid, "backward": backward, "batches": 0, "first": clock})
        row.update(batches=row["batches"] + 1, prepared=prepared, cpu_s=cpu, last=clock)
    rows = sorted(found.values(), key=lambda row: row["first"])
    start = rows[0]["first"] if rows else 0.0
    for row in rows:
        row["first"], row["last"] = round(row["first"] - start, 1), round(row["last"] - start, 1)
    return rows


def run_dedup_full(corpus: Path) -> dict[str, Any]:
    from dedup.pipeline import cluster
    from dedup.read.files import stream_path

    overrides = json.loads(os.environ.get("DEDUP_SCALE_OVERRIDES", "{}"))
    stages = StageRecorder()
    pipeline_log = logging.getLogger("dedup.pipeline")
    pipeline_log.addHandler(stages)
    pipeline_log.setLevel(logging.DEBUG)
    # every process's side preparations (the workers inherit the handler: one line a batch, appended)
    sides_file = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115
    sides_log = logging.FileHandler(sides_file.name, mode="a", encoding="utf-8")
    sides_log.addFilter(lambda record: str(record.msg).startswith("sides: "))
    pipeline_log.addHandler(sides_log)
    read = stream_path(corpus)  # the CLI's path: read a chunk at a time, no list of articles, no pairs kept
    result = cluster(read.articles, skipped=read.skipped, keep_pairs=False, **overrides)
    pipeline_log.removeHandler(stages)
    pipeline_log.removeHandler(sides_log)
    sides_log.close()
    sides = side_preparations(Path(sides_file.name).read_text(encoding="utf-8"))
    os.unlink(sides_file.name)
    return {
        "stages": stages.stages,
        "stage_ends": stages.ends,
        "sides": sides,
        "clusters": [[m.id for m in c.members] for c in result.clusters],
        "origins": [c.origin for c in result.clusters],
        # the members the tool calls derived (origin, duplicates, derived; not same-story neighbours)
        "derived_clusters": [
            [m.id for m in c.members if m.role != "same-story"]
            for c in result.clusters
            if sum(m.role != "same-story" for m in c.members) > 1
        ],
        "parameters": {"mode": "full", **overrides},
    }


def run_datasketch(corpus: Path) -> dict[str, Any]:
    """The plain datasketch pipeline, as its documentation shows it."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=0.5, num_perm=128)
    signatures: dict[str, MinHash] = {}
    published: dict[str, str | None] = {}
    with open(corpus, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            words = record["text"].lower().split()
            shingles = {" ".join(words[k : k + 5]) for k in range(max(len(words) - 4, 1))}
            signature = MinHash(num_perm=128)
            signature.update_batch([s.encode("utf8") for s in shingles])
            lsh.insert(record["id"], signature)
            signatures[record["id"]] = signature
            published[record["id"]] = record.get("published")
    parent = {key: key for key in signatures}

    def find(key: str) -> str:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for key, signature in signatures.items():
        for other in lsh.query(signature):
            a, b = find(key), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[str, list[str]] = {}
    for key in signatures:
        groups.setdefault(find(key), []).append(key)
    clusters = [sorted(g) for g in groups.values() if len(g) > 1]
    return {
        "clusters": clusters,
        "origins": [_earliest_origin(c, published) for c in clusters],
        "parameters": {"num_perm": 128, "threshold": 0.5, "shingles": "word 5-grams of lower().split()"},
    }


TEXTDEDUP_SCRIPT = r"""
import json, sys
from text_dedup import minhash
corpus, output, cache = sys.argv[1:4]
args = ["--path", "json", "--data_files", corpus, "--split", "train", "--cache_dir", cache, "--column", "text",
        "--output", cache + "/out", "--num_proc", "2", "--threshold", "0.5", "--num_perm", "128", "--ngram", "5",
        "--hash_func", "xxh3", "--min_length", "1"]
try:
    minhash.main(args, standalone_mode=False)
except SystemExit:
    pass
ids, published = [], {}
with open(corpus, encoding="utf-8") as handle:
    for line in handle:
        record = json.loads(line)
        ids.append(record["id"]); published[record["id"]] = record.get("published")
groups = {}
for index, key in enumerate(ids):
    groups.setdefault(minhash.uf.find(index), []).append(key)
clusters = [sorted(g) for g in groups.values() if len(g) > 1]
origins = [min(c, key=lambda m: (published[m] is None, published[m] or "", m)) for c in clusters]
json.dump({"clusters": clusters, "origins": origins, "parameters": {"num_perm": 128, "threshold": 0.5,
           "ngram": 5, "hash_func": "xxh3", "num_proc": 2, "version": "text-dedup minhash"}}, open(output, "w"))
"""

RUNNERS = {"dedup-copies": run_dedup_copies, "dedup-full": run_dedup_full, "datasketch": run_datasketch}


def _child(tool: str, corpus: Path, output: Path) -> None:
    started = time.perf_counter()
    predicted = RUNNERS[tool](corpus)
    predicted["inner_seconds"] = round(time.perf_counter() - started, 3)
    output.write_text(json.dumps(predicted), encoding="utf-8")


def _pss(pid: int) -> int:
    """A process's proportional set size in bytes (0 when unknown): its shared pages divided among their sharers."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def stage_at(
    stages: Sequence[Sequence[Any]],
    seconds: float,
    ends: Sequence[float] | None = None,
    moment: float | None = None,
) -> str | None:
    """The stage running ``seconds`` after the start, by the run's stage clock (``[name, seconds]`` in order).

    With ``ends`` (each stage's end by the wall clock) and ``moment`` (the wall clock then), placed exactly: a moment
    before the first stage or after the last is named so (the reading before the pipeline's clock starts; the result
    handed back and written after it). Without them, by the summed seconds: the clock starts after the interpreter,
    the imports and the first read, so a moment at a stage's edge may be named for the stage before it, and one in
    the last seconds is None."""
    if ends is not None and moment is not None and len(ends) == len(stages) and stages:
        if moment < ends[0] - float(stages[0][1]):
            return "before the stages (start, first read)"
        for (name, _), end in zip(stages, ends, strict=True):
            if moment <= end:
                return str(name)
        return "after the stages (the result handed back and written)"
    end = 0.0
    for name, took in stages:
        end += took
        if seconds <= end:
            return str(name)
    return None


def measure(command: Sequence[str], timeout: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``command``; wall and CPU seconds, peak memory of the whole process tree (sampled), exit code, stderr tail.

    ``peak_rss_gb`` adds the resident sizes of the processes: forked workers count every page they share
    with the parent again (a fork pool of two shows about three times the parent's heap);
    ``peak_pss_gb`` counts shared pages once (Linux; 0 elsewhere).
    """
    import psutil

    started = time.perf_counter()
    used_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    # its own process group, so a timeout ends the tool's workers too (they hold the stderr pipe open)
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True, start_new_session=True
    )
    peak = peak_pss = 0
    peak_pss_at = peak_pss_moment = 0.0
    peak_pss_processes: list[dict[str, Any]] = []
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_pss, peak_pss_at, peak_pss_moment, peak_pss_processes
        try:
            root = psutil.Process(process.pid)
        except psutil.NoSuchProcess:
            return
        count = 0
        while not stop.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                total = 0
                for member in tree:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        total += member.memory_info().rss
                peak = max(peak, total)
                if count % 5 == 0:  # proportional set size: shared pages counted once (every 0.5 s: it costs more)
                    sizes = [(member.pid, _pss(member.pid)) for member in tree]
                    if sum(size for _, size in sizes) > peak_pss:  # when, and who held it: the parent or workers
                        peak_pss = sum(size for _, size in sizes)
                        peak_pss_at = time.perf_counter() - started
                        peak_pss_moment = time.time()
                        peak_pss_processes = [
                            {"pid": pid, "root": pid == process.pid, "pss_gb": round(size / 1e9, 3)}
                            for pid, size in sizes
                        ]
                count += 1
            except psutil.NoSuchProcess:
                return
            stop.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        _, stderr = process.communicate(timeout=timeout)
        code = process.returncode
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
        code = "timeout"
    stop.set()
    sampler.join()
    used = resource.getrusage(resource.RUSAGE_CHILDREN)  # the child and every worker it waited for
    return {
        "seconds": round(time.perf_counter() - started, 2),
        # CPU seconds (user + system) of the process tree: fairer than wall seconds on a shared machine
        "cpu_seconds": round(used.ru_utime + used.ru_stime - used_before.ru_utime - used_before.ru_stime, 2),
        "peak_rss_gb": round(peak / 1e9, 3),
        "peak_pss_gb": round(peak_pss / 1e9, 3),
        "peak_pss_at_s": round(peak_pss_at, 1),  # seconds after the start (the stage clock tells which stage)
        "peak_pss_moment": round(peak_pss_moment, 3),  # the wall clock then (epoch seconds): the stage ends place it
        "peak_pss_processes": peak_pss_processes,
        "exit": code,
        "stderr_tail": (stderr or "")[-600:],
    }


# --- quality ----------------------------------------------------------------------------------------------------


def wrong_pairs(truth: dict[str, Any], clusters: Sequence[Sequence[str]]) -> dict[str, int]:
    """Predicted pairs the truth puts apart, by what they join: two articles of no generated story (``pool-pool``:
    distractors and unrelated real or synthetic texts), a story member and such an article (``pool-story``), or
    members of two stories (``story-story``). Where the lost precision is."""
    story = {member["id"]: cluster["id"] for cluster in truth["clusters"] for member in cluster["members"]}
    counts = {"pool-pool": 0, "pool-story": 0, "story-story": 0}
    for members in clusters:
        in_story: dict[str, int] = {}
        pool = 0
        for member in members:
            if member in story:
                in_story[story[member]] = in_story.get(story[member], 0) + 1
            else:
                pool += 1
        stories = sum(in_story.values())
        counts["pool-pool"] += pool * (pool - 1) // 2
        counts["pool-story"] += pool * stories
        counts["story-story"] += (stories * stories - sum(n * n for n in in_story.values())) // 2
    return counts


def quality(truth: dict[str, Any], ids: list[str], predicted: dict[str, Any]) -> dict[str, Any]:
    """Pairwise P/R/F1 and ARI (all, copies, rewrites), recall per kind, origin accuracy."""
    from sklearn.metrics import adjusted_rand_score

    from benchmarks.metrics import pairwise_prf

    gold: dict[str, str] = {key: f"s:{key}" for key in ids}
    kind: dict[str, str] = {}
    for cluster in truth["clusters"]:
        for member in cluster["members"]:
            gold[member["id"]] = cluster["id"]
            kind[member["id"]] = member["kind"]
    guess: dict[str, str] = {key: f"s:{key}" for key in ids}
    origin_of_label: dict[str, str | None] = {}
    for number, (members, origin) in enumerate(zip(predicted["clusters"], predicted["origins"], strict=True)):
        for member in members:
            guess[member] = f"p{number}"
        origin_of_label[f"p{number}"] = origin

    def scores(keep: frozenset[str] | None, labels: dict[str, str] = guess) -> dict[str, float]:
        items = [key for key in ids if keep is None or kind.get(key, "origin") in keep or key not in kind]
        result = pairwise_prf({k: gold[k] for k in items}, {k: labels[k] for k in items})
        result["ari"] = adjusted_rand_score([gold[k] for k in items], [labels[k] for k in items])
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}

    per_kind: dict[str, list[int]] = {}
    correct_origins = found_clusters = correct_found = 0
    for cluster in truth["clusters"]:
        origin = cluster["origin"]
        for member in cluster["members"][1:]:
            hit = guess[member["id"]] == guess[origin] and not guess[origin].startswith("s:")
            per_kind.setdefault(member["kind"], [0, 0])[0] += int(hit)
            per_kind[member["kind"]][1] += 1
        if origin_of_label.get(guess[origin]) == origin:
            correct_origins += 1
        if any(guess[m["id"]] == guess[origin] for m in cluster["members"][1:]) and not guess[origin].startswith("s:"):
            found_clusters += 1
            correct_found += int(origin_of_label.get(guess[origin]) == origin)
    derived_view: dict[str, Any] = {}
    if "derived_clusters" in predicted:
        derived_guess = {key: f"s:{key}" for key in ids}
        for number, members in enumerate(predicted["derived_clusters"]):
            for member in members:
                derived_guess[member] = f"d{number}"
        derived_view = scores(None, derived_guess)
        derived_view["copies"] = scores(frozenset({"origin"}) | COPY_KINDS, derived_guess)
        derived_view["rewrites"] = scores(frozenset({"origin"}) | REWRITE_KINDS, derived_guess)
        derived_view["wrong_pairs"] = wrong_pairs(truth, predicted["derived_clusters"])
    return {
        "all": {**scores(None), "wrong_pairs": wrong_pairs(truth, predicted["clusters"])},
        "derived_only": derived_view,
        "copies": scores(frozenset({"origin"}) | COPY_KINDS),
        "rewrites": scores(frozenset({"origin"}) | REWRITE_KINDS),
        "recall_by_kind": {k: round(hit / total, 4) for k, (hit, total) in sorted(per_kind.items())},
        "origin_accuracy": round(correct_origins / max(len(truth["clusters"]), 1), 4),
        "origin_accuracy_found": round(correct_found / max(found_clusters, 1), 4),
        "clusters_found": found_clusters,
        "largest_predicted_cluster": max((len(c) for c in predicted["clusters"]), default=0),
    }


# --- the table ----------------------------------------------------------------------------------------------------


def machine(textdedup_python: str | None = None) -> dict[str, Any]:
    import psutil

    def version(name: str) -> str | None:
        try:
            from importlib.metadata import version as get

            return get(name)
        except Exception:
            return None

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPOSITORY, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(["git", "status", "--porcelain"], cwd=REPOSITORY, capture_output=True, text=True).stdout
        )
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = None, None
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "dirty": dirty,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "numpy": version("numpy"),
        "datasketch": version("datasketch"),
        "text-dedup": _peer_version(textdedup_python) if textdedup_python else version("text-dedup"),
    }


def _peer_version(python: str) -> str | None:
    """text-dedup's version as the interpreter that runs it sees it (it may live in its own environment)."""
    probe = "import importlib.metadata as m; print(m.version('text-dedup'))"
    found = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False)
    return found.stdout.strip() or None


def _derived_f1(quality: dict[str, Any]) -> str:
    """F1 of the derived-members view: all / copies / rewrites."""
    view = quality.get("derived_only")
    if not view:
        return "—"
    return f"{view['f1']:.3f} {view['copies']['f1']:.3f} {view['rewrites']['f1']:.3f}"


def render(rows: list[dict[str, Any]]) -> str:
    header = (
        f"{'size':>8} {'tool':<13} {'seconds':>8} {'CPU s':>7} {'art/s':>8} {'peak GB':>7} {'PSS GB':>6} {'×dedup':>7} "
        f"{'F1 all':>6} {'F1 copy':>7} {'F1 rewr':>7} {'ARI':>6} {'origin':>6} {'F1 der: all copy rewr':>21}  note"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        if row.get("skipped"):
            lines.append(
                f"{row['size']:>8} {row['tool']:<13} {'—':>8} {'—':>7} {'—':>8} {'—':>7} {'—':>6} {'—':>7}  "
                f"{row['skipped']}"
            )
            continue
        q = row.get("quality", {})
        ratio = row.get("dedup_speedup")
        lines.append(
            f"{row['size']:>8} {row['tool']:<13} {row['seconds']:>8.1f} {row.get('cpu_seconds', 0):>7.1f} "
            f"{row['articles_per_second']:>8.0f} "
            f"{row['peak_rss_gb']:>7.2f} {row.get('peak_pss_gb', 0):>6.2f} "
            f"{'' if ratio is None else f'{ratio:.1f}×':>7} "
            f"{q.get('all', {}).get('f1', 0):>6.3f} {q.get('copies', {}).get('f1', 0):>7.3f} "
            f"{q.get('rewrites', {}).get('f1', 0):>7.3f} {q.get('all', {}).get('ari', 0):>6.3f} "
            f"{q.get('origin_accuracy', 0):>6.3f} {_derived_f1(q):>21}  {row.get('note', '')}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--modes", default="copies,full", help="dedup modes: copies, full")
    parser.add_argument("--peers", default="datasketch,textdedup", help="datasketch, textdedup, or none")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "dedup-scale")
    parser.add_argument(
        "--full-cap", type=int, default=100000, help="largest corpus the full pipeline runs on (1M: ~41 min, ~7.3 GB)"
    )
    parser.add_argument("--peer-cap", type=int, default=100000, help="largest corpus the datasketch peer runs on")
    parser.add_argument(
        "--timeout", type=float, default=10800, help="seconds before a tool run is ended (its whole process group)"
    )
    parser.add_argument("--textdedup-python", default=os.environ.get("DEDUP_TEXTDEDUP_PYTHON", sys.executable))
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE", help="a full-mode setting"
    )
    parser.add_argument("--run", choices=sorted(RUNNERS), help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run:
        _child(args.run, args.corpus, args.result)
        return
    sizes = [int(s) for s in args.sizes.split(",") if s]
    modes = [m for m in args.modes.split(",") if m]
    peers = [p for p in args.peers.split(",") if p and p != "none"]
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    from benchmarks.meter import parse_overrides

    env = {
        **os.environ,
        "PYTHONPATH": str(REPOSITORY),
        "DEDUP_SCALE_OVERRIDES": json.dumps(parse_overrides(args.overrides)),
    }
    for size in sizes:
        folder = corpus_for(size, args.seed, args.workdir)
        corpus = folder / "corpus.jsonl"
        truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
        ids, _ = _read_meta(corpus)
        tools = [f"dedup-{m}" for m in modes] + peers
        size_rows: list[dict[str, Any]] = []
        for tool in tools:
            row: dict[str, Any] = {"size": size, "tool": tool, "load_before": round(os.getloadavg()[0], 2)}
            result_path = args.workdir / f"pred-{tool}-{size}.json"
            result_path.unlink(missing_ok=True)
            if tool == "dedup-full" and size > args.full_cap:
                row["skipped"] = f"full pipeline not run above {args.full_cap} articles (--full-cap N runs it)"
            elif tool == "datasketch" and size > args.peer_cap:
                row["skipped"] = f"not run above {args.peer_cap} articles (≈1.9k articles/s: hours)"
            elif tool == "textdedup":
                check = subprocess.run(
                    [args.textdedup_python, "-c", "import text_dedup.minhash"], capture_output=True, text=True
                )
                if check.returncode:
                    row["skipped"] = "text-dedup not importable: " + (check.stderr.strip().splitlines() or ["?"])[-1]
                else:
                    cache = args.workdir / f"textdedup-cache-{size}"
                    subprocess.run(["rm", "-rf", str(cache)], check=False)
                    cache.mkdir(parents=True)
                    command = [args.textdedup_python, "-c", TEXTDEDUP_SCRIPT, str(corpus), str(result_path), str(cache)]
                    row.update(measure(command, args.timeout))
            else:
                command = [sys.executable, str(Path(__file__).resolve()), "--run", tool, "--corpus", str(corpus)]
                row.update(measure([*command, "--result", str(result_path)], args.timeout, env))
            if "seconds" in row:
                row["load_after"] = round(os.getloadavg()[0], 2)
                row["articles_per_second"] = round(size / row["seconds"], 1)
                if row["exit"] == 0 and result_path.exists():
                    predicted = json.loads(result_path.read_text(encoding="utf-8"))
                    row["inner_seconds"] = predicted.get("inner_seconds")
                    if predicted.get("stages"):
                        row["stages"] = predicted["stages"]
                        row["peak_pss_stage"] = stage_at(
                            predicted["stages"],
                            row["peak_pss_at_s"],
                            predicted.get("stage_ends"),
                            row.get("peak_pss_moment"),
                        )
                    if predicted.get("sides"):
                        row["sides"] = predicted["sides"]
                    row["parameters"] = predicted.get("parameters")
                    row["quality"] = quality(truth, ids, predicted)
                    row.pop("stderr_tail", None)
                else:
                    row["note"] = f"failed ({row['exit']}): {row.get('stderr_tail', '')[-200:]}"
            print(render([row]).splitlines()[-1], file=sys.stderr)
            for name, seconds in row.get("stages", []):
                print(f"{'':>8} {'':<13} {seconds:>8.1f}  stage {name}", file=sys.stderr)
            if row.get("peak_pss_processes"):
                held = ", ".join(
                    f"{'tool' if member['root'] else member['pid']} {member['pss_gb']:.2f}"
                    for member in row["peak_pss_processes"]
                )
                print(
                    f"{'':>8} {'':<13} peak PSS {row['peak_pss_gb']:.2f} GB at {row['peak_pss_at_s']:.0f} s"
                    f" ({row.get('peak_pss_stage') or '?'}): {held}",
                    file=sys.stderr,
                )
            size_rows.append(row)
        copies = next((r for r in size_rows if r["tool"] == "dedup-copies" and "seconds" in r), None)
        for row in size_rows:
            if copies and "seconds" in row and row is not copies:
                row["dedup_speedup"] = round(row["seconds"] / copies["seconds"], 2)
        rows.extend(size_rows)
    table = render(rows)
    print(table)
    print("×dedup: this tool's seconds / dedup copies-only seconds on the same corpus (higher = dedup faster)")
    print(
        "F1 der: pairwise F1 (all, copies, rewrites) with only the members the tool calls derived"
        " (same-story neighbours as singletons)"
    )
    document = {
        "schema": SCHEMA,
        "machine": machine(args.textdedup_python),
        "arguments": {k: str(v) for k, v in vars(args).items() if k not in ("run", "corpus", "result")},
        "note": "load_before/after: 1-minute load average around each run (other jobs shared this machine)",
        "rows": rows,
        "table": table.splitlines(),
    }
    output = args.output or RESULTS / f"scale-{datetime.now(UTC).date().isoformat()}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
