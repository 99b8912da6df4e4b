"""Battery mode control: the meter-reader writes the optimizer's battery mode into a simulated battery."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import structlog

from services.meter_reader.battery import BatteryModeController, ModeSource, mode_name
from services.meter_reader.service import run
from shared.config import ConfigError, MqttSettings, parse_config
from shared.config_devices import MeterConfig
from shared.devices.errors import DeviceRefused
from shared.messages import MeterReading
from tests.support.modbus import Device, simulated_device
from tests.support.probe import Probe

MODE_WRITES: dict[str, Any] = {
    "normal": [{"address": 1000, "value": 0}],
    "hold": [{"address": 1000, "value": 1}],
    "charge": [{"address": 1000, "value": 2}, {"address": 1001, "value": 3000}],
}
SIM_REGISTERS = [
    {"value": "power", "address": 0, "type": "float32"},
    {"value": "soc", "address": 2, "type": "float32"},
    {"value": "battery_mode", "address": 1000, "type": "uint16"},
    {"value": "battery_charge_power", "address": 1001, "type": "uint16"},
]


def battery_meter(dev: Device, control: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": "house-battery",
        "type": "modbus",
        "usage": "battery",
        "modbus": {"host": dev.host, "port": dev.port, "timeout_s": 0.3},
        "interval_s": 0.1,
        # The simulator's measuring point counts charging as positive: invert to evcc's discharging > 0.
        "registers": {
            "power": {"address": 0, "type": "float32", "invert": True},
            "soc": {"address": 2, "type": "float32"},
        },
        "battery_control": control or MODE_WRITES,
    }


@pytest.fixture
async def battery() -> AsyncIterator[Device]:
    # No sun: the house's 400 W come from the battery while it runs on its own.
    async with simulated_device(
        "generic-meter", source="battery", registers=SIM_REGISTERS, pv_peak_w=0
    ) as dev:
        yield dev


@contextlib.asynccontextmanager
async def meter_reader(mqtt: MqttSettings, meter: dict[str, Any]) -> AsyncIterator[None]:
    config = parse_config({"site": {"battery": [meter["name"]]}, "meters": [meter]})
    stop = asyncio.Event()
    task = asyncio.create_task(run(config.model_copy(update={"mqtt": mqtt}), stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def reading_of(probe: Probe, raw: str) -> MeterReading:
    return MeterReading.model_validate(json.loads(raw))


def mode_write(value: int) -> Any:
    return lambda r: r.point == "battery_mode@1000" and r.value == value


async def test_hold_is_written_read_back_and_stops_discharging(
    battery: Device, mqtt_settings: MqttSettings, probe: Probe
) -> None:
    assert battery.state.battery_w == pytest.approx(400.0)  # discharging into the house on its own
    topic = f"{mqtt_settings.internal}/meters/house-battery"
    async with meter_reader(mqtt_settings, battery_meter(battery)):
        await probe.wait_state("site/battery/devices/1/controllable", lambda v: v == "true")
        await probe.publish(f"{mqtt_settings.topic}/site/batteryMode", "hold", retain=True)
        await battery.writes.wait_for(mode_write(1))
        await probe.wait_value(topic, lambda v: json.loads(v)["battery_mode"] == "hold")
        assert battery.sim.battery_mode == "hold" and battery.state.battery_w == 0.0
        await probe.wait_value(topic, lambda v: json.loads(v)["power_w"] == 0.0)

        since = len(battery.writes)
        await probe.publish(f"{mqtt_settings.topic}/site/batteryMode", "charge", retain=True)
        await battery.writes.wait_for(lambda r: r.point == "battery_charge_power@1001", since=since)
        await probe.wait_value(topic, lambda v: json.loads(v)["battery_mode"] == "charge")
        assert battery.state.battery_w == pytest.approx(-3000.0)  # charging from the grid
        reading = reading_of(probe, probe.values[topic])
        assert reading.battery_mode_error is None and not reading.stale


async def test_optimizer_offline_falls_back_to_normal(
    battery: Device, mqtt_settings: MqttSettings, probe: Probe
) -> None:
    status = f"{mqtt_settings.internal}/services/optimizer/status"
    topic = f"{mqtt_settings.internal}/meters/house-battery"
    await probe.publish(status, json.dumps({"state": "online"}), retain=True)
    await probe.publish(f"{mqtt_settings.topic}/site/batteryMode", "hold", retain=True)
    async with meter_reader(mqtt_settings, battery_meter(battery)):
        await battery.writes.wait_for(mode_write(1))
        since = len(battery.writes)
        await probe.publish(status, json.dumps({"state": "offline"}), retain=True)
        await battery.writes.wait_for(mode_write(0), since=since)
        await probe.wait_value(topic, lambda v: json.loads(v)["battery_mode"] == "normal")
        assert battery.sim.battery_mode == "normal" and battery.state.battery_w == pytest.approx(400.0)

        since = len(battery.writes)
        await probe.publish(status, json.dumps({"state": "online"}), retain=True)
        await probe.publish(f"{mqtt_settings.topic}/site/batteryMode", "hold", retain=True)
        await battery.writes.wait_for(mode_write(1), since=since)


async def test_a_refused_write_is_reported_not_assumed(
    battery: Device, mqtt_settings: MqttSettings, probe: Probe
) -> None:
    bad = dict(MODE_WRITES, charge=[{"address": 1000, "value": 7}])  # the device refuses mode 7
    topic = f"{mqtt_settings.internal}/meters/house-battery"
    async with meter_reader(mqtt_settings, battery_meter(battery, bad)):
        await probe.publish(f"{mqtt_settings.topic}/site/batteryMode", "charge", retain=True)
        raw = await probe.wait_value(topic, lambda v: bool(json.loads(v)["battery_mode_error"]))
        reading = reading_of(probe, raw)
        assert reading.battery_mode is None and "refused" in (reading.battery_mode_error or "")
        assert reading.battery_mode_error is not None and reading.battery_mode_error.startswith("charge:")
        await probe.wait_state("site/battery/devices/1/error", lambda v: "refused" in v)
        assert battery.sim.battery_mode == "normal" and not battery.writes.of("battery_mode@1000")

        await probe.publish(f"{mqtt_settings.topic}/site/batteryMode", "hold", retain=True)
        await battery.writes.wait_for(mode_write(1))
        raw = await probe.wait_value(topic, lambda v: json.loads(v)["battery_mode"] == "hold")
        assert reading_of(probe, raw).battery_mode_error is None
        await probe.wait_state("site/battery/devices/1/error", lambda v: v == "")


@pytest.mark.parametrize(
    ("control", "key"),
    [
        ({"normal": [{"address": 1000, "value": 0}], "hold": [{"address": 1000, "value": 1}]}, "charge"),
        (dict(MODE_WRITES, hold=[{"address": 1000, "value": 70000}]), "battery_control.hold.0"),
        (dict(MODE_WRITES, hold=[{"address": 1000, "value": 1.5}]), "battery_control.hold.0"),
        (dict(MODE_WRITES, hold=[{"address": 1000, "value": 1, "source": "input"}]), "hold.0.source"),
        (dict(MODE_WRITES, boost=[{"address": 1000, "value": 3}]), "battery_control.boost"),
    ],
)
def test_a_bad_block_names_the_key(control: dict[str, Any], key: str) -> None:
    meter = {
        "name": "b",
        "type": "sunspec",
        "usage": "battery",
        "modbus": {"host": "127.0.0.1"},
        "battery_control": control,
    }
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_config({"meters": [meter]})


def test_battery_control_only_on_batteries() -> None:
    meter = {
        "name": "g",
        "type": "sdm",
        "usage": "grid",
        "modbus": {"host": "h"},
        "battery_control": MODE_WRITES,
    }
    with pytest.raises(ConfigError, match=r"meters\.0: .*battery_control is only for usage battery"):
        parse_config({"meters": [meter]})


# --- the controller on its own: watchdog, reconnect, read-back ---------------------------------------------


class FakeLink:
    def __init__(self) -> None:
        self.registers: dict[int, int] = {}
        self.writes: list[tuple[int, list[int]]] = []
        self.connections = 1
        self.refuse = False
        self.ignore = False

    async def read(self, source: str, address: int, count: int) -> list[int]:
        return [self.registers.get(address + i, 0) for i in range(count)]

    async def write(self, address: int, words: list[int]) -> None:
        if self.refuse:
            raise DeviceRefused("device refused")
        self.writes.append((address, words))
        if not self.ignore:
            for i, word in enumerate(words):
                self.registers[address + i] = word


def controller(link: FakeLink, now: list[float]) -> BatteryModeController:
    meter = MeterConfig.model_validate(
        {
            "name": "b",
            "type": "sunspec",
            "usage": "battery",
            "modbus": {"host": "h"},
            "battery_control": {
                "normal": [{"address": 10, "value": 0}],
                "hold": [{"address": 10, "value": 1}],
                "charge": [{"address": 10, "value": 2}, {"address": 11, "value": -2.5, "type": "float32"}],
            },
        }
    )

    async def nothing() -> None:
        return None

    return BatteryModeController(meter, link, nothing, log=structlog.get_logger(), clock=lambda: now[0])


def applied(ctl: BatteryModeController) -> str | None:
    return ctl.applied  # a call, so mypy does not narrow the attribute across awaits


async def test_watchdog_reconnect_and_read_back() -> None:
    link, now = FakeLink(), [0.0]
    ctl = controller(link, now)
    await ctl.step()
    assert link.writes == []  # waiting for the optimizer's first word
    ctl.on_mode("charge")
    await ctl.step()
    assert applied(ctl) == "charge" and link.writes[-1] == (
        11,
        [0xC020, 0x0000],
    )  # float32 -2.5, high word first
    writes = len(link.writes)
    await ctl.step()
    assert len(link.writes) == writes  # in place: nothing rewritten

    link.connections += 1  # the device came back: it may have forgotten
    await ctl.step()
    assert len(link.writes) == writes + 2 and applied(ctl) == "charge"

    now[0] = 59.0
    ctl.on_alive()  # <root>/updated: the optimizer is alive, the mode stands
    now[0] = 118.0
    await ctl.step()
    assert applied(ctl) == "charge"
    now[0] = 119.5  # silent for 60 s
    await ctl.step()
    assert applied(ctl) == "normal" and link.registers[10] == 0

    link.ignore = True  # accepts writes, keeps its value: the read-back catches it
    ctl.on_mode("hold")
    await ctl.step()
    assert applied(ctl) is None and ctl.error is not None and "read back" in ctl.error

    link.ignore, link.refuse = False, True
    delay = await ctl.step()
    assert ctl.error == "hold: device refused" and ctl.failures == 2 and delay > ctl.meter.interval_s
    link.refuse = False
    await ctl.step()
    assert applied(ctl) == "hold" and ctl.error is None and ctl.failures == 0


def test_mode_source_and_payloads() -> None:
    assert mode_name("hold") == "hold" and mode_name('"charge"') == "normal"
    assert mode_name("unknown") == "normal" and mode_name("holdcharge") == "normal"
    source = ModeSource(watchdog_s=60.0, started_s=0.0)
    assert source.wanted(59.0) is None and source.wanted(60.0) == "normal"
    source.on_mode("hold", 100.0)
    assert source.wanted(100.0) == "hold" and source.expires_in(130.0) == 30.0
    source.on_status(json.dumps({"state": "offline"}))
    assert source.wanted(101.0) == "normal"
    source.on_status(json.dumps({"state": "online"}))
    assert source.wanted(101.0) == "hold"
