"""The chargebus configuration: one YAML file parsed into strict models, environment overrides on top.

Environment variables ``CHARGEBUS_<SECTION>__<KEY>`` (e.g. ``CHARGEBUS_MQTT__HOST``,
``CHARGEBUS_MQTT__PASSWORD``, ``CHARGEBUS_DATABASE__URL``) override the file, so secrets never need to be
written into it. A bad file refuses to load with the dotted path of the offending key.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from shared.config_devices import ChargerConfig, MeterConfig, OcppSettings, VehicleSources
from shared.config_integrations import HomeAssistantSettings, NotifySettings
from shared.config_limits import CircuitConfig, DimmingConfig, PeakShavingConfig, circuit_problems
from shared.config_tariffs import TariffsConfig
from shared.setters import values as bounds
from shared.state import ChargeMode


class ConfigError(ValueError):
    """The configuration is invalid; the message names every bad key."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MqttSettings(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    topic: str = "evcc"
    """Root of the evcc state tree (``sites/<site>/evcc`` in a fleet)."""
    internal: str = "chargebus"
    """Root of the internal tree."""
    user: str | None = None
    password: SecretStr | None = None
    client_id: str | None = None
    """Prefix of client ids; defaults to ``chargebus``."""
    keepalive_s: int = Field(default=30, ge=5)
    request_timeout_s: float = Field(default=5.0, gt=0)
    """How long a request waits for its owner's reply."""
    watchdog_s: float = Field(default=30.0, ge=0)
    """A connected bus pings itself through the broker; no answer for this long → reconnect, and a second
    time in a row → the service exits non-zero so its supervisor restarts it. 0 turns the watchdog off."""
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    """MQTT protocol version; ``5`` for shared subscriptions (the fleet gateway uses it)."""
    session_expiry_s: int = Field(default=86400, ge=0)
    """MQTT 5: how long the broker keeps a persistent session (and queues its QoS 1 messages) while the
    client is away."""


class DatabaseSettings(Strict):
    url: str = "sqlite:///data/chargebus.db"
    """SQLAlchemy URL; ``postgresql+psycopg://user@host/db`` for PostgreSQL."""


class LogSettings(Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "console"


class ThresholdConfig(Strict):
    threshold_w: float = Field(default=0.0, ge=-bounds.MAX_POWER_W, le=bounds.MAX_POWER_W)
    delay_s: int = Field(default=60, ge=0, le=bounds.MAX_DELAY_S)


class LoadpointConfig(Strict):
    title: str
    charger: str
    """Name of a configured charger."""
    meter: str | None = None
    """Optional charge meter (else the charger's own meter or an estimate)."""
    mode: ChargeMode = ChargeMode.OFF
    """Default mode, restored on disconnect."""
    vehicle: str | None = None
    """Default vehicle."""
    priority: int = Field(default=0, ge=0, le=bounds.MAX_PRIORITY)
    min_current_a: float = Field(default=6.0, gt=0, le=bounds.MAX_CURRENT_A)
    max_current_a: float = Field(default=16.0, gt=0, le=bounds.MAX_CURRENT_A)
    phases: Literal[0, 1, 3] = 3
    """Configured phases: 0 = automatic switching (needs a switchable charger)."""
    enable: ThresholdConfig = Field(default_factory=lambda: ThresholdConfig(threshold_w=0, delay_s=60))
    disable: ThresholdConfig = Field(default_factory=lambda: ThresholdConfig(threshold_w=0, delay_s=180))
    settle_timeout_s: float | None = Field(default=None, gt=0)
    """Longest wait for a PV current change to show in the readings (default ``optimizer.control``)."""
    deadband_w: float | None = Field(default=None, ge=0)
    """Unused surplus tolerated before the PV current goes up (default ``optimizer.control``)."""
    circuit: str | None = None
    """The circuit (``circuits[].name``) the loadpoint hangs off (load management)."""

    @model_validator(mode="after")
    def _currents_ordered(self) -> LoadpointConfig:
        if self.min_current_a > self.max_current_a:
            raise ValueError("min_current_a must not exceed max_current_a")
        return self


class VehicleConfig(Strict):
    name: str = Field(pattern=bounds.VEHICLE_NAME, max_length=bounds.MAX_NAME)
    title: str | None = Field(default=None, max_length=bounds.MAX_TITLE)
    capacity_kwh: float = Field(default=50.0, gt=0, le=bounds.MAX_CAPACITY_KWH)
    phases: Literal[1, 2, 3] | None = None
    min_current_a: float | None = Field(default=None, gt=0, le=bounds.MAX_CURRENT_A)
    max_current_a: float | None = Field(default=None, gt=0, le=bounds.MAX_CURRENT_A)
    min_soc: int = Field(default=0, ge=0, le=100)
    limit_soc: int = Field(default=0, ge=0, le=100)
    identifiers: list[str] = Field(default_factory=list)
    """RFID tags / charger identifiers that select this vehicle."""
    mode: ChargeMode | None = None
    sources: VehicleSources | None = None
    """Where its SoC, range and odometer come from (MQTT/HTTP; read by the meter-reader)."""
    soc_timeout_s: float = Field(default=3600.0, gt=0)
    """A pushed SoC (REST, ``vehicles/<name>/soc/set``) is stale this long after it arrived."""
    interval_s: float = Field(default=30.0, gt=0)
    """How often its sources are read."""


SITE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"
LOCAL_SITE = "local"
"""The site id of a gateway without ``site.id``: its fleet records and sessions carry this id."""
"""A site id: a topic level and a URL path segment (no ``/``, ``+``, ``#``, spaces)."""


class SiteConfig(Strict):
    id: str | None = Field(default=None, pattern=SITE_ID_PATTERN)
    """The site's id in a fleet. When set, its trees live under ``sites/<id>/evcc`` and
    ``sites/<id>/chargebus`` (unless ``mqtt.topic``/``mqtt.internal`` say otherwise) and its MQTT client ids
    carry it, so many sites can share a broker (DESIGN §7)."""
    owner: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    """The e-mail of the site's owner: a fleet gateway gives every site with the same owner one user, so
    an owner of several homes sees them all (unset: each site gets an owner of its own)."""
    title: str = "Home"
    grid: str | None = None
    """Name of the grid meter."""
    pv: list[str] = Field(default_factory=list)
    battery: list[str] = Field(default_factory=list)
    aux: list[str] = Field(default_factory=list)
    residual_power_w: float = Field(default=0.0, ge=-bounds.MAX_POWER_W, le=bounds.MAX_POWER_W)
    voltage_v: float = Field(default=230.0, gt=0)
    timezone: str = "Europe/Berlin"


class ControlSettings(Strict):
    """How calmly PV currents follow the surplus (docs/optimizer.md, "Settled PV control")."""

    deadband_w: float = Field(default=200.0, ge=0)
    """W of unused surplus tolerated before a PV current goes up; imports are corrected from one current
    step of the charger on, so the deadband lies wholly on the export side."""
    adjust_interval_s: float = Field(default=10.0, ge=0)
    """Least time between two PV current changes of one charger (a decrease stopping an import larger than
    the deadband waits only for the readings)."""
    settle_timeout_s: float = Field(default=15.0, gt=0)
    """Longest wait for a current change to show in the charger's and the site meters' readings."""
    stable_w: float = Field(default=100.0, gt=0)
    """Two successive readings of a meter within this are steady (the plant has settled)."""
    command_interval_s: float = Field(default=1.0, ge=0)
    """Least time between two commands to one charger, validity refreshes included (safety changes —
    modes, enable/disable, limits — are sent at once)."""


class OptimizerSettings(Strict):
    interval_s: float = Field(default=10.0, gt=0)
    """Timer tick; input changes are handled immediately."""
    command_validity_s: float = Field(default=30.0, gt=0, le=600)
    """How long a command is valid (at most the actuator's ``MAX_COMMAND_VALIDITY_S``, 600 s); the
    charger goes to its failsafe when it expires, so it must outlast the tick that renews it."""
    state_file: str = "data/optimizer-settings.json"
    control: ControlSettings = Field(default_factory=ControlSettings)

    @model_validator(mode="after")
    def _validity_outlasts_the_tick(self) -> OptimizerSettings:
        if self.command_validity_s <= self.interval_s:
            raise ValueError(
                f"command_validity_s ({self.command_validity_s:g}) must exceed interval_s "
                f"({self.interval_s:g}): every command is renewed once per tick"
            )
        return self


HttpUrlText = Annotated[str, Field(pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")]
"""An absolute http(s) URL without query or fragment, kept as text."""


MIN_JWT_SECRET_CHARS = 32
"""HS256 needs a key of at least 256 bits (RFC 7518 §3.2)."""


class JqSettings(Strict):
    """Bounds for the jq programs clients send (``/api/state?jq=``), run in :mod:`shared.jq_sandbox`."""

    workers: int = Field(default=2, ge=1, le=16)
    """Programs evaluated at once (each in its own sandboxed process)."""
    queue: int = Field(default=4, ge=0, le=1000)
    """Programs that may wait for a worker; beyond that 503 at once."""
    per_client: int = Field(default=2, ge=1, le=100)
    """Programs one client address may have running or waiting; beyond that 429 at once."""
    timeout_s: float = Field(default=2.0, gt=0, le=60)
    cooldown_s: float = Field(default=10.0, ge=0, le=3600)
    """A client whose program ran out of time gets 429 for this long."""
    memory_mb: int = Field(default=256, ge=64, le=4096)
    max_result_bytes: int = Field(default=1 << 20, ge=1024, le=64 << 20)


class GatewaySettings(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=7070, ge=0, le=65535)
    wrap_result: bool = True
    """Wrap REST responses in ``{"result": …}`` as the reference spec does; false = evcc ≥ 0.207 shape."""
    auth_required_for_setters: bool = False
    jwt_secret: SecretStr | None = None
    """From CHARGEBUS_GATEWAY__JWT_SECRET; generated and stored in the database when unset."""
    jq: JqSettings = Field(default_factory=JqSettings)
    public_url: HttpUrlText | None = None
    """Where clients reach the gateway (e.g. ``https://energy.example.com`` behind a reverse proxy): the root
    of the fleet API's absolute links. Unset: the URL each request came in on."""
    trusted_proxies: list[str] = Field(default_factory=list)
    """Addresses or networks of reverse proxies whose ``X-Forwarded-For``/``-Proto`` are believed (the
    client address for the login throttle, https for the ``Secure`` cookie). Empty: no forwarded header is
    believed, from anywhere."""
    cors_origins: list[str] = Field(default_factory=list)
    """Origins (``https://dash.example.com``) whose pages may call the API cross-origin (no wildcard).
    Empty: none."""
    outbound_allow: list[str] = Field(default_factory=list)
    """Internal networks (``192.168.1.0/24``) webhooks may deliver to; public addresses are always allowed,
    loopback, link-local and private ones only when listed here."""
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=64 * 1024 * 1024)
    """Larger request bodies are refused with 413."""
    max_url_bytes: int = Field(default=8 * 1024, ge=256, le=1024 * 1024)
    """Longer request targets (path and query) are refused with 414."""

    @field_validator("jwt_secret")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None  # unset (compose passes an empty variable): generated and stored instead
        if len(value.get_secret_value()) < MIN_JWT_SECRET_CHARS:
            raise ValueError(f"jwt_secret must be at least {MIN_JWT_SECRET_CHARS} characters")
        return value

    @field_validator("trusted_proxies", "outbound_allow")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or network: {value!r}") from None
        return values

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        for origin in values:
            if not re.fullmatch(r"https?://[^/\s?#*]+", origin):
                raise ValueError(f"not an origin (scheme://host[:port]): {origin!r}")
        return values


class FleetSettings(Strict):
    """The centre of a fleet (``chargebus fleet-gateway``): how its instances share the work."""

    sites_root: str = Field(default="sites", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
    """Sites publish below ``<sites_root>/<site-id>/evcc`` and ``<sites_root>/<site-id>/chargebus``."""
    group: str = Field(default="fleet-gateway", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    """MQTT 5 shared-subscription group: every instance of one fleet uses the same group, so each message
    reaches exactly one of them."""
    instance: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    """This instance's name (its client id and session); from ``CHARGEBUS_FLEET__INSTANCE``. Unset: the
    host name and process id."""
    redis_url: SecretStr | None = None
    """``redis://host:6379/0``: keep rate limits and idempotency keys in Redis instead of the database."""
    flush_interval_s: float = Field(default=0.1, gt=0, le=5)
    """How long live state is gathered before one batched write to the database."""
    bootstrap_quiet_s: float = Field(default=1.0, gt=0, le=60)
    """At start, retained state is read until the broker has been quiet this long (shared subscriptions
    never deliver retained messages)."""


SimulatedModel = Literal[
    "sunspec-inverter",
    "sunspec-inverter-float",
    "sunspec-meter",
    "sunspec-battery",
    "sdm630",
    "sdm72",
    "generic-meter",
    "demo",
    "alfen",
    "phoenix",
    "evsedin",
    "abl",
    "ocpp",
    "goe",
    "shelly-3em",
    "shelly-plug",
    "tasmota-sml",
    "tasmota-energy",
    "opendtu",
]
"""Device models the simulator can play (see docs/simulator.md for each register map)."""

MeasuringPoint = Literal["grid", "pv", "battery", "charge", "house"]


class SimulatedRegister(Strict):
    """One register of the ``generic-meter`` model."""

    value: Literal[
        "power",
        "import",
        "export",
        "current_l1",
        "current_l2",
        "current_l3",
        "voltage_l1",
        "voltage_l2",
        "voltage_l3",
        "power_l1",
        "power_l2",
        "power_l3",
        "frequency",
        "soc",
        "battery_mode",
        "battery_charge_power",
    ]
    """Quantity served (W, kWh, A, V, Hz, %); ``battery_mode`` (0 normal, 1 hold, 2 charge) and
    ``battery_charge_power`` (W of mode charge) are writable."""
    address: int = Field(ge=0, le=65535)
    table: Literal["holding", "input"] = "holding"
    type: Literal["int16", "uint16", "int32", "uint32", "float32", "float64"] = "float32"
    word_order: Literal["big", "little"] = "big"
    """``big`` = high word first."""
    scale: float = 1.0
    """Physical units per register count (0.1 = tenths)."""


class SimulatedDevice(Strict):
    """One simulated Modbus device: a model played on a port/unit id, fed from a measuring point."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    model: SimulatedModel
    port: int = Field(ge=0, le=65535)
    """TCP port (0 = pick a free one)."""
    unit_id: int | None = Field(default=None, ge=0, le=255)
    """Modbus unit id; default is the real device's (1; Phoenix 255)."""
    source: MeasuringPoint | None = None
    """What a meter model measures; default grid (pv for inverters, battery for sunspec-battery)."""
    registers: list[SimulatedRegister] = Field(default_factory=list)
    """Register map of the ``generic-meter`` model."""
    url: str | None = Field(default=None, pattern=r"^wss?://[^\s]+/[^/\s]+$")
    """``ocpp``: the central system to connect to, ``ws://host:port/<identity>``."""
    free_vend: bool = True
    """``ocpp``: start a transaction on plug-in by itself (else wait for RemoteStartTransaction)."""
    password_env: str | None = None
    """``ocpp``: environment variable with the basic-auth password."""
    broker: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.-]+:[0-9]{1,5}$")
    """MQTT devices (tasmota-*, opendtu): the broker they publish to, ``host:port`` (127.0.0.1:1883)."""
    topic: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    """MQTT devices: the Tasmota topic / OpenDTU inverter serial."""
    publish_s: float = Field(default=1.0, gt=0)
    """MQTT devices: seconds between publishes."""


class SimulatedCar(Strict):
    name: str = "ev"
    capacity_kwh: float = Field(default=60.0, gt=0)
    soc_pct: float = Field(default=30.0, ge=0, le=100)
    connected: bool = True
    max_current_a: float = Field(default=32.0, gt=0)
    """The car's onboard charger limit per phase."""
    phases: Literal[1, 2, 3] = 3
    identifier: str | None = None
    """RFID / vehicle identifier reported by the wallbox."""
    wallbox: int = Field(default=1, ge=1, le=16)
    """The wallbox it is plugged into (1 = the first of the device list)."""


class SimulatorSettings(Strict):
    host: str = "127.0.0.1"
    speed: float = Field(default=1.0, gt=0)
    """Simulated seconds per real second."""
    tick_s: float = Field(default=0.2, gt=0)
    """Real seconds between physics ticks (registers are also refreshed on every read)."""
    pv_peak_w: float = Field(default=8000.0, ge=0)
    house_base_w: float = Field(default=400.0, ge=0)
    battery_capacity_kwh: float = Field(default=10.0, gt=0)
    battery_soc_pct: float = Field(default=60.0, ge=0, le=100)
    battery_max_power_w: float = Field(default=5000.0, ge=0)
    car: SimulatedCar = Field(default_factory=SimulatedCar)
    cars: list[SimulatedCar] = Field(default_factory=list)
    """More cars, e.g. on further wallboxes (``wallbox: 2``)."""
    battery_response_s: float = Field(default=0.0, ge=0, le=60)
    """Time constant of the home battery's zero-export controller (s; 0 = instant)."""
    car_ramp_a_per_s: float = Field(default=0.0, ge=0)
    """How fast the cars follow a higher offered current (A/s; 0 = at once)."""
    meter_update_s: float = Field(default=0.0, ge=0, le=60)
    """How often the simulated meters update what they show (s; 0 = every read)."""
    start_time: str | None = None
    """Simulated wall clock at start: ISO 8601 with offset, or ``"HH:MM"`` today (local); default now."""
    timezone: str = "Europe/Berlin"
    """Zone of the simulated day (sunrise/sunset and scenario times of day)."""
    scenario: str | None = None
    """Path of a scenario YAML file (docs/simulator.md); it replaces the simple knobs above."""
    pv_port: int = 15020
    grid_port: int = 15021
    battery_port: int = 15022
    wallbox_port: int = 15023
    pv_model: Literal["sunspec-inverter", "sunspec-inverter-float", "sunspec-meter", "sdm630", "sdm72"] = (
        "sunspec-inverter"
    )
    grid_model: Literal["sdm630", "sdm72", "sunspec-meter"] = "sdm630"
    battery_model: Literal["sunspec-battery"] = "sunspec-battery"
    wallbox_model: Literal["demo", "alfen", "phoenix", "evsedin", "abl"] = "demo"
    devices: list[SimulatedDevice] | None = None
    """Explicit device list; replaces the four ``*_port``/``*_model`` devices when given."""


class Config(BaseSettings):
    """The whole configuration (YAML file + environment)."""

    model_config = SettingsConfigDict(
        env_prefix="CHARGEBUS_",
        env_nested_delimiter="__",
        extra="forbid",
        nested_model_default_partial_update=True,
    )

    site: SiteConfig = Field(default_factory=SiteConfig)
    meters: list[MeterConfig] = Field(default_factory=list)
    chargers: list[ChargerConfig] = Field(default_factory=list)
    loadpoints: list[LoadpointConfig] = Field(default_factory=list)
    vehicles: list[VehicleConfig] = Field(default_factory=list)
    circuits: list[CircuitConfig] = Field(default_factory=list)
    """Load management: the circuit tree (docs/optimizer.md)."""
    dimming: DimmingConfig = Field(default_factory=DimmingConfig)
    """§14a EnWG dimming."""
    peak_shaving: PeakShavingConfig = Field(default_factory=PeakShavingConfig)
    """A capacity tariff's import limit."""
    tariffs: TariffsConfig = Field(default_factory=TariffsConfig)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    optimizer: OptimizerSettings = Field(default_factory=OptimizerSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    fleet: FleetSettings = Field(default_factory=FleetSettings)
    ocpp: OcppSettings = Field(default_factory=OcppSettings)
    homeassistant: HomeAssistantSettings = Field(default_factory=HomeAssistantSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    simulator: SimulatorSettings = Field(default_factory=SimulatorSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment beats the file: connection settings and secrets are deployment facts.
        return env_settings, init_settings

    @model_validator(mode="after")
    def _site_roots(self) -> Config:
        """A fleet site's trees and client ids carry its id unless they were given explicitly."""
        site = self.site.id
        if site:
            given = self.mqtt.model_fields_set
            if "topic" not in given:
                self.mqtt.topic = f"{self.fleet.sites_root}/{site}/evcc"
            if "internal" not in given:
                self.mqtt.internal = f"{self.fleet.sites_root}/{site}/chargebus"
            if "client_id" not in given:
                self.mqtt.client_id = f"chargebus-{site}"
        return self

    @property
    def site_id(self) -> str:
        """This site's id; ``local`` for a gateway that is not part of a fleet."""
        return self.site.id or LOCAL_SITE

    @model_validator(mode="after")
    def _references_resolve(self) -> Config:
        meters = {m.name for m in self.meters}
        chargers = {c.name for c in self.chargers}
        vehicles = {v.name for v in self.vehicles}
        problems: list[str] = []
        for key, names in (
            ("site.grid", [self.site.grid] if self.site.grid else []),
            ("site.pv", self.site.pv),
            ("site.battery", self.site.battery),
            ("site.aux", self.site.aux),
        ):
            problems += [f"{key}: unknown meter {n!r}" for n in names if n not in meters]
        for i, lp in enumerate(self.loadpoints):
            if lp.charger not in chargers:
                problems.append(f"loadpoints.{i}.charger: unknown charger {lp.charger!r}")
            if lp.meter and lp.meter not in meters:
                problems.append(f"loadpoints.{i}.meter: unknown meter {lp.meter!r}")
            if lp.vehicle and lp.vehicle not in vehicles:
                problems.append(f"loadpoints.{i}.vehicle: unknown vehicle {lp.vehicle!r}")
        for kind, items in (
            ("meters", [m.name for m in self.meters]),
            ("chargers", [c.name for c in self.chargers]),
            ("vehicles", [v.name for v in self.vehicles]),
        ):
            dupes = sorted({n for n in items if items.count(n) > 1})
            problems += [f"{kind}: duplicate name {n!r}" for n in dupes]
        stations = [(c.ocpp.identity, c.ocpp.connector) for c in self.chargers if c.ocpp is not None]
        problems += [
            f"chargers: ocpp identity {i!r} connector {n} used twice"
            for i, n in sorted({s for s in stations if stations.count(s) > 1})
        ]
        problems += circuit_problems(self.circuits, meters, [lp.circuit for lp in self.loadpoints])
        if self.dimming.meter is not None and self.dimming.meter not in meters:
            problems.append(f"dimming.meter: unknown meter {self.dimming.meter!r}")
        problems += [
            f"dimming.loadpoints: unknown loadpoint {i}"
            for i in self.dimming.loadpoints or []
            if not 1 <= i <= len(self.loadpoints)
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def loadpoint_id(self, charger: str) -> int:
        """1-based id of the loadpoint that uses ``charger``."""
        for index, lp in enumerate(self.loadpoints, start=1):
            if lp.charger == charger:
                return index
        raise KeyError(charger)


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"]) or "(top level)"
        lines.append(f"{path}: {item['msg']}")
    return "; ".join(lines)


def parse_config(data: dict[str, Any] | None) -> Config:
    """Validate a config mapping (env overrides applied); raise :class:`ConfigError` naming bad keys."""
    try:
        return Config(**(data or {}))
    except ValidationError as error:
        raise ConfigError(f"invalid configuration: {_describe(error)}") from None


def load_config(path: str | Path | None) -> Config:
    """Read and validate the YAML file at ``path`` (or defaults + environment when ``None``)."""
    if path is None:
        return parse_config({})
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file not found: {file}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{file}: not valid YAML: {error}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{file}: the top level must be a mapping")
    return parse_config(data)
