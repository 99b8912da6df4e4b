"""Everything a fleet route needs, built once by whoever serves the fleet API and handed to
``build_router`` (no module-level state, no lookup on ``app.state``).

The fleet API serves any number of sites: a site's gateway serves its own (:attr:`FleetContext.local`),
a fleet gateway every site whose manifest it saw. What differs between the two is behind
:class:`SiteAccess` — how a site's live state is read and how its owners are reached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.gateway.fleet.idempotency import IdempotencyStore
from services.gateway.fleet.live import LiveView
from services.gateway.fleet.problems import unavailable
from services.gateway.fleet.ratelimit import RateLimits
from services.gateway.owner import OWNER, OwnerLink, ask_owner
from shared.messages import SiteManifest
from shared.netguard import NetGuard, guard_from

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class SiteAccess(Protocol):
    """How this gateway reaches the sites it serves."""

    def live(self, db: Session, site_id: str) -> LiveView:
        """The site's live tariffs and loadpoint state."""
        ...

    def owner(self, db: Session, site_id: str) -> OwnerLink | None:
        """How to reach the site's owners right now; None when there is no way (→ 503)."""
        ...


@dataclass(frozen=True)
class WebhookPolicy:
    """Delivery retry schedule: wait ``backoff_s[n]`` after the (n+1)-th failure; give up after the last."""

    backoff_s: tuple[float, ...] = (5, 30, 120, 600, 1800, 3600, 7200, 14400)
    timeout_s: float = 10.0
    lease_s: float = 60.0
    """How long an instance owns a message it is delivering; another instance retries after that."""


@dataclass
class FleetContext:
    engine: Engine
    sites: SiteAccess
    limits: RateLimits
    idempotency: IdempotencyStore
    public_url: str | None
    """``gateway.public_url``: the root of absolute links everywhere, webhook bodies included. Unset:
    requests use the URL they came in on and webhooks the URL their endpoint was registered through."""
    local: SiteManifest | None = None
    """The site of the gateway serving this API (registered at start); None at a fleet gateway."""
    clock: Clock = system_clock
    webhook_policy: WebhookPolicy = field(default_factory=WebhookPolicy)
    sync_interval_s: float = 5.0
    """How often new sessions are picked up at the latest when nothing signals them."""
    outbox_ready: asyncio.Event = field(default_factory=asyncio.Event)
    """Set whenever a webhook message is queued, so the deliverer wakes without polling."""
    netguard: NetGuard = field(default_factory=lambda: guard_from([]))
    """Where webhooks may go: public addresses, plus ``gateway.outbound_allow``."""
    sync_wanted: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when sessions or charger logs were written, so the session sync runs without waiting."""

    def now(self) -> datetime:
        return self.clock()

    async def ask(self, db: Session, site_id: str, key: str, value: Any, service: str = OWNER) -> Any:
        """Run a setter on ``service`` of ``site_id`` (see :func:`services.gateway.owner.ask_owner`)."""
        link = self.sites.owner(db, site_id)
        if link is None:
            raise unavailable(f"Site {site_id} cannot be reached from this gateway; {key} was not changed.")
        return await ask_owner(link, key, value, service)
