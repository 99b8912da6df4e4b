"""How a fleet gateway reaches the sites it serves: their live state from the shared database, their
owners over the central broker (and the bridge behind it).

A write — a vehicle patch, a boost, an EVSE's mode — becomes a request on the owning site's request
topic (``<sites_root>/<site>/chargebus/requests/<service>``). Its ``reply_to`` is written in the site's
own terms (the root its services use, from its manifest), because a bridge that remaps topics does not
touch payloads; the answer comes back through the bridge below the site's central root, where every
instance listens for its own replies.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, select

from services.fleet_gateway.topics import FleetTopics
from services.gateway.fleet.live import LiveLoadpoint, LiveView
from services.gateway.fleet.models import FleetSite, SiteService, SiteTariff, utc
from services.gateway.fleet.models import LiveLoadpoint as LiveRow
from services.gateway.fleet.sites import manifest_of
from services.gateway.owner import OWNER, OwnerLink
from shared.bus import Bus, BusMessage, RequestTimeout
from shared.messages import RateSeries, Reply, Request

SERVICE = "fleet-gateway"


class DatabaseLiveView:
    """One site's live state as the fleet's instances wrote it (read per request; nothing cached)."""

    def __init__(self, db: Session, site_id: str) -> None:
        self._db = db
        self._site_id = site_id

    def tariff(self, usage: str) -> RateSeries | None:
        row = self._db.get(SiteTariff, (self._site_id, usage))
        if row is None:
            return None
        try:
            return RateSeries.model_validate_json(row.series)
        except ValidationError:
            return None

    def loadpoint(self, loadpoint_id: int) -> LiveLoadpoint | None:
        row = self._db.get(LiveRow, (self._site_id, loadpoint_id))
        if row is None:
            return None
        return LiveLoadpoint.of(json.loads(row.state), utc(row.updated_at))


@dataclass
class SiteRequester:
    """``request()`` of one site, over the central bus (the ``Requester`` the owner helper uses)."""

    router: RequestRouter
    central_root: str
    internal_root: str

    async def request(self, service: str, key: str, value: Any = None, timeout: float | None = None) -> Reply:
        return await self.router.request(self, service, key, value, timeout)


class RequestRouter:
    """Routes requests to sites and matches their replies (one pending future per request id)."""

    def __init__(self, bus: Bus, topics: FleetTopics, instance: str) -> None:
        self.bus = bus
        self.topics = topics
        self.instance = instance
        self._pending: dict[str, asyncio.Future[Reply]] = {}
        bus.on(topics.replies(SERVICE, instance), self._on_reply, qos=1)

    async def request(
        self, site: SiteRequester, service: str, key: str, value: Any, timeout: float | None
    ) -> Reply:
        request = Request(
            id=uuid.uuid4().hex,
            reply_to=f"{site.internal_root}/replies/{SERVICE}/{self.instance}",
            key=key,
            value=value,
        )
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[request.id] = future
        try:
            topic = f"{site.central_root}/requests/{service}"
            await self.bus.publish_model(topic, request, retain=False)
            return await asyncio.wait_for(future, timeout or self.bus.settings.request_timeout_s)
        except TimeoutError:
            raise RequestTimeout(f"{service} did not answer {key!r} in time") from None
        finally:
            self._pending.pop(request.id, None)

    async def _on_reply(self, message: BusMessage) -> None:
        try:
            reply = Reply.model_validate_json(message.payload)
        except ValidationError:
            return
        future = self._pending.get(reply.id)
        if future is not None and not future.done():
            future.set_result(reply)


class CentreSites:
    """The :class:`~services.gateway.fleet.context.SiteAccess` of a fleet gateway."""

    def __init__(self, router: RequestRouter, timeout_s: float) -> None:
        self.router = router
        self.timeout_s = timeout_s

    def live(self, db: Session, site_id: str) -> LiveView:
        return DatabaseLiveView(db, site_id)

    def owner(self, db: Session, site_id: str) -> OwnerLink | None:
        site = db.get(FleetSite, site_id)
        if site is None:
            return None
        status = db.exec(
            select(SiteService.online)
            .where(SiteService.site_id == site_id)
            .where(SiteService.service == OWNER)
        ).first()
        requester = SiteRequester(self.router, site.central_root, manifest_of(site).internal_root)
        return OwnerLink(
            requester,
            self.timeout_s,
            connected=self.router.bus.connected.is_set(),
            online=status,
            where=f"site {site_id}: ",
        )
