"""The request/reply path to the service that owns a setting (DESIGN §2): REST setters never write state
themselves; they ask the owner, which runs the same handler as the MQTT ``/set`` path, and answer with
the value the owner confirmed. The evcc API, the fleet API of one gateway and the fleet gateway at the
centre of many sites all ask through :func:`ask_owner`, so a refusal or a silence means the same
status everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from services.gateway.errors import ApiError
from shared.bus import Bus, RequestTimeout
from shared.messages import Reply

OWNER = "optimizer"
"""The service that owns every setting the REST setters change (DESIGN §1)."""


class Requester(Protocol):
    """What :func:`ask_owner` needs of a bus: ``shared.bus.Bus`` has it."""

    async def request(
        self, service: str, key: str, value: Any = None, timeout: float | None = None
    ) -> Reply: ...


@dataclass(frozen=True)
class OwnerLink:
    """How to reach the owners of one site: the requester, and what is known about the way there."""

    requester: Requester
    timeout_s: float
    connected: bool = True
    """False while the bus is not connected to the broker."""
    online: bool | None = None
    """The owner's last reported status: False = offline, None = unknown (ask anyway)."""
    where: str = ""
    """Prefix of messages (``site home-1: ``) when one gateway serves several sites."""


class StatusView(Protocol):
    def service_online(self, service: str) -> bool | None: ...


def bus_link(bus: Bus, status: StatusView, service: str = OWNER) -> OwnerLink:
    """The way to ``service`` over ``bus`` right now (its status as ``status`` last saw it)."""
    return OwnerLink(
        bus,
        bus.settings.request_timeout_s,
        connected=bus.connected.is_set(),
        online=status.service_online(service),
    )


async def ask_owner(link: OwnerLink, key: str, value: Any, service: str = OWNER) -> Any:
    """Run setter ``key`` on ``service``; the confirmed value, or :class:`ApiError`:
    owner rejected → its code (400 when it gave none); owner or broker offline → 503;
    no answer in time → 504."""
    if not link.connected:
        raise ApiError(503, f"{link.where}gateway is not connected to the MQTT broker; {key} was not changed")
    if link.online is False:
        raise ApiError(503, f"{link.where}{service} is offline; {key} was not changed")
    try:
        reply = await link.requester.request(service, key, value, timeout=link.timeout_s)
    except RequestTimeout:
        raise ApiError(
            504,
            f"{link.where}{service} did not answer within {link.timeout_s:g} s; {key} may not have changed",
        ) from None
    if not reply.ok:
        code = reply.code if reply.code is not None and 400 <= reply.code <= 599 else 400
        raise ApiError(code, f"{link.where}{reply.error or f'{service} rejected {key}'}")
    return reply.value
