"""Home Assistant's MQTT discovery rules, as HA's MQTT integration applies them (facts from its docs and
``homeassistant/components/mqtt``: the abbreviations, the ``~`` base topic, each platform's required keys,
and ``sensor/const.py``'s device classes, units and state classes), to validate discovery payloads."""

from __future__ import annotations

import json
import re
from typing import Any

ABBREVIATIONS = {
    "avty_t": "availability_topic",
    "cmd_t": "command_topic",
    "dev": "device",
    "dev_cla": "device_class",
    "ent_cat": "entity_category",
    "ic": "icon",
    "max": "max",
    "min": "min",
    "name": "name",
    "o": "origin",
    "ops": "options",
    "pl_off": "payload_off",
    "pl_on": "payload_on",
    "stat_cla": "state_class",
    "stat_off": "state_off",
    "stat_on": "state_on",
    "stat_t": "state_topic",
    "step": "step",
    "uniq_id": "unique_id",
    "unit_of_meas": "unit_of_measurement",
    "val_tpl": "value_template",
    "mode": "mode",
}
"""The abbreviations HA expands (a subset of its table: the ones that exist; anything else is not HA's)."""
DEVICE_ABBREVIATIONS = {
    "ids": "identifiers",
    "name": "name",
    "mf": "manufacturer",
    "mdl": "model",
    "sw": "sw_version",
    "via_device": "via_device",
}
ORIGIN_ABBREVIATIONS = {"name": "name", "sw": "sw_version", "url": "support_url"}
COMMON = {
    "availability_topic",
    "device",
    "entity_category",
    "icon",
    "name",
    "origin",
    "unique_id",
    "~",
}
PLATFORMS: dict[str, tuple[set[str], set[str]]] = {
    # component: (required, optional) besides COMMON
    "sensor": ({"state_topic"}, {"device_class", "state_class", "unit_of_measurement", "value_template"}),
    "binary_sensor": ({"state_topic"}, {"device_class", "payload_on", "payload_off", "value_template"}),
    "switch": ({"command_topic"}, {"state_topic", "payload_on", "payload_off", "state_on", "state_off"}),
    "select": ({"command_topic", "options"}, {"state_topic", "value_template"}),
    "number": (
        {"command_topic"},
        {
            "state_topic",
            "min",
            "max",
            "step",
            "mode",
            "unit_of_measurement",
            "device_class",
            "value_template",
        },
    ),
}
SENSOR_UNITS: dict[str, set[str] | None] = {
    "power": {"W", "kW", "MW"},
    "energy": {"Wh", "kWh", "MWh"},
    "energy_storage": {"Wh", "kWh", "MWh"},
    "current": {"A", "mA"},
    "voltage": {"V", "mV", "kV"},
    "battery": {"%"},
    "duration": {"s", "min", "h", "d"},
    "distance": {"km", "m", "mi"},
    "monetary": None,  # an ISO 4217 currency
    "timestamp": set(),  # no unit
}
STATE_CLASSES: dict[str | None, set[str]] = {
    "power": {"measurement"},
    "energy": {"total", "total_increasing"},
    "energy_storage": {"measurement"},
    "current": {"measurement"},
    "voltage": {"measurement"},
    "battery": {"measurement"},
    "duration": {"measurement", "total", "total_increasing"},
    "distance": {"measurement", "total", "total_increasing"},
    "monetary": {"total"},
    "timestamp": set(),
    None: {"measurement", "total", "total_increasing"},
}
BINARY_SENSOR_CLASSES = {"battery_charging", "plug", "power", "problem", "running", "connectivity"}
NUMBER_CLASSES = {"power", "current", "energy", "duration", "battery", "voltage"}
TOPIC = re.compile(r"^[^#+\x00]+$")
OBJECT_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


def expand(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as HA reads it: abbreviations expanded, ``~`` substituted into ``*_topic`` values."""
    unknown = set(payload) - set(ABBREVIATIONS) - set(ABBREVIATIONS.values()) - {"~"}
    assert not unknown, f"keys HA does not know: {sorted(unknown)}"
    out = {ABBREVIATIONS.get(k, k): v for k, v in payload.items()}
    base = out.get("~")
    for key, value in list(out.items()):
        if key.endswith("_topic") and isinstance(value, str) and base is not None:
            out[key] = value.replace("~", base) if value.startswith("~") or value.endswith("~") else value
    device = out.get("device", {})
    bad = set(device) - set(DEVICE_ABBREVIATIONS)
    assert not bad, f"device keys HA does not know: {sorted(bad)}"
    out["device"] = {DEVICE_ABBREVIATIONS[k]: v for k, v in device.items()}
    origin = out.get("origin", {})
    assert set(origin) <= set(ORIGIN_ABBREVIATIONS), f"origin keys HA does not know: {sorted(origin)}"
    return out


def validate(topic: str, raw: str, prefix: str = "homeassistant") -> dict[str, Any]:
    """Check one retained discovery message against HA's rules; returns the expanded config."""
    assert topic.startswith(prefix + "/"), topic
    parts = topic[len(prefix) + 1 :].split("/")
    assert len(parts) == 3 and parts[2] == "config", topic
    component, object_id = parts[0], parts[1]
    assert component in PLATFORMS, f"{topic}: unsupported component"
    assert OBJECT_ID.match(object_id), f"{topic}: object id must be [a-zA-Z0-9_-]"
    config = expand(json.loads(raw))
    required, optional = PLATFORMS[component]
    missing = required - set(config)
    assert not missing, f"{topic}: missing {sorted(missing)}"
    extra = set(config) - required - optional - COMMON
    assert not extra, f"{topic}: {component} does not take {sorted(extra)}"
    assert config["unique_id"] == object_id, f"{topic}: the unique id names the topic"
    assert config["device"].get("identifiers"), f"{topic}: a device needs identifiers"
    assert config["device"].get("name"), f"{topic}: a device needs a name"
    for key in ("state_topic", "command_topic", "availability_topic"):
        if key in config:
            assert TOPIC.match(config[key]) and "~" not in config[key], f"{topic}: bad {key} {config[key]}"
    if component == "sensor":
        _sensor_rules(topic, config)
    if component == "binary_sensor" and "device_class" in config:
        assert config["device_class"] in BINARY_SENSOR_CLASSES, topic
    if component == "select":
        options = config["options"]
        assert isinstance(options, list) and options and len(set(options)) == len(options), topic
    if component == "number":
        assert config.get("min", 1) < config.get("max", 100) and config.get("step", 1) > 0, topic
        assert config.get("mode", "auto") in ("auto", "box", "slider"), topic
        if "device_class" in config:
            assert config["device_class"] in NUMBER_CLASSES, topic
    if "entity_category" in config:
        assert config["entity_category"] in ("config", "diagnostic"), topic
    return config


def _sensor_rules(topic: str, config: dict[str, Any]) -> None:
    device_class = config.get("device_class")
    unit = config.get("unit_of_measurement")
    state_class = config.get("state_class")
    if device_class is not None:
        assert device_class in SENSOR_UNITS, f"{topic}: unknown device class {device_class}"
        units = SENSOR_UNITS[device_class]
        if units is None:
            assert isinstance(unit, str) and re.fullmatch(r"[A-Z]{3}", unit), (
                f"{topic}: monetary needs a currency"
            )
        elif not units:
            assert unit is None, f"{topic}: {device_class} takes no unit"
        else:
            assert unit in units, f"{topic}: {unit} is no unit of {device_class}"
    if state_class is not None:
        assert state_class in STATE_CLASSES[device_class], f"{topic}: {state_class} with {device_class}"
