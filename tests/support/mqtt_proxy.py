"""A TCP proxy in front of the test broker that understands just enough MQTT to hold back SUBSCRIBE packets
and to cut one client's connection — the slow broker and the lost connection of a real deployment, on
demand and without timing.

Client → broker bytes are split into MQTT packets (fixed header, remaining length); broker → client bytes
pass through untouched. A client is known by the client id of its CONNECT.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from types import TracebackType

from tests.support.broker import Broker

CONNECT, SUBSCRIBE = 1, 8


async def _read_packet(reader: asyncio.StreamReader) -> bytes:
    """One whole MQTT control packet (raises ``IncompleteReadError`` at the end of the stream)."""
    header = await reader.readexactly(1)
    length, shift, raw = 0, 0, b""
    while True:
        byte = await reader.readexactly(1)
        raw += byte
        length |= (byte[0] & 0x7F) << shift
        shift += 7
        if not byte[0] & 0x80:
            break
    return header + raw + await reader.readexactly(length)


def _client_id(packet: bytes) -> str:
    """The client id of a CONNECT packet (MQTT 3.1.1 and 5)."""
    at = 1
    while packet[at] & 0x80:  # the remaining length
        at += 1
    at += 1
    name_length = int.from_bytes(packet[at : at + 2], "big")
    at += 2 + name_length
    level = packet[at]
    at += 1 + 1 + 2  # level, flags, keep alive
    if level == 5:  # properties: a variable byte integer length, then the properties
        length, shift = 0, 0
        while True:
            byte = packet[at]
            at += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        at += length
    id_length = int.from_bytes(packet[at : at + 2], "big")
    return packet[at + 2 : at + 2 + id_length].decode()


class MqttProxy:
    """``async with MqttProxy(broker) as proxy:`` then connect to ``proxy.port``."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.port = 0
        self.subscribes_open = asyncio.Event()
        """Cleared: SUBSCRIBE packets wait (the broker seems slow to answer them)."""
        self.subscribes_open.set()
        self.subscribe_held = asyncio.Event()
        """Set once a SUBSCRIBE waits for :attr:`subscribes_open`."""
        self._server: asyncio.Server | None = None
        self._links: dict[str, tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> MqttProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for client, upstream in self._links.values():
            client.close()
            upstream.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def hold_subscribes(self) -> None:
        self.subscribe_held.clear()
        self.subscribes_open.clear()

    def release_subscribes(self) -> None:
        self.subscribes_open.set()

    def clients(self) -> list[str]:
        return list(self._links)

    def cut(self, matches: Callable[[str], bool]) -> list[str]:
        """Close the connections of the clients whose id ``matches`` (as a dropped TCP connection)."""
        cut = [client_id for client_id in self._links if matches(client_id)]
        for client_id in cut:
            client, upstream = self._links.pop(client_id)
            client.close()
            upstream.close()
        return cut

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(self.broker.host, self.broker.port)
        except OSError:
            writer.close()
            return
        client_id = ""
        back = asyncio.create_task(self._pipe(up_reader, writer))
        self._tasks.add(back)
        try:
            while True:
                packet = await _read_packet(reader)
                kind = packet[0] >> 4
                if kind == CONNECT:
                    client_id = _client_id(packet)
                    self._links[client_id] = (writer, up_writer)
                elif kind == SUBSCRIBE and not self.subscribes_open.is_set():
                    self.subscribe_held.set()
                    await self.subscribes_open.wait()
                up_writer.write(packet)
                await up_writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            if self._links.get(client_id, (None, None))[0] is writer:
                del self._links[client_id]
            back.cancel()
            for w in (writer, up_writer):
                w.close()
            with contextlib.suppress(BaseException):
                await back
            self._tasks.discard(back)
            self._tasks.discard(task)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()
