"""The compose file's structure (no Docker engine runs here) and that its commands exist in the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import yaml

from services.cli import build_parser
from services.deployment import (
    HEALTH_USER,
    JWT_SECRET_ENV,
    SERVICE_USERS,
    USERS,
    acl_text,
    password_env,
    prepare_credentials,
    read_env,
)
from services.embedded_broker import find_mosquitto
from services.registry import SERVICES
from shared.bus import Bus
from shared.config import load_config
from shared.encoding import mqtt_segment
from shared.state import LoadpointState, SiteState, VehicleState
from shared.tree import owners
from tests.support.production import ProductionBroker, production_broker

ROOT = Path(__file__).parents[1]


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_every_service_has_a_container_from_one_image() -> None:
    services = _compose()["services"]
    chargebus = {name: s for name, s in services.items() if name != "mosquitto"}
    assert set(chargebus) == set(SERVICES) - {"simulator"}
    assert {s["image"] for s in chargebus.values()} == {"chargebus:latest"}


def test_health_checks_and_startup_order() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        assert service["healthcheck"]["test"], f"{name} has no health check"
    for name, service in services.items():
        if name == "mosquitto":
            continue
        conditions = service["depends_on"]
        assert conditions["mosquitto"]["condition"] == "service_healthy", name
        if name != "gateway":
            assert all(c["condition"] == "service_healthy" for c in conditions.values()), name
    # the gateway reports readiness itself; a degraded optimizer must not keep the app away
    assert services["gateway"]["depends_on"]["optimizer"]["condition"] == "service_started"


def test_volumes_persist_data_and_broker_state() -> None:
    compose = _compose()
    assert {"chargebus-data", "mosquitto-data"} <= set(compose["volumes"])
    broker_mounts = compose["services"]["mosquitto"]["volumes"]
    for path in ("mosquitto.conf", "acl"):
        assert (ROOT / "mosquitto" / path).exists()
        assert any(path in m for m in broker_mounts)
    assert "persistence true" in (ROOT / "mosquitto" / "mosquitto.conf").read_text()
    for name, service in compose["services"].items():
        if name != "mosquitto":
            assert any(m.startswith("chargebus-data:") for m in service["volumes"]), name


def test_every_command_in_compose_parses_with_the_cli() -> None:
    parser = build_parser()
    for name, service in _compose()["services"].items():
        if name == "mosquitto":
            continue
        args = parser.parse_args(service["command"])
        assert args.command == service["command"][0]
        test = service["healthcheck"]["test"]
        if test[1] == "chargebus":
            assert parser.parse_args(test[2:]).command == "health"


def test_no_secret_in_the_repository_and_no_silent_empty_password() -> None:
    assert not (ROOT / "mosquitto" / "passwd").exists()
    assert not (ROOT / ".env").exists()
    services = _compose()["services"]
    for name in SERVICE_USERS:
        env = services[name]["environment"]
        assert env["CHARGEBUS_MQTT__USER"] == name
        # `:?` stops compose with the variable's name; `:-` used to connect with an empty password
        assert env["CHARGEBUS_MQTT__PASSWORD"].startswith("${" + password_env(name) + ":?"), name
    assert services["gateway"]["environment"]["CHARGEBUS_GATEWAY__JWT_SECRET"].startswith(
        "${" + JWT_SECRET_ENV + ":?"
    )
    assert services["mosquitto"]["environment"]["HEALTH_MQTT_PASSWORD"].startswith(
        "${" + password_env(HEALTH_USER) + ":?"
    )


def test_the_shipped_acl_is_the_one_generated_from_the_schema() -> None:
    assert (ROOT / "mosquitto" / "acl").read_text(encoding="utf-8") == acl_text(), (
        "regenerate with `chargebus mqtt-acl --write mosquitto/acl`"
    )


def test_the_example_config_is_valid() -> None:
    config = load_config(str(ROOT / "config" / "chargebus.yaml.example"))
    assert config.loadpoints and config.chargers and config.meters
    assert config.mqtt.password is None, "secrets come from the environment, never from the file"


def test_mqtt_passwords_on_a_fresh_machine_and_again(tmp_path: Path) -> None:
    env_file, passwd = tmp_path / ".env", tmp_path / "mosquitto" / "passwd"
    env_file.write_text("CHARGEBUS_DATABASE__URL=postgresql+psycopg://db/chargebus\n", encoding="utf-8")
    first = prepare_credentials(env_file, passwd)
    assert set(first.created) == set(USERS)
    env = read_env(env_file)
    assert env["CHARGEBUS_DATABASE__URL"] == "postgresql+psycopg://db/chargebus"  # kept
    assert {password_env(u) for u in USERS} | {JWT_SECRET_ENV} <= set(env)
    assert all(len(env[password_env(u)]) >= 32 for u in USERS)
    assert env_file.stat().st_mode & 0o077 == 0, ".env holds passwords: owner only"
    lines = passwd.read_text().splitlines()
    assert [line.split(":", 1)[0] for line in lines] == list(USERS)
    assert all(line.split(":", 1)[1].startswith("$7$101$") for line in lines)
    assert not any(env[password_env(u)] in passwd.read_text() for u in USERS)
    again = prepare_credentials(env_file, passwd)
    assert again.created == () and again.passwords == first.passwords
    assert read_env(env_file) == env


def test_the_cli_offers_the_deployment_commands(tmp_path: Path) -> None:
    parser = build_parser()
    assert parser.parse_args(["mqtt-passwords", "--env", str(tmp_path / ".env")]).command == "mqtt-passwords"
    assert parser.parse_args(["mqtt-acl"]).command == "mqtt-acl"


def _compose_cli() -> list[str] | None:
    """A compose that can run here: the docker CLI's plugin, else docker-compose; None when neither."""
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run([*command, "version"], capture_output=True, text=True, timeout=30)
        if probe.returncode == 0:
            return command
    return None


def test_compose_config_is_valid_and_refuses_missing_passwords(tmp_path: Path) -> None:
    command = _compose_cli()
    if command is None:
        pytest.skip("no docker compose / docker-compose here")
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "docker-compose.yml", project / "docker-compose.yml")
    bare = {k: v for k, v in os.environ.items() if not k.endswith(("_MQTT_PASSWORD", "_JWT_SECRET"))}
    missing = subprocess.run(
        [*command, "config", "-q"], cwd=project, env=bare, capture_output=True, text=True, timeout=60
    )
    assert missing.returncode != 0 and "mqtt-passwords" in missing.stdout + missing.stderr
    prepare_credentials(project / ".env", project / "mosquitto" / "passwd")
    valid = subprocess.run(
        [*command, "config", "-q"], cwd=project, env=bare, capture_output=True, text=True, timeout=60
    )
    assert valid.returncode == 0, valid.stderr


# --- the shipped broker configuration, running ------------------------------------------------------


@pytest.fixture(scope="module")
def shipped_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProductionBroker]:
    if find_mosquitto() is None:
        pytest.skip("needs mosquitto")
    with production_broker(tmp_path_factory.mktemp("broker")) as broker:
        yield broker


def _client(broker: ProductionBroker, user: str) -> aiomqtt.Client:
    settings = broker.settings(user)
    return aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        username=user,
        password=settings.password.get_secret_value() if settings.password else None,
        identifier=f"acl-test-{user}-{uuid.uuid4().hex[:6]}",
    )


def _state_topics() -> dict[str, str]:
    """One topic per state field of the schema (with the ``/#`` part a struct or list adds), by owner."""
    topics: dict[str, str] = {}
    for model, scope in (
        (SiteState, "site"),
        (LoadpointState, "loadpoints/1"),
        (VehicleState, "vehicles/ev"),
    ):
        for name, owner in owners(model).items():
            assert owner is not None, f"{model.__name__}.{name} has no owner"
            segment = mqtt_segment(name, model.model_fields[name])
            topics[f"evcc/{scope}/{segment}"] = owner.value
            topics[f"evcc/{scope}/{segment}/1"] = owner.value
    return topics


INTERNAL: dict[str, set[str]] = {
    # topic → the users that may publish on it
    "chargebus/meters/grid": {"meter-reader"},
    "chargebus/vehicles/ev": {"meter-reader"},
    "chargebus/signals/dimming": {"meter-reader"},
    "chargebus/chargers/1/status": {"charger-actuator"},
    "chargebus/events/command": {"charger-actuator"},
    "chargebus/events/charger-status": {"charger-actuator"},
    "chargebus/ocpp/stations": {"charger-actuator"},
    "chargebus/chargers/1/command": {"optimizer"},
    "chargebus/events/session": {"optimizer"},
    "chargebus/tariffs/grid": {"tariff-fetcher"},
    "chargebus/requests/optimizer": {"gateway"},
    "chargebus/requests/meter-reader": {"gateway"},
    "chargebus/fleet/site": {"gateway"},
    "chargebus/replies/gateway/chargebus-gateway-x": {
        "gateway",
        "optimizer",
        "meter-reader",
        "tariff-fetcher",
    },
    "chargebus/replies/optimizer/chargebus-optimizer-x": {"optimizer"},
    "chargebus/services/optimizer/status": {"optimizer"},
    "chargebus/services/gateway/status": {"gateway"},
    "homeassistant/sensor/chargebus_home/config": {"gateway"},
    "homeassistant/status": {"gateway", "client"},
    "evcc/status": {"optimizer"},
    "evcc/updated": {"optimizer"},
    "evcc/loadpoints": {"optimizer"},
    # the example: the tariff-fetcher's credentials used to stop charging with this
    "evcc/loadpoints/1/mode/set": {"optimizer", "client"},
    "evcc/site/bufferSoc/set": {"optimizer", "client"},
    "evcc/vehicles/ev/limitSoc/set": {"optimizer", "client"},
    "evcc/vehicles/ev/soc/set": {"meter-reader", "client"},
    "evcc/loadpoints/1/plan/energy/set": {"optimizer"},  # below its plan key; no client setter there
    "evcc/site/statistics/30d/chargedKWh": {"gateway"},
}


def _barrier(user: str) -> str:
    """A topic ``user`` may publish and the observer reads: the end marker of its batch."""
    return "evcc/site/barrier/set" if user == "client" else f"chargebus/services/{user}/status"


async def test_each_user_may_publish_exactly_what_it_owns(shipped_broker: ProductionBroker) -> None:
    """Every state field of the schema and the internal topics, for every user: a publish the ACL
    refuses is dropped by the broker (MQTT 3.1.1 has no refusal code), so each batch ends with a marker
    the user may send, and what arrived before the marker is what the ACL let through."""
    expected = {topic: {owner} for topic, owner in _state_topics().items()}
    for topic, writers in INTERNAL.items():
        expected[topic] = writers
    received: list[tuple[str, str]] = []
    got = asyncio.Condition()
    async with _client(shipped_broker, "gateway") as observer:  # reads evcc/#, chargebus/#, homeassistant/#
        for pattern in ("evcc/#", "chargebus/#", "homeassistant/#"):
            await observer.subscribe(pattern, qos=1)

        async def listen() -> None:
            async for message in observer.messages:
                async with got:
                    payload = message.payload if isinstance(message.payload, bytes) else b""
                    received.append((message.topic.value, payload.decode()))
                    got.notify_all()

        listener = asyncio.create_task(listen())
        wrong: list[str] = []
        try:
            for user in USERS:
                if user == HEALTH_USER:
                    continue
                async with _client(shipped_broker, user) as publisher:
                    for topic in expected:
                        await publisher.publish(topic, f"{user}", qos=1)
                    await publisher.publish(_barrier(user), f"end {user}", qos=1)
                marker = (_barrier(user), f"end {user}")
                async with got:
                    await asyncio.wait_for(got.wait_for(lambda m=marker: m in received), 10)  # type: ignore[misc]
                arrived = {topic for topic, payload in received if payload == user}
                for topic, writers in expected.items():
                    if (topic in arrived) != (user in writers):
                        wrong.append(f"{user} {'may' if topic in arrived else 'may not'} publish {topic}")
        finally:
            listener.cancel()
    assert not wrong, "\n".join(wrong)


async def test_reads_are_limited_and_nobody_connects_without_a_password(
    shipped_broker: ProductionBroker,
) -> None:
    async def delivered(user: str, filters: list[str], publisher: str, topics: list[str]) -> set[str]:
        async with _client(shipped_broker, user) as reader:
            for pattern in filters:
                await reader.subscribe(pattern, qos=1)
            async with _client(shipped_broker, publisher) as writer:
                for topic in topics:
                    await writer.publish(topic, "x", qos=1)
            seen: set[str] = set()
            async with asyncio.timeout(10):
                async for message in reader.messages:
                    seen.add(message.topic.value)
                    if message.topic.value == topics[-1]:
                        return seen
        raise AssertionError("unreachable")

    # the client (Node-RED, HA) sees the evcc tree and nothing internal, though it subscribed to it
    seen = await delivered(
        "client", ["chargebus/#", "evcc/#"], "optimizer", ["chargebus/chargers/1/command", "evcc/updated"]
    )
    assert seen == {"evcc/updated"}
    # the health user reads the broker's uptime only
    async with _client(shipped_broker, HEALTH_USER) as health:
        await health.subscribe("$SYS/broker/uptime", qos=0)
        await health.subscribe("evcc/#", qos=0)
        async with asyncio.timeout(15):
            async for message in health.messages:
                assert message.topic.value == "$SYS/broker/uptime"
                break
    for user, password in (("optimizer", "wrong"), (None, None)):
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", shipped_broker.port, username=user, password=password):
                pass


async def test_health_checks_pass_the_way_compose_runs_them(shipped_broker: ProductionBroker) -> None:
    compose = _compose()["services"]
    env = {**os.environ, **read_env(shipped_broker.env_file)}
    # the broker's: a shell command as compose runs it, `$$` being compose's escape of `$`
    kind, command = compose["mosquitto"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    command = command.replace("$$", "$").replace("mosquitto_sub ", f"mosquitto_sub -p {shipped_broker.port} ")
    mosquitto_dir = str(Path(find_mosquitto() or "").parent)
    env["PATH"] = f"{mosquitto_dir}:/usr/bin:{env.get('PATH', '')}"
    result = await asyncio.to_thread(subprocess.run, ["sh", "-c", command], env=env, timeout=30)
    assert result.returncode == 0
    wrong = {**env, password_env(HEALTH_USER): "wrong"}
    refused = await asyncio.to_thread(subprocess.run, ["sh", "-c", command], env=wrong, timeout=30)
    assert refused.returncode != 0
    # each service's: `chargebus health <service>` as that service's broker user, with compose's env
    checks = {}
    for name in SERVICE_USERS:
        test = compose[name]["healthcheck"]["test"]
        if test[1] != "chargebus":
            continue  # the gateway's is HTTP: the fault suite runs it against a whole stack
        service_env = {
            **env,
            "CHARGEBUS_MQTT__HOST": "127.0.0.1",
            "CHARGEBUS_MQTT__PORT": str(shipped_broker.port),
            "CHARGEBUS_MQTT__USER": compose[name]["environment"]["CHARGEBUS_MQTT__USER"],
            "CHARGEBUS_MQTT__PASSWORD": env[password_env(name)],
        }
        argv = [str(ROOT / ".venv" / "bin" / "chargebus"), *test[2:-2]]  # without the container's --config
        checks[name] = (argv, service_env)

    def check(argv: list[str], service_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, env=service_env, capture_output=True, text=True, timeout=60)

    async def run_checks() -> dict[str, subprocess.CompletedProcess[str]]:
        results = await asyncio.gather(*(asyncio.to_thread(check, *pair) for pair in checks.values()))
        return dict(zip(checks, results, strict=True))

    async with contextlib.AsyncExitStack() as stack:
        buses = [await stack.enter_async_context(Bus(shipped_broker.settings(name), name)) for name in checks]
        for bus in buses:
            await bus.wait_connected(5)
        for name, outcome in (await run_checks()).items():
            assert outcome.returncode == 0, f"{name}: {outcome.stdout}{outcome.stderr}"
        for bus in buses:
            bus.report_problem("test", "settings not persisted: disk full")
        for name, outcome in (await run_checks()).items():
            assert outcome.returncode == 1 and "disk full" in outcome.stdout, f"{name}: {outcome.stdout}"
