"""Meter drivers, one module per device family; :func:`driver_for` picks one from the configuration."""

from __future__ import annotations

from collections.abc import Callable

from services.meter_reader.drivers.base import Driver, Sample
from services.meter_reader.drivers.custom import CustomMeter
from services.meter_reader.drivers.register_map import RegisterMapDriver
from services.meter_reader.drivers.sdm import sdm_driver
from services.meter_reader.drivers.sunspec import SunSpecDriver
from services.meter_reader.measurement import Convention
from shared.config_devices import MeterConfig
from shared.devices.values import DeviceIO


def _generic(config: MeterConfig) -> Driver:
    assert config.registers is not None  # guaranteed by MeterConfig's validation
    return RegisterMapDriver(config.registers, Convention.NATIVE)


DRIVERS: dict[str, Callable[[MeterConfig], Driver]] = {
    "sunspec": lambda c: SunSpecDriver(c.usage),
    "sdm": lambda c: sdm_driver("sdm"),
    "sdm630": lambda c: sdm_driver("sdm630"),
    "sdm72": lambda c: sdm_driver("sdm72"),
    "modbus": _generic,
}


def driver_for(config: MeterConfig, io: DeviceIO | None = None) -> Driver:
    """The driver of ``config``; a ``type: custom`` meter reads through ``io`` (MQTT, HTTP, jq)."""
    if config.type == "custom":
        if io is None:
            raise ValueError(f"meter {config.name}: type custom needs the device I/O")
        return CustomMeter(config, io)
    return DRIVERS[config.type](config)


__all__ = ["DRIVERS", "Driver", "Sample", "driver_for"]
