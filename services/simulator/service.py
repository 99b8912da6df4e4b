"""``chargebus simulator``: serves the simulated home of ``config.simulator`` until stopped.

It publishes nothing on the bus: the other services meet it only through Modbus, as they would real devices.
"""

from __future__ import annotations

import asyncio

from services.simulator.home import serve_home
from shared.config import Config


async def run(config: Config, stop: asyncio.Event) -> None:
    async with serve_home(config.simulator):
        await stop.wait()
