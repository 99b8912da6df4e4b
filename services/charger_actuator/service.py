"""The charger-actuator shell: one runner per configured loadpoint charger, wired to the bus, and the OCPP
central system when a charger is an OCPP charge point.

Subscribes ``chargebus/chargers/<id>/command`` and ``chargebus/services/optimizer/status``; publishes
``chargebus/chargers/<id>/status`` (retained, every poll), ``chargebus/events/command`` and
``chargebus/events/charger-status`` (QoS 1), the evcc loadpoint keys it owns, and ``chargebus/ocpp/stations``.
"""

from __future__ import annotations

import asyncio

from services.charger_actuator.drivers.registry import DriverContext, create_driver
from services.charger_actuator.ocpp.central import CentralSystem
from services.charger_actuator.runner import ChargerRunner
from shared.bus import Bus, BusMessage
from shared.config import Config
from shared.devices.values import device_io
from shared.logging import get_logger
from shared.messages import OcppStations

SERVICE = "charger-actuator"


def build_runners(config: Config, bus: Bus, context: DriverContext) -> list[ChargerRunner]:
    """A runner for every charger a loadpoint uses; the loadpoint id is its 1-based index."""
    log = get_logger(SERVICE)
    runners: list[ChargerRunner] = []
    for charger in config.chargers:
        try:
            loadpoint = config.loadpoint_id(charger.name)
        except KeyError:
            log.warning("charger not used by any loadpoint, not driven", device=charger.name)
            continue
        driver = create_driver(charger, context)
        runners.append(ChargerRunner(bus, charger, loadpoint, driver, voltage_v=config.site.voltage_v))
    return runners


def central_system(config: Config, bus: Bus) -> CentralSystem | None:
    """The OCPP central system, when a charger is an OCPP charge point; it publishes the stations it knows."""
    if not any(c.type == "ocpp" for c in config.chargers):
        return None

    def on_stations(stations: OcppStations) -> None:
        bus.publish_nowait(bus.topics.ocpp_stations, stations.model_dump_json())

    return CentralSystem(config.ocpp, log=get_logger(SERVICE, component="ocpp"), on_stations=on_stations)


async def run(config: Config, stop: asyncio.Event) -> None:
    bus = Bus(config.mqtt, SERVICE)
    central = central_system(config, bus)
    io = device_io(config.mqtt, SERVICE)
    context = DriverContext(central=central, io=io, voltage_v=config.site.voltage_v)
    runners = build_runners(config, bus, context)  # subscribes the MQTT sources of custom chargers
    for runner in runners:
        bus.on(bus.topics.charger_command(runner.loadpoint), runner.on_command)

    async def optimizer_status(message: BusMessage) -> None:
        for runner in runners:
            await runner.on_optimizer_status(message)

    bus.on(bus.topics.service_status("optimizer"), optimizer_status)
    async with bus, io.mqtt:
        if central is not None:
            await central.start()
        try:
            async with asyncio.TaskGroup() as group:
                for runner in runners:
                    group.create_task(runner.run(stop), name=f"charger-{runner.config.name}")
                group.create_task(stop.wait())
        finally:
            if central is not None:
                await central.stop()
            context.pool.close()
            await io.aclose()
