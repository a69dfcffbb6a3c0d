"""The engine's process pool: its workers do not outlive a parent killed outright."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="parent-death signals (prctl) are Linux's; elsewhere nothing is asked"
)

# a parent whose two workers each write their pid and then wait far longer than the test
PARENT = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from dedup.engine import run_batches

    def work(folder, batch):
        Path(folder, str(os.getpid())).write_text("")
        time.sleep(120)
        return [batch]

    run_batches(work, sys.argv[1], [0, 1], workers=2)
    """
)


def _alive(pid: int) -> bool:
    """Running or sleeping (a zombie waiting for its new parent to reap it counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_workers_end_when_the_parent_is_killed(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path)], env=env)
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.iterdir())) < 2:
            assert parent.poll() is None, "the parent ended before its workers started"
            assert time.monotonic() < deadline, "the workers never started"
            time.sleep(0.05)
        workers = [int(path.name) for path in tmp_path.iterdir()]
        assert all(_alive(pid) for pid in workers)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = [pid for pid in workers if _alive(pid)]
        assert not left, f"workers {left} outlived their killed parent"
    finally:
        parent.kill()
        for path in tmp_path.iterdir():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(path.name), signal.SIGKILL)
