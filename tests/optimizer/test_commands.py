"""When the optimizer sends (or refreshes) a charger command: the rate limit across a wall-clock step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.optimizer.commands import Commanded, next_command
from services.optimizer.control import Decision, Timers
from shared.messages import CommandReason

T0 = datetime(2026, 10, 25, 0, 59, tzinfo=UTC)
NOW = Decision(True, 16.0, 0, CommandReason.START_CHARGE, Timers(), case="now")
SENT = Commanded(True, 16.0, 0, CommandReason.START_CHARGE, T0, "now")


def test_a_refresh_waits_for_the_interval() -> None:
    second = timedelta(seconds=1)
    assert next_command(SENT, NOW, T0 + second / 2, refresh=True, interval=second) is None
    refreshed = next_command(SENT, NOW, T0 + second, refresh=True, interval=second)
    assert refreshed is not None and not refreshed.changed and refreshed.command.sent_at == T0 + second


def test_a_clock_stepped_back_does_not_hold_the_refresh_back() -> None:
    """The last command looks sent an hour in the future: before, no command went out for that hour and
    the charger went to its failsafe (found by tests/faults)."""
    back = T0 - timedelta(hours=1)
    refreshed = next_command(SENT, NOW, back, refresh=True, interval=timedelta(seconds=1))
    assert refreshed is not None and refreshed.command.sent_at == back
