"""What every meter driver offers the poller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.meter_reader.measurement import Convention, Measured
from shared.devices.modbus import RegisterReader


@dataclass(frozen=True)
class Sample:
    """One poll: the values and the convention the device counted them in."""

    measured: Measured
    convention: Convention


class Driver(Protocol):
    async def read(self, link: RegisterReader) -> Sample:
        """Read the device once; raises ``DeviceError`` when it does not answer."""
        ...

    def reset(self) -> None:
        """Forget what was learned about the device (after a failure it may have been replaced)."""
        ...
