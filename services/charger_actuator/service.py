"""The charger-actuator shell: one runner per configured loadpoint charger, wired to the bus.

Subscribes ``chargebus/chargers/<id>/command`` and ``chargebus/services/optimizer/status``; publishes
``chargebus/chargers/<id>/status`` (retained, every poll), ``chargebus/events/command`` and
``chargebus/events/charger-status`` (QoS 1), and the evcc loadpoint keys it owns.
"""

from __future__ import annotations

import asyncio

from services.charger_actuator.drivers.registry import create_driver
from services.charger_actuator.runner import ChargerRunner
from shared.bus import Bus, BusMessage
from shared.config import Config
from shared.devices.modbus import LinkPool
from shared.logging import get_logger

SERVICE = "charger-actuator"


def build_runners(config: Config, bus: Bus) -> list[ChargerRunner]:
    """A runner for every charger a loadpoint uses; the loadpoint id is its 1-based index."""
    log = get_logger(SERVICE)
    pool = LinkPool()
    runners: list[ChargerRunner] = []
    for charger in config.chargers:
        try:
            loadpoint = config.loadpoint_id(charger.name)
        except KeyError:
            log.warning("charger not used by any loadpoint, not driven", device=charger.name)
            continue
        driver = create_driver(charger, pool)
        runners.append(ChargerRunner(bus, charger, loadpoint, driver, voltage_v=config.site.voltage_v))
    return runners


async def run(config: Config, stop: asyncio.Event) -> None:
    bus = Bus(config.mqtt, SERVICE)
    runners = build_runners(config, bus)
    for runner in runners:
        bus.on(bus.topics.charger_command(runner.loadpoint), runner.on_command)

    async def optimizer_status(message: BusMessage) -> None:
        for runner in runners:
            await runner.on_optimizer_status(message)

    bus.on(bus.topics.service_status("optimizer"), optimizer_status)
    async with bus, asyncio.TaskGroup() as group:
        for runner in runners:
            group.create_task(runner.run(stop), name=f"charger-{runner.config.name}")
        group.create_task(stop.wait())
