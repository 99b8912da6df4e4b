"""Health of a service as the bus sees it: its retained ``chargebus/services/<name>/status``."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import aiomqtt
from pydantic import ValidationError

from shared.config import MqttSettings
from shared.messages import ServiceStatus
from shared.topics import Topics


async def service_online(settings: MqttSettings, service: str, timeout: float = 3.0) -> tuple[bool, str]:
    """(online?, human-readable reason) from the retained status; broker unreachable → offline."""
    topic = Topics(settings.internal).service_status(service)
    try:
        async with aiomqtt.Client(
            settings.host,
            settings.port,
            identifier=f"chargebus-health-{uuid.uuid4().hex[:8]}",
            username=settings.user,
            password=settings.password.get_secret_value() if settings.password else None,
        ) as client:
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
                        return status.state == "online", f"{service}: {status.state}"
    except aiomqtt.MqttError as error:
        return False, f"broker unreachable: {error}"
    return False, f"{service}: no status published"
