"""docs/setters.md, generated from the table of writable keys: ``python -m shared.setters.docs``."""

from __future__ import annotations

from typing import Any

from shared.setters.table import WRITABLE, Writable
from shared.setters.values import MAX_PAYLOAD_BYTES

SCOPES = {
    "site": ("Site", "site/<key>"),
    "loadpoints": ("Loadpoints", "loadpoints/<id>/<key>"),
    "vehicles": ("Vehicles", "vehicles/<name>/<key>"),
}


INTRO = """
Every key is written the same three ways, with the same value type, ranges and messages: MQTT
`<root>/<path>/set` (payload text; an empty payload is ignored, the handled `/set` is cleared, a refused
value is logged with its reason and changes nothing), request/reply to the owner
(`chargebus/requests/<owner>`, `key` = the path, `value` = MQTT text or JSON; the reply confirms the value
read back or gives the reason with 400/404/409) and the REST routes of the gateway (400 before anything is
sent). Text follows evcc's parsers: numbers finite, integers whole (`3.0` is 3, `3.5` fails), booleans
`1/0/t/f/true/false`, durations whole seconds, modes in any case, `-`/`nil`/`null`/`none` reset optional
values. Payloads above {kib} KiB and invalid UTF-8 are refused. Older evcc names (aliases) are accepted on
MQTT and request/reply.

The owner adds the checks that need its state: currents within the charger's range (its reported minimum,
else 6 A; at most 80 A) and min ≤ max, `phasesConfigured` 0 only on a charger that reports phase switching
and otherwise only its own phases, battery keys only with a home battery, the SoC order prioritySoc ≤
bufferSoc ≤ bufferStartSoc, plan times in the future, known vehicles.
"""


def _number(schema: dict[str, Any]) -> str:
    kind = "integer" if schema.get("type") == "integer" else "number"
    low = (
        f"{schema['minimum']:g} ≤ "
        if "minimum" in schema
        else f"{schema['exclusiveMinimum']:g} < "
        if "exclusiveMinimum" in schema
        else ""
    )
    high = f" ≤ {schema['maximum']:g}" if "maximum" in schema else ""
    unit = f" {schema['description']}" if schema.get("description") else ""
    return f"{low}{kind}{high}{unit}"


def describe(schema: dict[str, Any]) -> str:
    """A short reading of a value type's JSON schema (scalars; structured values say "JSON")."""
    options = schema.get("anyOf")
    if options:
        parts = [describe(o) for o in options if o.get("type") != "null"]
        nullable = any(o.get("type") == "null" for o in options)
        return " or ".join(parts) + (" or null (reset)" if nullable else "")
    if "enum" in schema:
        return " / ".join(f"`{value}`" for value in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    kind = schema.get("type")
    if kind in ("number", "integer"):
        return _number(schema)
    if kind == "boolean":
        return "bool"
    if kind == "string":
        limits = [f"≤ {schema['maxLength']} chars"] if "maxLength" in schema else []
        if "pattern" in schema:
            limits.append(f"`{schema['pattern']}`")
        return "text" + (f" ({', '.join(limits)})" if limits else "")
    if kind == "null":
        return "ignored"
    return "JSON"


def _rest(entry: Writable) -> str:
    return "<br>".join(f"{r.method} `{r.path}`" for r in entry.rest) or "—"


def _mqtt(entry: Writable) -> str:
    if not entry.mqtt:
        return "request only"
    return " ".join(f"`{name}/set`" for name in entry.names())


def setters_reference() -> str:
    lines = [
        "# Writable keys",
        "",
        "Generated from `shared/setters/table.py` (`python -m shared.setters.docs > docs/setters.md`).",
        "",
        INTRO.format(kib=MAX_PAYLOAD_BYTES // 1024).strip(),
        "",
    ]
    for scope, (title, path) in SCOPES.items():
        lines += [
            f"## {title} — `{path}`",
            "",
            "| key | MQTT | REST (below `/api`) | value | meaning | owner |",
            "|---|---|---|---|---|---|",
        ]
        for entry in WRITABLE:
            if entry.scope != scope:
                continue
            lines.append(
                f"| `{entry.key}` | {_mqtt(entry)} | {_rest(entry)} | {describe(entry.json_schema())} | "
                f"{entry.doc} | {entry.owner} |"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(setters_reference(), end="")
