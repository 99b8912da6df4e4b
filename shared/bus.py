"""The one MQTT client every service uses (aiomqtt underneath).

It connects with exponential backoff, re-subscribes and republishes its retained state after every
reconnect, carries a last will on ``chargebus/services/<service>/status``, queues QoS 1 events while the
broker is away, and serves/issues the request/reply calls of DESIGN §2. Handlers are registered per topic
filter; a handler that raises is logged and the message dropped, so one bad payload never stops a service.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

import aiomqtt
from pydantic import BaseModel, ValidationError

from shared import __version__
from shared.config import MqttSettings
from shared.encoding import encode_mqtt
from shared.logging import get_logger
from shared.messages import Reply, Request, ServiceStatus
from shared.tasks import cancel_and_wait
from shared.topics import Topics
from shared.tree import Tree, check_owner

STOP_GRACE_S = 1.0
"""Seconds ``Bus.stop`` waits per shutdown step: twice this for the flush (offline status included), this
for each of the two cancellations of the connection."""
MAX_IN_FLIGHT = 20
"""QoS 1 publishes awaiting their PUBACK at once (paho's own in-flight window is 20)."""


@dataclass(frozen=True)
class BusMessage:
    topic: str
    payload: bytes
    retain: bool

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8", errors="replace")


Handler = Callable[[BusMessage], Awaitable[None]]
RequestHandler = Callable[[Request], Awaitable[Reply]]


class RequestTimeout(TimeoutError):
    """The owner of a key did not answer in time."""


@dataclass
class _Outgoing:
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Bus:
    """A service's connection to the broker. Use as ``async with Bus(...) as bus:``."""

    def __init__(
        self,
        settings: MqttSettings,
        service: str,
        *,
        persistent: bool = False,
        instance: str | None = None,
        root_presence: bool = False,
    ) -> None:
        """``persistent`` keeps a broker session (fixed client id, clean_session off) so QoS 1 messages
        are queued by the broker while the service is down. ``root_presence`` also owns ``<root>/status``
        (online/offline will), which evcc clients watch."""
        self.settings = settings
        self.service = service
        self.topics = Topics(settings.internal)
        self.tree = Tree(settings.topic)
        self.state_root = self.tree.root
        prefix = settings.client_id or "chargebus"
        self.client_id = f"{prefix}-{service}" + (f"-{instance}" if instance else "")
        if not persistent:
            self.client_id += f"-{uuid.uuid4().hex[:8]}"
        self.persistent = persistent
        self.root_presence = root_presence
        self.log = get_logger(service, component="bus")
        self.connected = asyncio.Event()
        self.started = datetime.now(UTC)
        self._handlers: list[tuple[str, Handler, int]] = []
        self._retained: dict[str, bytes] = {}
        self._outbox: deque[_Outgoing] = deque()
        self._outbox_ready = asyncio.Event()
        self._outbox_empty = asyncio.Event()
        self._outbox_empty.set()
        self._unacked: dict[int, _Outgoing] = {}
        """Publishes handed to the client and not yet acknowledged, by send order."""
        self._sequence = 0
        self._client: aiomqtt.Client | None = None
        self._pending: dict[str, asyncio.Future[Reply]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self.reply_topic = self.topics.replies(self.client_id)
        self.on(self.reply_topic, self._on_reply)

    # --- lifecycle ------------------------------------------------------------------------------------

    async def __aenter__(self) -> Bus:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._run(), name=f"bus-{self.service}"))
        if self.root_presence:
            self._tasks.append(asyncio.create_task(self._presence(), name=f"presence-{self.service}"))

    async def stop(self) -> None:
        """Flush what is queued (briefly), say offline, disconnect."""
        if self._closing:
            return
        if self._client is not None and self.connected.is_set():
            # offline goes last through the outbox, so it follows everything queued before it
            self.publish_nowait(self.topics.service_status(self.service), self._status_payload("offline"))
            try:
                await asyncio.wait_for(self._flush(), timeout=2 * STOP_GRACE_S)
            except TimeoutError:
                # a clean disconnect sends no last will: the status stays online until the service is back
                self.log.warning("broker did not acknowledge before shutdown", queued=len(self._outbox))
        self._closing = True
        # aiomqtt's disconnect waits up to its 10 s operation timeout for the broker (and so does a QoS 1
        # publish in flight); a service stopping because the broker is gone must not hang that long.
        await cancel_and_wait(self._tasks, timeout=STOP_GRACE_S)
        await cancel_and_wait(self._tasks, timeout=STOP_GRACE_S)  # a second cancel ends aiomqtt's wait
        self._tasks.clear()
        self.connected.clear()

    async def wait_connected(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self.connected.wait(), timeout)

    def _status_payload(self, state: Literal["online", "offline"]) -> bytes:
        status = ServiceStatus(state=state, version=__version__, started=self.started)
        return status.model_dump_json().encode()

    def _client_kwargs(self, identifier: str, will: aiomqtt.Will, clean: bool) -> dict[str, Any]:
        s = self.settings
        return {
            "hostname": s.host,
            "port": s.port,
            "identifier": identifier,
            "clean_session": clean,
            "will": will,
            "username": s.user,
            "password": s.password.get_secret_value() if s.password else None,
            "keepalive": s.keepalive_s,
            # Nagle off: a small publish must not wait for the ACK of the previous one (the broker delays
            # ACKs by up to 40 ms), which made every QoS 1 exchange on a busy connection ~40 ms slower.
            "socket_options": [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        }

    async def _run(self) -> None:
        backoff = 0.1
        status_topic = self.topics.service_status(self.service)
        will = aiomqtt.Will(status_topic, self._status_payload("offline"), qos=1, retain=True)
        while not self._closing:
            try:
                async with aiomqtt.Client(
                    **self._client_kwargs(self.client_id, will, clean=not self.persistent)
                ) as client:
                    self._client = client
                    for pattern, _, qos in self._handlers:
                        await client.subscribe(pattern, qos=qos)
                    await client.publish(status_topic, self._status_payload("online"), qos=1, retain=True)
                    for topic, payload in list(self._retained.items()):
                        await client.publish(topic, payload, qos=1, retain=True)
                    self.connected.set()
                    if backoff > 0.1:
                        self.log.info("broker reconnected", host=self.settings.host, port=self.settings.port)
                    backoff = 0.1
                    async with asyncio.TaskGroup() as group:
                        group.create_task(self._send(client))
                        group.create_task(self._receive(client))
            except* aiomqtt.MqttError as errors:
                self.log.warning(
                    "broker unreachable", error=str(errors.exceptions[0]), retry_s=round(backoff, 2)
                )
            self.connected.clear()
            self._client = None
            if self._closing:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    async def _presence(self) -> None:
        """A second connection whose only job is ``<root>/status`` online/offline (evcc's last will)."""
        topic = self.tree.status
        will = aiomqtt.Will(topic, b"offline", qos=1, retain=True)
        while not self._closing:
            try:
                async with aiomqtt.Client(
                    **self._client_kwargs(self.client_id + "-presence", will, True)
                ) as client:
                    await client.publish(topic, b"online", qos=1, retain=True)
                    try:
                        await asyncio.Event().wait()
                    except asyncio.CancelledError:
                        with contextlib.suppress(Exception):
                            await client.publish(topic, b"offline", qos=1, retain=True)
                        raise
            except aiomqtt.MqttError:
                await asyncio.sleep(1.0)

    async def _send(self, client: aiomqtt.Client) -> None:
        """Send the outbox in order with up to ``MAX_IN_FLIGHT`` QoS 1 publishes awaiting their PUBACK, so a
        request or command queued behind a burst of retained state is not held up one round trip per item."""
        slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        try:
            async with asyncio.TaskGroup() as group:  # a failed publish ends the connection (and the rest)
                while True:
                    while not self._outbox:
                        self._outbox_ready.clear()
                        await self._outbox_ready.wait()
                    await slots.acquire()
                    item = self._outbox.popleft()
                    self._sequence += 1
                    self._unacked[self._sequence] = item
                    # tasks start in creation order, so the packets go out in outbox order
                    group.create_task(self._publish_one(client, self._sequence, item, slots))
        finally:
            # Unacknowledged events go out again, in their order, after the reconnect (at least once);
            # retained state is republished from the cache anyway.
            lost = [item for _, item in sorted(self._unacked.items()) if not item.retain]
            self._outbox.extendleft(reversed(lost))
            self._unacked.clear()

    async def _publish_one(
        self, client: aiomqtt.Client, number: int, item: _Outgoing, slots: asyncio.Semaphore
    ) -> None:
        try:
            await client.publish(item.topic, item.payload, qos=item.qos, retain=item.retain)
            self._unacked.pop(number, None)
            if not self._outbox and not self._unacked:
                self._outbox_empty.set()
        finally:
            slots.release()

    async def _flush(self) -> None:
        await self._outbox_empty.wait()

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            raw = message.payload
            payload = raw if isinstance(raw, bytes) else str(raw if raw is not None else "").encode()
            await self._dispatch(BusMessage(message.topic.value, payload, bool(message.retain)))

    async def _dispatch(self, message: BusMessage) -> None:
        topic = aiomqtt.Topic(message.topic)
        for pattern, handler, _ in self._handlers:
            if topic.matches(pattern):
                try:
                    await handler(message)
                except Exception as error:  # a bad message must never stop the service
                    self.log.warning(
                        "message ignored",
                        topic=message.topic,
                        error=str(error),
                        error_type=type(error).__name__,
                    )

    # --- subscribing ------------------------------------------------------------------------------------

    def on(self, pattern: str, handler: Handler, qos: int = 1) -> None:
        """Call ``handler`` for every message on ``pattern`` (now and after every reconnect)."""
        self._handlers.append((pattern, handler, qos))
        if self._client is not None and self.connected.is_set():
            self._tasks.append(asyncio.create_task(self._late_subscribe(pattern, qos)))

    async def _late_subscribe(self, pattern: str, qos: int) -> None:
        if self._client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await self._client.subscribe(pattern, qos=qos)

    # --- publishing -------------------------------------------------------------------------------------

    def publish_nowait(self, topic: str, payload: str | bytes, *, retain: bool = True, qos: int = 1) -> bool:
        """Queue a publish; retained payloads equal to the last one are skipped. Returns whether queued."""
        data = payload.encode() if isinstance(payload, str) else payload
        if retain:
            if self._retained.get(topic) == data:
                return False
            # Empty (erasing) payloads are remembered too: an unchanged nil is not resent on every publish,
            # and an erase lost while disconnected is repeated after the reconnect.
            self._retained[topic] = data
        self._enqueue(_Outgoing(topic, data, qos, retain))
        return True

    def _enqueue(self, item: _Outgoing) -> None:
        self._outbox.append(item)
        self._outbox_empty.clear()
        self._outbox_ready.set()

    async def publish(self, topic: str, payload: str | bytes, *, retain: bool = True, qos: int = 1) -> None:
        self.publish_nowait(topic, payload, retain=retain, qos=qos)

    async def publish_model(self, topic: str, model: BaseModel, *, retain: bool = True, qos: int = 1) -> None:
        self.publish_nowait(topic, model.model_dump_json(), retain=retain, qos=qos)

    async def publish_state(self, scope: str, model: BaseModel) -> int:
        """Publish the set fields of a state model below ``<root>/<scope>``; returns topics changed.

        Raises :class:`~shared.tree.NotOwner` for a field another service owns (one writer per topic)."""
        check_owner(self.service, model)
        changed = 0
        for topic, payload in encode_mqtt(self.tree.scope(scope), model):
            changed += self.publish_nowait(topic, payload, retain=True)
        return changed

    async def clear(self, topic: str) -> None:
        """Erase a retained topic (e.g. a handled ``/set``)."""
        self._retained.pop(topic, None)
        self._enqueue(_Outgoing(topic, b"", 1, True))

    # --- request / reply ------------------------------------------------------------------------------

    async def request(self, service: str, key: str, value: Any = None, timeout: float | None = None) -> Reply:
        """Ask ``service`` to run setter ``key``; raises :class:`RequestTimeout` if it stays silent."""
        request = Request(id=uuid.uuid4().hex, reply_to=self.reply_topic, key=key, value=value)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[request.id] = future
        try:
            await self.publish_model(self.topics.requests(service), request, retain=False)
            return await asyncio.wait_for(future, timeout or self.settings.request_timeout_s)
        except TimeoutError:
            raise RequestTimeout(f"{service} did not answer {key!r} in time") from None
        finally:
            self._pending.pop(request.id, None)

    async def _on_reply(self, message: BusMessage) -> None:
        reply = Reply.model_validate_json(message.payload)
        future = self._pending.get(reply.id)
        if future is not None and not future.done():
            future.set_result(reply)

    def serve_requests(self, handler: RequestHandler) -> None:
        """Answer requests addressed to this service with ``handler``."""

        async def on_request(message: BusMessage) -> None:
            try:
                request = Request.model_validate_json(message.payload)
            except ValidationError as error:
                self.log.warning("malformed request ignored", error=str(error))
                return
            try:
                reply = await handler(request)
            except Exception as error:
                self.log.exception("request handler failed", key=request.key)
                reply = Reply(id=request.id, ok=False, error=f"internal error: {error}", code=500)
            await self.publish_model(request.reply_to, reply, retain=False)

        self.on(self.topics.requests(self.service), on_request)
