"""RFID / idTag → vehicle identification end to end: an OCPP charge point (real websocket), the actuator and
the optimizer on a real broker. A card held to the box after plug-in, and a free-vend box whose transaction
carries the car's identifier, each select the configured vehicle with that identifier."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

from services.optimizer.service import run as run_optimizer
from services.simulator.devices.ocpp_cp import SimulatedChargePoint
from shared.config import Config, MqttSettings, parse_config
from tests.charger_actuator.test_service import actuator
from tests.support.broker import free_port
from tests.support.modbus import simulated_home
from tests.support.probe import Probe


def config(mqtt: MqttSettings, port: int, state: Path) -> Config:
    return parse_config(
        {
            "chargers": [{"name": "box", "type": "ocpp", "ocpp": {"identity": "cp1"}, "interval_s": 0.2}],
            "loadpoints": [{"title": "Garage", "charger": "box", "mode": "off"}],
            "vehicles": [
                {"name": "tesla", "title": "Model 3", "identifiers": ["RFID-0042"]},
                {"name": "zoe", "title": "Zoe", "identifiers": ["04A1B2C3"]},
            ],
            "ocpp": {"host": "127.0.0.1", "port": port},
            "optimizer": {"interval_s": 0.5, "state_file": str(state)},
        }
    ).model_copy(update={"mqtt": mqtt})


@contextlib.asynccontextmanager
async def stack(mqtt: MqttSettings, probe: Probe, tmp_path: Path) -> AsyncIterator[Config]:
    cfg = config(mqtt, free_port(), tmp_path / "optimizer.json")
    stop = asyncio.Event()
    optimizer = asyncio.create_task(run_optimizer(cfg, stop))
    status = f"{mqtt.internal}/services/optimizer/status"
    try:
        await probe.wait_value(status, lambda v: json.loads(v)["state"] == "online")
        async with actuator(cfg, probe):
            yield cfg
    finally:
        stop.set()
        await asyncio.wait_for(optimizer, 20)


async def test_rfid_card_and_charger_identifier_select_the_vehicle(
    mqtt_settings: MqttSettings, probe: Probe, tmp_path: Path
) -> None:
    async with stack(mqtt_settings, probe, tmp_path) as cfg:
        url = f"ws://127.0.0.1:{cfg.ocpp.port}/cp1"
        card_box = {"name": "wallbox", "model": "ocpp", "port": 0, "url": url, "free_vend": False}
        async with simulated_home({"devices": [card_box], "car": {"identifier": None}}) as home:
            cp = home.services["wallbox"]
            assert isinstance(cp, SimulatedChargePoint)
            await probe.wait_state("loadpoints/1/connected", lambda v: v == "true")
            assert probe.state("loadpoints/1/vehicleName") in ("", None)  # a guest until the card
            cp.present_tag("RFID-0042")
            await probe.wait_state("loadpoints/1/vehicleName", lambda v: v == "tesla")
            await probe.wait_state("loadpoints/1/vehicleTitle", lambda v: v == "Model 3")
            home.sim.unplug()
            await probe.wait_state("loadpoints/1/connected", lambda v: v == "false")
        free_vend = {"name": "wallbox", "model": "ocpp", "port": 0, "url": url, "free_vend": True}
        async with simulated_home({"devices": [free_vend], "car": {"identifier": "04A1B2C3"}}):
            await probe.wait_state("loadpoints/1/vehicleName", lambda v: v == "zoe", timeout=20)
