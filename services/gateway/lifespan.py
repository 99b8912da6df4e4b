"""The gateway's one lifespan: the bus connection and every background task, for as long as the app runs.

Started by uvicorn when the app starts serving and stopped when it stops: the bus (subscriptions wired by
:func:`services.gateway.service.wire_bus` before), the statistics publisher, the event writer, the
fleet API's deliverer and session sync, the integrations (Home Assistant discovery, notifications), and
the site's manifest for a fleet gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from services.gateway.context import GatewayContext
from services.gateway.fleet.lifecycle import running as fleet_running
from services.gateway.routes_sessions import site_zone
from services.gateway.statistics import publish_statistics
from shared.logging import get_logger
from shared.tasks import cancel_and_wait


@contextlib.asynccontextmanager
async def gateway_running(ctx: GatewayContext) -> AsyncIterator[None]:
    log = get_logger("gateway")
    stop = asyncio.Event()
    async with ctx.bus:
        if ctx.fleet.local is not None:  # what a fleet gateway needs to serve this site (retained)
            await ctx.bus.publish_model(ctx.bus.topics.site_manifest, ctx.fleet.local)
        statistics = asyncio.create_task(
            publish_statistics(ctx.bus, ctx.engine, site_zone(ctx), ctx.sessions_changed, stop, log),
            name="gateway-statistics",
        )
        background = ctx.integrations.start(stop) if ctx.integrations is not None else []
        try:
            async with fleet_running(ctx.fleet):
                yield
        finally:
            stop.set()
            await cancel_and_wait([statistics, *background])
            await ctx.writer.close()
