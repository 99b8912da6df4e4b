"""The internal message contract (``chargebus/...`` topics): one pydantic model per message.

All timestamps are timezone-aware UTC datetimes, serialised as ISO 8601 strings. Units are in the field
names (``_w`` watts, ``_kwh`` kilowatt hours, ``_a`` amperes, ``_v`` volts, ``_pct`` percent).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from shared.topics import InvalidTopic, check_publish_topic


def utcnow() -> datetime:
    return datetime.now(UTC)


class Message(BaseModel):
    """Base of every bus message: unknown fields are rejected so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


INT64_MAX = 2**63 - 1
MAX_PROBLEMS = 16
MAX_PROBLEM_CHARS = 500

# --- services -----------------------------------------------------------------------------------------


class ServiceStatus(Message):
    """``chargebus/services/<service>/status`` (retained; the offline form is the last will)."""

    state: Literal["online", "offline"]
    version: str = ""
    started: AwareDatetime | None = None
    error: str | None = None
    problems: tuple[Annotated[str, StringConstraints(max_length=MAX_PROBLEM_CHARS)], ...] = Field(
        default=(), max_length=MAX_PROBLEMS
    )
    """What is wrong while the service runs on (a failing control cycle, settings not persisted); empty
    when all is well. Online with problems is degraded, not healthy."""
    connects: int = Field(default=0, ge=0)
    """How often the service's bus connected to the broker since it started (1 = never reconnected)."""


# --- meters -------------------------------------------------------------------------------------------


class MeterUsage(StrEnum):
    GRID = "grid"
    PV = "pv"
    BATTERY = "battery"
    CHARGE = "charge"
    AUX = "aux"
    SIGNAL = "signal"
    """A digital input read like a meter (``power_w`` = its value, ≠ 0 = on), e.g. the §14a relay."""


class MeterReading(Message):
    """``chargebus/meters/<meter>``: one poll of one meter, in evcc's sign conventions.

    grid: power > 0 import; pv: power > 0 production; battery: power > 0 discharging.
    """

    meter: str
    usage: MeterUsage
    power_w: float | None = None
    energy_kwh: float | None = None
    """Imported energy (for pv: produced)."""
    return_energy_kwh: float | None = None
    currents_a: tuple[float, float, float] | None = None
    voltages_v: tuple[float, float, float] | None = None
    powers_w: tuple[float, float, float] | None = None
    soc_pct: float | None = None
    capacity_kwh: float | None = None
    timestamp: AwareDatetime = Field(default_factory=utcnow)
    stale: bool = False
    """True when the meter did not answer; values are then the last good ones and must not be trusted."""
    error: str | None = None
    battery_mode: Literal["normal", "hold", "charge"] | None = None
    """Battery mode written to and read back from the device (``battery_control`` batteries only)."""
    battery_mode_error: str | None = None
    """Why the wanted battery mode is not applied (write refused, device away); retried with backoff."""


class VehicleReading(Message):
    """``chargebus/vehicles/<name>``: what is known of a vehicle's battery, from its source (retained).

    ``source``: mqtt / http (a configured vehicle source) or push (``POST /api/vehicles/<name>/soc/<soc>``,
    ``<root>/vehicles/<name>/soc/set``). ``timestamp`` is when the values were measured or pushed; a
    reading past its timeout is republished ``stale`` and must not be acted on.
    """

    vehicle: str
    soc_pct: float | None = Field(default=None, ge=0, le=100)
    range_km: float | None = Field(default=None, ge=0)
    odometer_km: float | None = Field(default=None, ge=0)
    source: Literal["mqtt", "http", "push", "const"]
    timestamp: AwareDatetime = Field(default_factory=utcnow)
    stale: bool = False
    error: str | None = None


# --- chargers -----------------------------------------------------------------------------------------


class ChargeStatus(StrEnum):
    """IEC 61851 vehicle status: A disconnected, B connected, C charging; E/F are errors."""

    A = "A"
    B = "B"
    C = "C"
    E = "E"
    F = "F"


class CommandReason(StrEnum):
    """Why a command was issued or applied (the ev.energy command-log reasons plus failsafe)."""

    START_CHARGE = "START_CHARGE"
    STOP_CHARGE = "STOP_CHARGE"
    SCHEDULED_CHARGING = "SCHEDULED_CHARGING"
    SOLAR_CHARGING = "SOLAR_CHARGING"
    API_TRIGGERED_COMMAND = "API_TRIGGERED_COMMAND"
    BOOST = "BOOST"
    LOAD_BALANCING = "LOAD_BALANCING"
    SYNC = "SYNC"
    FAILSAFE = "FAILSAFE"


class ChargerCommand(Message):
    """``chargebus/chargers/<loadpoint-id>/command`` from the optimizer.

    ``epoch`` names the optimizer instance that issued it (its start, unix ms) and ``seq`` counts that
    instance's commands, so ordering survives a restart without trusting a number a stranger sent (the
    actuator's rules are in ``services/charger_actuator/control.py``). The actuator never applies a command
    past ``valid_until``.
    """

    epoch: int = Field(default=0, ge=0, le=INT64_MAX)
    seq: int = Field(ge=0, le=INT64_MAX)
    enabled: bool
    current_a: float = Field(ge=0, le=80)
    phases: Literal[0, 1, 3] = 0
    """0 = leave the phases as they are."""
    reason: CommandReason = CommandReason.API_TRIGGERED_COMMAND
    issued_at: AwareDatetime = Field(default_factory=utcnow)
    valid_until: AwareDatetime
    ceiling_a: float | None = Field(default=None, ge=0, le=80)
    """A per phase every load-management limit (circuits, §14a dimming, peak shaving) allows this charger
    now; the actuator never applies more, and a failsafe current is held below it (None: no limit)."""


class ChargerStatus(Message):
    """``chargebus/chargers/<loadpoint-id>/status`` from the charger-actuator (retained)."""

    loadpoint: int = Field(ge=1)
    charger: str
    status: ChargeStatus
    enabled: bool
    offered_current_a: float = 0.0
    phases_active: int = Field(default=3, ge=0, le=3)
    phases_switched: Literal[1, 3] | None = None
    """Phases the charger is switched to, where it can say (a 1p/3p charger's phase register)."""
    power_w: float = 0.0
    power_estimated: bool = False
    """True when the charger has no meter and power is offered current × phases × voltage."""
    energy_kwh: float | None = None
    currents_a: tuple[float, float, float] | None = None
    voltages_v: tuple[float, float, float] | None = None
    identifier: str | None = None
    vehicle_soc_pct: float | None = None
    """Vehicle SoC where the charger reports it (ISO 15118, or a mapped register of a generic charger)."""
    applied_seq: int | None = None
    applied_epoch: int | None = None
    """The (epoch, seq) of the optimizer command in force."""
    min_current_a: float | None = Field(default=None, gt=0, le=80)
    """The lowest current the charger accepts while enabled (A); None = not reported (IEC 61851: 6 A)."""
    failsafe: bool = False
    offline: bool = False
    """The charger does not answer (or its OCPP connection is lost): status and values are the last known,
    ``power_w`` is 0 and it is not charging as far as anyone may count."""
    error: str | None = None
    timestamp: AwareDatetime = Field(default_factory=utcnow)
    phase_switching: bool = False
    """The charger can switch between 1 and 3 phases (its driver says so and it is wired for 3)."""
    physical_phases: int = Field(default=3, ge=1, le=3)
    """Phases the charger is wired for (its configuration)."""
    current_step_a: float | None = Field(default=None, ge=0)
    """Resolution of the charger's current setting (A; 0 = any value), where the actuator knows it."""

    @property
    def connected(self) -> bool:
        return self.status in (ChargeStatus.B, ChargeStatus.C)

    @property
    def charging(self) -> bool:
        return self.status is ChargeStatus.C and not self.offline


class OcppStation(Message):
    """A charge point the OCPP central system knows: configured, or an unknown one that tried to connect."""

    identity: str
    configured: bool
    registration: Literal["accepted", "pending", "rejected", "unknown"]
    """accepted = a configured box; pending = unknown and parked; rejected = refused at the handshake;
    unknown = configured but never seen."""
    connected: bool
    remote: str | None = None
    """Address it connected from (host:port)."""
    vendor: str | None = None
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    since: AwareDatetime | None = None
    """Connected since, or last seen."""


class OcppStations(Message):
    """``chargebus/ocpp/stations`` from the charger-actuator (retained)."""

    stations: list[OcppStation]


# --- external signals ---------------------------------------------------------------------------------


class Signal(Message):
    """``chargebus/signals/<name>``: an external control input (retained), e.g. the grid operator's §14a
    dimming relay read by the meter-reader (``dimming``)."""

    name: str
    active: bool
    timestamp: AwareDatetime = Field(default_factory=utcnow)
    error: str | None = None
    """Why the input could not be read (``active`` is then the last known state)."""


# --- tariffs ------------------------------------------------------------------------------------------


class Rate(BaseModel):
    """One tariff slot: ``start <= t < end``; value in currency/kWh, g/kWh (co2) or W (solar)."""

    model_config = ConfigDict(frozen=True)

    start: AwareDatetime
    end: AwareDatetime
    value: float


class TariffType(StrEnum):
    PRICE_STATIC = "pricestatic"
    PRICE_DYNAMIC = "pricedynamic"
    PRICE_FORECAST = "priceforecast"
    CO2 = "co2"
    SOLAR = "solar"
    TEMPERATURE = "temperature"


class TariffUsage(StrEnum):
    GRID = "grid"
    FEEDIN = "feedin"
    CO2 = "co2"
    PLANNER = "planner"
    SOLAR = "solar"


class RateSeries(Message):
    """``chargebus/tariffs/<usage>``: the full normalised rate series (retained)."""

    usage: TariffUsage
    type: TariffType
    currency: str = "EUR"
    rates: list[Rate]
    fetched_at: AwareDatetime = Field(default_factory=utcnow)
    outdated: bool = False
    """True when the provider has failed long enough that the series must not be relied on."""
    error: str | None = None


# --- events (QoS 1, never lost) ----------------------------------------------------------------------


class CommandApplied(Message):
    """``chargebus/events/command``: a command the actuator applied, or a failsafe transition."""

    event_id: str
    loadpoint: int
    charger: str
    seq: int | None
    enabled: bool
    current_a: float
    phases: int
    reason: CommandReason
    ok: bool = True
    error: str | None = None
    timestamp: AwareDatetime = Field(default_factory=utcnow)


class SessionEvent(Message):
    """``chargebus/events/session``: a charging session created, updated or finished (evcc columns)."""

    event_id: str
    kind: Literal["created", "updated", "finished"]
    session_uid: str
    """Stable id of the session across its events, so the gateway's writes are idempotent."""
    loadpoint: str
    loadpoint_id: int
    identifier: str | None = None
    vehicle: str | None = None
    odometer_km: float | None = None
    created: AwareDatetime
    finished: AwareDatetime | None = None
    meter_start_kwh: float | None = None
    meter_end_kwh: float | None = None
    charged_kwh: float = 0.0
    charge_duration_s: float = 0.0
    soc_start_pct: float | None = None
    soc_end_pct: float | None = None
    added_range_km: float | None = None
    solar_percentage: float | None = None
    price: float | None = None
    price_per_kwh: float | None = None
    co2_per_kwh: float | None = None
    reference_price_per_kwh: float | None = None
    reference_co2_per_kwh: float | None = None


class ChargerStatusChanged(Message):
    """``chargebus/events/charger-status``: the charger's A/B/C status changed (fleet status logs)."""

    event_id: str
    loadpoint: int
    charger: str
    status: ChargeStatus
    previous: ChargeStatus | None
    timestamp: AwareDatetime = Field(default_factory=utcnow)


# --- request / reply -------------------------------------------------------------------------------


MAX_REPLY_TOPIC_CHARS = 256
REPLIES_ROOT_CONTEXT = "replies_root"
"""Validation context key: the internal replies root a ``reply_to`` must start with (the bus passes it)."""


class Request(Message):
    """``chargebus/requests/<service>``: run the setter ``key`` (a path below the state root, e.g.
    ``loadpoints/1/mode``) with ``value``; the owner answers on ``reply_to``.

    ``reply_to`` is checked at the boundary: a topic the owner can publish to (no wildcard, not empty, no
    NUL, at most 256 characters) below the internal replies root, which the bus gives as validation context
    (``{"replies_root": "chargebus/replies/"}``; the root is configuration). A request naming any other
    topic is refused whole, so nobody can make a service publish into a branch it does not own.
    """

    id: str = Field(min_length=1, max_length=128)
    reply_to: str = Field(min_length=1, max_length=MAX_REPLY_TOPIC_CHARS)
    key: str = Field(max_length=512)
    value: Any = None

    @field_validator("reply_to")
    @classmethod
    def _reply_topic(cls, topic: str, info: ValidationInfo) -> str:
        try:
            check_publish_topic(topic)
        except InvalidTopic as error:
            raise ValueError(f"reply_to: {error}") from None
        context = info.context if isinstance(info.context, dict) else {}
        root = context.get(REPLIES_ROOT_CONTEXT)
        if isinstance(root, str) and (not topic.startswith(root) or len(topic) == len(root)):
            raise ValueError(f"reply_to must be below {root}")
        return topic


class Reply(Message):
    """The owner's answer; ``code`` hints the HTTP status (400 invalid, 404 unknown, 409 conflict)."""

    id: str
    ok: bool
    value: Any = None
    error: str | None = None
    code: int | None = None


# --- fleet ----------------------------------------------------------------------------------------------

MAX_SITE_CHARGERS = 2000
MAX_SITE_VEHICLES = 2000


class SiteCharger(Message):
    """One charger of a site as the fleet sees it (an EVSE)."""

    name: str = Field(min_length=1, max_length=128)
    driver: str = Field(max_length=64)
    """The ``chargers[].type`` that drives it (the EVSE model)."""
    loadpoint: int | None = Field(default=None, ge=1, le=MAX_SITE_CHARGERS)
    """The loadpoint (1-based) it serves; None when no loadpoint uses it."""
    title: str = Field(default="", max_length=200)
    mode: str | None = Field(default=None, max_length=16)
    """The loadpoint's configured mode (restored after a boost when the tree shows none)."""


class SiteVehicle(Message):
    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    title: str = Field(default="", max_length=200)
    capacity_kwh: float = Field(default=0.0, ge=0, le=1000)
    limit_soc: int = Field(default=0, ge=0, le=100)


class SiteManifest(Message):
    """``<internal>/fleet/site`` (retained, from the site's gateway): what a fleet gateway needs to know
    about a site to serve it — its chargers, vehicles, tariffs, and the roots its own services use (which
    differ from the centre's when a bridge remaps them)."""

    site_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
    title: str = Field(default="", max_length=200)
    owner_email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    """``site.owner``: sites with the same owner share one fleet user."""
    timezone: str = Field(default="UTC", max_length=64)
    currency: str = Field(default="EUR", max_length=8)
    state_root: str = Field(min_length=1, max_length=200)
    internal_root: str = Field(min_length=1, max_length=200)
    chargers: tuple[SiteCharger, ...] = Field(default=(), max_length=MAX_SITE_CHARGERS)
    vehicles: tuple[SiteVehicle, ...] = Field(default=(), max_length=MAX_SITE_VEHICLES)
    tariffs: tuple[str, ...] = Field(default=(), max_length=16)
    """Configured tariff usages (grid, feedin, co2, planner, solar)."""
