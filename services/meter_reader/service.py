"""The meter-reader service shell: one poll task per meter, one bus connection, readings and site keys out.

Publishes ``<internal>/meters/<name>`` (MeterReading, retained) on every poll and the site keys of
:mod:`services.meter_reader.site` whenever they change. A dead meter only makes its own reading stale.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from services.meter_reader.drivers import driver_for
from services.meter_reader.poller import MeterPoller
from services.meter_reader.site import SiteLayout, site_state
from services.meter_reader.transport import shared_links
from shared.bus import Bus
from shared.config import Config
from shared.logging import get_logger
from shared.messages import MeterReading

SERVICE = "meter-reader"


def utc_now() -> datetime:
    return datetime.now(UTC)


async def run(config: Config, stop: asyncio.Event) -> None:
    log = get_logger(SERVICE)
    # pymodbus logs every failed connect itself; the poller reports an outage once, with the meter's name.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    layout = SiteLayout.from_config(config)
    readings: dict[str, MeterReading] = {}
    links, readers = shared_links([meter.modbus for meter in config.meters])
    async with Bus(config.mqtt, SERVICE) as bus:

        async def publish(result: MeterReading) -> None:
            await bus.publish_model(bus.topics.meter(result.meter), result, retain=True)
            readings[result.meter] = result
            await bus.publish_state("site", site_state(layout, readings))

        await bus.publish_state("site", site_state(layout, readings))
        pollers = [
            MeterPoller(
                meter,
                driver_for(meter),
                reader,
                publish,
                clock=utc_now,
                log=get_logger(SERVICE, device=meter.name),
            )
            for meter, reader in zip(config.meters, readers, strict=True)
        ]
        log.info("polling meters", meters=[m.name for m in config.meters])
        try:
            async with asyncio.TaskGroup() as group:
                for poller in pollers:
                    group.create_task(poller.run(stop), name=f"meter-{poller.config.name}")
            await stop.wait()  # also with no meters configured: the site keys stay published until stop
        finally:
            for link in links:
                link.close()
