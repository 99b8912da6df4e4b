"""The compose file's structure (no Docker engine runs here) and that its commands exist in the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from services.cli import build_parser
from services.registry import SERVICES

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
        assert all(c["condition"] == "service_healthy" for c in conditions.values()), name
    assert "optimizer" in services["gateway"]["depends_on"]


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


def test_no_secret_in_the_repository() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "PASSWORD: ${" in compose
    assert not (ROOT / "mosquitto" / "passwd").exists()
