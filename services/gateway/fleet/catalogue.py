"""The catalogues as data: EVSE makes/models (one model per supported charger driver) and a small curated
vehicle catalogue (makes → models → trims). IDs are derived from the keys, so they never change."""

from __future__ import annotations

from dataclasses import dataclass

from services.gateway.fleet.ids import stable_id


@dataclass(frozen=True)
class EvseMake:
    id: str
    name: str


@dataclass(frozen=True)
class EvseModel:
    id: str
    name: str
    make_id: str
    driver: str
    """The ``chargers[].type`` that drives this model."""


@dataclass(frozen=True)
class VehicleMake:
    id: str
    name: str


@dataclass(frozen=True)
class VehicleModel:
    id: str
    name: str
    make_id: str
    default_battery_size_watt_hours: int
    default_connector_type: str


@dataclass(frozen=True)
class VehicleTrim:
    id: str
    name: str
    model_id: str
    battery_size_watt_hours: int


# driver → (make, model name). Every driver in shared.config_devices.ChargerType has a row.
_EVSE_DRIVERS: dict[str, tuple[str, str]] = {
    "alfen": ("Alfen", "Eve Single Pro-line"),
    "phoenix": ("Phoenix Contact", "EV Charge Control"),
    "wallbe": ("Wallbe", "Eco 2.0"),
    "evsedin": ("EVSE-DIN", "EVSE DIN-rail controller"),
    "abl": ("ABL", "eMH1"),
    "modbus": ("Generic", "Generic Modbus charger"),
    "demo": ("chargebus", "Simulated wallbox"),
}

EVSE_MAKES: tuple[EvseMake, ...] = tuple(
    EvseMake(stable_id("emak", make), make) for make in dict.fromkeys(m for m, _ in _EVSE_DRIVERS.values())
)
EVSE_MODELS: tuple[EvseModel, ...] = tuple(
    EvseModel(stable_id("emod", driver), model, stable_id("emak", make), driver)
    for driver, (make, model) in _EVSE_DRIVERS.items()
)

# make → model → (default battery Wh, connector, trims: name → usable battery Wh)
_VEHICLES: dict[str, dict[str, tuple[int, str, dict[str, int]]]] = {
    "Volkswagen": {
        "ID.3": (58000, "CCS", {"Pure (45 kWh)": 45000, "Pro (58 kWh)": 58000, "Pro S (77 kWh)": 77000}),
        "ID.4": (77000, "CCS", {"Pure (52 kWh)": 52000, "Pro (77 kWh)": 77000}),
    },
    "Tesla": {
        "Model 3": (60000, "CCS", {"RWD (60 kWh)": 60000, "Long Range (75 kWh)": 75000}),
        "Model Y": (75000, "CCS", {"RWD (60 kWh)": 60000, "Long Range (75 kWh)": 75000}),
    },
    "Renault": {
        "Zoe": (52000, "CCS", {"R135 (52 kWh)": 52000}),
    },
    "Hyundai": {
        "Kona Electric": (64000, "CCS", {"39 kWh": 39200, "64 kWh": 64000}),
    },
    "Volvo": {
        "C40": (69000, "CCS", {"Recharge Core (69 kWh)": 69000, "Recharge Twin (78 kWh)": 78000}),
    },
    "Nissan": {
        "Leaf": (40000, "CHADEMO", {"40 kWh": 40000, "e+ 62 kWh": 62000}),
    },
}

VEHICLE_MAKES: tuple[VehicleMake, ...] = tuple(VehicleMake(stable_id("vmak", m), m) for m in _VEHICLES)
VEHICLE_MODELS: tuple[VehicleModel, ...] = tuple(
    VehicleModel(stable_id("vmod", f"{make}/{model}"), model, stable_id("vmak", make), battery, connector)
    for make, models in _VEHICLES.items()
    for model, (battery, connector, _) in models.items()
)
VEHICLE_TRIMS: tuple[VehicleTrim, ...] = tuple(
    VehicleTrim(stable_id("trim", f"{make}/{model}/{trim}"), trim, stable_id("vmod", f"{make}/{model}"), wh)
    for make, models in _VEHICLES.items()
    for model, (_, _, trims) in models.items()
    for trim, wh in trims.items()
)

EVSE_MAKES_BY_ID = {m.id: m for m in EVSE_MAKES}
EVSE_MODELS_BY_ID = {m.id: m for m in EVSE_MODELS}
VEHICLE_MAKES_BY_ID = {m.id: m for m in VEHICLE_MAKES}
VEHICLE_MODELS_BY_ID = {m.id: m for m in VEHICLE_MODELS}
VEHICLE_TRIMS_BY_ID = {t.id: t for t in VEHICLE_TRIMS}


def evse_model_for_driver(driver: str) -> EvseModel:
    """The model of a configured charger type; unknown drivers fall back to the generic Modbus model."""
    for model in EVSE_MODELS:
        if model.driver == driver:
            return model
    return next(m for m in EVSE_MODELS if m.driver == "modbus")
