"""Configuration of load management (``circuits:``, ``dimming:``, ``peak_shaving:``), docs/optimizer.md.

- Circuits: a tree (main fuse → sub-distributions → loadpoints) with a maximum current per phase and/or a
  maximum power; a loadpoint names its circuit (``loadpoints[].circuit``).
- §14a EnWG dimming: while the grid operator's signal is on, all controllable loadpoints together draw at
  most ``max_power_w``.
- Peak shaving (a capacity tariff): the grid import averaged over ``window_s`` stays at or below
  ``max_import_w``.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_FUSE_A = 4000.0
MAX_POWER_W = 10_000_000.0
TOPIC = re.compile(r"^[^#+\x00]{1,256}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CircuitConfig(Strict):
    """One circuit of the load-management tree (evcc's ``circuits``)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    title: str | None = None
    parent: str | None = None
    """The circuit this one hangs off (none: a root, e.g. the main fuse)."""
    max_current_a: float = Field(default=0.0, ge=0, le=MAX_FUSE_A)
    """A per phase the circuit may carry (0 = no current limit)."""
    max_power_w: float = Field(default=0.0, ge=0, le=MAX_POWER_W)
    """W the circuit may carry in total (0 = no power limit)."""
    meter: str | None = None
    """A meter measuring the whole circuit (per phase where it measures currents); without one the
    circuit's load is the sum of its loadpoints' own readings and of its sub-circuits."""


class DimmingConfig(Strict):
    """§14a EnWG: the grid operator may dim controllable consumers; chargebus follows the signal."""

    max_power_w: float = Field(default=4200.0, ge=0, le=MAX_POWER_W)
    """W all controllable loadpoints together may draw while dimmed (§14a: 4.2 kW per device; with an
    energy manager steering several devices the grid operator names the site's total)."""
    loadpoints: list[int] | None = None
    """1-based ids of the controllable loadpoints (default: all)."""
    topic: str | None = Field(default=None, pattern=TOPIC.pattern)
    """An MQTT topic that carries the signal (e.g. a relay's state): ``1``/``true``/``on`` dims,
    ``0``/``false``/``off`` releases; anything else is ignored and logged."""
    topic_timeout_s: float = Field(default=0.0, ge=0)
    """Treat the topic's signal as gone after this long without a message (0 = never)."""
    meter: str | None = None
    """A meter (usually ``usage: signal``, e.g. a Modbus digital input wired to the grid operator's control
    box) whose reading dims while it is not 0; the meter-reader polls it like any meter. A reading that
    fails keeps its last value (the safe side of the operator's order)."""


class PeakShavingConfig(Strict):
    """A capacity tariff: keep the average grid import of every window under a limit."""

    max_import_w: float = Field(default=0.0, ge=0, le=MAX_POWER_W)
    """W of average grid import per window (0 = off); writable as ``site/peakShavingLimit``."""
    window_s: int = Field(default=900, ge=60, le=3600)
    """The tariff's averaging window (s); windows start on whole multiples of it (quarter hours)."""
    battery: bool = True
    """Let the home battery discharge to keep under the limit (it is never held or grid-charged then)."""


Kind = Literal["circuit", "dimming", "peak"]


def circuit_problems(
    circuits: list[CircuitConfig], meters: set[str], loadpoint_circuits: list[str | None]
) -> list[str]:
    """What is wrong with the circuit tree: unknown names, duplicates, cycles."""
    names = [c.name for c in circuits]
    known = set(names)
    problems = [f"circuits: duplicate name {n!r}" for n in sorted({n for n in names if names.count(n) > 1})]
    parents = {c.name: c.parent for c in circuits}
    for i, circuit in enumerate(circuits):
        if circuit.parent is not None and circuit.parent not in known:
            problems.append(f"circuits.{i}.parent: unknown circuit {circuit.parent!r}")
        if circuit.meter is not None and circuit.meter not in meters:
            problems.append(f"circuits.{i}.meter: unknown meter {circuit.meter!r}")
        seen = {circuit.name}
        parent = circuit.parent
        while parent is not None and parent in parents:
            if parent in seen:
                problems.append(f"circuits.{i}.parent: {circuit.name!r} is its own ancestor")
                break
            seen.add(parent)
            parent = parents[parent]
    for i, name in enumerate(loadpoint_circuits):
        if name is not None and name not in known:
            problems.append(f"loadpoints.{i}.circuit: unknown circuit {name!r}")
    return problems
