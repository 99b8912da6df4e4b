"""Home Assistant against the live demo: every discovery config is valid by HA's rules, points at topics
that exist (and, for commands, are writable setters), and a command published as HA publishes it changes
the setting."""

from __future__ import annotations

import json

import pytest

from services.optimizer.setters import find_setter
from services.optimizer.settings import default_settings
from shared.config import parse_config
from shared.setters.values import Invalid
from shared.tree import Tree
from tests.integrations.conftest import Live
from tests.support.ha_discovery import validate
from tests.support.probe import Probe
from tests.support.tree import in_schema

pytestmark = pytest.mark.e2e

EXPECTED = (
    "homeassistant/sensor/chargebus_demo_site_grid_power/config",
    "homeassistant/sensor/chargebus_demo_site_grid_energy/config",
    "homeassistant/sensor/chargebus_demo_site_battery_soc/config",
    "homeassistant/select/chargebus_demo_lp1_mode/config",
    "homeassistant/number/chargebus_demo_lp1_max_current/config",
    "homeassistant/sensor/chargebus_demo_lp1_charge_power/config",
    "homeassistant/number/chargebus_demo_vehicle_ev_limit_soc/config",
)
MAY_BE_EMPTY = (
    "plan",
    "Plan",
    "effectivePlanTime",
    "chargerError",
    "sessionPrice",
    "vehicleName",
    "vehicles/",
)
"""State topics without a value while nothing is planned, wrong or priced, and a vehicle's zero settings
(evcc leaves them empty)."""


def ours(probe: Probe) -> dict[str, str]:
    return {t: v for t, v in probe.values.items() if "/chargebus_demo_" in t and t.endswith("/config") and v}


async def test_discovery_is_valid_and_points_at_real_topics(live: Live) -> None:
    config = parse_config(live.stack.config)
    settings = default_settings(config)
    tree = Tree()
    async with Probe(live.mqtt) as probe:
        await probe.subscribe("homeassistant/#")
        await probe.wait(lambda v: all(t in v for t in EXPECTED) and len(ours(probe)) >= 50, timeout=30)
        await probe.wait_state("loadpoints/1/chargePower", bool)
        found = ours(probe)
        for topic, raw in found.items():
            entity = validate(topic, raw)
            relative = tree.relative(entity["state_topic"])
            assert relative is not None and in_schema(relative), f"{topic}: no such state {relative}"
            if not any(part in relative for part in MAY_BE_EMPTY):
                assert probe.values.get(entity["state_topic"]), f"{topic}: {relative} holds no value"
            assert entity["availability_topic"] == "evcc/status"
            if "command_topic" in entity:
                path = tree.setter_path(entity["command_topic"])
                assert path is not None, topic
                try:
                    find_setter(settings, path, mqtt=True)
                except Invalid as error:
                    pytest.fail(f"{topic}: {path} is not writable: {error}")
        assert probe.values["evcc/status"] == "online"

        # HA's energy dashboard takes grid import/export and PV energy: energy, total_increasing, kWh
        energies = [
            f"homeassistant/sensor/chargebus_demo_site_{key}/config" for key in ("grid_energy", "pv_energy")
        ]
        if probe.values.get("evcc/site/grid/returnEnergy"):  # the demo's grid meter may not count exports
            energies.append("homeassistant/sensor/chargebus_demo_site_grid_return_energy/config")
        for config_topic in energies:
            energy = json.loads(found[config_topic])
            assert (energy["dev_cla"], energy["stat_cla"], energy["unit_of_meas"]) == (
                "energy",
                "total_increasing",
                "kWh",
            )
        devices = {json.loads(raw)["dev"]["name"] for raw in found.values()}
        assert {"chargebus Demo home", "Garage"} <= devices and len(devices) == 3


async def test_a_command_from_home_assistant_changes_the_setting(live: Live) -> None:
    async with Probe(live.mqtt) as probe:
        await probe.subscribe("homeassistant/#")
        await probe.wait(lambda v: all(topic in v for topic in EXPECTED), timeout=30)
        mode = json.loads(probe.values["homeassistant/select/chargebus_demo_lp1_mode/config"])
        current = json.loads(probe.values["homeassistant/number/chargebus_demo_lp1_max_current/config"])
        base = mode["~"]
        before = await probe.wait_state("loadpoints/1/mode", bool)
        # as HA publishes: the option / the number (an integral value as an int), not retained
        await probe.publish(mode["cmd_t"].replace("~", base), "now")
        await probe.publish(current["cmd_t"].replace("~", base), "10")
        await probe.wait_state("loadpoints/1/mode", lambda v: v == "now")
        await probe.wait_state("loadpoints/1/maxCurrent", lambda v: v == "10")
        await probe.publish(mode["cmd_t"].replace("~", base), before)
        await probe.publish(current["cmd_t"].replace("~", base), "16")
        await probe.wait_state("loadpoints/1/maxCurrent", lambda v: v == "16")

        # the phases select exists only where the charger can switch, and then the setter takes every option
        phases_config = probe.values.get("homeassistant/select/chargebus_demo_lp1_phases_configured/config")
        assert bool(phases_config) == (probe.values.get("evcc/loadpoints/1/chargerPhases1p3p") == "true")
        if phases_config:
            phases = json.loads(phases_config)
            configured = await probe.wait_state("loadpoints/1/phasesConfigured", bool)
            for option in [*phases["ops"], configured]:
                await probe.publish(phases["cmd_t"].replace("~", base), option)
                await probe.wait_state("loadpoints/1/phasesConfigured", option.__eq__)
