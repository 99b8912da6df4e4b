"""Device templates: small data files (``templates/<name>.yaml``) that expand into a ``type: custom`` device.

A template names its kind (meter or charger), its parameters and the configuration they fill in::

    kind: meter
    params:
      host: {kind: host}
      id: {kind: number, default: 0}
    config:
      convention: consumer
      sources:
        power: {source: http, uri: "http://${host}/rpc/EM.GetStatus?id=${id}", jq: .total_act_power}

``${name}`` is replaced by the parameter's value (``${value}`` stays for the setters). Parameter values are
checked by kind before they go anywhere — a host is a host name or address, a topic has no wildcards — so a
template cannot be bent into another URL or topic. The expansion is then validated like any hand-written
device, so a mistake in either names its key.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

import yaml

_PARAM = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_KINDS: dict[str, re.Pattern[str]] = {
    "host": re.compile(
        r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(:[0-9]{1,5})?$|^\[[0-9a-fA-F:]+\](:[0-9]{1,5})?$"
    ),
    "topic": re.compile(r"^[^+#\x00\s${}]{1,200}$"),
    "text": re.compile(r"^[A-Za-z0-9_.:-]{1,64}$"),
    "number": re.compile(r"^-?[0-9]{1,9}(\.[0-9]{1,6})?$"),
}


@cache
def load(name: str) -> dict[str, Any]:
    """The template ``name`` as data (``ValueError`` when there is none)."""
    if not re.fullmatch(r"[a-z0-9-]{1,40}", name):
        raise ValueError(f"unknown template {name!r}")
    try:
        text = resources.files("shared.devices").joinpath("templates", f"{name}.yaml").read_text("utf-8")
    except FileNotFoundError:
        raise ValueError(f"unknown template {name!r} (see docs/devices-*.md)") from None
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or data.get("kind") not in ("meter", "charger"):
        raise ValueError(f"template {name!r} is broken")
    return data


def names(kind: str) -> list[str]:
    """Every template of ``kind`` (for the docs and error messages)."""
    folder = resources.files("shared.devices").joinpath("templates")
    found = [p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")]
    return sorted(n for n in found if load(n)["kind"] == kind)


def _values(name: str, declared: dict[str, Any], given: Any) -> dict[str, str]:
    if not isinstance(given, dict):
        raise ValueError("params must be a mapping")
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ValueError(f"template {name}: unknown parameter {unknown[0]!r} (takes {', '.join(declared)})")
    values: dict[str, str] = {}
    for param, spec in declared.items():
        raw = given.get(param, spec.get("default"))
        if raw is None:
            raise ValueError(f"template {name}: parameter {param!r} is required")
        text = str(raw).lower() if isinstance(raw, bool) else str(raw)
        if not _KINDS[spec.get("kind", "text")].match(text):
            raise ValueError(
                f"template {name}: parameter {param!r} is not a valid {spec.get('kind', 'text')}"
            )
        values[param] = text
    return values


def _fill(node: Any, values: dict[str, str]) -> Any:
    if isinstance(node, str):
        return _PARAM.sub(lambda m: values.get(m.group(1), m.group(0)), node)
    if isinstance(node, list):
        return [_fill(item, values) for item in node]
    if isinstance(node, dict):
        return {key: _fill(item, values) for key, item in node.items()}
    return node


def _expand(data: Any, kind: str) -> Any:
    if not isinstance(data, dict) or not data.get("template"):
        return data
    name = str(data["template"])
    template = load(name)
    if template["kind"] != kind:
        raise ValueError(f"template {name!r} is a {template['kind']}, not a {kind}")
    if data.get("type", "custom") != "custom":
        raise ValueError(f"a template is type custom, not {data['type']}")
    values = _values(name, template.get("params") or {}, data.get("params") or {})
    expanded = _fill(template.get("config") or {}, values)
    return {**expanded, **data, "type": "custom"}


def expand_meter(data: Any) -> Any:
    return _expand(data, "meter")


def expand_charger(data: Any) -> Any:
    return _expand(data, "charger")
