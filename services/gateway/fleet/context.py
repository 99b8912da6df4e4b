"""Everything a fleet route needs, held once per app on ``app.state.fleet`` (no module-level state)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import Request
from sqlalchemy.engine import Engine

from services.gateway.fleet.live import LiveView, Requester
from services.gateway.fleet.ratelimit import Monotonic, RateLimiter
from shared.config import Config

Clock = Callable[[], datetime]
OPTIMIZER = "optimizer"


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
    requester: Requester | None
    """The bus (or anything with its ``request``); None = changes that need the optimizer answer 503."""
    public_url: str
    """Base of the absolute URLs in webhook bodies (requests use the URL they were made to)."""
    clock: Clock = system_clock
    monotonic: Monotonic = time.monotonic
    webhook_policy: WebhookPolicy = field(default_factory=WebhookPolicy)
    sync_interval_s: float = 5.0
    """How often sessions written by the gateway are picked up when no request asks first."""
    limiter: RateLimiter = field(init=False)
    outbox_ready: asyncio.Event = field(default_factory=asyncio.Event)
    """Set whenever a webhook message is queued, so the deliverer wakes without polling."""

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.monotonic)

    def now(self) -> datetime:
        return self.clock()


def get_fleet(request: Request) -> FleetContext:
    ctx: FleetContext = request.app.state.fleet
    return ctx
