"""Retry delays while a meter does not answer."""

from __future__ import annotations

import pytest

from shared.devices.source import backoff_s


@pytest.mark.parametrize(
    ("interval", "failures", "delay"),
    [
        (1.0, 0, 1.0),
        (1.0, 1, 1.0),
        (1.0, 2, 2.0),
        (1.0, 3, 4.0),
        (1.0, 5, 16.0),
        (1.0, 6, 30.0),
        (1.0, 60, 30.0),
        (0.1, 1, 0.1),
        (0.1, 4, 0.8),
        (60.0, 3, 60.0),
    ],
)
def test_backoff_doubles_up_to_the_cap(interval: float, failures: int, delay: float) -> None:
    assert backoff_s(interval, failures) == pytest.approx(delay)
