"""Everything a fleet route needs, built once by whoever serves the fleet API and handed to
``build_router`` (no module-level state, no lookup on ``app.state``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from services.gateway.fleet.live import LiveView
from services.gateway.fleet.problems import unavailable
from services.gateway.fleet.ratelimit import Monotonic, RateLimiter
from services.gateway.owner import OWNER, OwnerLink, ask_owner
from shared.config import Config
from shared.netguard import NetGuard, guard_from

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class WebhookPolicy:
    """Delivery retry schedule: wait ``backoff_s[n]`` after the (n+1)-th failure; give up after the last."""

    backoff_s: tuple[float, ...] = (5, 30, 120, 600, 1800, 3600, 7200, 14400)
    timeout_s: float = 10.0


@dataclass
class FleetContext:
    config: Config
    engine: Engine
    live: LiveView
    owner: Callable[[], OwnerLink | None]
    """How to reach the site's owners right now; None = changes that need the optimizer answer 503."""
    public_url: str | None
    """``gateway.public_url``: the root of absolute links everywhere, webhook bodies included. Unset:
    requests use the URL they came in on and webhooks the URL their endpoint was registered through."""
    clock: Clock = system_clock
    monotonic: Monotonic = time.monotonic
    webhook_policy: WebhookPolicy = field(default_factory=WebhookPolicy)
    sync_interval_s: float = 5.0
    """How often sessions written by the gateway are picked up when no request asks first."""
    limiter: RateLimiter = field(init=False)
    netguard: NetGuard = field(init=False)
    """Where webhooks may go: public addresses, plus ``gateway.outbound_allow``."""
    outbox_ready: asyncio.Event = field(default_factory=asyncio.Event)
    """Set whenever a webhook message is queued, so the deliverer wakes without polling."""

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.monotonic)
        self.netguard = guard_from(self.config.gateway.outbound_allow)

    def now(self) -> datetime:
        return self.clock()

    async def ask(self, key: str, value: Any, service: str = OWNER) -> Any:
        """Run a setter on the site's owner (see :func:`services.gateway.owner.ask_owner`)."""
        link = self.owner()
        if link is None:
            raise unavailable(f"The {service} cannot be reached from this gateway; {key} was not changed.")
        return await ask_owner(link, key, value, service)
