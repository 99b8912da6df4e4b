"""The gateway's picture of the evcc state tree, decoded into the typed schema, served as immutable snapshots.

Every retained ``<root>/...`` topic is kept as raw text, indexed by scope (``site``, ``loadpoints/<id>``,
``vehicles/<name>``) and field (the first segment below the scope); it is only ever touched on the event
loop that feeds the store. What is derived from a field — its typed value, its ``/api/state`` value and its
JSON — is computed once and kept until a topic of that field changes, so a new ``pvPower`` costs one field,
not the whole tree (the tariff forecasts alone are thousands of topics).

After changes the store builds a new :class:`StateSnapshot` — the typed views (``SiteState``, one
``LoadpointState`` per 1-based id, one ``VehicleState`` per name), the ``/api/state`` document and its JSON
bytes — and swaps it in with one assignment. Readers, on whatever thread, only ever see a whole snapshot:
never a half-applied change, never a dict that changes under them. Builds are coalesced: the first change
after a quiet spell is built on the next turn of the event loop, a burst at most every
:data:`BUILD_INTERVAL_S`. Listeners (websocket clients) receive flattened ``{key: value}`` changes in evcc's
websocket key scheme.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Annotated, Any, Generic, TypeVar, cast

from pydantic import BaseModel, TypeAdapter, ValidationError

from shared.encoding import (
    MISSING,
    always_present,
    api_value,
    decode_value,
    go_json,
    json_key,
    mqtt_segment,
    ws_value,
)
from shared.logging import get_logger
from shared.messages import RateSeries, ServiceStatus
from shared.state import LoadpointState, SiteState, VehicleState
from shared.tree import LOADPOINTS, SITE, VEHICLES, Tree

WS_BATCH_S = 0.1
"""Websocket updates are batched over this many seconds (a dashboard does not need more)."""
BUILD_INTERVAL_S = 0.05
"""Snapshots of a burst of changes are built at most this often."""

M = TypeVar("M", bound=BaseModel)
Listener = Callable[[dict[str, Any]], None]


@functools.cache
def _adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    """Validates one field of ``model`` on its own (its type and constraints)."""
    info = model.model_fields[name]
    return TypeAdapter(cast(Any, Annotated[info.annotation, info]))


@functools.cache
def _segments(model: type[BaseModel]) -> dict[str, str]:
    """Topic segment → field name."""
    return {mqtt_segment(name, info): name for name, info in model.model_fields.items()}


@dataclass(frozen=True)
class _Field:
    """What one field's topics decode to: the typed value (or MISSING) and its JSON member."""

    value: Any
    member: str | None
    """``"key":value`` in the scope's JSON object; None when the field is left out."""
    api: Any


class _Scope(Generic[M]):
    """The topics of one scope, by field, and what is derived from them (cached until a field changes)."""

    def __init__(self, model: type[M], prefix: str) -> None:
        self.model = model
        self.prefix = prefix
        self.topics: dict[str, dict[str, str]] = {}
        self._fields: dict[str, _Field] = {}
        self._view: M | None = None
        self._document: dict[str, Any] | None = None
        self._json: str | None = None

    def change(self, segment: str, topic: str, payload: str | None) -> None:
        """Set (or with None erase) one topic of field ``segment``."""
        field_topics = self.topics.setdefault(segment, {})
        if payload is None:
            field_topics.pop(topic, None)
            if not field_topics:
                del self.topics[segment]
        else:
            field_topics[topic] = payload
        self._fields.pop(segment, None)
        self._view = self._document = self._json = None

    def _field(self, name: str) -> _Field:
        info = self.model.model_fields[name]
        segment = mqtt_segment(name, info)
        cached = self._fields.get(segment)
        if cached is not None:
            return cached
        value: Any = MISSING
        topics = self.topics.get(segment)
        if topics:
            try:
                value = decode_value(info.annotation, info, topics, f"{self.prefix}/{segment}")
                if value is not MISSING:
                    value = _adapter(self.model, name).validate_python(value)
            except (ValueError, TypeError, KeyError):  # a bad payload leaves the field out, not the scope
                value = MISSING
        key = json_key(name, info)
        if value is not MISSING:
            api = api_value(value)
        elif always_present(info):
            api = None
        else:
            cached = self._fields[segment] = _Field(MISSING, None, None)
            return cached
        cached = self._fields[segment] = _Field(value, f"{go_json(key)}:{go_json(api)}", api)
        return cached

    def view(self) -> M:
        if self._view is None:
            values = {
                name: field.value
                for name in self.model.model_fields
                if (field := self._field(name)).value is not MISSING
            }
            self._view = self.model.model_construct(_fields_set=set(values), **values)
        return self._view

    def document(self) -> dict[str, Any]:
        """The scope's ``/api/state`` object (shared by every snapshot until it changes: read-only)."""
        if self._document is None:
            self._document = {
                json_key(name, self.model.model_fields[name]): field.api
                for name in self.model.model_fields
                if (field := self._field(name)).member is not None
            }
        return self._document

    def json(self) -> str:
        """:meth:`document` as the API writes it (``go_json``), assembled from the fields' JSON."""
        if self._json is None:
            members = [f.member for name in self.model.model_fields if (f := self._field(name)).member]
            self._json = "{" + ",".join(members) + "}"
        return self._json


def flatten_ws(state: Mapping[str, Any]) -> dict[str, Any]:
    """evcc's websocket key scheme: site keys as-is, loadpoint keys ``loadpoints.<0-based>.<key>``."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        if key == "loadpoints":
            for index, loadpoint in enumerate(value):
                for lp_key, lp_value in loadpoint.items():
                    out[f"loadpoints.{index}.{lp_key}"] = ws_value(lp_value)
        else:
            out[key] = ws_value(value)
    return out


@dataclass(frozen=True)
class Expected:
    """What the configuration says the tree must hold before the gateway is ready."""

    loadpoints: int = 0
    vehicles: Sequence[str] = ()


def _count(raw: str | None) -> int | None:
    """A count topic's value (``<root>/loadpoints``), None when absent or not a small whole number."""
    if raw is None or not raw.isdigit() or len(raw) > 4:
        return None
    return int(raw)


def _loadpoint_id(segment: str) -> int | None:
    """A loadpoint id segment: ``1`` … ``9999``, written plainly (no sign, no leading zero, ASCII only)."""
    if not (segment.isascii() and segment.isdigit()) or segment.startswith("0") or len(segment) > 4:
        return None
    return int(segment)


def _unix_time(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.fromtimestamp(float(raw), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _first_error(error: ValidationError) -> str:
    """The first problem of a validation error, short (``state: Input should be 'online' or 'offline'``)."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "payload"
    return f"{where}: {first.get('msg', 'invalid')}"[:200]


@dataclass(frozen=True)
class StateSnapshot:
    """One consistent picture of the tree, built once and never changed afterwards."""

    version: int
    site: SiteState
    loadpoints: Mapping[int, LoadpointState]
    vehicles: Mapping[str, VehicleState]
    updated: datetime | None
    document: Mapping[str, Any]
    """The ``/api/state`` value: site keys flat, ``loadpoints`` as a 0-based array, ``vehicles`` by name.
    Shared by every reader: treat it as read-only."""
    body: bytes
    """``document`` as JSON."""
    wrapped: bytes
    """``{"result": document}`` as JSON."""
    missing: tuple[str, ...]
    """What the tree still lacks of the configured site, loadpoints and vehicles (empty: complete)."""
    ready: bool
    """The tree was complete in this or an earlier snapshot (readiness does not flap afterwards)."""

    def response_body(self, wrap: bool) -> bytes:
        return self.wrapped if wrap else self.body


def missing_parts(
    site: SiteState,
    loadpoints: Mapping[int, LoadpointState],
    vehicles: Mapping[str, VehicleState],
    counts: tuple[int | None, int | None],
    expected: Expected,
) -> tuple[str, ...]:
    """What keeps the tree from being complete: the optimizer's first full publish (``startupCompleted``),
    every configured (and every counted) loadpoint with its mode, every vehicle it counts (the configured
    ones while it has not said how many)."""
    missing: list[str] = []
    if site.startupCompleted is not True:
        missing.append("the site")
    loadpoint_count, vehicle_count = counts
    wanted_loadpoints = max(expected.loadpoints, loadpoint_count or 0)
    absent = [n for n in range(1, wanted_loadpoints + 1) if n not in loadpoints or loadpoints[n].mode is None]
    if absent:
        missing.append("loadpoint " + ", ".join(str(n) for n in absent))
    if vehicle_count is None:
        names = [name for name in expected.vehicles if name not in vehicles]
        if names:
            missing.append("vehicle " + ", ".join(names))
    elif len(vehicles) < vehicle_count:
        missing.append(f"{vehicle_count - len(vehicles)} of {vehicle_count} vehicles")
    return tuple(missing)


class StateStore:
    """Raw topics in, immutable snapshots out; feed it with the ``on_*`` methods from one event loop."""

    def __init__(self, root: str, expected: Expected | None = None) -> None:
        self.tree = Tree(root)
        self.root = self.tree.root
        self.expected = expected or Expected()
        self.topics: dict[str, str] = {}
        """Every retained topic of the tree (raw payloads)."""
        self.services: Mapping[str, ServiceStatus] = MappingProxyType({})
        self.tariffs: Mapping[str, RateSeries] = MappingProxyType({})
        self._site = _Scope(SiteState, self.tree.site())
        self._loadpoints: dict[int, _Scope[LoadpointState]] = {}
        self._vehicles: dict[str, _Scope[VehicleState]] = {}
        self._dirty = False
        self._build_scheduled = False
        self._last_build = 0.0
        self._ever_ready = False
        self.log = get_logger("gateway", component="state")
        self._snapshot = self._build(0)
        self._listeners: list[Listener] = []
        self._last_flat: dict[str, Any] = {}
        self._flush_scheduled = False
        self._changed = asyncio.Event()

    # --- input ----------------------------------------------------------------------------------------

    def on_state_topic(self, topic: str, payload: str) -> None:
        """A message below ``<root>/``; ``/set`` topics are requests to other services, not state."""
        relative = self.tree.relative(topic)
        if relative is None or self.tree.setter_path(topic) is not None:
            return
        if payload == "":
            if self.topics.pop(topic, None) is None:
                return
        elif self.topics.get(topic) == payload:
            return
        else:
            self.topics[topic] = payload
        self._index(relative, topic, payload or None)
        self._dirty = True
        self._schedule_build()

    def _index(self, relative: str, topic: str, payload: str | None) -> None:
        parts = relative.split("/", 3)
        scope: _Scope[Any] | None = None
        if parts[0] == SITE and len(parts) > 1:
            scope, segment = self._site, parts[1]
        elif parts[0] == LOADPOINTS and len(parts) > 2 and _loadpoint_id(parts[1]) is not None:
            lp = int(parts[1])
            scope, segment = self._loadpoints.get(lp), parts[2]
            if scope is None and payload is not None:
                scope = self._loadpoints[lp] = _Scope(LoadpointState, self.tree.loadpoint(lp))
        elif parts[0] == VEHICLES and len(parts) > 2 and parts[1]:
            name = parts[1]
            scope, segment = self._vehicles.get(name), parts[2]
            if scope is None and payload is not None:
                scope = self._vehicles[name] = _Scope(VehicleState, self.tree.vehicle(name))
        if scope is None:
            return
        scope.change(segment, topic, payload)
        if not scope.topics:  # the last topic of a loadpoint or vehicle is gone: so is it
            if parts[0] == LOADPOINTS:
                del self._loadpoints[int(parts[1])]
            elif parts[0] == VEHICLES:
                del self._vehicles[parts[1]]

    def on_service_status(self, service: str, payload: bytes) -> None:
        """A service's retained status. An invalid payload is logged and ignored: the last valid status
        stays. An empty one deletes the retained status: a service last seen offline is forgotten (it was
        removed), one last seen online is kept — anyone may clear a retained topic, and a live service still
        says when it goes (its last will)."""
        if not payload:
            last = self.services.get(service)
            if last is None:
                return
            if last.state == "online":
                self.log.warning("retained status of an online service deleted; keeping it", service=service)
                return
            self.services = MappingProxyType({k: v for k, v in self.services.items() if k != service})
            self._wake()
            return
        try:
            status = ServiceStatus.model_validate_json(payload)
        except ValidationError as error:
            self.log.warning(
                "invalid service status ignored; keeping the last valid one",
                service=service,
                error=_first_error(error),
                bytes=len(payload),
            )
            return
        self.services = MappingProxyType({**self.services, service: status})
        self._wake()

    def on_tariff(self, usage: str, payload: bytes) -> None:
        if not payload:
            if usage in self.tariffs:
                self.tariffs = MappingProxyType({k: v for k, v in self.tariffs.items() if k != usage})
                self._wake()
            return
        try:
            series = RateSeries.model_validate_json(payload)
        except ValidationError as error:
            self.log.warning("bad rate series ignored", usage=usage, error=_first_error(error))
            return
        self.tariffs = MappingProxyType({**self.tariffs, usage: series})
        self._wake()

    # --- snapshots ------------------------------------------------------------------------------------

    def snapshot(self) -> StateSnapshot:
        """The current snapshot (a plain attribute read: safe from any thread)."""
        return self._snapshot

    def _schedule_build(self) -> None:
        if self._build_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # fed without a loop (tools, tests): build at once
            self._publish()
            return
        self._build_scheduled = True
        wait = self._last_build + BUILD_INTERVAL_S - time.monotonic()
        if wait > 0:
            loop.call_later(wait, self._publish)
        else:
            loop.call_soon(self._publish)

    def _publish(self) -> None:
        self._build_scheduled = False
        if not self._dirty:
            return
        self._dirty = False
        self._last_build = time.monotonic()
        self._snapshot = self._build(self._snapshot.version + 1)
        self._schedule_flush()
        self._wake()

    def _build(self, version: int) -> StateSnapshot:
        site = self._site.view()
        ids = sorted(self._loadpoints)
        names = sorted(self._vehicles)
        loadpoints = {n: self._loadpoints[n].view() for n in ids}
        vehicles = {name: self._vehicles[name].view() for name in names}
        document: dict[str, Any] = dict(self._site.document())
        document["loadpoints"] = [self._loadpoints[n].document() for n in ids]
        document["vehicles"] = {name: self._vehicles[name].document() for name in names}
        members = self._site.json()[1:-1]
        parts = [members] if members else []
        parts.append('"loadpoints":[' + ",".join(self._loadpoints[n].json() for n in ids) + "]")
        vehicle_members = (f"{go_json(name)}:{self._vehicles[name].json()}" for name in names)
        parts.append('"vehicles":{' + ",".join(vehicle_members) + "}")
        body = ("{" + ",".join(parts) + "}").encode()
        counts = (
            _count(self.topics.get(self.tree.loadpoint_count)),
            _count(self.topics.get(self.tree.vehicle_count)),
        )
        missing = missing_parts(site, loadpoints, vehicles, counts, self.expected)
        if not missing and not self._ever_ready:
            self._ever_ready = True
            self.log.info("state complete", loadpoints=len(loadpoints), vehicles=len(vehicles))
        return StateSnapshot(
            version=version,
            site=site,
            loadpoints=MappingProxyType(loadpoints),
            vehicles=MappingProxyType(vehicles),
            updated=_unix_time(self.topics.get(self.tree.updated)),
            document=document,
            body=body,
            wrapped=b'{"result":' + body + b"}",
            missing=missing,
            ready=self._ever_ready,
        )

    # --- waiting (tests, startup) -----------------------------------------------------------------------

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[StateStore], bool], timeout: float = 10.0) -> None:
        """Return once ``predicate(self)`` holds, re-checked after every new snapshot or status."""

        async def loop() -> None:
            while not predicate(self):
                await self._changed.wait()

        await asyncio.wait_for(loop(), timeout)

    # --- typed views of the current snapshot ------------------------------------------------------------

    def site(self) -> SiteState:
        return self._snapshot.site

    def loadpoint_ids(self) -> list[int]:
        return list(self._snapshot.loadpoints)

    def loadpoint(self, lp_id: int) -> LoadpointState | None:
        return self._snapshot.loadpoints.get(lp_id)

    def vehicle_names(self) -> list[str]:
        return list(self._snapshot.vehicles)

    def vehicle(self, name: str) -> VehicleState | None:
        return self._snapshot.vehicles.get(name)

    def updated(self) -> datetime | None:
        """``<root>/updated``: when the owner last changed the tree."""
        return self._snapshot.updated

    def service_online(self, service: str) -> bool | None:
        """True/False from the service's status topic, None when it never said anything."""
        status = self.services.get(service)
        return None if status is None else status.state == "online"

    def api_state(self) -> Mapping[str, Any]:
        """``/api/state`` of the current snapshot."""
        return self._snapshot.document

    # --- change notification ---------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        if not self._listeners:
            # Nothing was diffed while nobody listened: diff from the state the new client's welcome shows.
            self._last_flat = self.welcome()
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def welcome(self) -> dict[str, Any]:
        """The full flattened state (the websocket welcome message)."""
        return flatten_ws(self._snapshot.document)

    def _schedule_flush(self) -> None:
        # Coalesce the snapshots of WS_BATCH_S (a retained tree is hundreds of messages, and the services
        # publish every second) into one diff: each diff compares the whole flattened state. Without a
        # listener there is nobody to tell.
        if self._flush_scheduled or not self._listeners:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._flush_scheduled = True
        loop.call_later(WS_BATCH_S, self.flush)

    def flush(self) -> None:
        """Diff the flattened state against the last one and tell every listener what changed."""
        self._flush_scheduled = False
        flat = self.welcome()
        changes: dict[str, Any] = {}
        for key, value in flat.items():
            if key not in self._last_flat or _differs(self._last_flat[key], value):
                changes[key] = value
        for key in self._last_flat:
            if key not in flat:
                changes[key] = None
        self._last_flat = flat
        if not changes:
            return
        for listener in list(self._listeners):
            listener(changes)


def _differs(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return True
    if isinstance(a, (dict, list)):
        return json.dumps(a, sort_keys=True, default=str) != json.dumps(b, sort_keys=True, default=str)
    return bool(a != b)
