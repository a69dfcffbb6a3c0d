"""Will a full run fit in memory? An estimate from the articles' text, and what the machine has.

A full run holds, per article, its text (UTF-8, compressed: ~0.4 byte a character; the articles are handed over one at a
time, not held as objects), its cleaned form in the compact stored form (a few hundred bytes: sides are rebuilt in the
worker that aligns a pair, and a worker holds at most ``pipeline.MOST_SIDES`` of them), its signatures through the LSH
stage, the verdicts the output can still read and the passages as columns; the CLI's document is written a piece at a
time, never held. Measured peak PSS of whole runs (docs/scale.md, generated corpora, stop 20's code): 10k articles (15.7
million characters) 0.74 GB, 100k (209.8 million) 1.67 GB; 1M (2,268 million) at least 14.1 GB (stop 21: the parent's
RSS in the candidate stage, sampled; the run did not finish). 7 bytes a character above 640 MiB covers the three by 6-28
%. Stop 22 (the texts held compressed, the stem counts packed) measured 10k at 0.69 GB and 100k at 1.49 GB; the estimate
is kept until a 1M run of that code is measured. A run that would not fit is refused before it starts instead of being
killed by the system an hour in.
"""

from __future__ import annotations

import re
from pathlib import Path

BYTES_PER_CHARACTER = 7  # with BASE_BYTES, 6-28% above stop 20-21's runs (16 in stop 18, 32 in 17, 64 before)
BASE_BYTES = 640 * 2**20  # the interpreter, numpy, scikit-learn and two workers, and the bounded sides of the passes

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", re.IGNORECASE)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def full_run_bytes(characters: int) -> int:
    """The estimated peak memory of a full run over articles holding ``characters`` of text."""
    return BASE_BYTES + BYTES_PER_CHARACTER * characters


def parse_size(text: str) -> int:
    """Bytes for ``8G``, ``512M``, ``1.5GB``, ``2GiB`` or a plain number; ValueError otherwise."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError(f"not a size: {text!r} (examples: 8G, 512M, 1.5GB)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def available_bytes(meminfo: Path = Path("/proc/meminfo"), cgroup: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Memory a new run can use: the kernel's MemAvailable, capped by this cgroup's free limit (v2).

    None where neither can be read (not Linux): the caller then has nothing to check against.
    """
    found: list[int] = []
    try:
        for line in meminfo.read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
                break
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = (cgroup / "memory.max").read_text(encoding="ascii").strip()
        if limit != "max":
            used = int((cgroup / "memory.current").read_text(encoding="ascii").strip())
            found.append(max(int(limit) - used, 0))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def gigabytes(count: int) -> str:
    return f"{count / 2**30:,.1f} GB"
