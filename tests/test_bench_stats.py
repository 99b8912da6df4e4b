from __future__ import annotations

import pytest

from bench.stats import percentile, summary_ms


def test_nearest_rank_percentiles() -> None:
    samples = [float(v) for v in range(1, 101)]
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 99) == 99.0
    assert percentile(samples, 100) == 100.0
    assert percentile([3.0], 99) == 3.0


def test_summary_in_milliseconds() -> None:
    out = summary_ms([0.001, 0.002, 0.003])
    assert out["p50_ms"] == 2.0 and out["max_ms"] == 3.0 and out["n"] == 3


def test_empty_samples_are_an_error() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
