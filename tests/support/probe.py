"""A probe client for tests: records every message below the test's roots and awaits conditions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType

import aiomqtt

from shared.config import MqttSettings


class Probe:
    def __init__(self, settings: MqttSettings) -> None:
        self.settings = settings
        self.values: dict[str, str] = {}
        self.history: list[tuple[str, str]] = []
        self._changed = asyncio.Condition()
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Probe:
        self._client = aiomqtt.Client(self.settings.host, self.settings.port)
        await self._client.__aenter__()
        await self._client.subscribe(f"{self.settings.topic}/#", qos=1)
        await self._client.subscribe(f"{self.settings.internal}/#", qos=1)
        self._task = asyncio.create_task(self._listen())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task:
            self._task.cancel()
        if self._client:
            await self._client.__aexit__(None, None, None)

    async def _listen(self) -> None:
        assert self._client is not None
        async for message in self._client.messages:
            payload = message.payload
            text = payload.decode(errors="replace") if isinstance(payload, bytes) else str(payload or "")
            async with self._changed:
                self.values[message.topic.value] = text
                self.history.append((message.topic.value, text))
                self._changed.notify_all()

    async def subscribe(self, pattern: str) -> None:
        """Record ``pattern`` too (e.g. ``homeassistant/#``); wait for its retained messages as for any."""
        assert self._client is not None
        await self._client.subscribe(pattern, qos=1)

    def state(self, key: str) -> str | None:
        """Value of ``<root>/<key>``."""
        return self.values.get(f"{self.settings.topic}/{key}")

    async def publish(self, topic: str, payload: str | bytes, retain: bool = False) -> None:
        assert self._client is not None
        await self._client.publish(topic, payload, qos=1, retain=retain)

    async def set(self, key: str, payload: str) -> None:
        """Publish to ``<root>/<key>/set`` like a Node-RED flow would."""
        await self.publish(f"{self.settings.topic}/{key}/set", payload)

    async def wait(self, predicate: Callable[[dict[str, str]], bool], timeout: float = 10.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: predicate(self.values)), timeout)

    async def wait_value(self, topic: str, check: Callable[[str], bool], timeout: float = 10.0) -> str:
        await self.wait(lambda v: topic in v and check(v[topic]), timeout)
        return self.values[topic]

    async def wait_state(self, key: str, check: Callable[[str], bool], timeout: float = 10.0) -> str:
        return await self.wait_value(f"{self.settings.topic}/{key}", check, timeout)
