"""Charger type (``chargers[].type`` in the YAML) → driver factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from services.charger_actuator.driver import ChargerDriver
from services.charger_actuator.drivers import abl, alfen, demo, evsedin, generic, phoenix
from services.charger_actuator.drivers.custom import CustomCharger
from services.charger_actuator.ocpp.central import CentralSystem
from services.charger_actuator.ocpp.driver import OcppCharger
from shared.config_devices import ChargerConfig
from shared.devices.modbus import LinkPool
from shared.devices.values import DeviceIO


@dataclass
class DriverContext:
    """What drivers share within the service: Modbus links (chargers on one serial line or gateway share
    one), the OCPP central system, MQTT/HTTP/jq, the site voltage."""

    pool: LinkPool = field(default_factory=LinkPool)
    central: CentralSystem | None = None
    io: DeviceIO | None = None
    """MQTT, HTTP and jq of ``type: custom`` chargers."""
    voltage_v: float = 230.0


def _modbus(create: Callable[[ChargerConfig, LinkPool], ChargerDriver]) -> Callable[..., ChargerDriver]:
    return lambda config, context: create(config, context.pool)


def _ocpp(config: ChargerConfig, context: DriverContext) -> ChargerDriver:
    if context.central is None or config.ocpp is None:
        raise ValueError(f"charger {config.name}: type ocpp needs the central system")
    return OcppCharger(config, context.central.station(config.ocpp), voltage_v=context.voltage_v)


def _custom(config: ChargerConfig, context: DriverContext) -> ChargerDriver:
    if context.io is None:
        raise ValueError(f"charger {config.name}: type custom needs the device I/O")
    return CustomCharger(config, context.io)


DRIVERS: dict[str, Callable[[ChargerConfig, DriverContext], ChargerDriver]] = {
    "alfen": _modbus(alfen.create),
    "phoenix": _modbus(phoenix.create),
    "wallbe": _modbus(phoenix.create),
    "evsedin": _modbus(evsedin.create),
    "abl": _modbus(abl.create),
    "modbus": _modbus(generic.create),
    "demo": _modbus(demo.create),
    "ocpp": _ocpp,
    "custom": _custom,
}


def create_driver(config: ChargerConfig, context: DriverContext | None = None) -> ChargerDriver:
    try:
        factory = DRIVERS[config.type]
    except KeyError:
        raise ValueError(f"charger {config.name}: unknown type {config.type!r}") from None
    return factory(config, context or DriverContext())
