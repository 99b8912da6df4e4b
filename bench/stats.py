"""Small statistics for benchmark samples, and the common output: one JSON line plus a human summary."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100)."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


def summary_ms(samples_s: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples_s]
    return {
        "n": float(len(ms)),
        "p50_ms": round(percentile(ms, 50), 2),
        "p90_ms": round(percentile(ms, 90), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "max_ms": round(max(ms), 2),
    }


def human(label: str, figures: Mapping[str, Any]) -> str:
    """One line for people: ``label: p50 1.2 ms  p90 …  p99 …  max …  (n runs)`` plus any rate."""
    parts = [
        f"{key[:-3]} {figures[key]:g} ms"
        for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms")
        if key in figures
    ]
    if "rps" in figures:
        parts.insert(0, f"{figures['rps']:g} req/s")
    if "ratio" in figures:
        parts.insert(0, f"{figures['ratio']:g}×")
    if "n" in figures:
        parts.append(f"(n={int(figures['n'])})")
    return f"{label}: " + "  ".join(parts)


def emit(benchmark: str, figures: Mapping[str, Any], **extra: Any) -> None:
    """Print the benchmark's JSON line (for ``bench.run`` and RESULTS.md) and its human summary."""
    print(json.dumps({"benchmark": benchmark, **figures, **extra}, ensure_ascii=False), flush=True)
    print("  " + human(benchmark, figures), flush=True)
