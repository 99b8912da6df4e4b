"""What a benchmark ran on: CPU model, cores, Python, load — printed beside the figures."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def cpu_model(cpuinfo: str) -> str:
    """The ``model name`` line of ``/proc/cpuinfo`` (first CPU), or ``unknown``."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return "unknown"


def machine() -> dict[str, Any]:
    """CPU model, logical cores, Python version, 1-minute load average and the UTC date."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        cpuinfo = ""
    return {
        "cpu": cpu_model(cpuinfo) if cpuinfo else platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load1": round(os.getloadavg()[0], 2),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
