"""``chargebus demo --sites N``: a fleet on one machine — N simulated homes and the fleet gateway.

Every home is a whole site stack of its own: the simulator playing its devices on free ports of its own,
all five services, its own database and data folder below ``data/sites/<site-id>/``, its gateway on the
ports after the fleet's (7071, 7072 …), its trees below ``sites/<site-id>/evcc`` and
``sites/<site-id>/chargebus`` of one broker. The fleet gateway on port 7070 reads them all and serves
``/v2`` for every site; its configuration is ``data/demo-config.yaml``, so ``chargebus fleet-client create
--config data/demo-config.yaml …`` works as with one home. All homes belong to one owner (``site.owner``),
so an ``--owner`` client sees them all.

The homes differ a little (their sun, their car's state of charge), so the fleet shows different values.
mosquitto is required: the fleet gateway reads through MQTT 5 shared subscriptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from pathlib import Path
from typing import Any

import httpx
import yaml

from services.demo import (
    DEFAULT_BROKER_PORT,
    Demo,
    Supervised,
    demo_config_data,
    effective_config,
    free_port,
    port_free,
    service_argv,
    start_mosquitto,
)
from services.embedded_broker import find_mosquitto
from services.health import StatusWatch
from shared.config import Config, SimulatorSettings, parse_config
from shared.logging import configure_logging, get_logger
from shared.service import install_stop_signals
from shared.tasks import cancel_and_wait

FLEET_PORT = 7070
OWNER = "owner@demo.chargebus.example"
READY_TIMEOUT_S = 180.0


def site_id(n: int) -> str:
    return f"home-{n + 1}"


def _is_port(key: str, value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and (key == "port" or key.endswith("_port"))


def _ports(data: Any) -> set[int]:
    if isinstance(data, dict):
        return {v for k, v in data.items() if _is_port(k, v)} | {p for v in data.values() for p in _ports(v)}
    if isinstance(data, list):
        return {p for item in data for p in _ports(item)}
    return set()


def _move_ports(data: Any, moved: dict[int, int]) -> Any:
    """Every device port (``port`` of a Modbus/HTTP device, ``*_port`` of the simulator) as in ``moved``."""
    if isinstance(data, dict):
        return {k: moved.get(v, v) if _is_port(k, v) else _move_ports(v, moved) for k, v in data.items()}
    if isinstance(data, list):
        return [_move_ports(item, moved) for item in data]
    return data


def site_data(
    base: dict[str, Any], n: int, data_dir: Path, broker_port: int, fleet_port: int
) -> dict[str, Any]:
    """Home ``n``: its id and owner, its ports, its folder, a sun and a car of its own."""
    devices = {k: v for k, v in base.items() if k in ("meters", "chargers", "simulator")}
    # the simulator's defaults too, so the meters' ports and the devices' ports stay one set
    defaults = SimulatorSettings()
    ports = {
        name: getattr(defaults, name) for name in SimulatorSettings.model_fields if name.endswith("_port")
    }
    devices["simulator"] = {**ports, **(devices.get("simulator") or {})}
    moved = {
        port: free_port() for port in sorted(_ports(devices))
    }  # every home's devices on ports of its own
    data = {**copy.deepcopy(base), **_move_ports(copy.deepcopy(devices), moved)}
    folder = data_dir / "sites" / site_id(n)
    out = effective_config(data, folder, fleet_port + 1 + n, broker_port)
    site = dict(out.get("site") or {})
    site.update(id=site_id(n), owner=OWNER, title=f"{site.get('title', 'Home')} {n + 1}")
    out["site"] = site
    simulator = dict(out.get("simulator") or {})
    simulator["pv_peak_w"] = round(float(simulator.get("pv_peak_w", 8000)) * (0.6 + 0.15 * (n % 5)))
    car = dict(simulator.get("car") or {})
    if car:
        car["soc_pct"] = 20 + (n * 17) % 60
        simulator["car"] = car
    out["simulator"] = simulator
    out["mqtt"] = {k: v for k, v in out["mqtt"].items() if k not in ("topic", "internal", "client_id")}
    return out


def fleet_data(data_dir: Path, broker_port: int, port: int, database: str | None) -> dict[str, Any]:
    """The fleet gateway's configuration (``data/demo-config.yaml``)."""
    url = database or f"sqlite:///{(data_dir / 'fleet.db').resolve()}"
    return {
        "mqtt": {
            "host": "127.0.0.1",
            "port": broker_port,
            "topic": "centre/evcc",
            "internal": "centre/chargebus",
        },
        "database": {"url": url},
        "gateway": {"host": "127.0.0.1", "port": port},
        "fleet": {"instance": "demo"},
    }


async def wait_fleet_ready(port: int, sites: int, timeout: float) -> bool:
    """Whether the fleet gateway is healthy and has registered every home (an HTTP endpoint: observable
    only by asking)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2.0) as http:
        while loop.time() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                health = await http.get("/health")
                if health.status_code == 200 and health.json().get("sites", 0) >= sites:
                    return True
            await asyncio.sleep(0.5)
    return False


def _write(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


async def _run(
    homes: list[tuple[Config, Path, Path]],
    fleet_file: Path,
    fleet_port: int,
    broker_port: int,
    data_dir: Path,
) -> int:
    log = get_logger("demo")
    stop = asyncio.Event()
    install_stop_signals(stop)
    started = asyncio.get_running_loop().time()
    async with contextlib.AsyncExitStack() as stack:
        if not await start_mosquitto(stack, broker_port, data_dir):
            return 1
        fleet = Supervised("fleet-gateway", service_argv("fleet-gateway", fleet_file))
        await fleet.start()
        stack.push_async_callback(fleet.stop)
        demos: list[Demo] = []
        for config, config_file, folder in homes:
            demo = Demo(config, config_file, folder)
            watch = await stack.enter_async_context(StatusWatch(config.mqtt))
            stack.push_async_callback(demo.stop)
            demos.append(demo)
            await demo.start_services(watch, stop)
            log.info("home started", site=config.site.id, gateway=f"http://127.0.0.1:{config.gateway.port}/")
        ready = await wait_fleet_ready(fleet_port, len(homes), READY_TIMEOUT_S)
        if ready:
            log.info(
                "chargebus fleet demo ready",
                fleet=f"http://127.0.0.1:{fleet_port}/v2/",
                homes=[f"http://127.0.0.1:{c.gateway.port}/" for c, _, _ in homes],
                config=str(fleet_file),
                startup_s=round(asyncio.get_running_loop().time() - started, 1),
            )
        else:
            log.warning("the fleet gateway did not come up in time", waited_s=READY_TIMEOUT_S)
        announce = [asyncio.create_task(d.announce_ready(started)) for d in demos]
        try:
            await stop.wait()
        finally:
            await cancel_and_wait(announce)
    log.info("chargebus fleet demo stopped")
    return 0


def run_fleet_demo(
    sites: int,
    config_path: str | None,
    data_dir: Path,
    port: int | None = None,
    broker_port: int | None = None,
    database: str | None = None,
) -> int:
    """Write every home's configuration and the fleet gateway's, then run them all until Ctrl-C."""
    base = demo_config_data(config_path)
    configure_logging(str(base.get("log", {}).get("level", "info")), "console")
    if find_mosquitto() is None:
        get_logger("demo").error("chargebus demo --sites needs mosquitto (sudo apt-get install mosquitto)")
        return 2
    if not 1 <= sites <= 50:
        get_logger("demo").error("--sites must be 1 to 50 (each home is six processes)")
        return 2
    (data_dir / "mosquitto").mkdir(parents=True, exist_ok=True)
    if broker_port is None:
        broker_port = DEFAULT_BROKER_PORT if port_free(DEFAULT_BROKER_PORT) else free_port()
    fleet_port = port or FLEET_PORT
    homes: list[tuple[Config, Path, Path]] = []
    for n in range(sites):
        data = site_data(base, n, data_dir, broker_port, fleet_port)
        config = parse_config(data)  # a bad file fails here, before anything starts
        folder = data_dir / "sites" / site_id(n)
        homes.append((config, _write(folder / "config.yaml", data), folder))
    fleet = fleet_data(data_dir, broker_port, fleet_port, database)
    parse_config(fleet)
    fleet_file = _write(data_dir / "demo-config.yaml", fleet)
    return asyncio.run(_run(homes, fleet_file, fleet_port, broker_port, data_dir))
