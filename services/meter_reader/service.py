"""The meter-reader service shell: one poll task per meter, one bus connection, readings and site keys out.

Publishes ``<internal>/meters/<name>`` (MeterReading, retained) on every poll and the site keys of
:mod:`services.meter_reader.site` whenever they change. A dead meter only makes its own reading stale.
Batteries with a ``battery_control`` block follow the optimizer's ``site/batteryMode``
(:mod:`services.meter_reader.battery`). Vehicle readings (SoC, range, odometer) from vehicle sources and
pushes go to ``<internal>/vehicles/<name>`` (:mod:`services.meter_reader.vehicles`); the service answers the
requests and ``/set`` topics of the keys it owns (``vehicles/<name>/soc``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from services.meter_reader.battery import BatteryModeController
from services.meter_reader.drivers import driver_for
from services.meter_reader.drivers.custom import NoLink
from services.meter_reader.poller import MeterPoller
from services.meter_reader.site import SiteLayout, site_state
from services.meter_reader.vehicles import VehicleSetters, VehicleSource
from shared.bus import Bus, BusMessage
from shared.config import Config
from shared.devices.modbus import LinkPool, ModbusUnit
from shared.devices.values import device_io
from shared.logging import get_logger
from shared.messages import MeterReading, VehicleReading
from shared.setters.table import set_topics
from shared.tree import SITE

SERVICE = "meter-reader"
OPTIMIZER = "optimizer"


def utc_now() -> datetime:
    return datetime.now(UTC)


async def run(config: Config, stop: asyncio.Event) -> None:
    log = get_logger(SERVICE)
    # pymodbus logs every failed connect itself; the poller reports an outage once, with the meter's name.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    layout = SiteLayout.from_config(config)
    readings: dict[str, MeterReading] = {}
    pool = LinkPool()
    io = device_io(config.mqtt, SERVICE)
    readers: list[ModbusUnit | NoLink] = [
        NoLink() if meter.type == "custom" else pool.unit(meter.modbus) for meter in config.meters
    ]
    drivers = [driver_for(meter, io) for meter in config.meters]  # subscribes MQTT sources
    bus = Bus(config.mqtt, SERVICE)

    async def publish_vehicle(reading: VehicleReading) -> None:
        await bus.publish_model(bus.topics.vehicle(reading.vehicle), reading, retain=True)

    vehicles = {
        v.name: VehicleSource(v, io, publish_vehicle, log=get_logger(SERVICE, vehicle=v.name))
        for v in config.vehicles
    }
    setters = VehicleSetters(vehicles, log)
    for pattern in set_topics(bus.tree, SERVICE):
        bus.on(pattern, setters.on_set(bus))
    bus.serve_requests(setters.on_request)
    controllers: dict[str, BatteryModeController] = {}

    async def publish(result: MeterReading) -> None:
        control = controllers.get(result.meter)
        if control is not None:
            result = result.model_copy(update=control.reading_fields())
        await bus.publish_model(bus.topics.meter(result.meter), result, retain=True)
        readings[result.meter] = result
        await bus.publish_state(SITE, site_state(layout, readings))

    def republish(meter: str) -> Callable[[], Awaitable[None]]:
        async def again() -> None:
            if meter in readings:
                await publish(readings[meter])

        return again

    for meter, reader in zip(config.meters, readers, strict=True):
        if meter.battery_control is not None and isinstance(reader, ModbusUnit):
            controllers[meter.name] = BatteryModeController(
                meter,
                reader,
                republish(meter.name),
                log=get_logger(SERVICE, device=meter.name),
            )
    if controllers:

        async def on_mode(message: BusMessage) -> None:
            for control in controllers.values():
                control.on_mode(message.text)

        async def on_updated(_message: BusMessage) -> None:
            for control in controllers.values():
                control.on_alive()

        async def on_optimizer(message: BusMessage) -> None:
            for control in controllers.values():
                control.on_status(message.text)

        bus.on(bus.tree.site("batteryMode"), on_mode)
        bus.on(bus.tree.updated, on_updated)
        bus.on(bus.topics.service_status(OPTIMIZER), on_optimizer)
    async with bus, io.mqtt:
        await bus.publish_state(SITE, site_state(layout, readings))
        pollers = [
            MeterPoller(
                meter,
                driver,
                reader,
                publish,
                clock=utc_now,
                log=get_logger(SERVICE, device=meter.name),
            )
            for meter, driver, reader in zip(config.meters, drivers, readers, strict=True)
        ]
        log.info("polling meters", meters=[m.name for m in config.meters], battery_control=list(controllers))
        try:
            async with asyncio.TaskGroup() as group:
                for poller in pollers:
                    group.create_task(poller.run(stop), name=f"meter-{poller.config.name}")
                for name, control in controllers.items():
                    group.create_task(control.run(stop), name=f"battery-{name}")
                for name, vehicle in vehicles.items():
                    group.create_task(vehicle.run(stop), name=f"vehicle-{name}")
            await stop.wait()  # also with no meters configured: the site keys stay published until stop
        finally:
            pool.close()
            await io.aclose()
