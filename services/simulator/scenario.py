"""The scenario a simulated home plays: sun, house load, battery, cars arriving and leaving.

Times of day (``"HH:MM"``) are local to ``timezone`` and repeat every simulated day; a window whose end is
before its start wraps midnight (``17:30``–``07:00``). A scenario is loaded from YAML (docs/simulator.md) or
built from the simple knobs of :class:`shared.config.SimulatorSettings`.
"""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.config import ConfigError, SimulatorSettings


class ScenarioError(ConfigError):
    """The scenario file is missing or invalid; the message names the bad key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Strict):
    """A daily window ``[start, end)`` of local time; wraps midnight when ``end <= start``."""

    start: time
    end: time

    def covers(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


class Cloud(Window):
    factor: float = Field(ge=0, le=1)
    """Share of the clear-sky PV power that gets through."""


class HouseEvent(Window):
    name: str = "load"
    power_w: float = Field(ge=0)
    """Added to the base load while the window is active."""


class SunScenario(_Strict):
    peak_w: float = Field(default=8000.0, ge=0)
    """PV AC power at solar noon under a clear sky (W)."""
    sunrise: time = time(6, 0)
    sunset: time = time(20, 0)
    clouds: tuple[Cloud, ...] = ()

    @model_validator(mode="after")
    def _ordered(self) -> SunScenario:
        if self.sunset <= self.sunrise:
            raise ValueError("sunset must be after sunrise")
        return self


class HouseScenario(_Strict):
    base_w: float = Field(default=400.0, ge=0)
    events: tuple[HouseEvent, ...] = ()


class BatteryScenario(_Strict):
    capacity_kwh: float = Field(default=10.0, gt=0)
    soc_pct: float = Field(default=60.0, ge=0, le=100)
    """State of charge at start."""
    max_charge_w: float = Field(default=5000.0, ge=0)
    max_discharge_w: float = Field(default=5000.0, ge=0)
    min_soc_pct: float = Field(default=5.0, ge=0, le=100)
    """The battery stops discharging here (its own reserve)."""
    max_soc_pct: float = Field(default=100.0, ge=0, le=100)
    response_s: float = Field(default=0.0, ge=0, le=60)
    """Time constant (s) of its zero-export controller: after a step in the house's flow the battery's
    power closes 63 % of the gap in this time, 95 % in three times it (0 = instant)."""

    @model_validator(mode="after")
    def _ordered(self) -> BatteryScenario:
        if self.min_soc_pct > self.max_soc_pct:
            raise ValueError("min_soc_pct must not exceed max_soc_pct")
        return self


class CarScenario(_Strict):
    name: str = "ev"
    capacity_kwh: float = Field(default=60.0, gt=0)
    soc_pct: float = Field(default=30.0, ge=0, le=100)
    """SoC when it plugs in (and at start when it is plugged in then)."""
    max_current_a: float = Field(default=32.0, gt=0)
    phases: Literal[1, 2, 3] = 3
    identifier: str | None = None
    wallbox: int = Field(default=1, ge=1, le=16)
    """The wallbox it plugs into (1 = the first)."""
    ramp_a_per_s: float = Field(default=0.0, ge=0)
    """How fast it follows a higher offered current (A/s per phase; 0 = at once); it stops at once."""
    arrive: time | None = None
    """Plug-in time of day; ``None`` (with ``leave`` ``None``) = plugged in all the time."""
    leave: time | None = None

    @model_validator(mode="after")
    def _both_or_none(self) -> CarScenario:
        if (self.arrive is None) != (self.leave is None):
            raise ValueError("give both arrive and leave, or neither (always plugged in)")
        if self.arrive is not None and self.arrive == self.leave:
            raise ValueError("arrive and leave must differ")
        return self

    @property
    def window(self) -> Window | None:
        if self.arrive is None or self.leave is None:
            return None
        return Window(start=self.arrive, end=self.leave)


class MeterUpdates(_Strict):
    """How often each measuring point's meter updates what it shows (s; 0 = every read)."""

    grid: float = Field(default=0.0, ge=0, le=60)
    pv: float = Field(default=0.0, ge=0, le=60)
    battery: float = Field(default=0.0, ge=0, le=60)
    charge: float = Field(default=0.0, ge=0, le=60)
    """The wallboxes' own meters."""
    house: float = Field(default=0.0, ge=0, le=60)


class Scenario(_Strict):
    start: datetime | time | None = None
    """Simulated wall clock at start: ISO 8601 with offset, or ``"HH:MM"`` = today at that local time;
    default: now."""
    speed: float = Field(default=1.0, gt=0)
    """Simulated seconds per real second."""
    timezone: str = "Europe/Berlin"
    voltage_v: float = Field(default=230.0, gt=0)
    frequency_hz: float = Field(default=50.0, gt=0)
    sun: SunScenario = Field(default_factory=SunScenario)
    house: HouseScenario = Field(default_factory=HouseScenario)
    battery: BatteryScenario = Field(default_factory=BatteryScenario)
    cars: tuple[CarScenario, ...] = ()
    """Cars and the wallbox each uses; the plug-in windows of one wallbox's cars must not overlap."""
    meters: MeterUpdates = Field(default_factory=MeterUpdates)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime | time | None) -> datetime | time | None:
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError("start needs a UTC offset, e.g. 2026-06-21T09:00:00+02:00")
        return value

    @model_validator(mode="after")
    def _one_always_plugged_car(self) -> Scenario:
        for wallbox in {c.wallbox for c in self.cars}:
            sharing = [c for c in self.cars if c.wallbox == wallbox]
            always = [c.name for c in sharing if c.window is None]
            if always and len(sharing) > 1:
                raise ValueError(f"car {always[0]!r} is always plugged in, so it cannot share the wallbox")
        return self

    @property
    def wallboxes(self) -> int:
        """Wallboxes the cars need (at least 1)."""
        return max((c.wallbox for c in self.cars), default=1)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def start_at(self, now: datetime) -> datetime:
        """The simulated start time, given the real ``now`` (timezone-aware)."""
        if isinstance(self.start, datetime):
            return self.start
        local = now.astimezone(self.zone)
        if isinstance(self.start, time):
            return datetime.combine(local.date(), self.start, tzinfo=self.zone)
        return local


def scenario_from_settings(settings: SimulatorSettings) -> Scenario:
    """The scenario of ``settings``: its scenario file when set, else the simple knobs."""
    if settings.scenario:
        return load_scenario(settings.scenario)
    cars = ([settings.car] if settings.car.connected else []) + [c for c in settings.cars if c.connected]
    update = settings.meter_update_s
    try:
        return Scenario(
            start=_start(settings.start_time),
            speed=settings.speed,
            timezone=settings.timezone,
            sun=SunScenario(peak_w=settings.pv_peak_w),
            house=HouseScenario(base_w=settings.house_base_w),
            battery=BatteryScenario(
                capacity_kwh=settings.battery_capacity_kwh,
                soc_pct=settings.battery_soc_pct,
                max_charge_w=settings.battery_max_power_w,
                max_discharge_w=settings.battery_max_power_w,
                response_s=settings.battery_response_s,
            ),
            cars=tuple(
                CarScenario(
                    name=car.name,
                    capacity_kwh=car.capacity_kwh,
                    soc_pct=car.soc_pct,
                    max_current_a=car.max_current_a,
                    phases=car.phases,
                    identifier=car.identifier,
                    wallbox=car.wallbox,
                    ramp_a_per_s=settings.car_ramp_a_per_s,
                )
                for car in cars
            ),
            meters=MeterUpdates(grid=update, pv=update, battery=update, charge=update, house=update),
        )
    except (ValidationError, ValueError) as error:
        raise ScenarioError(f"simulator settings: {error}") from None


def _start(text: str | None) -> datetime | time | None:
    if not text:
        return None
    try:
        return time.fromisoformat(text) if len(text) <= 8 else datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"start_time {text!r} is neither HH:MM nor an ISO 8601 date-time") from None


def parse_scenario(data: object, origin: str = "scenario") -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{origin}: the top level must be a mapping")
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or '(top level)'}: {item['msg']}"
            for item in error.errors()
        )
        raise ScenarioError(f"{origin}: {problems}") from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file; :class:`ScenarioError` names the bad key."""
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(f"scenario file not found: {file}") from None
    except yaml.YAMLError as error:
        raise ScenarioError(f"{file}: not valid YAML: {error}") from None
    return parse_scenario(data, str(file))
