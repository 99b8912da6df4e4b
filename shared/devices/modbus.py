"""Modbus links (pymodbus): TCP, RTU over TCP through a gateway, or serial RTU/ASCII.

One :class:`ModbusLink` per endpoint — a TCP device or gateway, or a serial line — shared by every device
behind it (:class:`LinkPool`); each device talks through its :class:`ModbusUnit` (the link plus its unit id).
Requests on a link are serialised: an RS485 line carries one at a time, and many gateways accept one
client only. pymodbus' own reconnect loop is off: the caller owns retries and backoff, so a dead device is
reported the moment a request fails instead of being retried invisibly. After a transport failure the
connection is dropped and the next request connects afresh (a late answer on RTU framing would otherwise be
taken for the next request's).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Literal, Protocol

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU

from shared.config_devices import ModbusConnection
from shared.devices.codec import Block, Image
from shared.devices.errors import DeviceError, DeviceRefused

Table = Literal["holding", "input", "coil", "discrete"]
Client = AsyncModbusTcpClient | AsyncModbusSerialClient


class RegisterReader(Protocol):
    """Reads ``count`` registers (coils as 0/1) from ``address`` of a table."""

    async def read(self, source: str, address: int, count: int) -> list[int]: ...


def is_serial(connection: ModbusConnection) -> bool:
    """RTU/ASCII on a local serial device; with a ``host`` instead the frames go through a TCP gateway."""
    return connection.protocol in ("rtu", "ascii") and bool(connection.device)


def describe(connection: ModbusConnection) -> str:
    """Where the connection goes, for messages (``tcp://192.168.1.20:502``)."""
    where = connection.device if is_serial(connection) else f"{connection.host}:{connection.port}"
    return f"{connection.protocol}://{where}"


Endpoint = tuple[object, ...]


def endpoint(connection: ModbusConnection) -> Endpoint:
    """What makes two devices share one link: the same serial line or the same TCP gateway/port."""
    if is_serial(connection):
        c = connection
        return ("serial", c.protocol, c.device, c.baudrate, c.parity, c.stopbits, c.bytesize)
    return ("tcp", connection.protocol, connection.host, connection.port)


_FRAMER: dict[str, FramerType] = {
    "tcp": FramerType.SOCKET,
    "rtuovertcp": FramerType.RTU,
    "rtu": FramerType.RTU,
    "ascii": FramerType.ASCII,
}


class ModbusLink:
    """One connection (a TCP device or gateway, or a serial line) shared by every device behind it."""

    def __init__(self, connection: ModbusConnection) -> None:
        self.connection = connection
        self.where = describe(connection)
        self._client: Client | None = None
        self._lock = asyncio.Lock()
        self.connections = 0
        """Connections opened so far: a change means the device may have lost what was written to it."""

    @property
    def over_tcp(self) -> bool:
        return not is_serial(self.connection)

    def _new_client(self) -> Client:
        c = self.connection
        framer = _FRAMER[c.protocol]
        if is_serial(c):
            return AsyncModbusSerialClient(
                c.device or "",
                framer=framer,
                baudrate=c.baudrate,
                bytesize=c.bytesize,
                parity=c.parity,
                stopbits=c.stopbits,
                timeout=c.timeout_s,
                retries=0,
                reconnect_delay=0,
            )
        if not c.host:
            raise DeviceError(f"modbus protocol {c.protocol} needs a host (or a serial device)")
        return AsyncModbusTcpClient(
            c.host, port=c.port, framer=framer, timeout=c.timeout_s, retries=0, reconnect_delay=0
        )

    async def _connected(self) -> Client:
        if self._client is not None and self._client.connected:
            return self._client
        self.close()
        client = self._new_client()
        self._client = client
        try:
            ok = await asyncio.wait_for(client.connect(), self.connection.timeout_s + 1.0)
        except (TimeoutError, OSError, ModbusException) as error:
            ok = False
            reason = str(error) or type(error).__name__
        else:
            reason = "connection refused or timed out"
        if not ok:
            self.close()
            raise DeviceError(f"cannot connect to {self.where}: {reason}")
        self.connections += 1
        return client

    async def read(self, source: str, address: int, count: int, unit: int | None = None) -> list[int]:
        """``count`` registers (coils and discrete inputs as 0/1) from ``address`` of unit ``unit``."""
        unit = self.connection.id if unit is None else unit
        async with self._lock:
            client = await self._connected()
            calls = {
                "holding": client.read_holding_registers,
                "input": client.read_input_registers,
                "coil": client.read_coils,
                "discrete": client.read_discrete_inputs,
            }
            call = calls.get(source)
            if call is None:
                raise DeviceError(f"unknown register table {source!r}")
            what = f"{self.where} id {unit}"
            response = await self._exchange(
                call(address, count=count, device_id=unit),
                what,
                action=f"reading {source} {address}+{count}",
                subject=f"{source} {address}+{count}",
            )
            values = (
                list(response.registers)
                if source in ("holding", "input")
                else [int(bit) for bit in response.bits]
            )
            if len(values) < count:
                raise DeviceError(f"{what}: short answer for {source} {address}+{count}")
            return values[:count]

    async def write(self, address: int, words: Sequence[int], unit: int | None = None) -> None:
        """Write holding registers from ``address`` (FC 6 for one word, as every device takes; else FC 16)."""
        unit = self.connection.id if unit is None else unit
        async with self._lock:
            client = await self._connected()
            if len(words) == 1:
                call = client.write_register(address, words[0], device_id=unit)
            else:
                call = client.write_registers(address, list(words), device_id=unit)
            await self._exchange(
                call,
                f"{self.where} id {unit}",
                action=f"writing holding {address}",
                subject=f"write of holding {address} = {list(words)}",
            )

    async def write_coil(self, address: int, value: bool, unit: int | None = None) -> None:
        unit = self.connection.id if unit is None else unit
        async with self._lock:
            client = await self._connected()
            await self._exchange(
                client.write_coil(address, value, device_id=unit),
                f"{self.where} id {unit}",
                action=f"writing coil {address}",
                subject=f"write of coil {address} = {int(value)}",
            )

    async def _exchange(
        self, request: Awaitable[ModbusPDU], what: str, *, action: str, subject: str
    ) -> ModbusPDU:
        """One request/response: no answer or a broken link is a :class:`DeviceError` (and the next request
        connects afresh); an exception response is a :class:`DeviceRefused` (the link is fine)."""
        try:
            response = await asyncio.wait_for(request, self.connection.timeout_s + 1.0)
        except (TimeoutError, ModbusIOException):  # pymodbus reports its own timeout as an I/O error
            self.close()
            raise DeviceError(f"{what}: no answer {action}") from None
        except (ModbusException, OSError) as error:
            self.close()
            raise DeviceError(f"{what}: {action} failed: {error}") from None
        if response.isError():
            raise DeviceRefused(f"{what}: device refused {subject}: {response}")
        return response

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class ModbusUnit:
    """One device's view of a (possibly shared) link: its unit id."""

    def __init__(self, link: ModbusLink, unit: int | None = None) -> None:
        self.link = link
        self.unit = link.connection.id if unit is None else unit

    @property
    def connections(self) -> int:
        return self.link.connections

    @property
    def over_tcp(self) -> bool:
        return self.link.over_tcp

    @property
    def address(self) -> str:
        """Where the device is, for logs (``tcp://192.168.1.20:502#1``)."""
        return f"{self.link.where}#{self.unit}"

    async def read(self, source: str, address: int, count: int = 1) -> list[int]:
        return await self.link.read(source, address, count, self.unit)

    async def write(self, address: int, words: Sequence[int]) -> None:
        await self.link.write(address, words, self.unit)

    async def write_coil(self, address: int, value: bool) -> None:
        await self.link.write_coil(address, value, self.unit)

    def close(self) -> None:
        """Drop the connection (the next request connects afresh) — after a failure the device may be new."""
        self.link.close()


async def read_image(reader: RegisterReader, blocks: Sequence[Block]) -> Image:
    """Read every block of a plan, in order."""
    return Image(blocks, [await reader.read(b.source, b.address, b.count) for b in blocks])


class LinkPool:
    """One link per endpoint within a service: devices on one serial line or gateway share it.

    A serial line belongs to one process; devices of the meter-reader and the charger-actuator on the same
    RS485 line need a gateway (``rtuovertcp``) in front of it.
    """

    def __init__(self) -> None:
        self._links: dict[Endpoint, ModbusLink] = {}

    def unit(self, connection: ModbusConnection) -> ModbusUnit:
        link = self._links.setdefault(endpoint(connection), ModbusLink(connection))
        return ModbusUnit(link, connection.id)

    @property
    def links(self) -> list[ModbusLink]:
        return list(self._links.values())

    def close(self) -> None:
        for link in self._links.values():
            link.close()
