"""Devices that publish over MQTT, in their vendors' formats, fed by the home's physics.

- ``tasmota-sml``: a Tasmota reading head on the utility meter — ``tele/<topic>/SENSOR`` =
  ``{"Time": "…", "SML": {"Total_in": kWh, "Total_out": kWh, "Power_curr": W}}`` (the names of Tasmota's
  SML script examples; import positive) and ``tele/<topic>/LWT`` = ``Online`` (retained).
- ``tasmota-energy``: a Tasmota with energy monitoring — ``tele/<topic>/SENSOR`` =
  ``{"Time": "…", "ENERGY": {"Total": kWh, "Today": kWh, "Power": W, "Voltage": V, "Current": A, …}}``.
- ``opendtu``: an inverter behind OpenDTU — ``solar/<serial>/0/power`` (W AC), ``…/0/yieldtotal`` (kWh),
  ``…/0/voltage``, ``…/0/current``, ``solar/<serial>/status/reachable`` — plain numbers, retained.

Each publishes every ``publish_s`` seconds to ``broker`` (``host:port``). Tests stop the publishing with
:attr:`MqttDevice.silent` to watch values go stale.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiomqtt

from services.simulator.devices.base import DeviceEnv, Model
from shared.logging import get_logger
from shared.tasks import cancel_and_wait

Messages = list[tuple[str, str, bool]]
"""(topic, payload, retain)."""


class MqttDevice:
    def __init__(self, env: DeviceEnv, render: Callable[[], Messages]) -> None:
        self.env = env
        self.render = render
        host, _, port = (env.spec.broker or "127.0.0.1:1883").partition(":")
        self.host, self.port = host, int(port)
        self.silent = False
        self.published = 0
        self.log = get_logger("simulator", device=env.spec.name)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"mqtt-{self.env.spec.name}")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task], timeout=3.0)

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(self.host, self.port) as client:
                    while True:
                        if not self.silent:
                            self.env.sync()
                            for topic, payload, retain in self.render():
                                await client.publish(topic, payload, qos=0, retain=retain)
                            self.published += 1
                        await asyncio.sleep(self.env.spec.publish_s)
            except aiomqtt.MqttError as error:
                self.log.debug("device broker unreachable", error=str(error))
                await asyncio.sleep(1.0)


def _topic(env: DeviceEnv, default: str) -> str:
    return env.spec.topic or default


def _time(env: DeviceEnv) -> str:
    now: datetime = env.sim.now
    return now.strftime("%Y-%m-%dT%H:%M:%S")


def tasmota_sml(env: DeviceEnv) -> MqttDevice:
    topic, m = _topic(env, "sml_reader"), env.source

    def render() -> Messages:
        sml: dict[str, Any] = {
            "Total_in": round(m.import_kwh, 4),
            "Total_out": round(m.export_kwh, 4),
            "Power_curr": round(m.power_w),
        }
        return [
            (f"tele/{topic}/LWT", "Online", True),
            (f"tele/{topic}/SENSOR", json.dumps({"Time": _time(env), "SML": sml}), False),
        ]

    return MqttDevice(env, render)


def tasmota_energy(env: DeviceEnv) -> MqttDevice:
    topic, m = _topic(env, "tasmota_plug"), env.source

    def render() -> Messages:
        voltage = m.voltages_v[0]
        energy = {
            "TotalStartTime": "2026-01-01T00:00:00",
            "Total": round(m.import_kwh, 3),
            "Yesterday": 0.0,
            "Today": round(m.import_kwh, 3),
            "Power": round(m.power_w),
            "ApparentPower": round(abs(m.power_w)),
            "ReactivePower": 0,
            "Factor": 1.0,
            "Voltage": round(voltage),
            "Current": round(abs(m.power_w) / voltage, 3) if voltage else 0.0,
        }
        return [
            (f"tele/{topic}/LWT", "Online", True),
            (f"tele/{topic}/SENSOR", json.dumps({"Time": _time(env), "ENERGY": energy}), False),
        ]

    return MqttDevice(env, render)


def opendtu(env: DeviceEnv) -> MqttDevice:
    serial, m = _topic(env, "114172220003"), env.source

    def render() -> Messages:
        power = -m.power_w  # the PV measuring point counts production negative
        voltage = m.voltages_v[0]
        base = f"solar/{serial}"
        return [
            (f"{base}/status/reachable", "1", True),
            (f"{base}/0/power", f"{power:.1f}", True),
            (f"{base}/0/yieldtotal", f"{m.export_kwh:.3f}", True),
            (f"{base}/0/voltage", f"{voltage:.1f}", True),
            (f"{base}/0/current", f"{power / voltage:.2f}" if voltage else "0", True),
        ]

    return MqttDevice(env, render)


TASMOTA_SML = Model("tasmota-sml", "meter", lambda env: [], source="grid", service=tasmota_sml)
TASMOTA_ENERGY = Model("tasmota-energy", "meter", lambda env: [], source="house", service=tasmota_energy)
OPENDTU = Model("opendtu", "meter", lambda env: [], source="pv", service=opendtu)
