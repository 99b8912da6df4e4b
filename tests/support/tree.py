"""Tests that stand in for the whole system publish state whose fields belong to several services."""

from __future__ import annotations

from typing import Any, get_args, get_origin

from pydantic import BaseModel

from shared.bus import Bus
from shared.encoding import _has_marker, _strip_optional, encode_mqtt, mqtt_segment
from shared.state import SCOPE_MODELS, Phases
from shared.tree import UnknownAddress, parse_address


async def publish_as_owners(bus: Bus, scope: str, model: BaseModel) -> None:
    """Publish the set fields of ``model`` below ``<root>/<scope>`` as their owners would (no owner check:
    the test plays every service)."""
    for topic, payload in encode_mqtt(bus.tree.scope(scope), model):
        await bus.publish(topic, payload)


def in_schema(relative: str) -> bool:
    """Whether ``relative`` (``loadpoints/1/chargeCurrents/l1``) is a topic the state schema defines."""
    try:
        address = parse_address(relative)
    except UnknownAddress:
        return False
    model: Any = SCOPE_MODELS[address.scope]
    parts = address.key.split("/")
    top = True
    while parts:
        segment = parts.pop(0)
        fields = {mqtt_segment(n, i): i for n, i in model.model_fields.items()}
        info = fields.get(segment)
        if info is None:
            return False
        kind = _strip_optional(info.annotation)
        if top and _has_marker(info, Phases):
            return parts in ([], ["l1"], ["l2"], ["l3"])
        if get_origin(kind) in (list, tuple):
            if not parts:
                return True
            if not parts.pop(0).isdigit():
                return False
            kind = get_args(kind)[0]
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            model, top = kind, False
            continue
        return not parts
    return True
