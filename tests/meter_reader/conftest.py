"""A bare Modbus TCP server holding a fixed register image, for the generic meter and RTU-over-TCP tests.

Not a simulator: no physics, just words at addresses (the simulated home lives in services/simulator).
Reads of addresses not in the image answer Modbus exception 2, as real devices do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest
from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simcore import SimCore

from shared.devices.codec import DataType as Word
from shared.devices.codec import encode
from tests.support.broker import free_port

_TABLES = {3: "holding", 4: "input"}


class _Image(SimCore):
    def __init__(self, units: Sequence[int]) -> None:
        # Not calling SimCore.__init__: the images below are the whole datastore.
        self.units = list(units)
        self.words: dict[int, dict[str, dict[int, int]]] = {u: {"holding": {}, "input": {}} for u in units}
        self.requests: list[int] = []
        """Unit id of every read served, in order."""

    @property
    def unit(self) -> int:
        return self.units[0]

    def device_ids(self) -> list[int]:
        return self.units

    async def async_getValues(
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        table = _TABLES.get(func_code)
        if table is None or device_id not in self.words:
            return ExcCodes.ILLEGAL_FUNCTION if table is None else ExcCodes.GATEWAY_NO_RESPONSE
        self.requests.append(device_id)
        cells = self.words[device_id][table]
        if any(a not in cells for a in range(address, address + count)):
            return ExcCodes.ILLEGAL_ADDRESS
        return [cells[a] for a in range(address, address + count)]

    async def async_setValues(
        self, device_id: int, func_code: int, address: int, values: list[int] | list[bool]
    ) -> ExcCodes | None:
        return ExcCodes.ILLEGAL_FUNCTION


class RegisterServer:
    """One TCP port (a device, or an RS485 gateway with several unit ids behind it)."""

    def __init__(self, framer: FramerType = FramerType.SOCKET, units: Sequence[int] = (1,)) -> None:
        self.port = free_port()
        self.framer = framer
        self.image = _Image(units)
        self.connections = 0
        self._server: ModbusTcpServer | None = None

    def set(self, source: str, address: int, words: Sequence[int], unit: int | None = None) -> None:
        cells = self.image.words[self.image.unit if unit is None else unit][source]
        for offset, word in enumerate(words):
            cells[address + offset] = word

    def _traced(self, connected: bool) -> None:
        self.connections += 1 if connected else 0

    async def start(self) -> None:
        placeholder = SimDevice(id=0, simdata=[SimData(address=0, values=0, datatype=DataType.REGISTERS)])
        server = ModbusTcpServer(
            placeholder, framer=self.framer, address=("127.0.0.1", self.port), trace_connect=self._traced
        )
        server.context = self.image
        await server.serve_forever(background=True)
        self._server = server

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None


def sdm_image(
    server: RegisterServer,
    power_l: tuple[float, float, float],
    import_kwh: float,
    export_kwh: float,
    unit: int | None = None,
) -> None:
    """The SDM630 registers of a meter seeing ``power_l`` W per phase at 230/231/232 V."""
    for i in range(3):
        server.set("input", 0x00 + 2 * i, encode(230.0 + i, Word.FLOAT32), unit)
        server.set("input", 0x06 + 2 * i, encode(abs(power_l[i]) / (230.0 + i), Word.FLOAT32), unit)
        server.set("input", 0x0C + 2 * i, encode(power_l[i], Word.FLOAT32), unit)
    server.set("input", 0x34, encode(sum(power_l), Word.FLOAT32), unit)
    server.set("input", 0x48, encode(import_kwh, Word.FLOAT32), unit)
    server.set("input", 0x4A, encode(export_kwh, Word.FLOAT32), unit)


ServerFactory = Callable[..., Awaitable[RegisterServer]]


@pytest.fixture
async def register_server() -> AsyncIterator[ServerFactory]:
    """``await register_server(framer=..., unit=... | units=[...])`` → a started :class:`RegisterServer`."""
    servers: list[RegisterServer] = []

    async def start(
        framer: FramerType = FramerType.SOCKET, unit: int = 1, units: Sequence[int] = ()
    ) -> RegisterServer:
        server = RegisterServer(framer, units or (unit,))
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()
