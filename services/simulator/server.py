"""Serving simulated devices over Modbus TCP with pymodbus' async server.

Several devices may share a port (a gateway with several unit ids) if they use the same framer. The
server's datastore is replaced by :class:`DeviceStore`, which routes each request by unit id to its
:class:`~services.simulator.registers.MappedDevice` — so reads render live physics and writes drive it.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerType
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simcore import SimCore

from services.simulator.registers import FC_TABLE, MappedDevice, Table


class DeviceStore(SimCore):
    """The datastore interface pymodbus' request handlers call, answered by our devices."""

    def __init__(self, devices: Sequence[MappedDevice]) -> None:
        # Deliberately not calling SimCore.__init__: we keep no pymodbus register memory of our own.
        self.by_unit: dict[int, MappedDevice] = {}
        for device in devices:
            for unit in device.unit_ids:
                if unit in self.by_unit:
                    raise ValueError(f"unit id {unit} used by {self.by_unit[unit].name} and {device.name}")
                self.by_unit[unit] = device

    def device_ids(self) -> list[int]:
        return list(self.by_unit)

    def _device(self, unit: int) -> MappedDevice:
        device = self.by_unit.get(unit)
        if device is None:
            raise NoSuchIdException(f"no simulated device with unit id {unit}")
        return device

    async def async_getValues(
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        table = FC_TABLE.get(func_code)
        if table is None:
            return ExcCodes.ILLEGAL_FUNCTION
        values = self._device(device_id).read(table, address, count)
        if isinstance(values, ExcCodes) or table not in (Table.COIL, Table.DISCRETE):
            return values
        return [bool(v) for v in values]

    async def async_setValues(
        self, device_id: int, func_code: int, address: int, values: list[int] | list[bool]
    ) -> ExcCodes | None:
        table = FC_TABLE.get(func_code)
        if table not in (Table.COIL, Table.HOLDING):
            return ExcCodes.ILLEGAL_FUNCTION
        return self._device(device_id).write(device_id, table, address, [int(v) for v in values])


class DeviceServer:
    """One listening Modbus server (TCP transport, socket/RTU/ASCII framing) for one or more devices."""

    def __init__(self, host: str, port: int, devices: Sequence[MappedDevice]) -> None:
        framers = {d.framer for d in devices}
        if len(framers) != 1:
            raise ValueError(
                f"devices on port {port} need one framer, got {sorted(f.value for f in framers)}"
            )
        self.host = host
        self.port = port
        self.framer: FramerType = framers.pop()
        self.store = DeviceStore(devices)
        self._server: ModbusTcpServer | None = None

    async def start(self) -> None:
        placeholder = SimDevice(id=0, simdata=[SimData(address=0, values=0, datatype=DataType.REGISTERS)])
        server = ModbusTcpServer(placeholder, framer=self.framer, address=(self.host, self.port))
        server.context = self.store
        try:
            await server.serve_forever(background=True)
        except RuntimeError as error:
            server.close()
            raise OSError(f"cannot serve Modbus on {self.host}:{self.port}: {error}") from None
        self._server = server

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None
