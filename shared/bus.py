"""The one MQTT client every service uses (aiomqtt underneath).

It connects with exponential backoff, re-subscribes and republishes its retained state after every
reconnect, carries a last will on ``chargebus/services/<service>/status``, queues QoS 1 events while the
broker is away, and serves/issues the request/reply calls of DESIGN §2. Handlers are registered per topic
filter; a handler that raises is logged and the message dropped, so one bad payload never stops a service.

Whatever goes wrong inside a connection — a broker away, a publish the client refuses, a bug — ends that
connection only: the loop logs it and connects again. A watchdog pings the service through the broker; a
connection that is up but no longer carries messages is dropped (so the broker publishes the last will),
and when that happens twice in a row the service exits non-zero for its supervisor to restart it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel, ValidationError

from shared import __version__
from shared.config import MqttSettings
from shared.encoding import encode_mqtt
from shared.logging import get_logger
from shared.messages import (
    MAX_PROBLEM_CHARS,
    MAX_PROBLEMS,
    REPLIES_ROOT_CONTEXT,
    Reply,
    Request,
    ServiceStatus,
)
from shared.service import ProcessControl, current_process
from shared.tasks import cancel_and_wait
from shared.topics import Topics, check_publish_topic
from shared.tree import Tree, check_owner

STOP_GRACE_S = 1.0
"""Seconds ``Bus.stop`` waits per shutdown step: twice this for the flush (offline status included), this
for each of the two cancellations of the connection."""
MAX_IN_FLIGHT = 20
"""QoS 1 publishes awaiting their PUBACK at once (paho's own in-flight window is 20)."""
PENDING_CALLS_WARNING = MAX_IN_FLIGHT + 16
"""aiomqtt warns above this many unacknowledged calls; our own window (plus a few subscriptions and
watchdog pings) stays below it, so the warning means a real backlog."""
MAX_PAYLOAD_BYTES = 256 * 1024
"""Larger incoming payloads are dropped before any handler parses them (the largest real message, a
week of 15-minute rates, is ~60 kB)."""
OUTAGE_REMINDER_S = 60.0
"""While the broker stays unreachable, one reminder line per this many seconds (not one per retry)."""
HANDLER_LOG_EVERY_S = 10.0
"""Rejected messages are logged once per handler per this many seconds, with a count of the rest."""
WEDGES_BEFORE_EXIT = 2


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


class SubscriptionRefused(aiomqtt.MqttError):
    """The broker answered a SUBSCRIBE with a failure code (typically: the ACL does not allow it)."""


class _Reconnect(Exception):
    """Ends the current connection on purpose; the loop connects again at once."""


class BusWedged(_Reconnect):
    """The connection is up but the watchdog's ping did not come back through the broker."""


class Subscription:
    """A handler registered with :meth:`Bus.on`. ``await`` it to wait for the broker's acknowledgement
    (SUBACK) — at once when connected, else after the next connect; it raises when the broker refused the
    filter or the SUBSCRIBE failed (the bus then reconnects, which subscribes it again)."""

    def __init__(self, pattern: str, handler: Handler, qos: int) -> None:
        self.pattern = pattern
        self.handler = handler
        self.qos = qos
        self._acked = asyncio.Event()
        self._error: BaseException | None = None

    def _ack(self) -> None:
        self._error = None
        self._acked.set()

    def _fail(self, error: BaseException) -> None:
        self._error = error
        self._acked.set()

    @property
    def answered(self) -> bool:
        """The broker has answered the SUBSCRIBE (granted or refused)."""
        return self._acked.is_set()

    async def wait(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._acked.wait(), timeout)
        if self._error is not None:
            raise self._error

    def __await__(self) -> Generator[Any, None, None]:
        return self.wait().__await__()


@dataclass
class _Outgoing:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    resend: bool = True
    """Re-sent after a reconnect when unacknowledged (events); watchdog pings are not."""


class _Throttle:
    """At most one log line per key per interval; counts what it held back."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def allow(self, key: str, now: float) -> int | None:
        """None to stay silent, else how many lines were held back since the last one."""
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._held.pop(key, 0)


class _StructlogHandler(logging.Handler):
    """Routes aiomqtt/paho's stdlib log records into the service's structured log."""

    def __init__(self, log: Any) -> None:
        super().__init__(logging.WARNING)
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        self._log.log(record.levelno, record.getMessage(), logger=record.name)


def _leaf(error: BaseException) -> BaseException:
    """The most telling exception inside (nested) exception groups: our own reasons first."""
    if not isinstance(error, BaseExceptionGroup):
        return error
    leaves: list[BaseException] = []

    def walk(group: BaseExceptionGroup[BaseException]) -> None:
        for inner in group.exceptions:
            if isinstance(inner, BaseExceptionGroup):
                walk(inner)
            else:
                leaves.append(inner)

    walk(error)
    for kind in (_Reconnect, aiomqtt.MqttError):
        for leaf in leaves:
            if isinstance(leaf, kind):
                return leaf
    return leaves[0] if leaves else error


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
        (online/offline will), which evcc clients watch: online only while this connection is up with every
        subscription acknowledged — register the handlers before :meth:`start`."""
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
        self._link_changed = asyncio.Event()
        """Set when the connection or a subscription changes state (the presence connection follows it)."""
        self.started = datetime.now(UTC)
        self._subscriptions: list[Subscription] = []
        self._retained: dict[str, bytes] = {}
        self._outbox: deque[_Outgoing] = deque()
        self._outbox_ready = asyncio.Event()
        self._outbox_empty = asyncio.Event()
        self._outbox_empty.set()
        self._unacked: dict[int, _Outgoing] = {}
        """Publishes handed to the client and not yet acknowledged, by send order."""
        self._sequence = 0
        self._connects = 0
        """Successful broker connections since start (in the status: reconnects show in the metrics)."""
        self._client: aiomqtt.Client | None = None
        self._pending: dict[str, asyncio.Future[Reply]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._problems: dict[str, str] = {}
        self._reconnect: asyncio.Future[str] | None = None
        self._pings = 0
        self._wedged = 0
        self._process: ProcessControl | None = None
        self._throttle = _Throttle(HANDLER_LOG_EVERY_S)
        self._mqtt_logger = logging.Logger(f"aiomqtt.{service}", logging.WARNING)
        self._mqtt_logger.addHandler(_StructlogHandler(self.log))
        self._mqtt_logger.propagate = False
        self.reply_topic = self.topics.replies(service, self.client_id)
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
        self._process = current_process()
        self._tasks.append(asyncio.create_task(self._run(), name=f"bus-{self.service}"))
        if self.root_presence:
            self._tasks.append(asyncio.create_task(self._presence(), name=f"presence-{self.service}"))

    async def stop(self) -> None:
        """Flush what is queued (briefly), say offline, disconnect."""
        if self._closing:
            return
        if self._client is not None and self.connected.is_set():
            # offline goes last through the outbox, so it follows everything queued before it
            self._enqueue(
                _Outgoing(self.topics.service_status(self.service), self._status_payload("offline"), 1, True)
            )
            try:
                await asyncio.wait_for(self._flush(), timeout=2 * STOP_GRACE_S)
            except TimeoutError:
                # a clean disconnect sends no last will: the status stays online until the service is back
                self.log.warning("broker did not acknowledge before shutdown", queued=len(self._outbox))
        self._closing = True
        # aiomqtt's disconnect waits up to its 10 s operation timeout for the broker (and so does a QoS 1
        # publish in flight); a service stopping because the broker is gone must not hang that long.
        tasks = [*self._tasks, *self._side_tasks]
        await cancel_and_wait(tasks, timeout=STOP_GRACE_S)
        await cancel_and_wait(tasks, timeout=STOP_GRACE_S)  # a second cancel ends aiomqtt's wait
        self._tasks.clear()
        self._side_tasks.clear()
        self._set_connected(False)

    async def wait_connected(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self.connected.wait(), timeout)

    # --- health -----------------------------------------------------------------------------------------

    @property
    def problems(self) -> tuple[str, ...]:
        return tuple(self._problems[key] for key in sorted(self._problems))[:MAX_PROBLEMS]

    def report_problem(self, key: str, problem: str | None) -> None:
        """Set (or with None clear) what is wrong with part ``key`` of the service; the retained service
        status carries the list, so health checks and the gateway see a degraded service."""
        if problem is not None:
            problem = problem[:MAX_PROBLEM_CHARS]
        if self._problems.get(key) == problem:
            return
        if problem is None:
            self._problems.pop(key, None)
        else:
            self._problems[key] = problem
        if self._client is not None:
            self._enqueue(
                _Outgoing(self.topics.service_status(self.service), self._status_payload("online"), 1, True)
            )

    def _status_payload(self, state: Literal["online", "offline"]) -> bytes:
        status = ServiceStatus(
            state=state,
            version=__version__,
            started=self.started,
            problems=self.problems if state == "online" else (),
            connects=self._connects,
        )
        return status.model_dump_json().encode()

    # --- the connection -----------------------------------------------------------------------------------

    def _client_kwargs(self, identifier: str, will: aiomqtt.Will, clean: bool) -> dict[str, Any]:
        s = self.settings
        return {
            "hostname": s.host,
            "port": s.port,
            "identifier": identifier,
            **_session_kwargs(s, clean),
            "will": will,
            "username": s.user,
            "password": s.password.get_secret_value() if s.password else None,
            "keepalive": s.keepalive_s,
            "logger": self._mqtt_logger,
            # Nagle off: a small publish must not wait for the ACK of the previous one (the broker delays
            # ACKs by up to 40 ms), which made every QoS 1 exchange on a busy connection ~40 ms slower.
            "socket_options": [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        }

    async def _run(self) -> None:
        backoff = 0.1
        status_topic = self.topics.service_status(self.service)
        will = aiomqtt.Will(status_topic, self._status_payload("offline"), qos=1, retain=True)
        loop = asyncio.get_running_loop()
        down_since: float | None = None
        attempts = 0
        reminded_at = 0.0
        while not self._closing:
            was_connected = False
            try:
                async with aiomqtt.Client(
                    **self._client_kwargs(self.client_id, will, clean=not self.persistent)
                ) as client:
                    client.pending_calls_threshold = PENDING_CALLS_WARNING
                    was_connected = True
                    await self._connected(client, status_topic)
                    if down_since is not None:
                        self.log.info(
                            "broker reconnected",
                            host=self.settings.host,
                            port=self.settings.port,
                            attempts=attempts,
                            down_s=round(loop.time() - down_since, 1),
                        )
                    down_since, attempts, backoff = None, 0, 0.1
                    async with asyncio.TaskGroup() as group:
                        group.create_task(self._send(client))
                        group.create_task(self._receive(client))
                        group.create_task(self._watch(client))
            except Exception as error:  # whatever ends a connection, the loop goes on
                leaf = _leaf(error)
                now = loop.time()
                if isinstance(leaf, BusWedged):
                    self._on_wedged(leaf)
                    backoff = 0.1
                elif isinstance(leaf, _Reconnect):
                    self.log.warning("reconnecting", reason=str(leaf))
                    backoff = 0.1
                elif isinstance(leaf, aiomqtt.MqttError):
                    attempts += 1
                    if down_since is None:
                        down_since = reminded_at = now
                        self.log.warning(
                            "broker connection lost" if was_connected else "broker unreachable; retrying",
                            host=self.settings.host,
                            port=self.settings.port,
                            error=str(leaf),
                        )
                    elif now - reminded_at >= OUTAGE_REMINDER_S:
                        reminded_at = now
                        self.log.warning(
                            "broker still unreachable",
                            error=str(leaf),
                            attempts=attempts,
                            down_s=round(now - down_since, 1),
                        )
                else:
                    self.log.error("bus connection failed; reconnecting", exc_info=leaf)
            self._set_connected(False)
            self._client = None
            self._reconnect = None
            if self._closing:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    async def _connected(self, client: aiomqtt.Client, status_topic: str) -> None:
        """Subscribe everything (one SUBSCRIBE), say online, queue the retained state before the rest."""
        self._client = client
        self._connects += 1
        self._reconnect = asyncio.get_running_loop().create_future()
        subscriptions = list(self._subscriptions)  # later ones subscribe themselves (``_client`` is set)
        if subscriptions:
            codes = await client.subscribe([(s.pattern, s.qos) for s in subscriptions])
            self._granted(subscriptions, codes)
        await client.publish(status_topic, self._status_payload("online"), qos=1, retain=True)
        # The cache holds the latest value of every retained topic; queued copies of them would go twice.
        # Erasures (not cached) and events stay queued, in their order, behind the state.
        queued = [item for item in self._outbox if not (item.retain and item.topic in self._retained)]
        self._outbox.clear()
        self._outbox.extend(_Outgoing(topic, payload, 1, True) for topic, payload in self._retained.items())
        self._outbox.extend(queued)
        if self._outbox:
            self._outbox_empty.clear()
            self._outbox_ready.set()
        self._set_connected(True)

    def _set_connected(self, up: bool) -> None:
        if up:
            self.connected.set()
        else:
            self.connected.clear()
        self._link_changed.set()

    def listening(self) -> bool:
        """Connected, and the broker has answered every subscription: a message published now is heard."""
        return self.connected.is_set() and all(s.answered for s in self._subscriptions)

    def _granted(self, subscriptions: Sequence[Subscription], codes: Sequence[Any]) -> None:
        for subscription, code in zip(subscriptions, codes, strict=False):
            value = getattr(code, "value", code)
            if isinstance(value, int) and value >= 0x80:
                self.log.error("subscription refused by the broker", pattern=subscription.pattern, code=value)
                subscription._fail(SubscriptionRefused(f"broker refused {subscription.pattern!r} ({value})"))
            else:
                subscription._ack()
        self._link_changed.set()

    def _request_reconnect(self, reason: str) -> None:
        if self._reconnect is not None and not self._reconnect.done():
            self._reconnect.set_result(reason)

    async def _watch(self, client: aiomqtt.Client) -> None:
        """End the connection on request, or when the watchdog's ping does not come back in time."""
        request = self._reconnect
        assert request is not None
        timeout = self.settings.watchdog_s
        interval = max(timeout / 3, 0.1)
        while True:
            await asyncio.wait([request], timeout=interval if timeout else None)
            if request.done():
                raise _Reconnect(request.result())
            try:
                await asyncio.wait_for(self._ping(), timeout)
            except TimeoutError:
                # Shut the socket instead of a clean DISCONNECT, so the broker publishes the last will
                # (offline) for whoever watches this service while it reconnects.
                with contextlib.suppress(Exception):
                    sock: Any = client._client.socket()  # the paho client underneath
                    if sock is not None:
                        sock.shutdown(socket.SHUT_RDWR)
                raise BusWedged(
                    f"no answer to the watchdog ping through the broker for {timeout:g} s"
                ) from None
            self._wedged = 0

    def _on_wedged(self, error: BusWedged) -> None:
        self._wedged += 1
        if self._wedged < WEDGES_BEFORE_EXIT:
            self.log.error("bus wedged; reconnecting", reason=str(error))
            return
        if self._process is not None:
            self.log.error("bus wedged again after a reconnect; exiting for a restart", reason=str(error))
            self._process.fail(f"bus wedged: {error}")
        else:
            self.log.error("bus wedged again after a reconnect; reconnecting", reason=str(error))
        self._wedged = 0

    async def _ping(self) -> None:
        """One round trip through the broker: a reply to ourselves, through the outbox and the receiver."""
        self._pings += 1
        ping = Reply(id=f"ping-{self.client_id}-{self._pings}", ok=True)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[ping.id] = future
        try:
            self._enqueue(
                _Outgoing(self.reply_topic, ping.model_dump_json().encode(), 1, False, resend=False)
            )
            await future
        finally:
            self._pending.pop(ping.id, None)

    async def _presence(self) -> None:
        """A second connection whose only job is ``<root>/status`` (evcc's last will): ``online`` while the
        main connection is :meth:`listening`, so a client that sees it can send a ``/set`` at once;
        ``offline`` while it is not (connecting, subscribing, dropped), and as this connection's will."""
        topic = self.tree.status
        will = aiomqtt.Will(topic, b"offline", qos=1, retain=True)
        while not self._closing:
            try:
                async with aiomqtt.Client(
                    **self._client_kwargs(self.client_id + "-presence", will, True)
                ) as client:
                    said: bytes | None = None
                    try:
                        while True:
                            self._link_changed.clear()
                            state = b"online" if self.listening() else b"offline"
                            if state != said:
                                await client.publish(topic, state, qos=1, retain=True)
                                said = state
                            await self._link_changed.wait()
                    except asyncio.CancelledError:
                        with contextlib.suppress(Exception):
                            await client.publish(topic, b"offline", qos=1, retain=True)
                        raise
            except Exception:  # the bus's own loop reports the broker's state
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
            lost = [item for _, item in sorted(self._unacked.items()) if not item.retain and item.resend]
            self._outbox.extendleft(reversed(lost))
            self._unacked.clear()

    async def _publish_one(
        self, client: aiomqtt.Client, number: int, item: _Outgoing, slots: asyncio.Semaphore
    ) -> None:
        try:
            await client.publish(item.topic, item.payload, qos=item.qos, retain=item.retain)
        except aiomqtt.MqttError:
            raise  # the connection is gone: the item stays unacknowledged and goes out again
        except Exception as error:  # the client refused this one message: drop it alone
            self.log.error("publish refused by the client; dropped", topic=item.topic[:200], error=str(error))
        finally:
            slots.release()
        self._unacked.pop(number, None)
        if not self._outbox and not self._unacked:
            self._outbox_empty.set()

    async def _flush(self) -> None:
        await self._outbox_empty.wait()

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            raw = message.payload
            payload = raw if isinstance(raw, bytes) else str(raw if raw is not None else "").encode()
            await self._dispatch(BusMessage(message.topic.value, payload, bool(message.retain)))

    async def _dispatch(self, message: BusMessage) -> None:
        topic = aiomqtt.Topic(message.topic)
        if len(message.payload) > MAX_PAYLOAD_BYTES:
            self._log_rejected(
                "payload",
                message.topic,
                f"payload of {len(message.payload)} bytes exceeds {MAX_PAYLOAD_BYTES}",
            )
            return
        for subscription in list(self._subscriptions):
            if topic.matches(subscription.pattern):
                try:
                    await subscription.handler(message)
                except Exception as error:  # a bad message must never stop the service
                    self._log_rejected(subscription.pattern, message.topic, str(error), type(error).__name__)

    def _log_rejected(self, key: str, topic: str, error: str, error_type: str | None = None) -> None:
        held = self._throttle.allow(key, asyncio.get_running_loop().time())
        if held is None:
            return
        self.log.warning(
            "message ignored",
            topic=topic[:200],
            error=error[:500],
            **({"error_type": error_type} if error_type else {}),
            **({"similar_ignored": held} if held else {}),
        )

    # --- subscribing ------------------------------------------------------------------------------------

    def on(self, pattern: str, handler: Handler, qos: int = 1) -> Subscription:
        """Call ``handler`` for every message on ``pattern`` (now and after every reconnect). Returns the
        subscription; ``await`` it to know the broker has acknowledged it."""
        aiomqtt.Wildcard(pattern)  # refuses a malformed filter here, not in the connect loop
        subscription = Subscription(pattern, handler, qos)
        self._subscriptions.append(subscription)
        self._link_changed.set()  # not listening until the broker has answered this one too
        client = self._client
        if client is not None:
            task = asyncio.create_task(self._late_subscribe(client, subscription))
            self._side_tasks.add(task)
            task.add_done_callback(self._side_tasks.discard)
        return subscription

    async def subscribe(
        self, pattern: str, handler: Handler, qos: int = 1, timeout: float | None = None
    ) -> None:
        """:meth:`on`, returning once the broker acknowledged the subscription."""
        await self.on(pattern, handler, qos).wait(timeout)

    async def _late_subscribe(self, client: aiomqtt.Client, subscription: Subscription) -> None:
        try:
            codes = await client.subscribe(subscription.pattern, qos=subscription.qos)
        except aiomqtt.MqttError as error:
            if client is not self._client:
                return  # that connection is gone; the next one subscribes it with the rest
            self.log.warning("subscribe failed; reconnecting", pattern=subscription.pattern, error=str(error))
            subscription._fail(error)
            self._request_reconnect(f"subscribe to {subscription.pattern} failed: {error}")
            return
        self._granted([subscription], codes)

    # --- publishing -------------------------------------------------------------------------------------

    def publish_nowait(self, topic: str, payload: str | bytes, *, retain: bool = True, qos: int = 1) -> bool:
        """Queue a publish; retained payloads equal to the last one are skipped. Returns whether queued.
        Raises :class:`~shared.topics.InvalidTopic` for a topic no broker accepts (wildcards, empty…)."""
        check_publish_topic(topic)
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
        check_publish_topic(topic)
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

    def serve_requests(self, handler: RequestHandler) -> Subscription:
        """Answer requests addressed to this service with ``handler``; ``await`` the result to know the
        request topic is subscribed."""
        context = {REPLIES_ROOT_CONTEXT: self.topics.replies_root}

        async def on_request(message: BusMessage) -> None:
            try:
                request = Request.model_validate_json(message.payload, context=context)
            except ValidationError as error:
                self._log_rejected("request", message.topic, f"malformed request: {_first_error(error)}")
                return
            try:
                reply = await handler(request)
            except Exception as error:
                self.log.exception("request handler failed", key=request.key)
                reply = Reply(id=request.id, ok=False, error=f"internal error: {error}", code=500)
            await self.publish_model(request.reply_to, reply, retain=False)

        return self.on(self.topics.requests(self.service), on_request)


def _first_error(error: ValidationError) -> str:
    errors = error.errors()
    if not errors:
        return str(error)
    where = ".".join(str(part) for part in errors[0]["loc"])
    return f"{where}: {errors[0]['msg']}" if where else errors[0]["msg"]


def _session_kwargs(settings: MqttSettings, clean: bool) -> dict[str, Any]:
    """MQTT 3.1.1 keeps a session with ``clean_session`` off; MQTT 5 with clean start off and a session
    expiry (the broker forgets a session at once when it has none)."""
    if settings.protocol != "5":
        return {"clean_session": clean}
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 0 if clean else settings.session_expiry_s
    return {
        "protocol": aiomqtt.ProtocolVersion.V5,
        "clean_start": clean,
        "properties": properties,
    }
