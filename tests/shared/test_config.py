from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import ConfigError, load_config, parse_config

DEMO = Path(__file__).parents[2] / "services" / "demo.yaml"


def test_bundled_demo_config_is_valid() -> None:
    config = load_config(DEMO)
    assert config.loadpoints and config.chargers and config.meters


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"mqtt": {"prot": 1}}, "mqtt.prot"),
        ({"mqtt": {"port": 0}}, "mqtt.port"),
        ({"loadpoints": [{"title": "x", "charger": "nope"}]}, "loadpoints.0.charger"),
        ({"site": {"grid": "missing"}}, "site.grid"),
        ({"meters": [{"name": "m", "type": "sdm", "usage": "solar"}]}, "meters.0.usage"),
        ({"gateway": {"public_url": "energy.example.com"}}, "gateway.public_url"),
    ],
)
def test_bad_config_names_the_key(data: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(data)
    assert key in str(error.value)


def test_environment_overrides_file_for_connection_and_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARGEBUS_MQTT__PASSWORD", "s3cret")
    monkeypatch.setenv("CHARGEBUS_MQTT__PORT", "2883")
    config = parse_config({"mqtt": {"host": "broker", "port": 1883}})
    assert config.mqtt.host == "broker"
    assert config.mqtt.port == 2883
    assert config.mqtt.password is not None and config.mqtt.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(config)


def test_missing_and_malformed_files_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("site: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_cli_refuses_bad_config_naming_the_key(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "c.yaml"
    bad.write_text("loadpoints:\n  - title: x\n    charger: ghost\n")
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "optimizer", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )
    assert result.returncode == 2
    assert "loadpoints.0.charger" in result.stderr


def test_a_short_jwt_secret_is_refused_and_an_empty_one_is_unset() -> None:
    with pytest.raises(ConfigError, match="at least 32 characters"):
        parse_config({"gateway": {"jwt_secret": "short"}})
    assert parse_config({"gateway": {"jwt_secret": ""}}).gateway.jwt_secret is None
    assert parse_config({"gateway": {"trusted_proxies": ["10.0.0.0/8", "::1"]}}).gateway.trusted_proxies
    for bad in ({"trusted_proxies": ["10.0.0.0/33"]}, {"cors_origins": ["*"]}, {"outbound_allow": ["x"]}):
        with pytest.raises(ConfigError):
            parse_config({"gateway": bad})
