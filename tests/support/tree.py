"""Tests that stand in for the whole system publish state whose fields belong to several services."""

from __future__ import annotations

from pydantic import BaseModel

from shared.bus import Bus
from shared.encoding import encode_mqtt


async def publish_as_owners(bus: Bus, scope: str, model: BaseModel) -> None:
    """Publish the set fields of ``model`` below ``<root>/<scope>`` as their owners would (no owner check:
    the test plays every service)."""
    for topic, payload in encode_mqtt(bus.tree.scope(scope), model):
        await bus.publish(topic, payload)
