"""Webhooks: svix-style signed deliveries from an outbox table, retried with backoff, each delivered by one
instance however many share the database (rows are claimed with ``FOR UPDATE SKIP LOCKED`` and leased).

An event is written to the outbox (one row per endpoint) in the same transaction as the change that
caused it, so nothing is lost when the process stops between the change and the delivery: the deliverer
picks up every row still due after a restart. The ``svix-id`` is the row's ID and stays the same across
retries, so receivers can deduplicate.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlmodel import Session, col, select

from services.gateway.fleet.context import FleetContext
from services.gateway.fleet.ids import new_id
from services.gateway.fleet.models import WebhookEndpoint, WebhookMessage, utc
from shared.logging import get_logger
from shared.tasks import cancel_and_wait

log = get_logger("gateway", component="fleet-webhooks")

EVENT_TYPES = ("charging_sub_session.created", "charging_sub_session.ended")


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` keyed with the secret's decoded bytes."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def envelope(event_type: str, data: dict[str, Any], now: datetime) -> str:
    stamp = now.isoformat().replace("+00:00", "Z")
    return json.dumps({"type": event_type, "timestamp": stamp, "data": data}, separators=(",", ":"))


def enqueue(
    db: Session,
    event_type: str,
    data_at: Callable[[str], dict[str, Any]],
    user_id: str | None,
    now: datetime,
    public_url: str | None,
) -> int:
    """Queue ``event_type`` for every endpoint that wants it (the caller commits); returns rows queued.

    ``data_at(root)`` renders the event's resource with links below ``root``: ``gateway.public_url`` when
    set, else the root the endpoint was registered through (never a guess from the listening address)."""
    endpoints = db.exec(select(WebhookEndpoint).where(col(WebhookEndpoint.disabled).is_(False))).all()
    bodies: dict[str, str] = {}
    queued = 0
    for endpoint in endpoints:
        if endpoint.user_id is not None and endpoint.user_id != user_id:
            continue
        wanted = endpoint.event_types.split()
        if wanted and event_type not in wanted:
            continue
        root = public_url or endpoint.base_url
        if root not in bodies:
            bodies[root] = envelope(event_type, data_at(root), now)
        db.add(
            WebhookMessage(
                id=new_id("wmsg", now),
                endpoint_id=endpoint.id,
                event_type=event_type,
                body=bodies[root],
                created_at=now,
                next_attempt_at=now,
            )
        )
        queued += 1
    return queued


def headers_for(message: WebhookMessage, secret: str, now: datetime) -> dict[str, str]:
    timestamp = int(now.timestamp())
    return {
        "content-type": "application/json",
        "svix-id": message.id,
        "svix-timestamp": str(timestamp),
        "svix-signature": sign(secret, message.id, timestamp, message.body),
        "svix-event-type": message.event_type,
    }


CLAIM_BATCH = 50


def claim_due(ctx: FleetContext, now: datetime) -> list[tuple[str, str, str, WebhookEndpoint | None]]:
    """Take the due messages this instance will deliver: locked with ``FOR UPDATE SKIP LOCKED`` (so two
    instances never take the same one) and leased until ``now + lease_s`` (so a message an instance died
    with is retried by another once the lease runs out)."""
    lease = now + timedelta(seconds=ctx.webhook_policy.lease_s)
    with Session(ctx.engine, expire_on_commit=False) as db:
        due = db.exec(
            select(WebhookMessage)
            .where(col(WebhookMessage.next_attempt_at).is_not(None))
            .where(col(WebhookMessage.next_attempt_at) <= now)
            .order_by(col(WebhookMessage.created_at))
            .limit(CLAIM_BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        work = [(m.id, m.body, m.event_type, db.get(WebhookEndpoint, m.endpoint_id)) for m in due]
        for message in due:
            message.next_attempt_at = lease
            db.add(message)
        db.commit()
        return work


async def deliver_due(ctx: FleetContext, client: httpx.AsyncClient) -> float | None:
    """Attempt every message that is due; returns seconds until the next one is due (None: none left)."""
    while True:
        work = await asyncio.to_thread(claim_due, ctx, ctx.now())
        for message_id, body, event_type, endpoint in work:
            await _attempt(ctx, client, message_id, body, event_type, endpoint)
        if len(work) < CLAIM_BATCH:
            break
    with Session(ctx.engine) as db:
        upcoming = db.exec(
            select(WebhookMessage.next_attempt_at)
            .where(col(WebhookMessage.next_attempt_at).is_not(None))
            .order_by(col(WebhookMessage.next_attempt_at))
            .limit(1)
        ).first()
    if upcoming is None:
        return None
    return max(0.0, (utc(upcoming) - ctx.now()).total_seconds())


async def _attempt(
    ctx: FleetContext,
    client: httpx.AsyncClient,
    message_id: str,
    body: str,
    event_type: str,
    endpoint: WebhookEndpoint | None,
) -> None:
    now = ctx.now()
    error: str | None
    if endpoint is None or endpoint.disabled:
        error = "endpoint removed"
    else:
        probe = WebhookMessage(
            id=message_id, endpoint_id=endpoint.id, event_type=event_type, body=body, created_at=now
        )
        try:
            response = await client.post(
                endpoint.url,
                content=body.encode(),
                headers=headers_for(probe, endpoint.secret, now),
                timeout=ctx.webhook_policy.timeout_s,
            )
            error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}"
    with Session(ctx.engine) as db:
        message = db.get(WebhookMessage, message_id)
        if message is None:
            return
        message.attempts += 1
        if error is None:
            message.delivered_at = now
            message.next_attempt_at = None
            message.last_error = None
        else:
            message.last_error = error
            backoff = ctx.webhook_policy.backoff_s
            if endpoint is None or message.attempts > len(backoff):
                message.next_attempt_at = None
                message.failed_at = now
                log.warning("webhook given up", message=message_id, attempts=message.attempts, error=error)
            else:
                message.next_attempt_at = now + timedelta(seconds=backoff[message.attempts - 1])
                log.info("webhook attempt failed", message=message_id, attempts=message.attempts, error=error)
        db.add(message)
        db.commit()


async def run_deliverer(
    ctx: FleetContext, stop: asyncio.Event, client: httpx.AsyncClient | None = None
) -> None:
    """Deliver until ``stop`` is set: wake when something is queued or the next retry falls due."""
    own = client is None
    http = client or ctx.netguard.client()  # every connection checked, redirects included
    try:
        while not stop.is_set():
            ctx.outbox_ready.clear()
            try:
                wait = await deliver_due(ctx, http)
            except Exception:  # a database hiccup must not end deliveries for good
                log.exception("webhook delivery pass failed")
                wait = 5.0
            waiters = [asyncio.ensure_future(ctx.outbox_ready.wait()), asyncio.ensure_future(stop.wait())]
            try:
                await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            finally:
                await cancel_and_wait(waiters)
    finally:
        if own:
            await http.aclose()
