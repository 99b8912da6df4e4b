"""MQTT as a device transport: the last payload of each subscribed topic, and publishes for setters.

One client per broker (chargebus' own unless a source names another), owned by the service's lifespan:
a plain reconnect loop as in aiomqtt's docs that re-subscribes every topic, keeps what arrived in a
:class:`~shared.devices.source.Latest` per topic (stale after the source's timeout) and drops payloads
larger than any device sends. This is no :class:`shared.bus.Bus`: device topics carry the devices'
formats, not chargebus' contract, and the client has no will and no status of its own.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass
from typing import Any

import aiomqtt

from shared.config import MqttSettings
from shared.config_sources import MqttBroker
from shared.devices.errors import DeviceError
from shared.devices.source import Latest
from shared.logging import get_logger
from shared.tasks import cancel_and_wait

MAX_PAYLOAD_BYTES = 65536
RECONNECT_MAX_S = 10.0


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    user: str | None = None
    password: str | None = None

    @staticmethod
    def of(broker: MqttBroker | None, default: MqttSettings) -> BrokerAddress:
        if broker is None:
            password = default.password.get_secret_value() if default.password else None
            return BrokerAddress(default.host, default.port, default.user, password)
        secret = os.environ.get(broker.password_env) if broker.password_env else None
        return BrokerAddress(broker.host, broker.port, broker.user, secret)

    def __str__(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


class _Client:
    """One broker: subscriptions, the latest payloads, and a publish queue served while connected."""

    def __init__(self, address: BrokerAddress, client_id: str, log: Any) -> None:
        self.address = address
        self.client_id = client_id
        self.log = log
        self.latest: dict[str, Latest[bytes]] = {}
        self.connected = asyncio.Event()
        self._client: aiomqtt.Client | None = None

    def subscribe(self, topic: str, timeout_s: float | None) -> Latest[bytes]:
        latest = self.latest.get(topic)
        if latest is None:
            latest = self.latest[topic] = Latest(f"{self.address}/{topic}", timeout_s)
        elif timeout_s is not None and (latest.timeout_s is None or timeout_s < latest.timeout_s):
            latest.timeout_s = timeout_s
        return latest

    async def run(self) -> None:
        backoff = 0.2
        while True:
            try:
                async with aiomqtt.Client(
                    self.address.host,
                    self.address.port,
                    identifier=self.client_id,
                    username=self.address.user,
                    password=self.address.password,
                    keepalive=30,
                ) as client:
                    self._client = client
                    for topic in self.latest:
                        await client.subscribe(topic, qos=0)
                    self.connected.set()
                    backoff = 0.2
                    async for message in client.messages:
                        self._take(message)
            except aiomqtt.MqttError as error:
                self.log.warning("device broker unreachable", broker=str(self.address), error=str(error))
            finally:
                self._client = None
                self.connected.clear()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RECONNECT_MAX_S)

    def _take(self, message: aiomqtt.Message) -> None:
        raw = message.payload
        payload = raw if isinstance(raw, bytes) else str(raw if raw is not None else "").encode()
        latest = self.latest.get(message.topic.value)
        if latest is None or not payload:
            return  # an empty payload clears a retained topic: no value, not a zero
        if len(payload) > MAX_PAYLOAD_BYTES:
            self.log.warning(
                "device payload too large, dropped", topic=message.topic.value, size=len(payload)
            )
            return
        latest.set(payload)

    async def publish(self, topic: str, payload: str, retain: bool) -> None:
        client = self._client
        if client is None or not self.connected.is_set():
            raise DeviceError(f"{self.address} is not connected: {topic} not written")
        try:
            await client.publish(topic, payload, qos=1, retain=retain, timeout=5)
        except aiomqtt.MqttError as error:
            raise DeviceError(f"{self.address}: publishing {topic} failed: {error}") from None


class MqttHub:
    """The device brokers of one service; ``async with hub:`` connects them (subscribe before entering)."""

    def __init__(self, default: MqttSettings, service: str) -> None:
        self.default = default
        self.service = service
        self.log = get_logger(service, component="device-mqtt")
        self._clients: dict[BrokerAddress, _Client] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def _client(self, broker: MqttBroker | None) -> _Client:
        address = BrokerAddress.of(broker, self.default)
        client = self._clients.get(address)
        if client is None:
            prefix = self.default.client_id or "chargebus"
            client_id = f"{prefix}-{self.service}-devices-{uuid.uuid4().hex[:8]}"
            client = self._clients[address] = _Client(address, client_id, self.log)
        return client

    def subscribe(
        self, topic: str, timeout_s: float | None, broker: MqttBroker | None = None
    ) -> Latest[bytes]:
        """The latest payload of ``topic`` (subscribed on every connect)."""
        return self._client(broker).subscribe(topic, timeout_s)

    def latest(self, topic: str, broker: MqttBroker | None = None) -> Latest[bytes] | None:
        """What arrived on a subscribed ``topic`` (None if nobody subscribed it)."""
        return self._client(broker).latest.get(topic)

    async def publish(
        self, topic: str, payload: str, *, retain: bool, broker: MqttBroker | None = None
    ) -> None:
        await self._client(broker).publish(topic, payload, retain)

    @property
    def empty(self) -> bool:
        return not self._clients

    async def wait_connected(self, timeout: float) -> None:
        await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in self._clients.values())), timeout)

    async def __aenter__(self) -> MqttHub:
        self._tasks = [
            asyncio.create_task(c.run(), name=f"device-mqtt-{a}") for a, c in self._clients.items()
        ]
        return self

    async def __aexit__(self, *_: object) -> None:
        await cancel_and_wait(self._tasks, timeout=2.0)
        self._tasks.clear()
