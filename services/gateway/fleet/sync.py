"""Bringing the fleet's session view up to date with the ``sessions`` and charger log tables."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from services.gateway.fleet.context import FleetContext
from services.gateway.fleet.deps import v2_base
from services.gateway.fleet.models import FleetSubSession
from services.gateway.fleet.render import Renderer
from services.gateway.fleet.subsessions import SubSessionEvents, sync_sessions


def sub_session_events(fleet: FleetContext) -> SubSessionEvents:
    """Sub-session webhooks with bodies exactly as the API serves them."""

    def render(db: Session, sub: FleetSubSession, root: str) -> dict[str, Any]:
        return Renderer(v2_base(root), db, fleet.sites, fleet.now()).sub_session(sub, {})

    return SubSessionEvents(render, fleet.public_url)


def sync_now(fleet: FleetContext, db: Session) -> None:
    """Pick up new and finished sessions; wake the webhook deliverer when something was queued.

    Requests and the background loop (and other gateway instances) may sync at the same moment: at most
    one runs at a time on PostgreSQL, and a unique ``session_uid`` lets exactly one win elsewhere — the
    others roll back and find the work done."""
    try:
        queued = sync_sessions(db, sub_session_events(fleet), fleet.now())
    except IntegrityError:
        db.rollback()
        return
    if queued:
        fleet.outbox_ready.set()


def sync_once(fleet: FleetContext) -> None:
    with Session(fleet.engine) as db:
        sync_now(fleet, db)
