"""Will a full run fit in memory? An estimate from the articles' text, and what the machine has.

The full pipeline holds, per article, its cleaned form, its sentence vectors and the aligners'
prepared sides in two processes: the peak grows with the text. Measured peak PSS of whole runs
(docs/scale.md, stop 14, generated corpora of ~2.1k characters an article): 10k articles 1.30 GB,
20k 2.42 GB, 50k 6.12 GB, 100k 12.8 GB — 58 to 62 bytes a character of text. A run that would
not fit is refused before it starts instead of being killed by the system an hour in.
"""

from __future__ import annotations

import re
from pathlib import Path

BYTES_PER_CHARACTER = 64  # the measured 58-62, rounded up
BASE_BYTES = 300 * 2**20  # the interpreter, numpy, scikit-learn and two workers before the first article

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
