"""The scale benchmark's tool runner: a timeout ends the tool's whole process tree; the peak says who held it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.scale import measure, stage_at

# a tool whose child keeps the tool's stderr open long after the tool itself is killed
TOOL = (
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); time.sleep(120)"
)


@pytest.mark.skipif(sys.platform == "win32", reason="process groups are POSIX")
def test_a_timeout_ends_the_tool_and_its_children_promptly() -> None:
    started = time.monotonic()
    row = measure([sys.executable, "-c", TOOL], timeout=1.5)
    assert row["exit"] == "timeout"
    assert time.monotonic() - started < 30, "measure waited for a child the timeout left running"


# a tool whose child holds ~300 MB for two seconds while the tool itself holds little
HOLDER = (
    "import subprocess, sys; "
    "subprocess.run([sys.executable, '-c', 'import time; b = bytearray(300_000_000); time.sleep(2)'], check=True)"
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PSS is read from /proc")
def test_the_peak_names_its_moment_and_the_process_that_held_it() -> None:
    row = measure([sys.executable, "-c", HOLDER], timeout=60)
    assert row["exit"] == 0
    assert row["peak_pss_gb"] >= 0.3
    holders = sorted(row["peak_pss_processes"], key=lambda member: member["pss_gb"])
    assert not holders[-1]["root"] and holders[-1]["pss_gb"] >= 0.3  # the child, not the tool's own process
    assert [member["root"] for member in holders].count(True) == 1
    assert 0 < row["peak_pss_at_s"] < row["seconds"]


def test_stage_at_reads_the_stage_clock() -> None:
    stages = [["clean", 10.0], ["LSH", 5.0], ["passages", 20.0]]
    assert stage_at(stages, 3.0) == "clean"
    assert stage_at(stages, 10.0) == "clean"
    assert stage_at(stages, 10.5) == "LSH"
    assert stage_at(stages, 34.0) == "passages"
    assert stage_at(stages, 36.0) is None  # after the clock's last stage (writing the result)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PSS is read from /proc")
def test_the_memory_benchmark_runs_end_to_end_as_a_script(tmp_path: Path) -> None:
    """``benchmarks/memory.py`` run as its docstring says (a script, its child a script too) on the seeds: the stage
    log with each stage's highest PSS, the document written, the measurement saved."""
    root = Path(__file__).resolve().parents[1]
    output = tmp_path / "memory.json"
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "memory.py"), str(root / "seeds"), "--document",
         str(tmp_path / "seeds.json"), "--output", str(output)],
        capture_output=True, text=True, cwd=tmp_path, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = json.loads(output.read_text(encoding="utf-8"))
    assert record["exit"] == 0, record.get("stderr_tail")
    log = "\n".join(record["stage_log"])
    assert "stage clean and sketch" in log and "highest PSS during" in log and "document written" in log
    clusters = json.loads((tmp_path / "seeds.json").read_text(encoding="utf-8"))["clusters"]
    assert sorted(len(cluster["members"]) for cluster in clusters) == [2, 2]


def test_stage_at_places_a_moment_by_the_stage_ends() -> None:
    """With each stage's end by the wall clock, a moment is placed exactly, also before the first stage and after the
    last (where the summed seconds, which miss the time before the clock starts, cannot)."""
    stages = [["clean", 10.0], ["LSH", 5.0], ["passages", 20.0]]
    ends = [1000.0, 1005.0, 1025.0]
    assert stage_at(stages, 0.0, ends, 985.0) == "before the stages (start, first read)"
    assert stage_at(stages, 0.0, ends, 995.0) == "clean"
    assert stage_at(stages, 0.0, ends, 1000.5) == "LSH"
    assert stage_at(stages, 0.0, ends, 1025.0) == "passages"
    assert stage_at(stages, 0.0, ends, 1030.0) == "after the stages (the result handed back and written)"
    assert stage_at(stages, 34.0, None, None) == "passages"  # without the ends: the summed seconds
