"""The gateway's integrations beyond evcc's API, built from the configuration and run beside the server:
Home Assistant discovery, Prometheus metrics and notifications."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from services.gateway.discovery import DiscoveryPublisher
from services.gateway.metrics import GatewayMetrics
from services.gateway.notify.notifier import Notifier
from services.gateway.state_store import StateStore
from shared.bus import Bus
from shared.config import Config


@dataclass
class Integrations:
    metrics: GatewayMetrics
    discovery: DiscoveryPublisher | None = None
    notifier: Notifier | None = None

    @classmethod
    def build(cls, config: Config, bus: Bus, store: StateStore, engine: Engine) -> Integrations:
        """Create what the configuration asks for and subscribe it (before the bus starts)."""
        metrics = GatewayMetrics(store, engine)
        metrics.attach(bus)
        discovery = None
        if config.homeassistant.discovery:
            discovery = DiscoveryPublisher(config.homeassistant, bus, store)
            discovery.attach()
        notifier = None
        if config.notify.urls:
            notifier = Notifier(config.notify, bus, store)
            notifier.attach()
        return cls(metrics=metrics, discovery=discovery, notifier=notifier)

    def start(self, stop: asyncio.Event) -> list[asyncio.Task[None]]:
        """Their background tasks (cancelled by the gateway when it stops)."""
        tasks = []
        if self.discovery is not None:
            tasks.append(asyncio.create_task(self.discovery.run(stop), name="ha-discovery"))
        if self.notifier is not None:
            tasks.append(asyncio.create_task(self.notifier.run(stop), name="notify"))
        return tasks
