"""EVSE-DIN / SimpleEVSE (Modbus RTU, also through an RTU-over-TCP gateway). No meter: power is estimated.

Holding 1000 = current (A; 0 = disabled; in 0.01 A once milli-current mode is on), 1002 = vehicle status,
1005 = firmware. Firmware ≥ 17 supports milli-current mode, switched on by bit 7 of register 2005.
"""

from __future__ import annotations

from services.charger_actuator.driver import (
    Capabilities,
    ChargerReading,
    ModbusDriver,
    verify_current,
)
from shared.config_devices import ChargerConfig
from shared.devices.modbus import LinkPool, ModbusUnit
from shared.messages import ChargeStatus

CURRENT = 1000
STATUS = 1002
FIRMWARE = 1005
BLOCK = (CURRENT, FIRMWARE + 1 - CURRENT)
CONFIG = 2005
MILLI_BIT = 1 << 7
MILLI_FIRMWARE = 17
STATUS_CODES: dict[int, ChargeStatus] = {
    1: ChargeStatus.A,
    2: ChargeStatus.B,
    3: ChargeStatus.C,
    4: ChargeStatus.C,
}
"""4 = charging with ventilation required, still C."""
DEFAULT_ENABLE_CURRENT_A = 6.0


class EvseDin(ModbusDriver):
    def __init__(self, link: ModbusUnit) -> None:
        super().__init__(link, Capabilities(current_step_a=1.0, min_current_a=6.0))
        self._milli: bool | None = None
        self._requested_a = DEFAULT_ENABLE_CURRENT_A

    @property
    def _factor(self) -> float:
        return 100.0 if self._milli else 1.0

    async def _detect_milli(self, firmware: int) -> None:
        """Switch milli-current mode on where the firmware has it (once per connection)."""
        if firmware < MILLI_FIRMWARE:
            self._milli = False
            return
        config = (await self.link.read("holding", CONFIG, 1))[0]
        if not config & MILLI_BIT:
            await self.link.write(CONFIG, [config | MILLI_BIT])
            config = (await self.link.read("holding", CONFIG, 1))[0]
        self._milli = bool(config & MILLI_BIT)
        self.capabilities = Capabilities(current_step_a=0.01 if self._milli else 1.0, min_current_a=6.0)

    async def read(self) -> ChargerReading:
        words = await self.link.read("holding", *BLOCK)
        if self._milli is None:
            await self._detect_milli(words[FIRMWARE - CURRENT])
        code = words[STATUS - CURRENT]
        status = STATUS_CODES.get(code)
        current = words[0] / self._factor
        return ChargerReading(
            status=status or ChargeStatus.A,
            enabled=current > 0,
            current_a=current,
            fault=None if status else f"unknown status code {code}",
        )

    async def _write_current(self, current_a: float) -> float:
        await self.link.write(CURRENT, [round(current_a * self._factor)])
        held = (await self.link.read("holding", CURRENT, 1))[0] / self._factor
        verify_current(current_a, held, self.capabilities.current_step_a)
        return held

    async def set_current(self, current_a: float) -> float:
        if self._milli is None:
            await self.read()
        self._requested_a = current_a
        # 0 means disabled: a current written now would enable the charger, so keep it for set_enabled.
        if (await self.link.read("holding", CURRENT, 1))[0] == 0:
            return current_a
        return await self._write_current(current_a)

    async def set_enabled(self, enabled: bool) -> None:
        if self._milli is None:
            await self.read()
        await self._write_current(self._requested_a if enabled else 0.0)

    def close(self) -> None:
        # A replaced or restarted EVSE may have lost the milli-current setting: detect it again.
        self._milli = None
        super().close()


def create(config: ChargerConfig, pool: LinkPool) -> EvseDin:
    return EvseDin(pool.unit(config.modbus))
