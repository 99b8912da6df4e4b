"""``chargebus demo``'s effective config: every file the children write lives below the data folder."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from services.demo import START_LEVELS, Supervised, demo_config_data, effective_config, state_complete
from services.embedded_broker import find_mosquitto, mosquitto_argv, wait_port_async
from services.registry import SERVICES
from shared.bus import Bus
from shared.config import MqttSettings, parse_config
from tests.e2e.stack import wait_until
from tests.support.broker import free_port
from tests.support.probe import Probe


def test_data_paths_below_the_data_folder(tmp_path: Path) -> None:
    effective = effective_config(demo_config_data(None), tmp_path, 7071, 1884)
    config = parse_config(effective)
    assert config.mqtt.port == 1884
    assert config.gateway.port == 7071
    assert config.database.url == f"sqlite:///{(tmp_path / 'chargebus.db').resolve()}"
    assert Path(config.optimizer.state_file).parent == tmp_path.resolve()
    # A fetched tariff's cache too, not ./data of whatever directory the demo was started from.
    assert config.tariffs.cache_file == str((tmp_path / "tariffs-cache.json").resolve())


def test_configured_paths_are_kept(tmp_path: Path) -> None:
    data = demo_config_data(None)
    data["tariffs"]["cache_file"] = None
    data["database"] = {"url": "sqlite:///elsewhere.db"}
    config = parse_config(effective_config(data, tmp_path, None, 1884))
    assert config.tariffs.cache_file is None
    assert config.database.url == "sqlite:///elsewhere.db"


def test_every_service_starts_once_in_dependency_order() -> None:
    order = [name for level in START_LEVELS for name in level]
    assert sorted(order) == sorted(SERVICES)
    assert order.index("simulator") < order.index("meter-reader") < order.index("optimizer")
    assert order.index("charger-actuator") < order.index("optimizer") < order.index("gateway")


def test_state_is_complete_only_with_every_configured_loadpoint_and_vehicle() -> None:
    config = parse_config(demo_config_data(None))
    assert not state_complete(config, {"result": {"loadpoints": [], "vehicles": {}}})  # the first 200 seen
    assert not state_complete(config, {"result": {"loadpoints": [{}], "vehicles": {}}})
    assert not state_complete(config, "Internal Server Error")
    assert state_complete(config, {"result": {"loadpoints": [{}], "vehicles": {"ev": {}}}})
    assert state_complete(config, {"loadpoints": [{}], "vehicles": {"ev": {}}})  # unwrapped answers too


def _child(tmp_path: Path, script: str) -> list[str]:
    path = tmp_path / "child.py"
    path.write_text(script, encoding="utf-8")
    return [sys.executable, str(path)]


async def test_a_dead_child_is_restarted_and_its_backoff_resets_after_a_healthy_run(tmp_path: Path) -> None:
    """Runs: crash, crash, run long enough to count as healthy then crash, crash. The delay before a
    restart doubles per crash and starts over after the healthy run (it used to stay at its maximum)."""
    runs = tmp_path / "runs"
    script = f"""
import pathlib, sys, time
runs = pathlib.Path({str(runs)!r})
n = len(runs.read_text()) if runs.exists() else 0
runs.write_text("x" * (n + 1))
if n == 2:
    time.sleep(0.6)
sys.exit(3)
"""
    child = Supervised(
        "flaky", _child(tmp_path, script), healthy_after_s=0.5, backoff_base_s=0.05, backoff_max_s=10
    )
    with capture_logs() as logs:
        await child.start()
        try:
            await wait_until(lambda: runs.exists() and len(runs.read_text()) >= 5, timeout=20)
        finally:
            await child.stop()
    delays = [e["retry_s"] for e in logs if e["event"] == "child exited; restarting"][:4]
    assert delays == [0.05, 0.1, 0.05, 0.1]
    assert all(e["exit_code"] == 3 for e in logs if e["event"] == "child exited; restarting")


@pytest.mark.skipif(find_mosquitto() is None, reason="needs mosquitto")
async def test_a_killed_broker_is_reaped_and_restarted_on_its_port(tmp_path: Path) -> None:
    port = free_port()
    broker = Supervised("broker", mosquitto_argv(port, tmp_path), backoff_base_s=0.05, quiet=True)
    await broker.start()
    try:
        assert await wait_port_async("127.0.0.1", port, 10)
        settings = MqttSettings(host="127.0.0.1", port=port)
        async with Bus(settings, "optimizer") as bus:
            await bus.wait_connected(5)
            assert broker.proc is not None
            first = broker.proc.pid
            os.kill(first, signal.SIGKILL)
            await wait_until(lambda: broker.restarts == 1, timeout=10)
            assert broker.proc.pid != first
            with pytest.raises(ProcessLookupError):  # reaped, not left a zombie
                os.kill(first, 0)
            assert await wait_port_async("127.0.0.1", port, 10)
            async with Probe(settings) as probe:  # the bus finds the new broker on the same port
                await bus.publish("chargebus/after-restart", "here", retain=False)
                assert await probe.wait_value("chargebus/after-restart", bool, timeout=15) == "here"
    finally:
        await broker.stop()
    assert broker.proc is not None and broker.proc.returncode is not None
