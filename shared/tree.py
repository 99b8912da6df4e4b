"""The evcc state tree in one place: every path below ``<root>``, the ``/set`` patterns, parsing a path back
into an address, and the single writer (owner) of every field of :mod:`shared.state` (DESIGN §1).

Layout (reference §1.2): site keys at ``<root>/site/<key>`` (circuits are the site map
``site/circuits/<name>/...``), loadpoints 1-based at ``<root>/loadpoints/<id>/<key>``, vehicles at
``<root>/vehicles/<name>/<key>``; the counts at ``<root>/loadpoints`` and ``<root>/vehicles``;
``<root>/status`` (online/offline) and ``<root>/updated`` (unix s); a writable key at ``<topic>/set``.

No service formats one of these paths itself; it asks a :class:`Tree` bound to its configured root.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo


class Service(StrEnum):
    """The services that write to the bus (their bus client names)."""

    METER_READER = "meter-reader"
    CHARGER_ACTUATOR = "charger-actuator"
    OPTIMIZER = "optimizer"
    TARIFF_FETCHER = "tariff-fetcher"
    GATEWAY = "gateway"


ScopeKind = Literal["site", "loadpoints", "vehicles"]
SITE: ScopeKind = "site"
LOADPOINTS: ScopeKind = "loadpoints"
VEHICLES: ScopeKind = "vehicles"
SET = "set"
"""The last segment of a writable topic."""


def loadpoint_scope(lp: int) -> str:
    """The scope (below the root) of loadpoint ``lp`` (1-based)."""
    return f"{LOADPOINTS}/{lp}"


def vehicle_scope(name: str) -> str:
    """The scope (below the root) of the vehicle with config name ``name``."""
    return f"{VEHICLES}/{name}"


class UnknownAddress(ValueError):
    """A path that is not a site, loadpoint or vehicle key."""


@dataclass(frozen=True)
class Address:
    """A key below the state root: ``site/<key>``, ``loadpoints/<id>/<key>``, ``vehicles/<name>/<key>``."""

    scope: ScopeKind
    target: int | str | None
    """Loadpoint id (1-based), vehicle name, or None for the site."""
    key: str
    """The key, possibly with sub-segments (``plan/energy``)."""

    @property
    def scope_path(self) -> str:
        if self.scope == LOADPOINTS:
            return loadpoint_scope(int(self.target or 0))
        if self.scope == VEHICLES:
            return vehicle_scope(str(self.target))
        return SITE

    @property
    def path(self) -> str:
        return f"{self.scope_path}/{self.key}"


def parse_address(path: str) -> Address:
    """``site/bufferSoc`` → Address("site", None, "bufferSoc"); raises :class:`UnknownAddress`."""
    parts = path.strip("/").split("/")
    if len(parts) >= 2 and parts[0] == SITE and all(parts[1:]):
        return Address(SITE, None, "/".join(parts[1:]))
    if len(parts) >= 3 and parts[0] == LOADPOINTS and all(parts[2:]):
        try:
            lp = int(parts[1])
        except ValueError:
            raise UnknownAddress(f"unknown loadpoint {parts[1]!r}") from None
        return Address(LOADPOINTS, lp, "/".join(parts[2:]))
    if len(parts) >= 3 and parts[0] == VEHICLES and parts[1] and all(parts[2:]):
        return Address(VEHICLES, parts[1], "/".join(parts[2:]))
    raise UnknownAddress(f"unknown key {path!r}")


@dataclass(frozen=True)
class Tree:
    """The evcc topic tree below one root (``evcc``; ``sites/<id>/evcc`` in a fleet)."""

    root: str = "evcc"

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", self.root.strip("/"))

    def topic(self, relative: str) -> str:
        """``<root>/<relative>``."""
        return f"{self.root}/{relative}"

    def scope(self, scope: str, key: str | None = None) -> str:
        """``<root>/<scope>`` or ``<root>/<scope>/<key>``."""
        return self.topic(scope if key is None else f"{scope}/{key}")

    def site(self, key: str | None = None) -> str:
        return self.scope(SITE, key)

    def loadpoint(self, lp: int, key: str | None = None) -> str:
        return self.scope(loadpoint_scope(lp), key)

    def vehicle(self, name: str, key: str | None = None) -> str:
        return self.scope(vehicle_scope(name), key)

    def set_topic(self, path: str) -> str:
        """The writable topic of a key path (``loadpoints/1/mode`` → ``<root>/loadpoints/1/mode/set``)."""
        return self.topic(f"{path}/{SET}")

    @property
    def status(self) -> str:
        """``online``/``offline`` (the optimizer's presence connection and its will)."""
        return self.topic("status")

    @property
    def updated(self) -> str:
        """Unix seconds of the last change (the control loop's heartbeat)."""
        return self.topic("updated")

    @property
    def loadpoint_count(self) -> str:
        return self.topic(LOADPOINTS)

    @property
    def vehicle_count(self) -> str:
        return self.topic(VEHICLES)

    @property
    def everything(self) -> str:
        """A filter for the whole tree."""
        return self.topic("#")

    def each_loadpoint(self, key: str) -> str:
        """A filter for ``key`` of every loadpoint."""
        return self.topic(f"{LOADPOINTS}/+/{key}")

    @property
    def set_patterns(self) -> tuple[str, ...]:
        """Filters for every writable topic (a key one segment below its scope, as evcc's setters)."""
        return (
            self.topic(f"{SITE}/+/{SET}"),
            self.topic(f"{LOADPOINTS}/+/+/{SET}"),
            self.topic(f"{VEHICLES}/+/+/{SET}"),
        )

    def relative(self, topic: str) -> str | None:
        """The part of ``topic`` below the root, or None for a topic outside the tree."""
        prefix = self.root + "/"
        return topic[len(prefix) :] if topic.startswith(prefix) else None

    def setter_path(self, topic: str) -> str | None:
        """The key path of a ``/set`` topic (``<root>/site/bufferSoc/set`` → ``site/bufferSoc``)."""
        relative = self.relative(topic)
        suffix = "/" + SET
        if relative is None or not relative.endswith(suffix):
            return None
        return relative[: -len(suffix)]

    def scope_of(self, topic: str) -> str | None:
        """The scope of a state topic: ``site``, ``loadpoints/<id>``, ``vehicles/<name>``; None otherwise
        (``status``, ``updated``, the counts)."""
        relative = self.relative(topic)
        if relative is None:
            return None
        parts = relative.split("/")
        if parts[0] == SITE and len(parts) > 1:
            return SITE
        if parts[0] in (LOADPOINTS, VEHICLES) and len(parts) > 2:
            return f"{parts[0]}/{parts[1]}"
        return None

    def children(self, topics: Iterable[str], kind: ScopeKind) -> list[str]:
        """Distinct loadpoint ids / vehicle names that have a key below them among ``topics``."""
        prefix = self.topic(kind) + "/"
        names: dict[str, None] = {}
        for topic in topics:
            if topic.startswith(prefix):
                rest = topic[len(prefix) :]
                if "/" in rest:
                    names.setdefault(rest.split("/", 1)[0], None)
        return list(names)


# --- owners -------------------------------------------------------------------------------------------

OWNER = "owner"
"""The key in a state field's ``json_schema_extra`` naming its single writer."""


class NotOwner(ValueError):
    """A service tried to publish a state field another service owns."""


def field_owner(info: FieldInfo) -> Service | None:
    """The owner recorded on a top-level state field, None if it has none."""
    extra = info.json_schema_extra
    if isinstance(extra, dict):
        owner = extra.get(OWNER)
        if isinstance(owner, str):
            return Service(owner)
    return None


def owners(model: type[BaseModel]) -> dict[str, Service | None]:
    """Field name → owner for a top-level state model."""
    return {name: field_owner(info) for name, info in model.model_fields.items()}


def owned_by(model: type[BaseModel], service: str) -> list[str]:
    """The fields of ``model`` that ``service`` writes."""
    return [name for name, owner in owners(model).items() if owner == service]


def check_owner(service: str, model: BaseModel) -> None:
    """Raise :class:`NotOwner` unless ``service`` owns every field set on ``model``."""
    fields = type(model).model_fields
    foreign = sorted(name for name in model.model_fields_set if field_owner(fields[name]) != service)
    if foreign:
        shown = ", ".join(f"{name} ({field_owner(fields[name]) or 'no owner'})" for name in foreign)
        raise NotOwner(f"{service} may not publish {type(model).__name__} fields it does not own: {shown}")
