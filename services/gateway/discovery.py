"""Home Assistant MQTT discovery: retained configs for the site, every loadpoint and every vehicle.

Each entity is a row of a table (:data:`SITE`, :data:`LOADPOINT`, :data:`VEHICLE`): which evcc key it
shows, as what (sensor with device/state class and unit for HA's energy dashboard, binary sensor, select,
number, switch) and, when it is writable, the key's evcc ``/set`` topic — so Home Assistant writes the same
setters as Node-RED and the REST API. Entities hang off one device per site, loadpoint and vehicle; all
are available while ``<root>/status`` says ``online``.

The publisher reconciles: after any change of what the tree holds (a loadpoint or vehicle appearing or
going, a battery, a switchable charger, a title) it computes every config, publishes what changed and
erases (empty retained payload) every config of ours that no longer applies — also the ones a previous run
left retained on the broker, found by subscribing to the discovery prefix. When Home Assistant restarts
(``homeassistant/status`` = ``online``) the configs are sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from services.gateway.state_store import StateStore
from shared import __version__
from shared.bus import Bus, BusMessage
from shared.config_integrations import HomeAssistantSettings
from shared.encoding import go_json
from shared.logging import get_logger
from shared.tree import LOADPOINTS, SITE, Tree, loadpoint_scope, vehicle_scope

Component = Literal["sensor", "binary_sensor", "number", "select", "switch"]
Facts = Mapping[str, str]
"""The retained tree below the root (relative topic → payload) an entity's condition looks at."""

DEBOUNCE_S = 0.25
"""A burst of retained messages (start, reconnect) becomes one reconcile."""
ORIGIN = {"name": "chargebus", "sw": __version__, "url": "https://github.com/chargebus/chargebus"}
TIMESTAMP = "{{ as_datetime(value | int) if value else None }}"
"""evcc publishes times as unix seconds (empty = none); HA's timestamp sensors want a datetime."""
ZERO_WHEN_EMPTY = "{{ value if value else 0 }}"
"""evcc leaves a zero vehicle setting empty (omitempty); HA's number wants the 0."""


@dataclass(frozen=True)
class Entity:
    component: Component
    key: str
    """evcc key path below the scope (``chargePower``, ``grid/power``, ``chargeCurrents/l1``)."""
    name: str
    device_class: str | None = None
    state_class: Literal["measurement", "total", "total_increasing"] | None = None
    unit: str | None = None
    """A unit; ``{currency}`` is replaced by the site's currency."""
    writable: bool = False
    """Commands go to the key's ``/set`` topic."""
    options: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    category: Literal["config", "diagnostic"] | None = None
    icon: str | None = None
    value_template: str | None = None
    when: Callable[[Facts, str], bool] | None = None
    """Condition on the tree (facts, scope) for the entity to exist; None = always."""

    @property
    def slug(self) -> str:
        return slugify(self.key)


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text).lower()).strip("_")


def has(key: str) -> Callable[[Facts, str], bool]:
    """The entity exists when ``key`` holds a value in the scope."""
    return lambda facts, scope: bool(facts.get(f"{scope}/{key}"))


def is_true(key: str) -> Callable[[Facts, str], bool]:
    return lambda facts, scope: facts.get(f"{scope}/{key}") == "true"


def battery(facts: Facts, _scope: str) -> bool:
    return bool(facts.get(f"{SITE}/battery/soc") or facts.get(f"{SITE}/battery/power"))


def _sensor(key: str, name: str, device_class: str | None, unit: str | None, **kw: Any) -> Entity:
    state_class = kw.pop("state_class", "measurement" if unit is not None else None)
    return Entity("sensor", key, name, device_class, state_class, unit, **kw)


def _power(key: str, name: str, **kw: Any) -> Entity:
    return _sensor(key, name, "power", "W", **kw)


def _energy(key: str, name: str, unit: str = "kWh", **kw: Any) -> Entity:
    return _sensor(key, name, "energy", unit, state_class="total_increasing", **kw)


def _flag(key: str, name: str, device_class: str | None = None, **kw: Any) -> Entity:
    return Entity("binary_sensor", key, name, device_class, **kw)


def _number(key: str, name: str, unit: str | None, lo: float, hi: float, step: float, **kw: Any) -> Entity:
    kw.setdefault("category", "config")
    return Entity("number", key, name, kw.pop("device_class", None), None, unit, True, (), lo, hi, step, **kw)


def _percent(key: str, name: str, **kw: Any) -> Entity:
    return _number(key, name, "%", 0, 100, 1, **kw)


SITE_ENTITIES: tuple[Entity, ...] = (
    _power("grid/power", "Grid power", when=has("grid/power")),
    _power("pvPower", "PV power"),
    _power("homePower", "Home power"),
    _power("battery/power", "Battery power", when=battery),
    _sensor("battery/soc", "Battery SoC", "battery", "%", when=battery),
    _energy("grid/energy", "Grid import", when=has("grid/energy")),
    _energy("grid/returnEnergy", "Grid export", when=has("grid/returnEnergy")),
    _energy("pvEnergy", "PV energy", when=has("pvEnergy")),
    _sensor("tariffGrid", "Grid price", None, "{currency}/kWh", icon="mdi:cash", when=has("tariffGrid")),
    _sensor(
        "tariffFeedIn", "Feed-in rate", None, "{currency}/kWh", icon="mdi:cash", when=has("tariffFeedIn")
    ),
    _sensor("tariffCo2", "Grid CO₂ intensity", None, "g/kWh", icon="mdi:molecule-co2", when=has("tariffCo2")),
    _sensor(
        "greenShareHome",
        "Green share (home)",
        None,
        "%",
        icon="mdi:leaf",
        value_template="{{ (value | float(0) * 100) | round(1) }}",
    ),
    _energy(
        "statistics/total/chargedKWh", "Charged energy (all time)", when=has("statistics/total/chargedKWh")
    ),
    _number("residualPower", "Residual power", "W", -10000, 10000, 10, device_class="power"),
    _percent("prioritySoc", "Battery priority SoC", when=battery),
    _percent("bufferSoc", "Battery buffer SoC", when=battery),
    _percent("bufferStartSoc", "Battery buffer start SoC", when=battery),
    Entity(
        "switch", "batteryDischargeControl", "Battery hold while fast charging", writable=True, when=battery
    ),
    _flag("batteryGridChargeActive", "Battery charging from grid", "battery_charging", when=battery),
)

LOADPOINT_ENTITIES: tuple[Entity, ...] = (
    _power("chargePower", "Charge power"),
    _energy("chargeTotalImport", "Charge meter", when=has("chargeTotalImport")),
    _energy("sessionEnergy", "Session energy", unit="Wh"),
    _sensor(
        "sessionPrice",
        "Session cost",
        "monetary",
        "{currency}",
        state_class="total",
        when=has("sessionPrice"),
    ),
    _sensor("sessionSolarPercentage", "Session solar share", None, "%", icon="mdi:solar-power"),
    *(
        _sensor(
            f"chargeCurrents/{phase}",
            f"Charge current {phase.upper()}",
            "current",
            "A",
            when=has(f"chargeCurrents/{phase}"),
        )
        for phase in ("l1", "l2", "l3")
    ),
    _sensor("phasesActive", "Active phases", None, None, category="diagnostic", icon="mdi:sine-wave"),
    _sensor("chargeDuration", "Charge duration", "duration", "s"),
    _sensor("chargeRemainingDuration", "Remaining charge time", "duration", "s"),
    _sensor("chargeRemainingEnergy", "Remaining energy", "energy", "Wh", state_class=None),
    _sensor("vehicleSoc", "Vehicle SoC", "battery", "%"),
    _sensor("vehicleRange", "Vehicle range", "distance", "km"),
    _sensor("planProjectedStart", "Plan start", "timestamp", None, value_template=TIMESTAMP),
    _sensor("planProjectedEnd", "Plan end", "timestamp", None, value_template=TIMESTAMP),
    _sensor("effectivePlanTime", "Plan target", "timestamp", None, value_template=TIMESTAMP),
    _sensor("chargerStatus", "Charger status", None, None, category="diagnostic", icon="mdi:ev-plug-type2"),
    _sensor("chargerError", "Charger error", None, None, category="diagnostic", icon="mdi:alert-circle"),
    _flag("connected", "Vehicle connected", "plug"),
    _flag("charging", "Charging", "battery_charging"),
    _flag("enabled", "Charger enabled", "power", category="diagnostic"),
    _flag("planActive", "Plan active", icon="mdi:calendar-clock"),
    _flag("smartCostActive", "Cheap energy charging", icon="mdi:cash-clock"),
    Entity(
        "select", "mode", "Mode", writable=True, options=("off", "now", "minpv", "pv"), icon="mdi:ev-station"
    ),
    Entity(
        "select",
        "phasesConfigured",
        "Phases (0 = automatic)",
        writable=True,
        options=("0", "1", "3"),
        category="config",
        icon="mdi:sine-wave",
        when=is_true("chargerPhases1p3p"),
    ),
    _number("minCurrent", "Minimum current", "A", 1, 32, 0.5, device_class="current"),
    _number("maxCurrent", "Maximum current", "A", 1, 32, 0.5, device_class="current"),
    _percent("limitSoc", "SoC limit (0 = none)", category=None),
    _percent("minSoc", "Minimum SoC"),
    _number(
        "limitEnergy", "Energy limit (0 = none)", "kWh", 0, 500, 0.5, device_class="energy", category=None
    ),
    _number("priority", "Priority", None, 0, 10, 1),
    _number("enableThreshold", "Enable threshold", "W", -50000, 50000, 50, device_class="power"),
    _number("disableThreshold", "Disable threshold", "W", -50000, 50000, 50, device_class="power"),
    _number("enableDelay", "Enable delay", "s", 0, 3600, 1, device_class="duration"),
    _number("disableDelay", "Disable delay", "s", 0, 3600, 1, device_class="duration"),
    Entity("switch", "batteryBoost", "Battery boost", writable=True, icon="mdi:battery-arrow-up"),
)
"""The loadpoint's ``vehicle`` select is added per site (its options are the configured vehicles)."""

VEHICLE_ENTITIES: tuple[Entity, ...] = (
    _percent("limitSoc", "SoC limit", value_template=ZERO_WHEN_EMPTY, category=None),
    _percent("minSoc", "Minimum SoC", value_template=ZERO_WHEN_EMPTY),
    _sensor(
        "capacity", "Battery capacity", "energy_storage", "kWh", category="diagnostic", when=has("capacity")
    ),
    _sensor("plan/time", "Plan target", "timestamp", None, value_template=TIMESTAMP),
    _sensor("plan/soc", "Plan SoC", None, "%", icon="mdi:battery-clock", state_class=None),
)

STRUCTURAL = frozenset({"title", "siteTitle", "currency", "chargerPhases1p3p"})
"""Keys whose new value changes configs (names, units, the phases select)."""

NONE = "none"
"""The vehicle select's option for no vehicle (evcc's reset sentinel, accepted by the ``vehicle`` setter)."""


@dataclass(frozen=True)
class Device:
    scope: str
    """``site``, ``loadpoints/<id>``, ``vehicles/<name>``."""
    ident: str
    name: str
    model: str


def _payload(
    entity: Entity, device: Device, settings: HomeAssistantSettings, tree: Tree, currency: str
) -> dict[str, Any]:
    unique = f"chargebus_{settings.node_id}_{slugify(device.ident)}_{entity.slug}"
    payload: dict[str, Any] = {
        "~": tree.root,
        "name": entity.name,
        "uniq_id": unique,
        "stat_t": f"~/{device.scope}/{entity.key}",
        "avty_t": "~/status",
        "dev": {
            "ids": [f"chargebus_{settings.node_id}_{slugify(device.ident)}"],
            "name": device.name,
            "mf": "chargebus",
            "mdl": device.model,
            "sw": __version__,
        },
        "o": ORIGIN,
    }
    if device.scope != SITE:
        payload["dev"]["via_device"] = f"chargebus_{settings.node_id}_site"
    if entity.writable:
        payload["cmd_t"] = f"~/{device.scope}/{entity.key}/set"
    extras: dict[str, Any] = {
        "dev_cla": entity.device_class,
        "stat_cla": entity.state_class,
        "unit_of_meas": entity.unit.format(currency=currency) if entity.unit else None,
        "ent_cat": entity.category,
        "ic": entity.icon,
        "val_tpl": entity.value_template,
        "min": entity.minimum,
        "max": entity.maximum,
        "step": entity.step,
    }
    payload.update({k: v for k, v in extras.items() if v is not None})
    if entity.options:
        payload["ops"] = list(entity.options)
    if entity.component in ("binary_sensor", "switch"):
        payload["pl_on"], payload["pl_off"] = "true", "false"
    if entity.component == "switch":
        payload["stat_on"], payload["stat_off"] = "true", "false"
    if entity.component == "number":
        payload["mode"] = "box"
    return payload


def config_topic(settings: HomeAssistantSettings, component: str, unique_id: str) -> str:
    return f"{settings.prefix}/{component}/{unique_id}/config"


@dataclass
class Site:
    """What the discovery configs are built from: the retained tree below the root."""

    facts: Facts
    loadpoints: list[int]
    vehicles: list[str]

    @classmethod
    def from_store(cls, store: StateStore) -> Site:
        tree = store.tree
        facts = {rel: payload for topic, payload in store.topics.items() if (rel := tree.relative(topic))}
        ids = store.loadpoint_ids()
        count = facts.get(LOADPOINTS)
        if count and count.isdigit():  # retained leftovers of a loadpoint removed from the config
            ids = [i for i in ids if i <= int(count)]
        return cls(facts, ids, store.vehicle_names())


def discovery_configs(site: Site, settings: HomeAssistantSettings, tree: Tree) -> dict[str, dict[str, Any]]:
    """Config topic → payload for everything the site has now (pure)."""
    facts = site.facts
    currency = facts.get(f"{SITE}/currency") or "EUR"
    title = facts.get(f"{SITE}/siteTitle") or "Home"
    out: dict[str, dict[str, Any]] = {}

    def add(entities: Iterable[Entity], device: Device) -> None:
        for entity in entities:
            if entity.when is None or entity.when(facts, device.scope):
                payload = _payload(entity, device, settings, tree, currency)
                out[config_topic(settings, entity.component, payload["uniq_id"])] = payload

    add(SITE_ENTITIES, Device(SITE, "site", f"chargebus {title}", "Site"))
    vehicle_select = Entity(
        "select",
        "vehicle",
        "Vehicle",
        writable=True,
        options=(NONE, *site.vehicles),
        icon="mdi:car",
        value_template=f"{{{{ value if value else '{NONE}' }}}}",
    )
    for lp in site.loadpoints:
        scope = loadpoint_scope(lp)
        name = facts.get(f"{scope}/title") or f"Loadpoint {lp}"
        device = Device(scope, f"lp{lp}", name, "Loadpoint")
        add(LOADPOINT_ENTITIES, device)
        # state: vehicleName; command: the vehicle setter
        payload = _payload(vehicle_select, device, settings, tree, currency)
        payload["stat_t"] = f"~/{scope}/vehicleName"
        out[config_topic(settings, "select", payload["uniq_id"])] = payload
    for name in site.vehicles:
        scope = vehicle_scope(name)
        device = Device(scope, f"vehicle_{name}", facts.get(f"{scope}/title") or name, "Vehicle")
        add(VEHICLE_ENTITIES, device)
    return out


@dataclass
class DiscoveryPublisher:
    """Keeps the retained discovery configs equal to :func:`discovery_configs` of the live tree."""

    settings: HomeAssistantSettings
    bus: Bus
    store: StateStore
    published: dict[str, str] = field(default_factory=dict)
    """Config topic → payload we published."""
    found: set[str] = field(default_factory=set)
    """Retained config topics of ours seen on the broker (also from an earlier run)."""
    _dirty: asyncio.Event = field(default_factory=asyncio.Event)
    _resend: bool = False
    _present: set[str] = field(default_factory=set)
    """Tree topics holding a value (an entity's condition is that a key has one)."""

    def __post_init__(self) -> None:
        self.log = get_logger("gateway", component="discovery")
        self._ours = f"chargebus_{self.settings.node_id}_"

    def attach(self) -> None:
        """Subscribe (before the bus starts): the tree changes, HA's birth message, our retained configs."""
        self.bus.on(self.bus.tree.everything, self._on_tree, qos=0)
        self.bus.on(f"{self.settings.prefix}/status", self._on_birth, qos=0)
        self.bus.on(f"{self.settings.prefix}/+/+/config", self._on_config, qos=0)

    async def _on_tree(self, message: BusMessage) -> None:
        # Only what can change the set of entities or their names matters: a key getting or losing its value,
        # the counts, titles, the currency, the phase capability. Values changing every second do not.
        topic = message.topic
        if self.bus.tree.setter_path(topic) is not None:
            return
        if message.payload and topic not in self._present:
            self._present.add(topic)
            self._dirty.set()
        elif not message.payload and topic in self._present:
            self._present.discard(topic)
            self._dirty.set()
        elif topic.rsplit("/", 1)[-1] in STRUCTURAL or topic in (
            self.bus.tree.loadpoint_count,
            self.bus.tree.vehicle_count,
        ):
            self._dirty.set()

    async def _on_birth(self, message: BusMessage) -> None:
        if message.text == "online":
            self._resend = True
            self._dirty.set()

    async def _on_config(self, message: BusMessage) -> None:
        unique = message.topic.split("/")[-2]
        if unique.startswith(self._ours) and message.payload and message.topic not in self.published:
            self.found.add(message.topic)
            self._dirty.set()

    def reconcile(self) -> tuple[int, int]:
        """Publish new/changed configs, erase stale ones; returns (published, erased)."""
        wanted = {
            topic: go_json(payload)
            for topic, payload in discovery_configs(
                Site.from_store(self.store), self.settings, self.bus.tree
            ).items()
        }
        resend, self._resend = self._resend, False
        sent = 0
        for topic, payload in wanted.items():
            if self.published.get(topic) != payload:
                self.bus.publish_nowait(topic, payload, retain=True)
                sent += 1
            elif resend:  # HA restarted: again, not retained (the retained copy is already right)
                self.bus.publish_nowait(topic, payload, retain=False)
                sent += 1
        stale = (set(self.published) | self.found) - set(wanted)
        for topic in stale:
            self.bus.publish_nowait(topic, b"", retain=True)
            self.published.pop(topic, None)
        self.found -= stale
        self.published.update(wanted)
        return sent, len(stale)

    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile after every relevant change (debounced) until ``stop``."""
        while not stop.is_set():
            stopping = asyncio.create_task(stop.wait())
            dirty = asyncio.create_task(self._dirty.wait())
            try:
                await asyncio.wait({stopping, dirty}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopping.cancel()
                dirty.cancel()
            if stop.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), DEBOUNCE_S)
            self._dirty.clear()
            try:
                sent, erased = self.reconcile()
            except Exception:  # a bug here must not take the gateway down
                self.log.exception("discovery not updated")
                continue
            if sent or erased:
                self.log.info("home assistant discovery updated", published=sent, erased=erased)
