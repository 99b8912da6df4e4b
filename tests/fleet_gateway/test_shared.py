"""Two fleet-gateway instances on one PostgreSQL and one shared-subscription group: every event reaches one
of them and is stored once, both take a share, and each webhook is delivered once across both."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

from fastapi import FastAPI, Request, Response
from sqlalchemy import func
from sqlmodel import Session, select

from services.gateway.fleet.models import FleetChargingSession, WebhookMessage
from shared.config import MqttSettings
from shared.db import ChargerStatusLog, ChargingSession
from shared.messages import ChargerStatusChanged, ChargeStatus
from tests.fleet_gateway.conftest import centre_config, running_centre, sim_site, site_config
from tests.gateway.fleet.conftest import serve

SESSIONS = 12
STATUS_CHANGES = 12


def count(engine: object, model: type) -> int:
    with Session(engine) as db:  # type: ignore[arg-type]
        return int(db.exec(select(func.count()).select_from(model)).one())


async def test_each_event_is_stored_once_and_each_webhook_sent_once(
    mqtt_settings: MqttSettings, pg_url: str, sites_root: str
) -> None:
    config = centre_config(mqtt_settings, pg_url, sites_root)
    received: Counter[str] = Counter()
    all_received = asyncio.Event()
    hooks = FastAPI()

    @hooks.post("/hook")
    async def hook(request: Request) -> Response:
        received[request.headers["svix-id"]] += 1
        if sum(received.values()) >= SESSIONS:
            all_received.set()
        return Response(status_code=204)

    async with (
        serve(hooks) as hook_base,
        running_centre(config, "one") as one,
        running_centre(config, "two") as two,
        sim_site(site_config(mqtt_settings, sites_root, "s1")) as s1,
        sim_site(site_config(mqtt_settings, sites_root, "s2")) as s2,
    ):

        async def registered() -> bool:
            return one.site_ids() == ["s1", "s2"]

        await one.until(registered)
        endpoint = await one.http.post(
            "/v2/webhook_endpoints",
            headers=one.headers(),
            json={"url": f"{hook_base}/hook", "event_types": ["charging_sub_session.created"]},
        )
        assert endpoint.status_code == 201
        for n in range(SESSIONS):
            await (s1 if n % 2 else s2).session(f"uid-{n}", charged_kwh=n)
        for n in range(STATUS_CHANGES):
            site = s1 if n % 2 else s2
            change = ChargerStatusChanged(
                event_id=f"st-{n}",
                loadpoint=1,
                charger="wallbox",
                status=ChargeStatus.B,
                previous=ChargeStatus.A,
            )
            await site.bus.publish_model(site.bus.topics.event("charger-status"), change, retain=False)

        total = SESSIONS + STATUS_CHANGES

        async def all_handled() -> bool:
            return one.centre.writer.handled + two.centre.writer.handled >= total

        await one.until(all_handled)
        assert one.centre.writer.handled > 0 and two.centre.writer.handled > 0  # both took a share
        assert one.centre.writer.handled + two.centre.writer.handled == total  # nobody got one twice
        engine = one.centre.engine
        assert count(engine, ChargingSession) == SESSIONS
        assert count(engine, ChargerStatusLog) == STATUS_CHANGES
        with Session(engine) as db:
            sites = Counter(db.exec(select(ChargingSession.site_id)).all())
        assert sites == {"s1": SESSIONS // 2, "s2": SESSIONS // 2}

        async def synced() -> bool:
            return count(engine, FleetChargingSession) == SESSIONS

        await one.until(synced)
        await asyncio.wait_for(all_received.wait(), 20)

        async def all_delivered() -> bool:
            with Session(engine) as db:
                return all(m.delivered_at is not None for m in db.exec(select(WebhookMessage)).all())

        await one.until(all_delivered)
        with Session(engine) as db:
            attempts = [m.attempts for m in db.exec(select(WebhookMessage)).all()]
        assert attempts == [1] * SESSIONS  # each message was attempted by one instance, once
        assert len(received) == SESSIONS and set(received.values()) == {1}
        bodies = (await one.http.get("/v2/charging_sessions", headers=one.headers())).json()
        assert len(bodies) == SESSIONS and len({b["id"] for b in bodies}) == SESSIONS
        assert json.loads(json.dumps(bodies))[0]["evse"].startswith(str(one.http.base_url))
