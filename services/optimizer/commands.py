"""Which charger commands a cycle sends (pure): only on a real change, or as the periodic refresh.

The command in force is the controller's memory (:class:`Commanded`), like evcc's own ``enabled`` and
``offeredCurrent``: the charger reports a command only a moment after it was sent, so deciding from its
status alone would undo a fresh enable.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.optimizer.control import Decision
from shared.messages import CommandReason


@dataclass(frozen=True)
class Commanded:
    """A command sent (or to send) to one loadpoint's charger."""

    enabled: bool
    current_a: float
    phases: int
    reason: CommandReason
    at: datetime
    """When this command was first sent (a refresh keeps it: it is the time of the last change)."""
    case: str = ""
    """The rule that decided it (logs)."""
    sent_at: datetime | None = None
    """When it was last sent, refreshes included (None = as ``at``)."""
    ceiling_a: float | None = None
    """A per phase the load-management limits allow (mirrored into the command for the failsafe)."""

    @property
    def last_sent(self) -> datetime:
        return self.sent_at or self.at

    def same(self, decision: Decision) -> bool:
        return (self.enabled, self.current_a, self.phases, self.reason) == (
            decision.enabled,
            decision.current_a,
            decision.phases,
            decision.reason,
        )


@dataclass(frozen=True)
class Outgoing:
    """One command the shell publishes this cycle."""

    command: Commanded
    changed: bool
    """False for a refresh of the command in force (the actuator treats it as a keep-alive)."""


def current_only(last: Commanded, decision: Decision) -> bool:
    """Only the current of a running charge changes (enable state, phases and reason stay)."""
    return (
        last.enabled
        and decision.enabled
        and decision.phases in (0, last.phases)
        and decision.reason is last.reason
    )


def next_command(
    last: Commanded | None,
    decision: Decision,
    now: datetime,
    *,
    refresh: bool,
    interval: timedelta = timedelta(0),
    ceiling_a: float | None = None,
) -> Outgoing | None:
    """The command to send now, if any.

    At most one command per ``interval`` to a charger, validity refreshes included; a change of the
    enable state, the phases or the reason, and a reduction ordered by a safety limit go at once.
    """
    # a command "sent in the future" means the wall clock stepped back: not recent, or the charger would
    # hear nothing (and go to its failsafe) for as long as the step
    recent = last is not None and timedelta(0) <= now - last.last_sent < interval
    if last is not None and last.same(decision):
        if not refresh or recent:
            return None
        return Outgoing(replace(last, sent_at=now, ceiling_a=ceiling_a), changed=False)
    if last is not None and recent and current_only(last, decision) and not decision.safety:
        return None
    command = Commanded(
        decision.enabled, decision.current_a, decision.phases, decision.reason, now, decision.case,
        ceiling_a=ceiling_a,
    )  # fmt: skip
    return Outgoing(command, changed=True)
