"""The tree's paths and addresses, and one owner per state field, enforced by the bus."""

from __future__ import annotations

import pytest

from shared.bus import Bus
from shared.config import MqttSettings
from shared.state import SCOPE_MODELS, LoadpointState, SiteState, Statistics, VehicleState
from shared.tree import (
    Address,
    NotOwner,
    Service,
    Tree,
    UnknownAddress,
    check_owner,
    field_owner,
    owned_by,
    parse_address,
)
from tests.support.probe import Probe

ALL_FIELDS = [(model, name) for model in SCOPE_MODELS.values() for name in model.model_fields]


@pytest.mark.parametrize(("model", "name"), ALL_FIELDS, ids=[f"{m.__name__}.{n}" for m, n in ALL_FIELDS])
def test_every_field_has_one_owner_and_only_it_may_publish(model: type[SiteState], name: str) -> None:
    owner = field_owner(model.model_fields[name])
    assert owner is not None, f"{model.__name__}.{name} names no owner"
    partial = model.model_validate({name: None})
    check_owner(owner, partial)
    for other in Service:
        if other is not owner:
            with pytest.raises(NotOwner, match=name):
                check_owner(other, partial)


def test_owners_follow_design_section_1() -> None:
    assert set(owned_by(LoadpointState, Service.CHARGER_ACTUATOR)) >= {
        "connected",
        "charging",
        "enabled",
        "chargePower",
        "offeredCurrent",
        "chargerPhases1p3p",
        "chargerSinglePhase",
    }
    assert "chargerPhases1p3p" not in owned_by(LoadpointState, Service.OPTIMIZER)
    assert owned_by(SiteState, Service.GATEWAY) == ["statistics"]
    assert {"grid", "pvPower", "battery"} <= set(owned_by(SiteState, Service.METER_READER))
    assert {"tariffGrid", "forecast"} <= set(owned_by(SiteState, Service.TARIFF_FETCHER))
    assert owned_by(VehicleState, Service.OPTIMIZER) == list(VehicleState.model_fields)


def test_tree_paths_below_a_configured_root() -> None:
    tree = Tree("sites/home-1/evcc/")
    assert tree.site("pvPower") == "sites/home-1/evcc/site/pvPower"
    assert tree.loadpoint(2, "mode") == "sites/home-1/evcc/loadpoints/2/mode"
    assert tree.vehicle("ev1") == "sites/home-1/evcc/vehicles/ev1"
    assert (tree.status, tree.updated) == ("sites/home-1/evcc/status", "sites/home-1/evcc/updated")
    assert (tree.loadpoint_count, tree.vehicle_count) == (
        "sites/home-1/evcc/loadpoints",
        "sites/home-1/evcc/vehicles",
    )
    assert tree.set_topic("loadpoints/1/mode") == "sites/home-1/evcc/loadpoints/1/mode/set"
    assert tree.setter_path("sites/home-1/evcc/loadpoints/1/mode/set") == "loadpoints/1/mode"
    assert tree.setter_path("sites/home-1/evcc/loadpoints/1/mode") is None
    assert tree.setter_path("evcc/loadpoints/1/mode/set") is None
    assert tree.scope_of("sites/home-1/evcc/loadpoints/1/chargeCurrents/l1") == "loadpoints/1"
    assert tree.scope_of("sites/home-1/evcc/site/grid/power") == "site"
    assert tree.scope_of("sites/home-1/evcc/loadpoints") is None
    topics = [
        "sites/home-1/evcc/loadpoints/1/mode",
        "sites/home-1/evcc/loadpoints/2/x",
        "sites/home-1/evcc/loadpoints",
    ]
    assert tree.children(topics, "loadpoints") == ["1", "2"]


@pytest.mark.parametrize(
    ("path", "address"),
    [
        ("site/bufferSoc", Address("site", None, "bufferSoc")),
        ("/loadpoints/3/plan/energy/", Address("loadpoints", 3, "plan/energy")),
        ("vehicles/db:12/minSoc", Address("vehicles", "db:12", "minSoc")),
    ],
)
def test_parse_address_round_trips(path: str, address: Address) -> None:
    assert parse_address(path) == address
    assert parse_address(address.path) == address


@pytest.mark.parametrize("path", ["", "site", "loadpoints/1", "loadpoints/x/mode", "vehicles//mode", "x/y/z"])
def test_parse_address_rejects_what_is_no_key(path: str) -> None:
    with pytest.raises(UnknownAddress):
        parse_address(path)


async def test_bus_refuses_a_foreign_field_and_publishes_nothing(
    mqtt_settings: MqttSettings, probe: Probe
) -> None:
    async with Bus(mqtt_settings, "optimizer") as optimizer, Bus(mqtt_settings, "gateway") as gateway:
        with pytest.raises(NotOwner, match="chargerPhases1p3p"):
            await optimizer.publish_state("loadpoints/1", LoadpointState(mode="pv", chargerPhases1p3p=True))
        with pytest.raises(NotOwner, match="statistics"):
            await optimizer.publish_state("site", SiteState(statistics=Statistics()))
        # one connection delivers in order: once this arrives, anything queued before it has arrived too
        await optimizer.publish_state("loadpoints/2", LoadpointState(mode="now"))
        await gateway.publish_state(
            "site", SiteState.model_validate({"statistics": {"total": {"chargedKWh": 2}}})
        )
        await probe.wait_state("loadpoints/2/mode", lambda v: v == "now")
        await probe.wait_state("site/statistics/total/chargedKWh", lambda v: v == "2")
        assert probe.state("loadpoints/1/mode") is None
        assert probe.state("loadpoints/1/chargerPhases1p3p") is None
