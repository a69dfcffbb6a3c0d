"""The scale benchmark's tool runner: a timeout ends the tool's whole process tree."""

from __future__ import annotations

import sys
import time

import pytest

from benchmarks.scale import measure

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
