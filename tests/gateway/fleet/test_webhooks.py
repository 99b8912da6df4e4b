"""Webhooks: signed deliveries to a local receiver, a retry after a failed attempt, and the outbox
surviving a restart of the app."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field

from fastapi import FastAPI, Request, Response
from sqlmodel import select

from services.gateway.fleet.context import WebhookPolicy
from services.gateway.fleet.models import WebhookMessage
from shared.config import Config
from shared.db import ChargerStatusLog
from shared.netguard import NetGuard, parse_networks
from tests.gateway.fleet.conftest import ManualClock, running_fleet, serve
from tests.gateway.fleet.test_vehicles_sessions import add_session, set_session
from tests.support.broker import wait_for


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver answering ``statuses`` in turn (then 200)."""

    statuses: list[int] = field(default_factory=list)
    calls: asyncio.Queue[Received] = field(default_factory=asyncio.Queue)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            await self.calls.put(Received(dict(request.headers), await request.body()))
            return Response(status_code=self.statuses.pop(0) if self.statuses else 200)

        return app

    async def next(self) -> Received:
        return await asyncio.wait_for(self.calls.get(), 10)


def verify(secret: str, call: Received) -> bool:
    """Svix verification written from its documented scheme, independent of the sender's code."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{call.headers['svix-id']}.{call.headers['svix-timestamp']}.".encode() + call.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(sig == f"v1,{expected}" for sig in call.headers["svix-signature"].split())


async def test_sub_session_events_are_signed_and_retried(config: Config, clock: ManualClock) -> None:
    receiver = Receiver(statuses=[500])
    async with serve(receiver.app()) as hook_base, running_fleet(config, clock) as fleet:
        headers = await fleet.headers("webhook:write webhook:read charging_session:read")
        endpoint = await fleet.http.post(
            "/v2/webhook_endpoints", headers=headers, json={"url": f"{hook_base}/hook"}
        )
        assert endpoint.status_code == 201
        secret = endpoint.json()["secret"]
        add_session(fleet, "w-1", charged_kwh=1.0)
        sessions = (await fleet.http.get("/v2/charging_sessions", headers=headers)).json()

        failed, retried = await receiver.next(), await receiver.next()
        assert failed.headers["svix-id"] == retried.headers["svix-id"]
        assert verify(secret, retried) and verify(secret, failed)
        event = json.loads(retried.body)
        assert event["type"] == "charging_sub_session.created" == retried.headers["svix-event-type"]
        assert event["data"]["mode"] == "SMART"
        # no gateway.public_url: links start where the endpoint was registered, as the API's own do
        assert event["data"]["url"] == sessions[0]["sub_sessions"][0]
        tampered = Received(retried.headers, retried.body.replace(b"SMART", b"BOOST"))
        assert not verify(secret, tampered)

        await fleet.http.post(
            f"/v2/charging_sessions/{sessions[0]['id']}/boost_start",
            headers=await fleet.headers("charging_session:write"),
        )
        kinds = [json.loads((await receiver.next()).body)["type"] for _ in range(2)]
        assert kinds == ["charging_sub_session.ended", "charging_sub_session.created"]

        # The car leaves: the boost sub-session ends with the session.
        set_session(fleet, "w-1", finished=fleet.clock().replace(tzinfo=None), charged_kwh=3.0)
        with fleet.db() as db:
            db.add(
                ChargerStatusLog(
                    event_id="gone",
                    loadpoint=1,
                    charger="wallbox",
                    status="A",
                    timestamp=fleet.clock().replace(tzinfo=None),
                )
            )
            db.commit()
        await fleet.http.get("/v2/charging_sessions", headers=headers)
        ended = json.loads((await receiver.next()).body)
        assert ended["type"] == "charging_sub_session.ended"
        assert ended["data"]["mode"] == "BOOST" and ended["data"]["energy_delivered_watt_hours"] == 2000

        listed = (await fleet.http.get("/v2/webhook_endpoints", headers=headers)).json()
        assert [e["id"] for e in listed] == [endpoint.json()["id"]] and "secret" not in listed[0]
        assert (await fleet.http.get(listed[0]["url"], headers=headers)).json()[
            "target_url"
        ] == f"{hook_base}/hook"
        assert (await fleet.http.delete(listed[0]["url"], headers=headers)).status_code == 204
        assert (await fleet.http.get("/v2/webhook_endpoints", headers=headers)).json() == []
        bad = await fleet.http.post(
            "/v2/webhook_endpoints",
            headers=headers,
            json={"url": f"{hook_base}/hook", "event_types": ["nope"]},
        )
        assert bad.status_code == 400 and "event_types" in bad.json()["field_errors"]


async def test_outbox_survives_a_restart(config: Config, clock: ManualClock) -> None:
    receiver = Receiver(statuses=[503])
    patient = WebhookPolicy(backoff_s=(3600.0,))
    async with serve(receiver.app()) as hook_base:
        async with running_fleet(config, clock, patient) as fleet:
            headers = await fleet.headers("webhook:write charging_session:read")
            created = await fleet.http.post(
                "/v2/webhook_endpoints", headers=headers, json={"url": f"{hook_base}/hook"}
            )
            secret = created.json()["secret"]
            add_session(fleet, "r-1", charged_kwh=1.0)
            await fleet.http.get("/v2/charging_sessions", headers=headers)
            first = await receiver.next()  # fails with 503; the next try is an hour away
        # Stopped: the deliverer finished its attempt and recorded it.
        with fleet.db() as db:
            pending = db.exec(select(WebhookMessage)).one()
            assert pending.attempts == 1 and pending.delivered_at is None and pending.last_error == "HTTP 503"
        clock.advance(3601)
        async with running_fleet(config, clock, patient) as restarted:
            second = await receiver.next()
            assert second.headers["svix-id"] == first.headers["svix-id"] and verify(secret, second)
        with restarted.db() as db:
            row = db.exec(select(WebhookMessage)).one()
            assert row.delivered_at is not None and row.next_attempt_at is None and row.attempts == 2


async def test_webhooks_cannot_target_internal_addresses(config: Config, clock: ManualClock) -> None:
    """SSRF: a webhook to the gateway's own API (or any loopback, link-local or private address) is refused
    when it is created, and a delivery whose target became internal is refused when it connects."""
    receiver = Receiver()
    strict = config.model_copy(update={"gateway": config.gateway.model_copy(update={"outbound_allow": []})})
    async with serve(receiver.app()) as hook_base, running_fleet(strict, clock) as fleet:
        headers = await fleet.headers("webhook:write webhook:read charging_session:read")
        for target in (
            "http://127.0.0.1:7070/api/residualpower/4242",
            "http://[::ffff:127.0.0.1]:7070/api/residualpower/4242",
            "http://169.254.169.254/latest/meta-data/",
            "http://192.168.1.1/",
            f"{hook_base}/hook",
        ):
            refused = await fleet.http.post("/v2/webhook_endpoints", headers=headers, json={"url": target})
            assert refused.status_code == 400, target
            assert "not allowed" in refused.json()["field_errors"]["url"][0]
        # Registered while the receiver's network was allowed; the deliverer, built with the configured
        # (strict) guard, refuses to connect.
        fleet.ctx.netguard = NetGuard(allow=parse_networks(["127.0.0.0/8"]))
        created = await fleet.http.post(
            "/v2/webhook_endpoints", headers=headers, json={"url": f"{hook_base}/hook"}
        )
        assert created.status_code == 201
        add_session(fleet, "w-ssrf", charged_kwh=1.0)
        await fleet.http.get("/v2/charging_sessions", headers=headers)

        def refused_attempt() -> str | None:
            with fleet.db() as db:
                message = db.exec(select(WebhookMessage)).first()
                return message.last_error if message is not None and message.attempts else None

        await wait_for(lambda: refused_attempt() is not None)
        assert "loopback address 127.0.0.1" in str(refused_attempt())
    assert receiver.calls.empty()
