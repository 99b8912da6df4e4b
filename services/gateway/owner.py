"""The request/reply path to the service that owns a setting (DESIGN §2): REST setters never write state
themselves; they ask the owner, which runs the same handler as the MQTT ``/set`` path, and answer with
the value the owner confirmed."""

from __future__ import annotations

from typing import Any

from services.gateway.context import OWNER, GatewayContext
from services.gateway.responses import ApiError
from shared.bus import RequestTimeout


async def ask_owner(ctx: GatewayContext, key: str, value: Any, service: str = OWNER) -> Any:
    """Run setter ``key`` on ``service``; the confirmed value, or :class:`ApiError`:
    owner rejected → its code (400 when it gave none); owner or broker offline → 503;
    no answer in time → 504."""
    if not ctx.bus.connected.is_set():
        raise ApiError(503, f"gateway is not connected to the MQTT broker; {key} was not changed")
    if ctx.store.service_online(service) is False:
        raise ApiError(503, f"{service} is offline; {key} was not changed")
    timeout = ctx.config.mqtt.request_timeout_s
    try:
        reply = await ctx.bus.request(service, key, value, timeout=timeout)
    except RequestTimeout:
        raise ApiError(
            504, f"{service} did not answer within {timeout:g} s; {key} may not have changed"
        ) from None
    if not reply.ok:
        code = reply.code if reply.code is not None and 400 <= reply.code <= 599 else 400
        raise ApiError(code, reply.error or f"{service} rejected {key}")
    return reply.value
