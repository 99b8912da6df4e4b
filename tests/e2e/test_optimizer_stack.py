"""The optimizer on the whole demo stack (DESIGN §8, end to end), observed only as a user sees it: the REST
API (``/api/state``, ``/api/tariff/grid``, ``/api/sessions``) and the simulated wallbox's Modbus registers.

1. PV charging starts after the enable delay once the simulated sun gives enough surplus, and stops after
   the disable delay when it sets.
2. A SoC plan waits for the cheapest slots of a dynamic tariff (served by a local HTTP server in the format
   of energy-charts.info, read by the generic ``custom`` provider) and charges when they include now.
3. A finished session row appears when the simulated car leaves.

The simulator runs its own clock (``speed``); the optimizer's delays, plans and tariffs use real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymodbus.client import AsyncModbusTcpClient

from tests.e2e.stack import (
    CURRENT_REGISTER,
    ENABLED_REGISTER,
    STATUS_REGISTER,
    Stack,
    api_result,
    demo_stack,
    healthy,
    stack_config,
    use_scenario,
    wait_until,
)
from tests.support.broker import free_port

pytestmark = pytest.mark.e2e

STATUS_A = 1

MIN_CURRENT_A = 6
PHASES = 3
VOLTAGE_V = 230
MIN_POWER_W = MIN_CURRENT_A * PHASES * VOLTAGE_V
"""Surplus needed to start PV charging at the minimum current (enable threshold 0 W)."""

ENABLE_DELAY_S = 3
DISABLE_DELAY_S = 3
DELAY_TOLERANCE_S = 1.0
"""The optimizer and the gateway receive the same meter reading over MQTT, but not at the same instant.
(Ignoring a delay shows as a wait of a few tenths of a second; a wrong delay is off by whole seconds.)"""

INERT_BATTERY = {"capacity_kwh": 10, "soc_pct": 50, "max_charge_w": 0, "max_discharge_w": 0}
"""A battery that neither charges nor discharges: every watt of surplus or deficit shows at the grid."""


# --- observing the stack --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One look at /api/state and the wallbox registers, with the (monotonic) time span it was taken in."""

    started: float
    ended: float
    site: dict[str, Any]
    enabled_register: int
    deci_amps: int
    status_register: int

    @property
    def lp(self) -> dict[str, Any]:
        loadpoints = self.site.get("loadpoints") or [{}]
        return dict(loadpoints[0])

    @property
    def site_power_w(self) -> float | None:
        """grid + battery as the meters report them (< 0 = surplus), None before both were read."""
        grid = (self.site.get("grid") or {}).get("power")
        battery = (self.site.get("battery") or {}).get("power", 0.0)
        if not isinstance(grid, (int, float)) or not isinstance(battery, (int, float)):
            return None
        return float(grid) + float(battery)

    @property
    def pv_w(self) -> float:
        return float(self.site.get("pvPower") or 0.0)

    @property
    def charge_power_w(self) -> float:
        return float(self.lp.get("chargePower") or 0.0)


@dataclass
class Probe:
    http: httpx.AsyncClient
    modbus: AsyncModbusTcpClient
    samples: list[Sample] = field(default_factory=list)

    async def registers(self) -> list[int]:
        response = await self.modbus.read_holding_registers(0, count=3, device_id=1)
        assert not response.isError(), response
        return list(response.registers)

    async def sample(self) -> Sample:
        loop = asyncio.get_running_loop()
        started = loop.time()
        response = await self.http.get("/api/state")
        response.raise_for_status()
        registers = await self.registers()
        sample = Sample(
            started,
            loop.time(),
            api_result(response),
            registers[ENABLED_REGISTER],
            registers[CURRENT_REGISTER],
            registers[STATUS_REGISTER],
        )
        self.samples.append(sample)
        return sample

    def watch(self, condition: Callable[[Sample], bool]) -> Callable[[], Any]:
        """A ``wait_until`` check: take a sample, return it when ``condition`` holds."""

        async def check() -> Sample | None:
            sample = await self.sample()
            return sample if condition(sample) else None

        return check

    async def until(self, condition: Callable[[Sample], bool], timeout: float) -> Sample:
        """Sample until ``condition`` holds; the samples taken on the way are in ``self.samples``."""
        self.samples = []
        result: Sample = await wait_until(self.watch(condition), timeout=timeout)
        return result


@contextlib.asynccontextmanager
async def running(tmp_path: Path, config: dict[str, Any]) -> AsyncIterator[tuple[Stack, Probe]]:
    """The demo stack, healthy, with an HTTP and a Modbus client for looking at it."""
    async with (
        demo_stack(tmp_path, config) as stack,
        httpx.AsyncClient(base_url=stack.base_url, timeout=5) as http,
    ):
        await wait_until(lambda: healthy(http), timeout=60)
        modbus = AsyncModbusTcpClient("127.0.0.1", port=stack.wallbox_port)
        await modbus.connect()
        try:
            yield stack, Probe(http, modbus)
        finally:
            modbus.close()


# --- 1. PV: enable and disable delays as the simulated sun rises and sets ------------------------------

# One simulated hour per real second: a 24 s day with 8 s of sun, rising 7 s after the simulator starts
# (the other services are normally up by then; else the test waits for the next day). At 20 kW peak the
# surplus passes the 4.14 kW a car needs at 6 A about 0.9 s after sunrise and falls below it about 0.9 s
# before sunset.
PV_DAY = {
    "start": "00:00",
    "speed": 3600,
    "timezone": "Europe/Berlin",
    "sun": {"peak_w": 20000, "sunrise": "07:00", "sunset": "15:00"},
    "house": {"base_w": 100},
    "battery": INERT_BATTERY,
    # A huge battery so a day of solar charging moves the SoC by a few percent only (no SoC limit is hit).
    "cars": [{"name": "ev", "capacity_kwh": 1000, "soc_pct": 35, "max_current_a": 16, "phases": 3}],
}


def _surplus_for_min_current(sample: Sample) -> bool:
    power = sample.site_power_w
    return power is not None and power <= -MIN_POWER_W


async def test_pv_starts_after_enable_delay_and_stops_after_disable_delay(tmp_path: Path) -> None:
    def pv_home(config: dict[str, Any]) -> None:
        use_scenario(config, tmp_path, PV_DAY)
        lp = config["loadpoints"][0]
        lp["mode"] = "pv"
        lp["enable"] = {"threshold_w": 0, "delay_s": ENABLE_DELAY_S}
        lp["disable"] = {"threshold_w": 0, "delay_s": DISABLE_DELAY_S}

    async with running(tmp_path, stack_config(pv_home)) as (_stack, probe):
        # Night (normally the stack is up before the simulated sunrise; if not, the next night comes soon).
        await probe.until(lambda s: s.pv_w == 0 and s.enabled_register == 0 and not s.lp.get("enabled"), 40)

        # Sunrise: surplus grows until the car could charge at minimum current; the enable delay runs.
        switched_on = await probe.until(lambda s: s.enabled_register == 1, 40)
        before = probe.samples[:-1]
        quiet = [s for s in before if not _surplus_for_min_current(s)]
        assert quiet, "the surplus must not be there from the start"
        last_quiet = quiet[-1]
        waiting = [s for s in before if s.started >= last_quiet.started and _surplus_for_min_current(s)]
        assert waiting, "charging started the moment the surplus appeared"
        assert all(s.enabled_register == 0 and s.lp.get("enabled") is False for s in waiting)
        assert any(s.lp.get("pvAction") == "enable" and s.lp.get("pvRemaining", 0) > 0 for s in waiting), [
            (s.lp.get("pvAction"), s.lp.get("pvRemaining")) for s in waiting
        ]
        # The surplus appeared after ``last_quiet`` began and the wallbox was enabled before
        # ``switched_on`` ended: the span between them is at least the delay the optimizer waited.
        waited = switched_on.ended - last_quiet.started
        assert waited >= ENABLE_DELAY_S - DELAY_TOLERANCE_S, f"enabled {waited:.2f} s after the surplus"

        charging = await probe.until(
            lambda s: s.enabled_register == 1 and s.lp.get("charging") is True and s.charge_power_w > 0, 20
        )
        assert charging.deci_amps >= MIN_CURRENT_A * 10
        assert charging.pv_w > 0

        # Sunset: the surplus no longer carries the minimum current; the disable delay runs.
        switched_off = await probe.until(lambda s: s.enabled_register == 0, 40)
        before = probe.samples[:-1]
        balanced = [s for s in before if (s.site_power_w or 0.0) <= 0]
        assert balanced, "the site must not import from the start of the solar charge"
        last_balanced = balanced[-1]
        importing = [s for s in before if s.started >= last_balanced.started and (s.site_power_w or 0.0) > 0]
        assert importing, "charging stopped the moment the surplus was gone"
        assert all(s.enabled_register == 1 for s in importing)
        assert any(s.lp.get("pvAction") == "disable" and s.lp.get("pvRemaining", 0) > 0 for s in importing), [
            (s.lp.get("pvAction"), s.lp.get("pvRemaining")) for s in importing
        ]
        waited = switched_off.ended - last_balanced.started
        assert waited >= DISABLE_DELAY_S - DELAY_TOLERANCE_S, f"disabled {waited:.2f} s after the import"
        assert switched_off.pv_w < MIN_POWER_W, "stopped although the sun still carried the minimum current"

        stopped = await probe.until(lambda s: s.charge_power_w == 0 and s.lp.get("charging") is False, 20)
        assert stopped.enabled_register == 0


# --- 2. A plan charges in the cheapest slots of a dynamic tariff ----------------------------------------

SLOT = timedelta(minutes=15)
EXPENSIVE_EUR_MWH = 400.0
CHEAP_EUR_MWH = (50.0, 60.0, 70.0)
"""Three cheap slots in a row, cheapest first: the planner starts at the first one."""


def _slot_start(moment: datetime) -> datetime:
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


class PriceServer:
    """Day-ahead prices in energy-charts.info's format (``unix_seconds``, ``price`` in EUR/MWh) over HTTP.

    ``cheap_from`` = the first of the cheap slots, or ``None`` for "the slot that is current when asked".
    """

    def __init__(self, cheap_from: datetime | None) -> None:
        self.cheap_from = cheap_from
        self.port = free_port()
        self.requests = 0
        self.served = asyncio.Condition()
        self.server: asyncio.Server | None = None

    def payload(self, now: datetime) -> dict[str, Any]:
        current = _slot_start(now)
        cheap_from = self.cheap_from or current
        starts = [current + SLOT * i for i in range(-4, 96)]
        prices = [
            CHEAP_EUR_MWH[(s - cheap_from) // SLOT]
            if timedelta(0) <= s - cheap_from < 3 * SLOT
            else EXPENSIVE_EUR_MWH
            for s in starts
        ]
        return {
            "license_info": "CC BY 4.0 (test data)",
            "unix_seconds": [int(s.timestamp()) for s in starts],
            "price": prices,
            "unit": "EUR / MWh",
            "deprecated": False,
        }

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            body = json.dumps(self.payload(datetime.now(UTC))).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        finally:
            writer.close()
        async with self.served:
            self.requests += 1
            self.served.notify_all()

    async def wait_requests(self, count: int, timeout: float = 20) -> None:
        async with asyncio.timeout(timeout), self.served:
            await self.served.wait_for(lambda: self.requests >= count)

    async def __aenter__(self) -> PriceServer:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def _grid_rates(http: httpx.AsyncClient) -> list[tuple[datetime, datetime, float]]:
    response = await http.get("/api/tariff/grid")
    if response.status_code != 200:
        return []
    return [
        (datetime.fromisoformat(r["start"]), datetime.fromisoformat(r["end"]), float(r["value"]))
        for r in api_result(response)["rates"]
    ]


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


async def test_plan_charges_in_the_cheapest_slots(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    current = _slot_start(now)
    cheap_from = current + 8 * SLOT  # two hours ahead: far from any slot boundary of "now"
    target = current + 12 * SLOT
    async with PriceServer(cheap_from) as prices:

        def dark_home_with_dynamic_tariff(config: dict[str, Any]) -> None:
            config["simulator"].update(pv_peak_w=0, battery_max_power_w=0, speed=1)
            config["loadpoints"][0]["mode"] = "pv"
            config["tariffs"]["refresh_s"] = 2
            config["tariffs"]["grid"] = {
                "type": "custom",
                "url": f"http://127.0.0.1:{prices.port}/price?bzn=DE-LU",
                "jq": "[.unix_seconds, .price] | transpose | map({start: .[0], value: .[1]})",
                "scale": 0.001,
                "slot_minutes": 15,
            }

        async with running(tmp_path, stack_config(dark_home_with_dynamic_tariff)) as (_stack, probe):
            http = probe.http

            async def cheap_window_later() -> bool:
                rates = await _grid_rates(http)
                return any(start == cheap_from and value == pytest.approx(0.05) for start, _, value in rates)

            await wait_until(cheap_window_later, timeout=20)

            # A SoC plan: 35 % → 40 % of 60 kWh needs about 20 min at 11 kW, i.e. two slots.
            stamp = target.isoformat().replace("+00:00", "Z")
            response = await http.post(f"/api/vehicles/ev/plan/soc/40/{stamp}")
            assert response.status_code == 200, response.text
            assert api_result(response)["soc"] == 40

            # The cheap window is later: the plan waits for it and the car is not charged now.
            planned = await probe.until(
                lambda s: (
                    _when(s.lp.get("planProjectedStart")) == cheap_from and s.lp.get("effectivePlanSoc") == 40
                ),
                20,
            )
            assert planned.lp.get("planActive") is False
            end = _when(planned.lp.get("planProjectedEnd"))
            assert end is not None and cheap_from + SLOT < end < cheap_from + 2 * SLOT, end
            assert planned.pv_w == 0
            # Still waiting after the next tariff refresh has gone through the optimizer.
            seen = prices.requests
            await prices.wait_requests(seen + 2)
            waiting = await probe.sample()
            for sample in [planned, *probe.samples]:
                assert sample.enabled_register == 0 and sample.lp.get("enabled") is False, sample.lp
                assert sample.charge_power_w == 0
            assert _when(waiting.lp.get("planProjectedStart")) == cheap_from

            # The prices change: the cheap window now starts with the current slot.
            prices.cheap_from = None

            async def cheap_now() -> bool:
                at = datetime.now(UTC)
                rates = await _grid_rates(http)
                return any(start <= at < end and value < 0.1 for start, end, value in rates)

            await wait_until(cheap_now, timeout=20)
            charging = await probe.until(
                lambda s: (
                    s.lp.get("planActive") is True
                    and s.enabled_register == 1
                    and s.charge_power_w > 0
                    and s.lp.get("charging") is True
                ),
                20,
            )
            assert charging.deci_amps == 160, "a plan charges at the maximum current"
            assert charging.pv_w == 0, "no solar: the grid pays for the plan"
            started = _when(charging.lp.get("planProjectedStart"))
            assert started is not None and started <= datetime.now(UTC)


# --- 3. A finished session when the car leaves ------------------------------------------------------------

# Two simulated minutes per real second; the car is plugged in at start and leaves 12 real seconds later.
LEAVING_CAR = {
    "start": "08:00",
    "speed": 120,
    "timezone": "Europe/Berlin",
    "sun": {"peak_w": 0},
    "house": {"base_w": 400},
    "battery": INERT_BATTERY,
    "cars": [
        {
            "name": "ev",
            "capacity_kwh": 60,
            "soc_pct": 35,
            "max_current_a": 16,
            "phases": 3,
            "identifier": "04A1B2C3",
            "arrive": "07:00",
            "leave": "08:24",
        }
    ],
}


async def test_session_row_appears_when_the_car_leaves(tmp_path: Path) -> None:
    def charge_now(config: dict[str, Any]) -> None:
        use_scenario(config, tmp_path, LEAVING_CAR)
        config["loadpoints"][0]["mode"] = "now"

    async with running(tmp_path, stack_config(charge_now)) as (_stack, probe):
        charging = await probe.until(
            lambda s: s.enabled_register == 1 and s.lp.get("charging") is True and s.charge_power_w > 1000, 20
        )
        assert charging.lp.get("connected") is True
        assert charging.deci_amps == 160

        # The scenario unplugs the car: status A; the optimizer disables the wallbox of the empty loadpoint.
        await probe.until(lambda s: s.status_register == STATUS_A and s.lp.get("connected") is False, 30)
        await probe.until(lambda s: s.enabled_register == 0 and s.charge_power_w == 0, 10)

        async def finished_session() -> dict[str, Any] | None:
            response = await probe.http.get("/api/sessions")
            rows = api_result(response) if response.status_code == 200 else []
            return next((r for r in rows if r.get("finished")), None)

        row = await wait_until(finished_session, timeout=20)
        assert row["loadpoint"] == "Garage"
        assert row["vehicle"] == "Demo EV"
        assert row["identifier"] == "04A1B2C3"
        assert row["chargedEnergy"] > 0.05
        assert row["meterStart"] is not None and row["meterStop"] is not None
        assert row["meterStop"] - row["meterStart"] == pytest.approx(row["chargedEnergy"], abs=1e-3)
        assert row["chargeDuration"] > 0
        created = datetime.fromisoformat(row["created"])
        finished = datetime.fromisoformat(row["finished"])
        assert created < finished
        assert row["chargeDuration"] / 1e9 <= (finished - created).total_seconds() + 1
        assert row["socStart"] == pytest.approx(35, abs=1)
        assert row["socEnd"] > row["socStart"]
        assert row["solarPercentage"] == 0
        assert row["price"] is not None and row["price"] > 0
        assert row["pricePerKWh"] is not None and row["pricePerKWh"] > 0
        # /api/state shows the same energy for the last session (in Wh).
        energy_wh = row["chargedEnergy"] * 1000
        await probe.until(lambda s: abs(float(s.lp.get("chargedEnergy") or 0) - energy_wh) < 1, 10)
        # Exactly one row for the one connection.
        rows = api_result(await probe.http.get("/api/sessions"))
        assert [r["id"] for r in rows] == [row["id"]]
