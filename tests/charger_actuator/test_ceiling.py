"""The load-management ceiling mirrored into every command: a charger left without commands falls back to
min(failsafe current, the last ceiling), and no command is applied above its own ceiling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.charger_actuator import control
from services.charger_actuator.control import Target
from services.charger_actuator.driver import Capabilities, ChargerReading
from shared.config_devices import FailsafeConfig
from shared.messages import ChargerCommand, ChargeStatus, CommandReason

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SAFE_10A = FailsafeConfig(mode="current", current_a=10, timeout_s=60)


def command(seq: int, current_a: float, ceiling_a: float | None) -> ChargerCommand:
    return ChargerCommand(
        seq=seq, enabled=True, current_a=current_a, reason=CommandReason.LOAD_BALANCING, issued_at=T0,
        valid_until=T0 + timedelta(seconds=30), ceiling_a=ceiling_a,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("ceiling", "expected"),
    [
        (None, Target(enabled=True, current_a=10)),
        (16.0, Target(enabled=True, current_a=10)),
        (8.0, Target(enabled=True, current_a=8)),
        (4.0, Target(enabled=False, current_a=0.0)),
    ],
    ids=["no limit", "limit above the failsafe", "circuit limit below the failsafe", "too little to charge"],
)
def test_the_failsafe_current_stays_under_the_last_ceiling(ceiling: float | None, expected: Target) -> None:
    state = control.initial_state(T0)
    state, _, _ = control.receive_command(state, command(1, 6, ceiling), T0)
    reading = ChargerReading(status=ChargeStatus.C, enabled=True, current_a=6)
    state, actions = control.tick(state, reading, Capabilities(), SAFE_10A, T0 + timedelta(seconds=61))
    assert state.failsafe and [a.target for a in actions] == [expected]


def test_a_command_is_never_applied_above_its_ceiling() -> None:
    _, _, action = control.receive_command(control.initial_state(T0), command(1, 16, 11.5), T0)
    assert action is not None and action.target.current_a == 11.5


def test_an_optimizer_going_offline_keeps_the_ceiling() -> None:
    state = control.initial_state(T0)
    state, _, _ = control.receive_command(state, command(1, 6, 7.0), T0)
    state, action = control.optimizer_status(state, online=False, config=SAFE_10A)
    assert action is not None and action.target == Target(enabled=True, current_a=7.0)
