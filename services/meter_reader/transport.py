"""The Modbus link to one device (pymodbus): TCP, RTU over TCP through a gateway, or serial RTU/ASCII.

pymodbus' own reconnect loop is switched off: the poller owns retries and backoff, so a dead device is
reported the moment a read fails instead of being retried invisibly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Protocol

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU

from shared.config_devices import ModbusConnection


class DeviceError(Exception):
    """The device did not answer or answered with an error; the message is what the user sees."""


class DeviceRefused(DeviceError):
    """The device answered with a Modbus exception (e.g. illegal address): the link itself works."""


class RegisterReader(Protocol):
    """Reads ``count`` registers from ``address`` of a register table (``holding`` or ``input``)."""

    async def read(self, source: str, address: int, count: int) -> list[int]: ...


def is_serial(connection: ModbusConnection) -> bool:
    """RTU/ASCII on a local serial device; with a ``host`` instead the frames go through a TCP gateway."""
    return connection.protocol in ("rtu", "ascii") and bool(connection.device)


def describe(connection: ModbusConnection) -> str:
    """Where the connection goes, for error messages (``tcp://192.168.1.20:502``)."""
    where = connection.device if is_serial(connection) else f"{connection.host}:{connection.port}"
    return f"{connection.protocol}://{where}"


Endpoint = tuple[object, ...]


def endpoint(connection: ModbusConnection) -> Endpoint:
    """What makes two meters share one connection: the same serial line or the same TCP gateway/port."""
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
    """One connection (a TCP device or gateway, or a serial line) shared by every meter behind it.

    Requests are serialised — an RS485 bus carries one at a time, and many gateways accept one client only.
    It connects lazily and drops the connection after a transport failure, so the next read reconnects.
    """

    def __init__(self, connection: ModbusConnection) -> None:
        self.connection = connection
        self.where = describe(connection)
        self._client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None
        self._lock = asyncio.Lock()
        self.connections = 0
        """Connections opened so far: a change means the device may have lost what was written to it."""

    def _new_client(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
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
        return AsyncModbusTcpClient(
            c.host or "", port=c.port, framer=framer, timeout=c.timeout_s, retries=0, reconnect_delay=0
        )

    async def _connected(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
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
        """``count`` registers from ``address`` of unit ``unit`` (default: the connection's id)."""
        unit = self.connection.id if unit is None else unit
        async with self._lock:
            return await self._read(source, address, count, unit)

    async def _read(self, source: str, address: int, count: int, unit: int) -> list[int]:
        client = await self._connected()
        call = client.read_input_registers if source == "input" else client.read_holding_registers
        what = f"{self.where} id {unit}"
        response = await self._exchange(
            call(address, count=count, device_id=unit),
            what,
            action=f"reading {source} {address}+{count}",
            subject=f"{source} {address}+{count}",
        )
        registers = list(response.registers)
        if len(registers) < count:
            raise DeviceError(f"{what}: short answer for {source} {address}+{count}")
        return registers[:count]

    async def write(self, address: int, words: list[int], unit: int | None = None) -> None:
        """Write holding registers from ``address`` (FC 6 for one word, FC 16 for several)."""
        unit = self.connection.id if unit is None else unit
        async with self._lock:
            client = await self._connected()
            if len(words) == 1:
                call = client.write_register(address, words[0], device_id=unit)
            else:
                call = client.write_registers(address, words, device_id=unit)
            await self._exchange(
                call,
                f"{self.where} id {unit}",
                action=f"writing holding {address}",
                subject=f"write of holding {address} = {words}",
            )

    async def _exchange(
        self, request: Awaitable[ModbusPDU], what: str, *, action: str, subject: str
    ) -> ModbusPDU:
        """One request/response: no answer or a broken link is a :class:`DeviceError` (and the next request
        connects afresh); an exception response is a :class:`DeviceRefused` (the link is fine)."""
        try:
            response = await asyncio.wait_for(request, self.connection.timeout_s + 1.0)
        except (TimeoutError, ModbusIOException):  # pymodbus reports its own timeout as an I/O error
            # A late answer would be taken for the next request's on RTU framing: start afresh.
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


class UnitReader:
    """One meter's view of a shared link: its unit id."""

    def __init__(self, link: ModbusLink, unit: int) -> None:
        self.link = link
        self.unit = unit

    @property
    def connections(self) -> int:
        return self.link.connections

    async def read(self, source: str, address: int, count: int) -> list[int]:
        return await self.link.read(source, address, count, self.unit)

    async def write(self, address: int, words: list[int]) -> None:
        await self.link.write(address, words, self.unit)


def shared_links(connections: list[ModbusConnection]) -> tuple[list[ModbusLink], list[UnitReader]]:
    """One link per endpoint, and each connection's reader on it (in the given order)."""
    links: dict[Endpoint, ModbusLink] = {}
    readers = []
    for connection in connections:
        link = links.setdefault(endpoint(connection), ModbusLink(connection))
        readers.append(UnitReader(link, connection.id))
    return list(links.values()), readers
