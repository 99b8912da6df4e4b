"""Charger type (``chargers[].type`` in the YAML) → driver factory."""

from __future__ import annotations

from collections.abc import Callable

from services.charger_actuator.driver import ChargerDriver
from services.charger_actuator.drivers import abl, alfen, demo, evsedin, generic, phoenix
from shared.config_devices import ChargerConfig
from shared.devices.modbus import LinkPool

DRIVERS: dict[str, Callable[[ChargerConfig, LinkPool], ChargerDriver]] = {
    "alfen": alfen.create,
    "phoenix": phoenix.create,
    "wallbe": phoenix.create,
    "evsedin": evsedin.create,
    "abl": abl.create,
    "modbus": generic.create,
    "demo": demo.create,
}


def create_driver(config: ChargerConfig, pool: LinkPool | None = None) -> ChargerDriver:
    """The driver of ``config``; Modbus chargers on one serial line or gateway share ``pool``'s link."""
    try:
        factory = DRIVERS[config.type]
    except KeyError:
        raise ValueError(f"charger {config.name}: unknown type {config.type!r}") from None
    return factory(config, pool or LinkPool())
