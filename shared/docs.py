"""Generate the MQTT topic reference (``docs/mqtt.md``) from the state schema and message models.

Run ``python -m shared.docs > docs/mqtt.md`` (or ``make docs``); a test keeps the file in sync.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from shared import messages
from shared.encoding import _has_marker, _strip_optional, mqtt_segment
from shared.state import JsonString, LoadpointState, Phases, SiteState, VehicleState
from shared.tree import field_owner

_CONFIG_STATUS = (
    "configuration/status of an evcc integration chargebus configures in its YAML and does not have"
)
_EVOPT = "evcc's experimental external optimizer (evopt); chargebus plans in its own optimizer"

NOT_PUBLISHED: dict[str, dict[str, str]] = {
    "site": {
        "apiReady": "the gateway's readiness is `GET /api/health`",
        "authDisabled": "chargebus has no way to switch authentication off",
        "authProviders": "no vehicle cloud accounts (OAuth providers) in chargebus",
        "availableVersion": "chargebus does not phone home for updates",
        "config": "the config file path is not exposed",
        "consumers": "no consumer meters: chargebus knows grid, PV, battery and aux meters",
        "database": "the database URL is not exposed (it may carry credentials)",
        "deviceColors": "a UI setting of evcc's web app",
        "demoMode": "chargebus's demo is a normal configuration, not a locked mode",
        "eebus": _CONFIG_STATUS,
        "ext": "no ext meters: chargebus knows grid, PV, battery and aux meters",
        "hems": _CONFIG_STATUS,
        "historyUpdated": "no energy history database (sessions are kept, per-meter history is not)",
        "influx": _CONFIG_STATUS,
        "mcp": "no MCP server",
        "messaging": "notifications are configured in YAML (`notify:`) and not mirrored into the state",
        "messagingEvents": "see messaging",
        "modbusproxy": _CONFIG_STATUS,
        "mqtt": "broker settings are not mirrored into the state (they hold credentials)",
        "network": "the gateway's listen address is configuration, not state",
        "ocpp": "the OCPP central system's station list is on `/v2` and the charger status, not here",
        "ocppforwarder": _CONFIG_STATUS,
        "optimizer": _EVOPT,
        "optimizerChargingStrategies": _EVOPT,
        "optimizerChargingStrategy": _EVOPT,
        "remote": _CONFIG_STATUS,
        "shm": _CONFIG_STATUS,
        "sponsor": "chargebus needs no sponsor token",
        "tariffTemperature": "no temperature tariff (heating devices are not supported)",
        "tariffs": _CONFIG_STATUS,
    },
    "loadpoint": {
        "last24hEnergy": "no per-loadpoint energy history (sessions are on `/api/sessions`)",
        "last7dEnergy": "no per-loadpoint energy history (sessions are on `/api/sessions`)",
        "suggestion": _EVOPT,
        "todayEnergy": "no per-loadpoint energy history (sessions are on `/api/sessions`)",
        "ui": "temperature scale of heating devices, which chargebus does not drive",
    },
    "vehicle": {
        "name": "the vehicle's name is its key in `vehicles` / its topic segment",
    },
}
"""Keys current evcc publishes that chargebus does not (key → why); a test keeps this list complete."""


def _type_name(annotation: Any) -> str:
    kind = _strip_optional(annotation)
    origin = get_origin(kind)
    if origin in (list, tuple):
        return f"list[{_type_name(get_args(kind)[0])}]"
    return getattr(kind, "__name__", str(kind))


def _rows(prefix: str, model: type[BaseModel], top_level: bool) -> Iterator[tuple[str, str, str]]:
    for name, info in model.model_fields.items():
        topic = f"{prefix}/{mqtt_segment(name, info)}"
        yield from _field_rows(topic, info.annotation, info, top_level)


def _owned_rows(prefix: str, model: type[BaseModel]) -> Iterator[tuple[str, str, str, str]]:
    """Rows of a top-level model with the owner of each field (every row of a nested field has its
    top-level field's owner)."""
    for name, info in model.model_fields.items():
        owner = field_owner(info)
        for row in _field_rows(f"{prefix}/{mqtt_segment(name, info)}", info.annotation, info, True):
            yield row[0], row[1], owner.value if owner else "", row[2]


def _field_rows(
    topic: str, annotation: Any, info: FieldInfo | None, top_level: bool
) -> Iterator[tuple[str, str, str]]:
    kind = _strip_optional(annotation)
    description = (info.description if info else None) or ""
    if top_level and _has_marker(info, Phases):
        yield topic, "number", f"{description}; sum of the phases"
        yield f"{topic}/l1…l3", "number", "per phase"
    elif _has_marker(info, JsonString):
        yield topic, "JSON string", description
    elif isinstance(kind, type) and issubclass(kind, BaseModel):
        yield from _rows(topic, kind, False)
    elif get_origin(kind) in (list, tuple):
        item = get_args(kind)[0]
        yield topic, "integer", f"{description}; count of entries"
        yield from _field_rows(f"{topic}/<n>", item, None, False)
    else:
        names = {
            "float": "number",
            "int": "integer",
            "bool": "true/false",
            "str": "text",
            "datetime": "unix seconds",
        }
        type_name = _type_name(kind)
        if isinstance(kind, type) and hasattr(kind, "__members__"):
            type_name = " / ".join(m.value for m in kind.__members__.values())
        yield topic, names.get(type_name, type_name), description


def _table(rows: Iterator[tuple[str, str, str, str]]) -> str:
    lines = ["| topic | payload | owner | meaning / unit |", "|---|---|---|---|"]
    lines += [f"| `{t}` | {p} | {o} | {d} |" for t, p, o, d in rows]
    return "\n".join(lines) + "\n"


def _message_table() -> str:
    entries: list[tuple[str, type[BaseModel], str]] = [
        (
            "chargebus/services/<service>/status",
            messages.ServiceStatus,
            "retained; the offline form is the will",
        ),
        ("chargebus/meters/<meter>", messages.MeterReading, "retained, every poll"),
        (
            "chargebus/vehicles/<vehicle>",
            messages.VehicleReading,
            "retained; from vehicle sources and pushes",
        ),
        ("chargebus/chargers/<loadpoint>/status", messages.ChargerStatus, "retained, every poll"),
        (
            "chargebus/chargers/<loadpoint>/command",
            messages.ChargerCommand,
            "from the optimizer, re-sent every tick",
        ),
        (
            "chargebus/ocpp/stations",
            messages.OcppStations,
            "retained; from the charger-actuator's OCPP central system",
        ),
        ("chargebus/tariffs/<usage>", messages.RateSeries, "retained"),
        ("chargebus/events/command", messages.CommandApplied, "QoS 1 event"),
        ("chargebus/events/session", messages.SessionEvent, "QoS 1 event"),
        ("chargebus/events/charger-status", messages.ChargerStatusChanged, "QoS 1 event"),
        ("chargebus/requests/<service>", messages.Request, "request to the owner of a key"),
        ("<reply_to>", messages.Reply, "the owner's answer"),
    ]
    lines = ["| topic | model | fields | notes |", "|---|---|---|---|"]
    for topic, model, note in entries:
        fields = ", ".join(f"`{n}`" for n in model.model_fields)
        lines.append(f"| `{topic}` | `{model.__name__}` | {fields} | {note} |")
    return "\n".join(lines) + "\n"


def _missing_table() -> str:
    lines = ["| scope | key | why not |", "|---|---|---|"]
    for scope, keys in NOT_PUBLISHED.items():
        lines += [f"| {scope} | `{key}` | {why} |" for key, why in sorted(keys.items())]
    return "\n".join(lines) + "\n"


def mqtt_reference() -> str:
    parts = [
        "# MQTT topic reference\n",
        "Generated from `shared/state.py` and `shared/messages.py` by `python -m shared.docs`; "
        "do not edit.\n",
        "`<root>` is `mqtt.topic` (default `evcc`). Every state topic is retained, QoS 1. "
        "Numbers are plain text (`%.3f` with trailing zeros trimmed), booleans `true`/`false`, "
        "times unix seconds, an empty payload means *no value*. Lists publish their count at the bare "
        "topic and entries at `/1…/n`. Write a setting by publishing to `<topic>/set` "
        "(see docs/optimizer.md for the writable keys).\n",
        "`/api/state` and `/ws` carry the same keys as JSON, written as evcc (Go) writes them: whole "
        "numbers without a decimal point (`16`), top-level numbers rounded to three decimals, no float "
        "noise anywhere, times RFC 3339 in UTC (`2026-03-29T01:00:00Z`), no value as `null` — keys evcc "
        "always carries are `null` rather than missing. MQTT values that are JSON strings (`plan`, the "
        "solar `timeseries`) use the same writer.\n",
        "`<root>/status` is `online` while the optimizer (the owner of the `/set` topics) is connected with "
        "every subscription acknowledged — a `/set` sent once it reads `online` is heard — and `offline` "
        "otherwise (also its last will); `<root>/updated` the unix time of the last "
        "change, `<root>/loadpoints` and `<root>/vehicles` the counts.\n",
        "Every key has exactly one writer, its *owner* (recorded in `shared/state.py`; the bus refuses "
        "anyone else, the broker ACL in `mosquitto/acl` too). The gateway owns `site/statistics`: it "
        "owns the sessions they are computed from.\n",
        "## Site — `<root>/site/<key>`\n",
        _table(_owned_rows("<root>/site", SiteState)),
        "## Loadpoints — `<root>/loadpoints/<id>/<key>` (id 1-based)\n",
        _table(_owned_rows("<root>/loadpoints/<id>", LoadpointState)),
        "## Vehicles — `<root>/vehicles/<name>/<key>`\n",
        _table(_owned_rows("<root>/vehicles/<name>", VehicleState)),
        "## evcc keys chargebus does not publish\n",
        "Every other key current evcc publishes (site, loadpoint, vehicle) is in the tables above. "
        "Keys evcc dropped but integrations still read are kept: `pvConfigured`, `batteryConfigured`, "
        "`phasesEnabled`, `vehiclePresent`.\n",
        _missing_table(),
        "## Internal tree — `chargebus/...` (JSON payloads)\n",
        _message_table(),
    ]
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(mqtt_reference())
