"""The gateway's picture of the evcc state tree, decoded into the typed schema.

Every retained ``<root>/...`` topic is kept as raw text; the typed views (``SiteState``, one
``LoadpointState`` per 1-based id, one ``VehicleState`` per name) are decoded lazily from it and cached per
scope until a topic of that scope changes. ``/api/state`` and the websocket are built from those views, so
the gateway never hand-parses a payload. Listeners (websocket clients) receive flattened ``{key: value}``
changes in evcc's websocket key scheme.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shared.encoding import decode_fields, encode_api, ws_value
from shared.logging import get_logger
from shared.messages import RateSeries, ServiceStatus
from shared.state import LoadpointState, SiteState, VehicleState
from shared.tree import LOADPOINTS, SITE, VEHICLES, Tree, loadpoint_scope, vehicle_scope

WS_BATCH_S = 0.1
"""Websocket updates are batched over this many seconds (a dashboard does not need more)."""

M = TypeVar("M", bound=BaseModel)
Listener = Callable[[dict[str, Any]], None]


def decode_lenient(model: type[M], topics: Mapping[str, str], prefix: str) -> M:
    """Decode a partial state model field by field; a field with a bad payload is left out (and the rest
    still served) instead of failing the whole scope."""
    values = decode_fields(model, topics, prefix, skip_bad=True)
    try:
        return model.model_validate(values)
    except ValidationError as error:
        bad = {str(item["loc"][0]) for item in error.errors() if item["loc"]}
        return model.model_validate({k: v for k, v in values.items() if k not in bad})


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


class StateStore:
    """Raw topics plus decoded, cached views; feed it with :meth:`on_message`."""

    def __init__(self, root: str, internal: str) -> None:
        self.tree = Tree(root)
        self.root = self.tree.root
        self.internal = internal.strip("/")
        self.topics: dict[str, str] = {}
        self.services: dict[str, ServiceStatus] = {}
        self.tariffs: dict[str, RateSeries] = {}
        self._cache: dict[str, Any] = {}
        self._listeners: list[Listener] = []
        self._last_flat: dict[str, Any] = {}
        self._flush_scheduled = False
        self._changed = asyncio.Event()
        self.log = get_logger("gateway", component="state")

    # --- input ----------------------------------------------------------------------------------------

    def on_state_topic(self, topic: str, payload: str) -> None:
        """A message below ``<root>/``; ``/set`` topics are requests to other services, not state."""
        if self.tree.relative(topic) is None or self.tree.setter_path(topic) is not None:
            return
        if payload == "":
            if self.topics.pop(topic, None) is None:
                return
        elif self.topics.get(topic) == payload:
            return
        else:
            self.topics[topic] = payload
        scope = self.tree.scope_of(topic)
        if scope is not None:
            self._cache.pop(scope, None)
        self._cache.pop("api", None)
        self._schedule_flush()
        self._wake()

    def on_service_status(self, service: str, payload: bytes) -> None:
        if not payload:
            self.services.pop(service, None)
            self._wake()
            return
        try:
            self.services[service] = ServiceStatus.model_validate_json(payload)
        except ValidationError as error:
            self.log.warning("bad service status ignored", service=service, error=str(error))
        self._wake()

    def on_tariff(self, usage: str, payload: bytes) -> None:
        if not payload:
            self.tariffs.pop(usage, None)
            self._wake()
            return
        try:
            self.tariffs[usage] = RateSeries.model_validate_json(payload)
        except ValidationError as error:
            self.log.warning("bad rate series ignored", usage=usage, error=str(error))
        self._wake()

    # --- waiting (tests, startup) -----------------------------------------------------------------------

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[StateStore], bool], timeout: float = 10.0) -> None:
        """Return once ``predicate(self)`` holds, re-checked after every input message."""

        async def loop() -> None:
            while not predicate(self):
                await self._changed.wait()

        await asyncio.wait_for(loop(), timeout)

    # --- typed views ----------------------------------------------------------------------------------

    def _cached(self, scope: str, build: Callable[[], Any]) -> Any:
        if scope not in self._cache:
            self._cache[scope] = build()
        return self._cache[scope]

    def site(self) -> SiteState:
        result: SiteState = self._cached(
            SITE, lambda: decode_lenient(SiteState, self.topics, self.tree.site())
        )
        return result

    def loadpoint_ids(self) -> list[int]:
        names = self.tree.children(self.topics, LOADPOINTS)
        return sorted(int(name) for name in names if name.isdigit() and int(name) >= 1)

    def loadpoint(self, lp_id: int) -> LoadpointState | None:
        if lp_id not in self.loadpoint_ids():
            return None
        scope = loadpoint_scope(lp_id)
        result: LoadpointState = self._cached(
            scope, lambda: decode_lenient(LoadpointState, self.topics, self.tree.scope(scope))
        )
        return result

    def vehicle_names(self) -> list[str]:
        return sorted(self.tree.children(self.topics, VEHICLES))

    def vehicle(self, name: str) -> VehicleState | None:
        if name not in self.vehicle_names():
            return None
        scope = vehicle_scope(name)
        result: VehicleState = self._cached(
            scope, lambda: decode_lenient(VehicleState, self.topics, self.tree.scope(scope))
        )
        return result

    def updated(self) -> datetime | None:
        """``<root>/updated``: when the owner last changed the tree."""
        raw = self.topics.get(self.tree.updated)
        if not raw:
            return None
        try:
            return datetime.fromtimestamp(float(raw), tz=UTC)
        except (ValueError, OverflowError):
            return None

    def service_online(self, service: str) -> bool | None:
        """True/False from the service's status topic, None when it never said anything."""
        status = self.services.get(service)
        return None if status is None else status.state == "online"

    def api_state(self) -> dict[str, Any]:
        """``/api/state``: site keys flat, ``loadpoints`` as a 0-based array, ``vehicles`` by name."""

        def build() -> dict[str, Any]:
            state = encode_api(self.site())
            loadpoints = []
            for lp_id in self.loadpoint_ids():
                loadpoint = self.loadpoint(lp_id)
                loadpoints.append(encode_api(loadpoint) if loadpoint is not None else {})
            state["loadpoints"] = loadpoints
            vehicles = {}
            for name in self.vehicle_names():
                vehicle = self.vehicle(name)
                if vehicle is not None:
                    vehicles[name] = encode_api(vehicle)
            state["vehicles"] = vehicles
            return state

        result: dict[str, Any] = self._cached("api", build)
        return result

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
        return flatten_ws(self.api_state())

    def _schedule_flush(self) -> None:
        # Coalesce what arrives within WS_BATCH_S (a retained tree is hundreds of messages, and the services
        # publish every second) into one diff: each diff rebuilds and compares the whole state.
        # Without a listener there is nobody to tell: rebuilding and diffing the whole state on every message
        # kept the event loop busy (it delayed REST requests and the bus by hundreds of ms under load).
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
