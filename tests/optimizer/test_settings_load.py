"""A stored settings file never wedges the optimizer: a value the setters would refuse is replaced by its
default (and reported), the rest of the file is used, and the control cycle runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from services.optimizer.settings import (
    LoadpointSettings,
    Settings,
    VehicleSettings,
    recover_settings,
)
from shared.config import Config, MqttSettings
from shared.state import ChargeMode
from tests.optimizer.test_service import commands, make_config, optimizer, publish_inputs
from tests.support.probe import Probe

DEFAULTS = Settings(
    loadpoints={1: LoadpointSettings(max_current_a=16, mode=ChargeMode.PV)},
    vehicles={"ev": VehicleSettings(title="EV", capacity_kwh=60)},
)


def stored(**loadpoint: object) -> Any:
    data = json.loads(DEFAULTS.model_dump_json())
    data["loadpoints"]["1"].update(loadpoint)
    return data


def test_bad_values_fall_back_to_their_defaults_only() -> None:
    data = stored(max_current_a=1e30, limit_energy_kwh=1e307, mode="now", enable_delay_s=-5, limit_soc=80)
    data["vehicles"]["van"] = {
        "title": "Van",
        "capacity_kwh": 75,
        "dynamic": True,
        "repeating_plans": [
            {"weekdays": [1], "time": "07:00", "tz": "UTC", "soc": 80},
            {"weekdays": [9], "time": "25:00", "tz": "UTC", "soc": 80},
        ],
    }
    data["vehicles"]["bad name"] = {"title": "x", "capacity_kwh": 5}
    settings, problems = recover_settings(json.dumps(data).encode(), DEFAULTS)
    lp = settings.loadpoints[1]
    assert (lp.max_current_a, lp.limit_energy_kwh, lp.enable_delay_s) == (16, 0, 60)  # the defaults
    assert (lp.mode, lp.limit_soc) == (ChargeMode.NOW, 80)  # the good stored values stay
    assert [p.time for p in settings.vehicles["van"].repeating_plans] == ["07:00"]  # the bad plan goes
    assert "bad name" not in settings.vehicles
    assert any(p.startswith("loadpoints.1.max_current_a: 1e+30 exceeds the maximum of 80") for p in problems)
    assert len(problems) >= 5


def test_min_above_max_current_resets_both() -> None:
    settings, problems = recover_settings(
        json.dumps(stored(min_current_a=20, max_current_a=10)).encode(), DEFAULTS
    )
    assert (settings.loadpoints[1].min_current_a, settings.loadpoints[1].max_current_a) == (6, 16)
    assert problems and "min_current_a 20 exceeds max_current_a 10" in problems[0]


@pytest.mark.parametrize("raw", [b"", b"{broken", b"[1, 2]", b'"text"', b'{"loadpoints": 5}'])
def test_a_file_that_is_no_settings_at_all(raw: bytes) -> None:
    if raw == b'{"loadpoints": 5}':
        settings, problems = recover_settings(raw, DEFAULTS)
        assert settings.loadpoints == DEFAULTS.loadpoints and problems
        return
    with pytest.raises(ValueError):
        recover_settings(raw, DEFAULTS)


async def test_the_optimizer_runs_on_a_file_with_bad_values(
    mqtt_settings: MqttSettings, tmp_path: Path, probe: Probe
) -> None:
    config: Config = make_config(mqtt_settings, tmp_path / "optimizer.json")
    data = json.loads(Settings(loadpoints={1: LoadpointSettings()}).model_dump_json())
    data["loadpoints"]["1"].update(max_current_a=1e30, limit_energy_kwh=float("1e307"), mode="now")
    (tmp_path / "optimizer.json").write_text(json.dumps(data))
    with capture_logs() as logs:
        async with optimizer(config, probe):
            await publish_inputs(probe)
            await probe.wait_state("loadpoints/1/mode", lambda v: v == "now")
            await probe.wait(lambda _v: any(c.enabled for c in commands(probe)))
    assert probe.state("loadpoints/1/maxCurrent") == "16"
    assert next(c.current_a for c in commands(probe) if c.enabled) == 16
    refused = [line["problem"] for line in logs if line["event"] == "stored setting refused"]
    assert any("max_current_a" in p for p in refused) and any("limit_energy_kwh" in p for p in refused)
    assert not [line for line in logs if line["event"] == "control cycle failed"]
