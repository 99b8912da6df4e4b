"""/metrics: Prometheus text with the site, loadpoints, sessions and the services' health from the bus."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from shared.messages import (
    ChargerCommand,
    ChargerStatus,
    ChargeStatus,
    CommandApplied,
    CommandReason,
    MeterReading,
    MeterUsage,
    ServiceStatus,
)
from shared.state import BatteryState, ChargeMode, GridState, LoadpointState, SiteState
from tests.gateway.conftest import FakeOwner, RunningGateway
from tests.support.tree import publish_as_owners

NAME = re.compile(r"^chargebus_[a-z0-9_]+$")
UNITS = ("_watts", "_joules", "_seconds", "_amperes", "_ratio", "_per_kwh", "_total")
COUNTER_PARTS = ("_bucket", "_count", "_sum", "_created")


async def scrape(gateway: RunningGateway) -> dict[str, list[Sample]]:
    response = await gateway.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(response.text):
        assert NAME.match(family.name), family.name
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples: dict[str, list[Sample]], name: str, **labels: str) -> float:
    matching = [
        s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(matching) == 1, (name, labels, samples.get(name))
    return matching[0]


async def test_metrics_from_the_bus(gateway: RunningGateway, owner: FakeOwner) -> None:
    bus, topics = owner.bus, owner.bus.topics
    now = datetime.now(UTC)
    await publish_as_owners(
        bus,
        "site",
        SiteState(
            grid=GridState(power=-1500.0, energy=1234.5),
            pvPower=4200.0,
            homePower=700.0,
            battery=BatteryState(power=-2000.0, soc=55.0),
            tariffGrid=0.3,
            currency="EUR",
        ),
    )
    await publish_as_owners(
        bus,
        "loadpoints/1",
        LoadpointState(title="Garage", chargePower=7400.0, mode=ChargeMode.PV, charging=True),
    )
    await bus.publish(bus.tree.loadpoint_count, "1")
    stale = MeterReading(meter="grid", usage=MeterUsage.GRID, stale=True, error="timeout", timestamp=now)
    await bus.publish_model(topics.meter("grid"), stale)
    await bus.publish_model(
        topics.charger_status(1),
        ChargerStatus(loadpoint=1, charger="wallbox", status=ChargeStatus.C, enabled=True),
    )
    issued = ChargerCommand(
        seq=7, enabled=True, current_a=10, issued_at=now, valid_until=now + timedelta(minutes=1)
    )
    await bus.publish_model(topics.charger_command(1), issued, retain=False)
    applied = CommandApplied(
        event_id="e1",
        loadpoint=1,
        charger="wallbox",
        seq=7,
        enabled=True,
        current_a=10,
        phases=3,
        reason=CommandReason.API_TRIGGERED_COMMAND,
        timestamp=now + timedelta(milliseconds=40),
    )
    await bus.publish_model(topics.event("command"), applied, retain=False, qos=1)
    # one connection, one order: once the gateway has this, it has handled everything published before
    await publish_as_owners(bus, "loadpoints/1", LoadpointState(offeredCurrent=10.0))
    await gateway.store.wait_for(lambda s: s.loadpoint(1) is not None and s.loadpoint(1).offeredCurrent == 10)

    samples = await scrape(gateway)
    assert value(samples, "chargebus_site_power_watts", flow="grid") == -1500
    assert value(samples, "chargebus_site_power_watts", flow="pv") == 4200
    assert value(samples, "chargebus_site_energy_joules_total", meter="grid_import") == 1234.5 * 3.6e6
    assert value(samples, "chargebus_site_battery_soc_ratio") == 0.55
    assert value(samples, "chargebus_tariff_price_per_kwh", usage="grid", currency="EUR") == 0.3
    assert value(samples, "chargebus_loadpoint_charge_power_watts", loadpoint="1", title="Garage") == 7400
    assert value(samples, "chargebus_loadpoint_charging", loadpoint="1") == 1
    assert value(samples, "chargebus_loadpoint_mode", loadpoint="1", mode="pv") == 1
    assert value(samples, "chargebus_loadpoint_mode", loadpoint="1", mode="now") == 0
    assert value(samples, "chargebus_stale_readings_total", meter="grid") == 1
    assert value(samples, "chargebus_device_errors_total", device="grid", kind="meter") == 1
    assert value(samples, "chargebus_meter_stale", meter="grid") == 1
    assert value(samples, "chargebus_commands_total", loadpoint="1", result="ok") == 1
    assert value(samples, "chargebus_command_latency_seconds_count", loadpoint="1") == 1
    assert abs(value(samples, "chargebus_command_latency_seconds_sum", loadpoint="1") - 0.04) < 1e-6
    assert value(samples, "chargebus_command_latency_seconds_bucket", loadpoint="1", le="0.05") == 1
    assert value(samples, "chargebus_command_latency_seconds_bucket", loadpoint="1", le="0.025") == 0
    assert value(samples, "chargebus_service_up", service="optimizer") == 1
    assert value(samples, "chargebus_service_bus_reconnects", service="optimizer") == 0
    for name in samples:
        base = name.removesuffix(next((p for p in COUNTER_PARTS if name.endswith(p)), ""))
        assert (
            base.endswith(UNITS)
            or f"{base}_total" in samples
            or base.startswith(
                ("chargebus_loadpoint_", "chargebus_service_", "chargebus_sessions_", "chargebus_meter_")
            )
        ), f"{name}: no unit suffix"


async def test_reconnects_are_counted_from_the_status(gateway: RunningGateway, owner: FakeOwner) -> None:
    status = ServiceStatus(state="online", version="1", started=datetime.now(UTC), connects=4)
    await owner.bus.publish_model(owner.bus.topics.service_status("meter-reader"), status)
    await gateway.store.wait_for(lambda s: "meter-reader" in s.services)
    samples = await scrape(gateway)
    assert value(samples, "chargebus_service_bus_reconnects", service="meter-reader") == 3
    openmetrics = await gateway.client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.endswith("# EOF\n")
