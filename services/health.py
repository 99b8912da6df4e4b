"""Health of a service as the bus sees it: its retained ``chargebus/services/<name>/status``."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from types import TracebackType

import aiomqtt
from pydantic import ValidationError

from shared.config import MqttSettings
from shared.logging import get_logger
from shared.messages import ServiceStatus
from shared.topics import Topics


def _client(settings: MqttSettings, purpose: str) -> aiomqtt.Client:
    return aiomqtt.Client(
        settings.host,
        settings.port,
        identifier=f"chargebus-{purpose}-{uuid.uuid4().hex[:8]}",
        username=settings.user,
        password=settings.password.get_secret_value() if settings.password else None,
    )


def describe(service: str, status: ServiceStatus) -> tuple[bool, str]:
    """(healthy?, reason): online without problems is healthy; online with problems is degraded."""
    if status.state != "online":
        return False, f"{service}: {status.state}"
    if status.problems:
        return False, f"{service}: online but degraded: " + "; ".join(status.problems)
    return True, f"{service}: online"


async def service_online(settings: MqttSettings, service: str, timeout: float = 3.0) -> tuple[bool, str]:
    """(healthy?, human-readable reason) from the retained status; broker unreachable → unhealthy."""
    topic = Topics(settings.internal).service_status(service)
    try:
        async with _client(settings, "health") as client:
            await client.subscribe(topic, qos=1)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    async for message in client.messages:
                        raw = message.payload
                        try:
                            status = ServiceStatus.model_validate_json(
                                raw if isinstance(raw, bytes) else str(raw)
                            )
                        except ValidationError:
                            return False, f"{service}: unreadable status"
                        return describe(service, status)
    except aiomqtt.MqttError as error:
        return False, f"broker unreachable: {error}"
    return False, f"{service}: no status published"


class StatusWatch:
    """Follows every service's retained status on one connection (reconnecting while the broker is away),
    so a supervisor can wait for a child to come online. Use as ``async with StatusWatch(settings):``."""

    def __init__(self, settings: MqttSettings) -> None:
        self.settings = settings
        self.topics = Topics(settings.internal)
        self.statuses: dict[str, ServiceStatus] = {}
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self.log = get_logger("demo", component="status-watch")

    async def __aenter__(self) -> StatusWatch:
        self._task = asyncio.create_task(self._run(), name="status-watch")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        prefix = f"{self.topics.root}/services/"
        while True:
            try:
                async with _client(self.settings, "watch") as client:
                    await client.subscribe(self.topics.all_services, qos=1)
                    async for message in client.messages:
                        name = message.topic.value[len(prefix) :].split("/", 1)[0]
                        raw = message.payload
                        try:
                            status = ServiceStatus.model_validate_json(raw if isinstance(raw, bytes) else b"")
                        except ValidationError:
                            continue  # one bad message changes nothing we know
                        async with self._changed:
                            self.statuses[name] = status
                            self._changed.notify_all()
            except aiomqtt.MqttError:
                await asyncio.sleep(0.5)

    def online(self, service: str) -> bool:
        status = self.statuses.get(service)
        return status is not None and status.state == "online"

    async def wait_online(self, service: str, timeout: float) -> bool:
        """Whether ``service`` said online within ``timeout`` seconds."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.online(service)), timeout)
            except TimeoutError:
                return False
        return True
