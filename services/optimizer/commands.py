"""Which charger commands a cycle sends (pure): only on a real change, or as the periodic refresh.

The command in force is the controller's memory (:class:`Commanded`), like evcc's own ``enabled`` and
``offeredCurrent``: the charger reports a command only a moment after it was sent, so deciding from its
status alone would undo a fresh enable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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
    """When it was sent (a refresh keeps the time of the change it repeats)."""
    case: str = ""
    """The rule that decided it (logs)."""

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


def next_command(
    last: Commanded | None, decision: Decision, now: datetime, *, refresh: bool
) -> Outgoing | None:
    if last is not None and last.same(decision):
        return Outgoing(last, changed=False) if refresh else None
    command = Commanded(
        decision.enabled, decision.current_a, decision.phases, decision.reason, now, decision.case
    )
    return Outgoing(command, changed=True)
