"""What every wallbox driver offers the actuator, and the pieces they share.

A driver is I/O only: it reads the device into a :class:`ChargerReading` and performs single writes,
each verified by reading the register back. Deciding *what* to write lives in :mod:`control`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from shared.devices.errors import DeviceError
from shared.devices.modbus import ModbusUnit
from shared.messages import ChargeStatus

Phases3 = tuple[float, float, float]

CURRENT_TOLERANCE_A = 0.23
"""evcc's syncCharger tolerance between the offered and the device's current."""


@dataclass(frozen=True)
class Capabilities:
    """What the device can do; fixed per driver (and per detected firmware)."""

    phase_switching: bool = False
    current_step_a: float = 1.0
    """Resolution of the current register: 1 A (integer chargers), 0.1 A, 0.01 A; 0 = any float."""
    min_current_a: float = 0.0
    """The device refuses enabled currents below this (IEC 61851: 6 A)."""
    heartbeat_s: float | None = None
    """Re-write the current at least this often, or the device falls back to its safe current (Alfen)."""
    has_meter: bool = False
    """The device measures charge power itself; otherwise power is estimated."""


@dataclass(frozen=True)
class ChargerReading:
    """One poll of a charger, in bus units (A, V, W, kWh, %)."""

    status: ChargeStatus
    enabled: bool
    current_a: float | None = None
    """The current limit the device is set to (None when it cannot be read back)."""
    phases: int | None = None
    """Phases the device is switched to, where it can say (phase register of a 1p/3p charger)."""
    power_w: float | None = None
    energy_kwh: float | None = None
    currents_a: Phases3 | None = None
    voltages_v: Phases3 | None = None
    identifier: str | None = None
    soc_pct: float | None = None
    fault: str | None = None
    """Device-reported fault (status E/F, error code) — the status is then A."""


class ChargerDriver(Protocol):
    """The operations the runner needs from a wallbox. All raise :class:`DeviceError` on failure."""

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def address(self) -> str: ...

    def watch(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` when the device reports something by itself (OCPP); polled devices never do."""
        ...

    async def read(self) -> ChargerReading: ...

    async def set_current(self, current_a: float) -> float:
        """Set the max current (already quantized, ≥ min); returns the value the device now holds."""
        ...

    async def set_enabled(self, enabled: bool) -> None: ...

    async def set_phases(self, phases: int) -> None: ...

    def close(self) -> None: ...


def parse_status(text: str) -> tuple[ChargeStatus, str | None]:
    """evcc's IEC 61851 status parsing: A/B as is; C/D → C except C1/D1 → B; E/F → fault.

    Returns the status and a fault description; a fault reports status A (nothing can charge).
    """
    code = text.strip().upper()
    if not code:
        raise DeviceError("empty charger status")
    letter = code[0]
    if letter in ("A", "B"):
        return ChargeStatus(letter), None
    if letter in ("C", "D"):
        return (ChargeStatus.B if code in ("C1", "D1") else ChargeStatus.C), None
    if letter in ("E", "F"):
        return ChargeStatus.A, f"charger reports status {code}"
    raise DeviceError(f"unknown charger status {text!r}")


def quantize(current_a: float, step_a: float) -> float:
    """Truncate to the device's resolution, as evcc does for integer chargers (never round a limit up)."""
    if step_a <= 0:
        return current_a
    steps = math.floor(current_a / step_a + 1e-6)
    return round(steps * step_a, 6)


def verify_current(expected_a: float, actual_a: float, step_a: float) -> None:
    """Raise when the read-back current differs from what was written by more than one step's rounding."""
    if abs(expected_a - actual_a) > max(step_a / 2, 0.01):
        raise DeviceError(f"current not taken: wrote {expected_a:g} A, device holds {actual_a:g} A")


def verify_equal(what: str, expected: object, actual: object) -> None:
    if expected != actual:
        raise DeviceError(f"{what} not taken: wrote {expected}, device holds {actual}")


class ModbusDriver:
    """Shared plumbing of the Modbus drivers: the link, capabilities, and the address for logs."""

    capabilities: Capabilities

    def __init__(self, link: ModbusUnit, capabilities: Capabilities) -> None:
        self.link = link
        self.capabilities = capabilities

    @property
    def address(self) -> str:
        return self.link.address

    def watch(self, wake: Callable[[], None]) -> None:
        """Modbus devices only answer when polled."""

    def close(self) -> None:
        self.link.close()

    async def set_phases(self, phases: int) -> None:
        raise DeviceError("this charger cannot switch phases")
