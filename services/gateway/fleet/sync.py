"""Bringing the fleet's session view up to date with the gateway's ``sessions`` table."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from services.gateway.fleet.context import FleetContext
from services.gateway.fleet.deps import v2_base
from services.gateway.fleet.models import FleetSubSession
from services.gateway.fleet.render import Renderer
from services.gateway.fleet.subsessions import SubSessionEvents, sync_sessions
from services.gateway.fleet.tariffs import TariffView


def sub_session_events(fleet: FleetContext) -> SubSessionEvents:
    """Sub-session webhooks with bodies exactly as the API serves them."""

    def render(db: Session, sub: FleetSubSession, root: str) -> dict[str, Any]:
        view = TariffView(fleet.config, fleet.live, fleet.now())
        return Renderer(v2_base(root), db, fleet.config, view).sub_session(sub, {})

    return SubSessionEvents(render, fleet.public_url)


def sync_now(fleet: FleetContext, db: Session) -> None:
    """Pick up new and finished sessions; wake the webhook deliverer when something was queued.

    Requests and the background loop (and other gateway instances) may sync at the same moment; the
    unique ``session_uid`` lets exactly one of them win, the others roll back and find the work done."""
    try:
        queued = sync_sessions(db, fleet.config, sub_session_events(fleet), fleet.now())
    except IntegrityError:
        db.rollback()
        return
    if queued:
        fleet.outbox_ready.set()
