"""ABL eMH1/eMH2 (Modbus ASCII, serial 38400 8E1, unit 1).

The current is set as a PWM duty cycle (A / 0.06) in register 0x14; duty 0x03E8 means disabled. The
status byte's high nibble encodes the IEC letter (0xA… = A); 0xE0 means the outlet was disabled and is
re-armed by writing 0xA1A1 to 0x05. Current sensors (firmware byte 3 bit 5) give per-phase currents.
Over serial the box sleeps: every request is preceded by a wake-up read whose failure is ignored.
"""

from __future__ import annotations

import contextlib

from services.charger_actuator.driver import (
    Capabilities,
    ChargerReading,
    ModbusDriver,
    parse_status,
    verify_current,
)
from shared.config_devices import ChargerConfig
from shared.devices.errors import DeviceError
from shared.devices.modbus import LinkPool, ModbusUnit
from shared.messages import ChargeStatus

FIRMWARE = 0x01
"""2 registers; byte 3 bit 5 = current sensors fitted."""
SENSORS_BIT = 0x20
STATUS = 0x04
MODIFY_STATE = 0x05
ENABLE_OUTLET = 0xA1A1
OUTLET_DISABLED = 0xE0
CURRENT_STATE = 0x0F
"""5 registers; register 3 (bytes 6–7) low 12 bits = the duty cycle in force."""
SET_CURRENT = 0x14
DISABLED_DUTY = 0x03E8
DUTY_A = 0.06
"""Amperes per duty-cycle step."""
CURRENTS = 0x2E
"""5 registers; 2, 3, 4 = L3, L2, L1 in 0.1 A (0x03E8 or 1 = none)."""
NO_CURRENT = (0x03E8, 1)
MIN_CURRENT_A = 6.0
VOLTAGE_V = 230.0
"""The box measures currents only; power assumes nominal voltage."""


def duty_of(current_a: float) -> int:
    return int(current_a / DUTY_A + 1e-6)


def status_of(word: int) -> tuple[ChargeStatus, str | None]:
    low = word & 0xFF
    letter = chr((low >> 4) - 0x0A + ord("A")) if low >= 0xA0 else "?"
    if letter in "ABCD":
        return parse_status(letter)
    return ChargeStatus.A, f"ABL error code 0x{low:02X}"


class AblEmh(ModbusDriver):
    def __init__(self, link: ModbusUnit) -> None:
        super().__init__(link, Capabilities(current_step_a=DUTY_A, min_current_a=MIN_CURRENT_A))
        self._sensors: bool | None = None
        self._requested_a = MIN_CURRENT_A
        self._serial = not link.over_tcp

    async def _wake(self) -> None:
        if self._serial:
            with contextlib.suppress(DeviceError):
                await self.link.read("holding", FIRMWARE, 2)

    async def _duty(self) -> int:
        return (await self.link.read("holding", CURRENT_STATE, 5))[3] & 0x0FFF

    async def read(self) -> ChargerReading:
        await self._wake()
        if self._sensors is None:
            firmware = await self.link.read("holding", FIRMWARE, 2)
            self._sensors = bool(firmware[1] & SENSORS_BIT)
            self.capabilities = Capabilities(
                current_step_a=DUTY_A, min_current_a=MIN_CURRENT_A, has_meter=self._sensors
            )
        word = (await self.link.read("holding", STATUS, 1))[0]
        if word & 0xFF == OUTLET_DISABLED:
            # The outlet was switched off (e.g. after an error): re-arm it; the vehicle is still there.
            await self.link.write(MODIFY_STATE, [ENABLE_OUTLET])
            status, fault = ChargeStatus.B, None
        else:
            status, fault = status_of(word)
        duty = await self._duty()
        enabled = duty != DISABLED_DUTY
        currents = power = None
        if self._sensors:
            raw = await self.link.read("holding", CURRENTS, 5)
            l3, l2, l1 = (0.0 if w in NO_CURRENT else w / 10 for w in raw[2:5])
            currents = (l1, l2, l3)
            power = VOLTAGE_V * (l1 + l2 + l3)
        return ChargerReading(
            status=status,
            enabled=enabled,
            current_a=duty * DUTY_A if enabled else 0.0,
            power_w=power,
            currents_a=currents,
            fault=fault,
        )

    async def _write_duty(self, duty: int) -> None:
        await self._wake()
        await self.link.write(SET_CURRENT, [duty])
        held = await self._duty()
        if held != duty:
            raise DeviceError(f"duty cycle not taken: wrote 0x{duty:04X}, device holds 0x{held:04X}")

    async def set_current(self, current_a: float) -> float:
        if current_a < MIN_CURRENT_A:
            raise DeviceError(f"ABL needs at least {MIN_CURRENT_A:g} A, got {current_a:g} A")
        self._requested_a = current_a
        await self._wake()
        # Writing a duty cycle to a disabled box enables it: keep the current for set_enabled(True).
        if await self._duty() == DISABLED_DUTY:
            return duty_of(current_a) * DUTY_A
        await self._write_duty(duty_of(current_a))
        held = await self._duty() * DUTY_A
        verify_current(duty_of(current_a) * DUTY_A, held, DUTY_A)
        return held

    async def set_enabled(self, enabled: bool) -> None:
        await self._write_duty(duty_of(self._requested_a) if enabled else DISABLED_DUTY)


def create(config: ChargerConfig, pool: LinkPool) -> AblEmh:
    return AblEmh(pool.unit(config.modbus))
