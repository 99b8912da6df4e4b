"""The actuator's decisions as a pure state machine: which commands to apply, when to re-sync the charger,
when to enter and leave the failsafe. No I/O and no clock of its own — every transition takes ``now`` —
so each rule is a row in a table-driven test. The runner performs the resulting :class:`Apply` actions.

Rules (DESIGN §2, evcc's setLimit/syncCharger):
- A command past ``valid_until`` is never applied, nor one that cannot be genuine: issued more than
  ``MAX_CLOCK_SKEW_S`` in the future or valid for longer than ``MAX_COMMAND_VALIDITY_S``.
- Ordering: a command supersedes the one in force when it is from the same optimizer instance (``epoch``)
  with a higher ``seq``, or issued later (``issued_at``), or when the one in force has expired. An older
  one (a re-delivered or replayed command) is ignored. So one forged command with a huge seq or a strange
  epoch — the demo's broker is anonymous — holds the real optimizer off for at most the clock skew, not
  until it restarts; the broker's ACL is what keeps strangers out in production. A restarted optimizer
  has a new epoch, and its commands are issued later than the old one's.
- The same (epoch, seq) again, or a newer one asking for exactly what is in force (same enabled, current,
  phases and reason — the optimizer re-sends its command every tick), is a keep-alive: it is echoed and
  resets the failsafe timer but writes nothing and logs no command event. In failsafe or after a failed
  write it is applied.
- No valid command for ``failsafe.timeout_s``, the command in force past its ``valid_until``, or the
  optimizer reported offline → failsafe target
  (disabled, or enabled at the safe current), until the next valid command. The safe current never exceeds
  the ceiling of the last command (the load-management limits mirrored into it); below the IEC minimum of
  6 A the failsafe disables. A command's own current is held below its ceiling too.
- When the charger disagrees with the target (enabled state, current beyond 0.23 A, switched phases) the
  target is re-written with reason SYNC; after a failed write the next attempt waits with backoff.
- Chargers with a heartbeat (Alfen) get their current re-written before the device's fallback timer ends.
- A write touches only what differs from the charger's read-back state (a current change on an enabled
  charger writes the current, not the enable again): each register write wears the device.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from services.charger_actuator.driver import CURRENT_TOLERANCE_A, Capabilities, ChargerReading, quantize
from shared.config_devices import FailsafeConfig
from shared.messages import ChargerCommand, CommandReason

RETRY_BASE_S = 2.0
RETRY_MAX_S = 60.0
MIN_CHARGE_CURRENT_A = 6.0
"""IEC 61851: no car charges below this offered current."""
MAX_CLOCK_SKEW_S = 5.0
"""How far in the future a command may say it was issued (the optimizer's host clock ahead of ours)."""
MAX_COMMAND_VALIDITY_S = 600.0
"""The longest validity a command may claim (the optimizer's ``command_validity_s`` is bounded by it)."""


@dataclass(frozen=True)
class Target:
    """What the charger should be doing."""

    enabled: bool
    current_a: float
    phases: int = 0
    """1 or 3 to switch; 0 = leave as is."""
    seq: int | None = None
    """The command's seq; None for the failsafe."""


@dataclass(frozen=True)
class Apply:
    """Write ``target`` to the charger and (if ``event``) log it as a command with ``reason``."""

    target: Target
    reason: CommandReason
    event: bool = True
    detail: str | None = field(default=None, compare=False)
    """Why (for the log), e.g. what the charger disagreed with."""
    refresh: bool = False
    """Re-write the current even where the charger already holds it (the heartbeat); otherwise only what
    differs from the charger's read-back state is written."""


class Verdict(StrEnum):
    APPLY = "apply"
    KEEPALIVE = "keepalive"
    EXPIRED = "expired"
    STALE = "stale"
    IMPLAUSIBLE = "implausible"


@dataclass(frozen=True)
class ControlState:
    last_command_at: datetime
    """Arrival of the last valid command (the service start before the first one)."""
    target: Target | None = None
    """None until the first command or failsafe: the charger is left as it is."""
    last_seq: int | None = None
    last_epoch: int = 0
    """The optimizer instance of the command in force (with ``last_seq``)."""
    last_issued_at: datetime | None = None
    in_force_until: datetime | None = None
    """``valid_until`` of the command in force; after it any genuine command may take over."""
    reason: CommandReason | None = None
    """Reason of the command in force."""
    failsafe_reason: str | None = None
    optimizer_online: bool | None = None
    retry_at: datetime | None = None
    """After a failed write: no re-sync before this."""
    failures: int = 0
    write_error: str | None = None
    """Why the last write failed; None after a good one."""
    last_write_at: datetime | None = None
    ceiling_a: float | None = None
    """The load-management ceiling of the last command (A per phase; None: no limit)."""

    @property
    def failsafe(self) -> bool:
        return self.failsafe_reason is not None


def initial_state(now: datetime) -> ControlState:
    return ControlState(last_command_at=now)


def failsafe_target(config: FailsafeConfig, ceiling_a: float | None = None) -> Target:
    """min(failsafe current, the last ceiling); disabled below the IEC minimum."""
    current = config.current_a if ceiling_a is None else min(config.current_a, ceiling_a)
    if config.mode == "current" and current >= MIN_CHARGE_CURRENT_A:
        return Target(enabled=True, current_a=current)
    return Target(enabled=False, current_a=0.0)


def _enter_failsafe(state: ControlState, reason: str, config: FailsafeConfig) -> tuple[ControlState, Apply]:
    target = failsafe_target(config, state.ceiling_a)
    new = replace(state, failsafe_reason=reason, target=target, reason=CommandReason.FAILSAFE)
    return new, Apply(target, CommandReason.FAILSAFE)


def receive_command(
    state: ControlState, command: ChargerCommand, now: datetime
) -> tuple[ControlState, Verdict, Apply | None]:
    """A command arrived: decide whether it is applied."""
    if now > command.valid_until:
        return state, Verdict.EXPIRED, None
    if not plausible(command, now):
        return state, Verdict.IMPLAUSIBLE, None
    same = state.last_seq == command.seq and state.last_epoch == command.epoch
    if same and not state.failsafe:
        return replace(state, last_command_at=now, ceiling_a=command.ceiling_a), Verdict.KEEPALIVE, None
    if not same and not supersedes(state, command, now):
        return state, Verdict.STALE, None
    # enabled at 0 A cannot charge; evcc enables only at a current ≥ min, so this is a disable.
    current = command.current_a if command.ceiling_a is None else min(command.current_a, command.ceiling_a)
    enabled = command.enabled and current > 0
    target = Target(
        enabled=enabled,
        current_a=current if enabled else 0.0,
        phases=command.phases,
        seq=command.seq,
    )
    in_force = (
        state.target is not None
        and replace(state.target, seq=command.seq) == target
        and state.reason == command.reason
        and not state.failsafe
        and state.write_error is None
    )
    new = replace(
        state,
        target=target,
        last_seq=command.seq,
        last_epoch=command.epoch,
        last_issued_at=command.issued_at,
        in_force_until=command.valid_until,
        reason=command.reason,
        last_command_at=now,
        failsafe_reason=None,
        ceiling_a=command.ceiling_a,
    )
    if in_force:
        return new, Verdict.KEEPALIVE, None
    return replace(new, retry_at=None), Verdict.APPLY, Apply(target, command.reason)


def plausible(command: ChargerCommand, now: datetime) -> bool:
    """Whether a command could have come from a live optimizer: not issued in the future (beyond the
    clock skew), valid for a bounded time after it was issued."""
    if command.issued_at > now + timedelta(seconds=MAX_CLOCK_SKEW_S):
        return False
    return (
        command.issued_at
        <= command.valid_until
        <= command.issued_at + timedelta(seconds=MAX_COMMAND_VALIDITY_S)
    )


def supersedes(state: ControlState, command: ChargerCommand, now: datetime) -> bool:
    """Whether ``command`` replaces the one in force (see the module's ordering rule)."""
    if state.last_seq is None:
        return True
    if state.in_force_until is not None and now > state.in_force_until:
        return True
    later = state.last_issued_at is not None and command.issued_at > state.last_issued_at
    if command.epoch != state.last_epoch:
        return later or state.last_issued_at is None
    return command.seq > state.last_seq or later


def clock_stepped(state: ControlState, delta: timedelta) -> ControlState:
    """The wall clock jumped by ``delta`` (an NTP step): move our timestamps with it, so that the failsafe
    timer, the write backoff and the heartbeat keep measuring real elapsed time (a step back would
    otherwise hold off the failsafe by the size of the step, a step forward trip it at once). The command
    in force moves too: an optimizer on this host stepped with us, and one elsewhere only gets an easier
    takeover — ordering is not what keeps the charger safe, the failsafe is."""

    def moved(value: datetime | None) -> datetime | None:
        return None if value is None else value + delta

    return replace(
        state,
        last_command_at=state.last_command_at + delta,
        last_issued_at=moved(state.last_issued_at),
        in_force_until=moved(state.in_force_until),
        retry_at=moved(state.retry_at),
        last_write_at=moved(state.last_write_at),
    )


def optimizer_status(
    state: ControlState, online: bool, config: FailsafeConfig
) -> tuple[ControlState, Apply | None]:
    """The optimizer's service status changed (its last will says offline)."""
    if online:
        # A restarted optimizer may count its seq from the start again: forget the old one.
        restarted = state.optimizer_online is False
        return replace(state, optimizer_online=True, last_seq=None if restarted else state.last_seq), None
    state = replace(state, optimizer_online=False)
    if state.failsafe:
        return state, None
    return _enter_failsafe(state, "failsafe: optimizer offline", config)


def _on_off(enabled: bool) -> str:
    return "enabled" if enabled else "disabled"


def disagreement(target: Target, reading: ChargerReading, capabilities: Capabilities) -> str | None:
    """Why the charger does not match the target (evcc's syncCharger), or None when it does."""
    if reading.enabled != target.enabled:
        return f"charger {_on_off(reading.enabled)}, expected {_on_off(target.enabled)}"
    if target.enabled and reading.current_a is not None:
        expected = quantize(target.current_a, capabilities.current_step_a)
        if abs(reading.current_a - expected) > CURRENT_TOLERANCE_A:
            return f"charger at {reading.current_a:g} A, expected {expected:g} A"
    if (
        target.enabled
        and target.phases in (1, 3)
        and capabilities.phase_switching
        and reading.phases is not None
        and reading.phases != target.phases
    ):
        return f"charger on {reading.phases} phases, expected {target.phases}"
    return None


def tick(
    state: ControlState,
    reading: ChargerReading | None,
    capabilities: Capabilities,
    config: FailsafeConfig,
    now: datetime,
) -> tuple[ControlState, list[Apply]]:
    """Periodic decisions after a poll (``reading`` None when the charger did not answer)."""
    actions: list[Apply] = []
    if not state.failsafe and now - state.last_command_at >= timedelta(seconds=config.timeout_s):
        state, action = _enter_failsafe(
            state, f"failsafe: no valid command for {config.timeout_s:g} s", config
        )
        return state, [action]
    if not state.failsafe and state.in_force_until is not None and now > state.in_force_until:
        # the optimizer's own word: this command means nothing after valid_until, however long the
        # configured failsafe timeout is
        state, action = _enter_failsafe(state, "failsafe: the command in force expired", config)
        return state, [action]
    target = state.target
    if target is None or reading is None:
        return state, actions
    if state.retry_at is not None and now < state.retry_at:
        return state, actions
    mismatch = disagreement(target, reading, capabilities)
    if mismatch is not None:
        return state, [Apply(target, CommandReason.SYNC, detail=mismatch)]
    heartbeat = capabilities.heartbeat_s
    if (
        heartbeat is not None
        and target.enabled
        and (state.last_write_at is None or now - state.last_write_at >= timedelta(seconds=heartbeat))
    ):
        actions.append(Apply(target, CommandReason.SYNC, event=False, refresh=True))
    return state, actions


def applied(state: ControlState, ok: bool, error: str | None, now: datetime) -> ControlState:
    """Record the outcome of a write: success resets the backoff, failure extends it."""
    if ok:
        return replace(state, failures=0, retry_at=None, write_error=None, last_write_at=now)
    failures = state.failures + 1
    delay = min(RETRY_BASE_S * 2 ** (failures - 1), RETRY_MAX_S)
    return replace(state, failures=failures, retry_at=now + timedelta(seconds=delay), write_error=error)
