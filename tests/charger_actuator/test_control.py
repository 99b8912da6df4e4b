"""The command / failsafe / sync rules as tables over the pure state machine (frozen time)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.charger_actuator import control
from services.charger_actuator.control import Apply, ControlState, Target, Verdict
from services.charger_actuator.driver import Capabilities, ChargerReading
from shared.config_devices import FailsafeConfig
from shared.messages import ChargerCommand, ChargeStatus, CommandReason

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DISABLE = FailsafeConfig(mode="disable", timeout_s=60)
SAFE_CURRENT = FailsafeConfig(mode="current", current_a=8, timeout_s=60)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def command(
    seq: int,
    enabled: bool = True,
    current: float = 10,
    phases: int = 0,
    valid_s: float = 30,
    reason: CommandReason = CommandReason.SOLAR_CHARGING,
) -> ChargerCommand:
    return ChargerCommand(
        seq=seq,
        enabled=enabled,
        current_a=current,
        phases=phases,
        reason=reason,
        issued_at=T0,
        valid_until=at(valid_s),
    )


FRESH = control.initial_state(T0)
APPLIED_5 = replace(FRESH, target=Target(True, 10, 0, 5), last_seq=5, reason=CommandReason.SOLAR_CHARGING)
IN_FAILSAFE = replace(APPLIED_5, target=Target(False, 0), failsafe_reason="failsafe: optimizer offline")


@pytest.mark.parametrize(
    ("name", "state", "cmd", "now_s", "verdict", "target", "seq_after"),
    [
        ("first command applied", FRESH, command(1), 1, Verdict.APPLY, Target(True, 10, 0, 1), 1),
        ("newer seq applied", APPLIED_5, command(6, current=7), 1, Verdict.APPLY, Target(True, 7, 0, 6), 6),
        ("past valid_until ignored", FRESH, command(1, valid_s=30), 31, Verdict.EXPIRED, None, None),
        (
            "exactly at valid_until still valid",
            FRESH,
            command(1, valid_s=30),
            30,
            Verdict.APPLY,
            Target(True, 10, 0, 1),
            1,
        ),
        ("older seq ignored", APPLIED_5, command(4), 1, Verdict.STALE, Target(True, 10, 0, 5), 5),
        (
            "same seq is a keep-alive",
            APPLIED_5,
            command(5, current=16),
            1,
            Verdict.KEEPALIVE,
            Target(True, 10, 0, 5),
            5,
        ),
        ("same seq leaves failsafe", IN_FAILSAFE, command(5), 1, Verdict.APPLY, Target(True, 10, 0, 5), 5),
        (
            "newer seq leaves failsafe",
            IN_FAILSAFE,
            command(9, enabled=False),
            1,
            Verdict.APPLY,
            Target(False, 0, 0, 9),
            9,
        ),
        (
            "expired command keeps failsafe",
            IN_FAILSAFE,
            command(9, valid_s=10),
            11,
            Verdict.EXPIRED,
            Target(False, 0),
            5,
        ),
        (
            "enabled at 0 A is a disable",
            FRESH,
            command(1, current=0),
            1,
            Verdict.APPLY,
            Target(False, 0, 0, 1),
            1,
        ),
        (
            "disable keeps no current",
            FRESH,
            command(1, enabled=False, current=16),
            1,
            Verdict.APPLY,
            Target(False, 0, 0, 1),
            1,
        ),
        ("phase request carried", FRESH, command(1, phases=1), 1, Verdict.APPLY, Target(True, 10, 1, 1), 1),
        (
            "re-sent command in force is a keep-alive",
            APPLIED_5,
            command(6),
            1,
            Verdict.KEEPALIVE,
            Target(True, 10, 0, 6),
            6,
        ),
        (
            "same target, new reason is applied",
            APPLIED_5,
            command(6, reason=CommandReason.SCHEDULED_CHARGING),
            1,
            Verdict.APPLY,
            Target(True, 10, 0, 6),
            6,
        ),
        (
            "same target after a failed write is applied",
            replace(APPLIED_5, write_error="timeout"),
            command(6),
            1,
            Verdict.APPLY,
            Target(True, 10, 0, 6),
            6,
        ),
    ],
)
def test_receive_command(
    name: str,
    state: ControlState,
    cmd: ChargerCommand,
    now_s: float,
    verdict: Verdict,
    target: Target | None,
    seq_after: int | None,
) -> None:
    new, got, action = control.receive_command(state, cmd, at(now_s))
    assert got is verdict, name
    assert new.target == target, name
    assert new.last_seq == seq_after, name
    if verdict is Verdict.APPLY:
        assert action == Apply(target, cmd.reason)  # type: ignore[arg-type]
        assert not new.failsafe
        assert new.last_command_at == at(now_s)
    else:
        assert action is None
    if verdict in (Verdict.EXPIRED, Verdict.STALE):
        assert new == state, "an ignored command changes nothing"
    if verdict is Verdict.KEEPALIVE:
        assert new.last_command_at == at(now_s)


def reading(
    enabled: bool = True,
    current: float | None = 10,
    phases: int | None = None,
    status: ChargeStatus = ChargeStatus.C,
) -> ChargerReading:
    return ChargerReading(status=status, enabled=enabled, current_a=current, phases=phases)


FLOAT = Capabilities(current_step_a=0.0)
INTEGER = Capabilities(current_step_a=1.0)
SWITCHING = Capabilities(current_step_a=0.1, phase_switching=True)
HEARTBEAT = Capabilities(current_step_a=0.0, heartbeat_s=25)
SYNC = CommandReason.SYNC


@pytest.mark.parametrize(
    ("name", "state", "device", "caps", "config", "now_s", "expected"),
    [
        ("nothing before a command or timeout", FRESH, reading(), FLOAT, DISABLE, 59, []),
        (
            "timeout → failsafe disable",
            FRESH,
            reading(),
            FLOAT,
            DISABLE,
            60,
            [Apply(Target(False, 0), CommandReason.FAILSAFE)],
        ),
        (
            "timeout → failsafe safe current",
            FRESH,
            reading(),
            FLOAT,
            SAFE_CURRENT,
            60,
            [Apply(Target(True, 8), CommandReason.FAILSAFE)],
        ),
        (
            "failsafe even when the charger is dead",
            FRESH,
            None,
            FLOAT,
            DISABLE,
            61,
            [Apply(Target(False, 0), CommandReason.FAILSAFE)],
        ),
        (
            "timeout counted from the last command",
            replace(APPLIED_5, last_command_at=at(30)),
            reading(),
            FLOAT,
            DISABLE,
            89,
            [],
        ),
        (
            "already in failsafe: no second transition",
            replace(IN_FAILSAFE, target=Target(False, 0)),
            reading(enabled=False, current=0),
            FLOAT,
            DISABLE,
            500,
            [],
        ),
        ("device agrees", APPLIED_5, reading(), FLOAT, DISABLE, 10, []),
        (
            "device disabled behind our back",
            APPLIED_5,
            reading(enabled=False, current=0),
            FLOAT,
            DISABLE,
            10,
            [Apply(Target(True, 10, 0, 5), SYNC)],
        ),
        (
            "device enabled though it should not be",
            replace(APPLIED_5, target=Target(False, 0, 0, 5)),
            reading(),
            FLOAT,
            DISABLE,
            10,
            [Apply(Target(False, 0, 0, 5), SYNC)],
        ),
        ("current within 0.23 A", APPLIED_5, reading(current=10.2), FLOAT, DISABLE, 10, []),
        (
            "current off by 0.3 A",
            APPLIED_5,
            reading(current=9.7),
            FLOAT,
            DISABLE,
            10,
            [Apply(Target(True, 10, 0, 5), SYNC)],
        ),
        (
            "integer charger holds the truncated current",
            replace(APPLIED_5, target=Target(True, 7.5, 0, 5)),
            reading(current=7),
            INTEGER,
            DISABLE,
            10,
            [],
        ),
        (
            "current unknown: only the enable state counts",
            APPLIED_5,
            reading(current=None),
            FLOAT,
            DISABLE,
            10,
            [],
        ),
        (
            "wrong phases on a switching charger",
            replace(APPLIED_5, target=Target(True, 10, 1, 5)),
            reading(phases=3),
            SWITCHING,
            DISABLE,
            10,
            [Apply(Target(True, 10, 1, 5), SYNC)],
        ),
        (
            "phases ignored without switching",
            replace(APPLIED_5, target=Target(True, 10, 1, 5)),
            reading(phases=3),
            FLOAT,
            DISABLE,
            10,
            [],
        ),
        (
            "no re-sync while backing off",
            replace(APPLIED_5, retry_at=at(20)),
            reading(enabled=False),
            FLOAT,
            DISABLE,
            10,
            [],
        ),
        (
            "re-sync after the backoff",
            replace(APPLIED_5, retry_at=at(20)),
            reading(enabled=False),
            FLOAT,
            DISABLE,
            20,
            [Apply(Target(True, 10, 0, 5), SYNC)],
        ),
        ("dead charger: nothing to compare", APPLIED_5, None, FLOAT, DISABLE, 10, []),
        (
            "heartbeat due",
            replace(APPLIED_5, last_write_at=at(0)),
            reading(),
            HEARTBEAT,
            DISABLE,
            25,
            [Apply(Target(True, 10, 0, 5), SYNC, event=False, refresh=True)],
        ),
        (
            "heartbeat not yet due",
            replace(APPLIED_5, last_write_at=at(0)),
            reading(),
            HEARTBEAT,
            DISABLE,
            24,
            [],
        ),
        (
            "no heartbeat while disabled",
            replace(APPLIED_5, target=Target(False, 0, 0, 5), last_write_at=at(0)),
            reading(enabled=False, current=0),
            HEARTBEAT,
            DISABLE,
            40,
            [],
        ),
    ],
)
def test_tick(
    name: str,
    state: ControlState,
    device: ChargerReading | None,
    caps: Capabilities,
    config: FailsafeConfig,
    now_s: float,
    expected: list[Apply],
) -> None:
    new, actions = control.tick(state, device, caps, config, at(now_s))
    assert actions == expected, name
    if any(a.reason is CommandReason.FAILSAFE for a in expected):
        assert new.failsafe
        assert new.failsafe_reason == f"failsafe: no valid command for {config.timeout_s:g} s"
        assert new.target == expected[0].target


def test_optimizer_offline_enters_failsafe_once_and_restart_resets_seq() -> None:
    state, action = control.optimizer_status(replace(APPLIED_5, optimizer_online=True), False, DISABLE)
    assert action == Apply(Target(False, 0), CommandReason.FAILSAFE)
    assert state.failsafe_reason == "failsafe: optimizer offline"
    again, action = control.optimizer_status(state, False, DISABLE)
    assert action is None and again.failsafe
    back, action = control.optimizer_status(again, True, DISABLE)
    assert action is None
    assert back.failsafe, "coming online is not a command: failsafe stays until one arrives"
    assert back.last_seq is None, "a restarted optimizer may start its seq again"
    state, verdict, _ = control.receive_command(back, command(0), at(1))
    assert verdict is Verdict.APPLY and not state.failsafe


def test_online_without_restart_keeps_seq() -> None:
    state, _ = control.optimizer_status(APPLIED_5, True, DISABLE)
    assert state.last_seq == 5


def test_failed_writes_back_off_and_success_resets() -> None:
    state = APPLIED_5
    delays = []
    for _ in range(7):
        state = control.applied(state, False, "timeout", at(0))
        assert state.write_error == "timeout"
        assert state.retry_at is not None
        delays.append((state.retry_at - at(0)).total_seconds())
    assert delays == [2, 4, 8, 16, 32, 60, 60]
    state = control.applied(state, True, None, at(100))
    assert (state.failures, state.retry_at, state.write_error, state.last_write_at) == (
        0,
        None,
        None,
        at(100),
    )


def _cmd(epoch: int, seq: int, issued_s: float, valid_s: float = 30, current: float = 10) -> ChargerCommand:
    return ChargerCommand(
        epoch=epoch,
        seq=seq,
        enabled=True,
        current_a=current,
        reason=CommandReason.SOLAR_CHARGING,
        issued_at=at(issued_s),
        valid_until=at(issued_s + valid_s),
    )


REAL = 1_780_000_000_000
"""The real optimizer's epoch (its start in unix ms)."""


@pytest.mark.parametrize(
    ("name", "forged"),
    [
        ("huge seq in the real epoch", _cmd(REAL, 2**62, 10, current=6)),
        ("huge seq in a made-up epoch", _cmd(2**62, 2**62, 10, current=6)),
        ("issued a little ahead (within the skew)", _cmd(REAL + 1, 2**62, 14, current=6)),
    ],
)
def test_a_forged_command_cannot_lock_out_the_real_optimizer(name: str, forged: ChargerCommand) -> None:
    """One forged command on the anonymous broker used to stop every later optimizer command until the
    optimizer restarted. Now the real one's next command, issued later, takes over."""
    state, verdict, _ = control.receive_command(FRESH, _cmd(REAL, 7, 9), at(9))
    assert verdict is Verdict.APPLY
    state, verdict, _ = control.receive_command(state, forged, at(10))
    assert verdict is Verdict.APPLY, name  # a stranger's command is a command: the ACL keeps strangers out
    for second in range(11, 40):
        state, verdict, _ = control.receive_command(state, _cmd(REAL, second, second, current=16), at(second))
        if verdict is Verdict.APPLY:
            break
    assert verdict is Verdict.APPLY and state.target == Target(True, 16, 0, second), name
    assert second <= 10 + control.MAX_CLOCK_SKEW_S + 1, name


@pytest.mark.parametrize(
    ("name", "cmd"),
    [
        ("issued an hour ahead", _cmd(REAL, 1, 3600)),
        ("valid for a day", _cmd(REAL, 1, 0, valid_s=86_400)),
        ("valid before it was issued", _cmd(REAL, 1, 4, valid_s=-1)),
    ],
)
def test_implausible_commands_are_not_applied(name: str, cmd: ChargerCommand) -> None:
    state, verdict, action = control.receive_command(APPLIED_5, cmd, at(0))
    assert verdict is Verdict.IMPLAUSIBLE, name
    assert state == APPLIED_5 and action is None


def test_a_restarted_optimizer_takes_over_and_a_replay_of_the_old_one_does_not() -> None:
    old = 1000
    state, _, _ = control.receive_command(FRESH, _cmd(old, 900, 1), at(1))
    state, verdict, _ = control.receive_command(state, _cmd(REAL, 1, 5, current=12), at(5))
    assert verdict is Verdict.APPLY and state.last_epoch == REAL and state.last_seq == 1
    # the old instance's last command, delivered again after a reconnect (QoS 1), is older
    state, verdict, _ = control.receive_command(state, _cmd(old, 900, 1), at(6))
    assert verdict is Verdict.STALE and state.last_epoch == REAL
    # an older command of the same instance, re-delivered: stale; the next one applies
    state, _, _ = control.receive_command(state, _cmd(REAL, 2, 7, current=13), at(7))
    _, verdict, _ = control.receive_command(state, _cmd(REAL, 1, 5, current=12), at(8))
    assert verdict is Verdict.STALE


def test_ordering_within_an_instance_survives_its_clock_stepping_back() -> None:
    """An NTP step back on the optimizer's host: its next commands say they were issued earlier, but
    their seq is higher — they are newer."""
    state, _, _ = control.receive_command(FRESH, _cmd(REAL, 10, 100), at(100))
    state, verdict, _ = control.receive_command(state, _cmd(REAL, 11, 40, current=14), at(40))
    assert verdict is Verdict.APPLY and state.target == Target(True, 14, 0, 11)


def test_after_the_command_in_force_expired_any_genuine_one_takes_over() -> None:
    """The optimizer restarts on a host whose clock is 20 s behind the old one's: its commands say they
    were issued before the command in force and wait until that one's validity is over."""
    state, _, _ = control.receive_command(FRESH, _cmd(1000, 5, 100, valid_s=30), at(100))
    _, verdict, _ = control.receive_command(state, _cmd(REAL, 1, 85), at(105))
    assert verdict is Verdict.STALE
    state, verdict, _ = control.receive_command(state, _cmd(REAL, 2, 111, current=12), at(131))
    assert verdict is Verdict.APPLY and state.last_epoch == REAL


def test_a_step_of_our_own_clock_keeps_the_same_host_optimizer_in_force() -> None:
    """Optimizer and actuator on one host, its clock steps back a minute: the optimizer's next commands
    are issued 'earlier' than the last one; after the carry they are still the newer ones."""
    state, _, _ = control.receive_command(FRESH, _cmd(1000, 5, 100), at(100))
    state = control.clock_stepped(state, timedelta(seconds=-60))
    state, verdict, _ = control.receive_command(state, _cmd(REAL, 1, 41, current=12), at(41))
    assert verdict is Verdict.APPLY and state.last_epoch == REAL


def test_a_wall_clock_step_moves_the_failsafe_timer_with_it() -> None:
    state, _, _ = control.receive_command(FRESH, _cmd(REAL, 1, 1), at(1))
    reading = ChargerReading(status=ChargeStatus.C, enabled=True, current_a=10)
    caps = Capabilities()
    # the clock steps back an hour: without the carry the failsafe would wait an hour and a minute
    back = control.clock_stepped(state, timedelta(hours=-1))
    stepped, actions = control.tick(back, reading, caps, DISABLE, at(1 + 61) - timedelta(hours=1))
    assert stepped.failsafe and actions[0].reason is CommandReason.FAILSAFE
    # the clock steps forward an hour: without the carry the failsafe would trip at once
    ahead = control.clock_stepped(state, timedelta(hours=1))
    stepped, actions = control.tick(ahead, reading, caps, DISABLE, at(2) + timedelta(hours=1))
    assert not stepped.failsafe and not [a for a in actions if a.reason is CommandReason.FAILSAFE]


def test_the_failsafe_comes_when_the_command_in_force_expires_before_the_timeout() -> None:
    """Validity 30 s, failsafe timeout 60 s: the charger must not run on an expired command for 30 s."""
    state, _, _ = control.receive_command(FRESH, _cmd(REAL, 1, 0, valid_s=30), at(0))
    reading = ChargerReading(status=ChargeStatus.C, enabled=True, current_a=10)
    state, actions = control.tick(state, reading, Capabilities(), DISABLE, at(30))
    assert not state.failsafe and not actions
    state, actions = control.tick(state, reading, Capabilities(), DISABLE, at(30.5))
    assert state.failsafe_reason == "failsafe: the command in force expired"
    assert actions == [Apply(Target(False, 0), CommandReason.FAILSAFE)]
