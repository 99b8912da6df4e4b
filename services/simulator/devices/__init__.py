"""Device models, one module each with its register map as data; :data:`MODELS` names them."""

from __future__ import annotations

from services.simulator.devices.abl import ABL
from services.simulator.devices.alfen import ALFEN
from services.simulator.devices.base import DeviceEnv, DeviceService, Model
from services.simulator.devices.demo_wallbox import DEMO
from services.simulator.devices.evsedin import EVSEDIN
from services.simulator.devices.generic_meter import GENERIC_METER
from services.simulator.devices.http_devices import GOE, SHELLY_3EM, SHELLY_PLUG
from services.simulator.devices.mqtt_devices import OPENDTU, TASMOTA_ENERGY, TASMOTA_SML
from services.simulator.devices.ocpp_cp import OCPP
from services.simulator.devices.phoenix import PHOENIX
from services.simulator.devices.sdm630 import SDM72, SDM630
from services.simulator.devices.sunspec import (
    SUNSPEC_BATTERY,
    SUNSPEC_INVERTER,
    SUNSPEC_INVERTER_FLOAT,
    SUNSPEC_METER,
)

MODELS: dict[str, Model] = {
    m.name: m
    for m in (
        SUNSPEC_INVERTER,
        SUNSPEC_INVERTER_FLOAT,
        SUNSPEC_METER,
        SUNSPEC_BATTERY,
        SDM630,
        SDM72,
        GENERIC_METER,
        DEMO,
        ALFEN,
        PHOENIX,
        EVSEDIN,
        ABL,
        OCPP,
        GOE,
        SHELLY_3EM,
        SHELLY_PLUG,
        TASMOTA_SML,
        TASMOTA_ENERGY,
        OPENDTU,
    )
}

__all__ = ["MODELS", "DeviceEnv", "DeviceService", "Model"]
