"""Home Assistant discovery: valid configs for what the tree holds, updated and erased as it changes."""

from __future__ import annotations

import contextlib
import json

import pytest

from services.gateway.discovery import DiscoveryPublisher
from shared.bus import Bus
from shared.config import MqttSettings
from shared.config_integrations import HomeAssistantSettings
from shared.state import LoadpointState, SiteState, VehicleState
from tests.support.gateway_part import running_part
from tests.support.ha_discovery import validate
from tests.support.probe import Probe
from tests.support.tree import publish_as_owners


def ha_settings(settings: MqttSettings) -> HomeAssistantSettings:
    """A discovery prefix of the test's own (tests and earlier runs share the broker)."""
    return HomeAssistantSettings(discovery=True, node_id="test", prefix=settings.topic.split("/")[0] + "/ha")


def publisher(settings: MqttSettings) -> contextlib.AbstractAsyncContextManager[DiscoveryPublisher]:
    return running_part(settings, lambda bus, store: DiscoveryPublisher(ha_settings(settings), bus, store))


@pytest.fixture
async def ha_probe(probe: Probe, mqtt_settings: MqttSettings) -> Probe:
    await probe.subscribe(ha_settings(mqtt_settings).prefix + "/#")
    return probe


def configs(probe: Probe) -> dict[str, str]:
    return {t: v for t, v in probe.values.items() if "/chargebus_test_" in t and t.endswith("/config") and v}


async def test_configs_follow_the_tree(mqtt_settings: MqttSettings, ha_probe: Probe) -> None:
    probe = ha_probe
    ha = ha_settings(mqtt_settings).prefix
    lp2_mode = f"{ha}/select/chargebus_test_lp2_mode/config"
    stale = f"{ha}/sensor/chargebus_test_lp7_charge_power/config"
    foreign = f"{ha}/sensor/zigbee_plug_power/config"
    await probe.publish(stale, '{"name": "left by an earlier run"}', retain=True)
    await probe.publish(foreign, '{"name": "not ours"}', retain=True)
    async with Bus(mqtt_settings, "optimizer") as owner, publisher(mqtt_settings):
        root = owner.tree
        await owner.publish(root.loadpoint_count, "2")
        await publish_as_owners(owner, "site", SiteState(siteTitle="Home", currency="EUR", pvPower=0.0))
        for lp in (1, 2):
            await publish_as_owners(
                owner,
                f"loadpoints/{lp}",
                LoadpointState(title=f"Carport {lp}", mode="pv", chargerPhases1p3p=lp == 1),
            )
        await publish_as_owners(owner, "vehicles/db:12", VehicleState(title="e-Golf", limitSoc=80))

        await probe.wait(
            lambda v: lp2_mode in v and f"{ha}/number/chargebus_test_vehicle_db_12_limit_soc/config" in v
        )
        await probe.wait(lambda v: v.get(stale) == "")  # our leftover erased
        assert probe.values[foreign] == '{"name": "not ours"}'  # someone else's config untouched
        found = configs(probe)
        for topic, raw in found.items():
            validate(topic, raw, prefix=ha)
        assert f"{ha}/select/chargebus_test_lp1_phases_configured/config" in found
        assert f"{ha}/select/chargebus_test_lp2_phases_configured/config" not in found  # cannot switch
        assert not any("_site_battery" in t for t in found)  # no battery here
        vehicle = json.loads(found[f"{ha}/select/chargebus_test_lp1_vehicle/config"])
        assert vehicle["ops"] == ["none", "db:12"]
        assert json.loads(found[lp2_mode])["dev"]["name"] == "Carport 2"

        # loadpoint 2 leaves the configuration, the vehicle is deleted: their configs go
        await owner.publish(root.loadpoint_count, "1")
        for topic, _ in [(root.vehicle("db:12", "title"), None), (root.vehicle("db:12", "limitSoc"), None)]:
            await owner.clear(topic)
        await probe.wait(lambda v: v.get(lp2_mode) == "")
        await probe.wait(lambda v: v.get(f"{ha}/number/chargebus_test_vehicle_db_12_limit_soc/config") == "")
        assert json.loads(configs(probe)[f"{ha}/select/chargebus_test_lp1_vehicle/config"])["ops"] == ["none"]


async def test_a_home_assistant_restart_gets_the_configs_again(
    mqtt_settings: MqttSettings, ha_probe: Probe
) -> None:
    probe = ha_probe
    ha = ha_settings(mqtt_settings).prefix
    mode = f"{ha}/select/chargebus_test_lp1_mode/config"
    async with Bus(mqtt_settings, "optimizer") as owner, publisher(mqtt_settings):
        await owner.publish(owner.tree.loadpoint_count, "1")
        await publish_as_owners(owner, "loadpoints/1", LoadpointState(title="Garage", mode="pv"))
        await probe.wait(lambda v: bool(v.get(mode)))
        before = len([t for t, _ in probe.history if t == mode])
        await probe.publish(f"{ha}/status", "online")  # HA's birth message
        await probe.wait(lambda _v: len([t for t, _ in probe.history if t == mode]) > before)


@pytest.mark.parametrize("bad", ["sites/x/../evcc", "has space"])
def test_prefix_and_node_are_checked(bad: str) -> None:
    with pytest.raises(ValueError):
        HomeAssistantSettings(prefix=bad)
    with pytest.raises(ValueError):
        HomeAssistantSettings(node_id=bad)
