"""The edge to a Modbus device: one pymodbus client per charger, TCP, RTU over TCP, or serial RTU/ASCII.

Every failure (no connection, timeout, exception response) becomes a :class:`DeviceError` and drops the
connection, so the next call starts from a fresh connect; the runner decides when to try again.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from shared.config_devices import ModbusConnection


class DeviceError(Exception):
    """The charger did not answer, refused a request, or did not take a write."""


RegisterSource = str
"""``holding``, ``input``, ``coil`` or ``discrete``."""


class ModbusLink:
    """Serialised access to one Modbus unit (the poll loop and command writes share it)."""

    def __init__(self, connection: ModbusConnection) -> None:
        self.connection = connection
        self.unit = connection.id
        """A left-out id is filled in with the device's usual one by ChargerConfig (Phoenix: 255)."""
        self._client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None
        self._lock = asyncio.Lock()

    @property
    def address(self) -> str:
        c = self.connection
        where = f"{c.host}:{c.port}" if self.over_tcp else c.device
        return f"{c.protocol}://{where}#{self.unit}"

    @property
    def over_tcp(self) -> bool:
        """TCP transport: ``tcp``/``rtuovertcp``, or ``rtu``/``ascii`` given a host instead of a serial device
        (a serial-to-Ethernet gateway passing the frames through)."""
        c = self.connection
        return c.protocol in ("tcp", "rtuovertcp") or (c.device is None and c.host is not None)

    def _new_client(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        c = self.connection
        framer = {"tcp": FramerType.SOCKET, "rtuovertcp": FramerType.RTU, "rtu": FramerType.RTU}.get(
            c.protocol, FramerType.ASCII
        )
        # reconnect_delay=0: no reconnect loop inside pymodbus, the runner owns retries and backoff.
        common: dict[str, Any] = {"timeout": c.timeout_s, "retries": 0, "reconnect_delay": 0}
        if self.over_tcp:
            if not c.host:
                raise DeviceError(f"modbus protocol {c.protocol} needs a host")
            return AsyncModbusTcpClient(c.host, port=c.port, framer=framer, **common)
        if not c.device:
            raise DeviceError(f"modbus protocol {c.protocol} needs a serial device or a host")
        return AsyncModbusSerialClient(
            c.device,
            framer=framer,
            baudrate=c.baudrate,
            bytesize=c.bytesize,
            parity=c.parity,
            stopbits=c.stopbits,
            **common,
        )

    async def _connected(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        if self._client is not None and self._client.connected:
            return self._client
        self.close()
        client = self._new_client()
        try:
            ok = await client.connect()
        except (OSError, ModbusException) as error:
            client.close()
            raise DeviceError(f"cannot connect to {self.address}: {error}") from error
        if not ok:
            client.close()
            raise DeviceError(f"cannot connect to {self.address}")
        self._client = client
        return client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def _call(self, what: str, operation: str, address: int, **kwargs: Any) -> Any:
        async with self._lock:
            client = await self._connected()
            try:
                response = await getattr(client, operation)(address, device_id=self.unit, **kwargs)
            except (ModbusException, OSError, TimeoutError) as error:
                self.close()
                raise DeviceError(f"{what} at {address} failed: {error or type(error).__name__}") from error
            if response.isError():
                raise DeviceError(f"{what} at {address} refused: {response}")
            return response

    async def read(self, source: RegisterSource, address: int, count: int = 1) -> list[int]:
        """``count`` registers (or coils/discrete inputs as 0/1) starting at ``address``."""
        if source == "holding":
            response = await self._call("read holding", "read_holding_registers", address, count=count)
            return list(response.registers[:count])
        if source == "input":
            response = await self._call("read input", "read_input_registers", address, count=count)
            return list(response.registers[:count])
        if source == "coil":
            response = await self._call("read coil", "read_coils", address, count=count)
            return [int(bit) for bit in response.bits[:count]]
        if source == "discrete":
            response = await self._call("read discrete", "read_discrete_inputs", address, count=count)
            return [int(bit) for bit in response.bits[:count]]
        raise DeviceError(f"unknown register source {source!r}")

    async def write_registers(self, address: int, values: list[int]) -> None:
        """Write holding registers (FC 16; FC 6 for a single register, which every device accepts)."""
        if len(values) == 1:
            await self._call("write register", "write_register", address, value=values[0])
        else:
            await self._call("write registers", "write_registers", address, values=values)

    async def write_coil(self, address: int, value: bool) -> None:
        await self._call("write coil", "write_coil", address, value=value)
