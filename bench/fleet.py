"""Fleet ingest at N sites: synthetic sites publish realistic trees and session events at evcc's rates into
one broker; one or more ``chargebus fleet-gateway`` instances (child processes) on PostgreSQL serve ``/v2``.

    python -m bench.fleet --sites 200                  # the default run
    python -m bench.fleet --sites 1000 --instances 2   # the target: lag_p99_ms ≤ 1000, events_lost 0

Each site publishes its retained tree once (site, one loadpoint, one vehicle: about 100 topics), its
manifest, tariffs and service status, then every ``--interval-s`` (evcc's 30 s) the values that change
while charging — site powers, energies and timers, loadpoint power, currents, energies, timers, SoC —
spread evenly over the interval, and a session (created → updated → finished, with charger status
changes) every ``--session-every-s``. Meanwhile probes measure:

- ``lag_p99_ms``: a unique ``chargePower`` published for a random site → the value shown by
  ``GET /v2/evses/{id}`` (``live_status.charge_rate_watts``), polled every 20 ms;
- ``event_lag_p99_ms``: a session event → its session listed by ``GET /v2/charging_sessions``;
- ``events_lost``: events published minus events stored (``processed_events`` + charger status logs),
  after a drain of at most 30 s.

``cpu_pct`` and ``rss_mb`` are the fleet gateways' (all instances, % of one core); the broker's and the
publisher's CPU are printed beside them, and PostgreSQL's rows written per second and bytes per site.
Prints one JSON line per run and a human summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import yaml
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bench.machine import machine
from bench.stats import percentile
from services.demo_fleet import fleet_data
from services.embedded_broker import find_mosquitto, mosquitto
from services.gateway.fleet.auth import create_client, issue_token
from services.gateway.fleet.models import migrate_fleet
from shared.db import make_engine, migrate
from shared.messages import (
    ChargerStatusChanged,
    ChargeStatus,
    Rate,
    RateSeries,
    ServiceStatus,
    SessionEvent,
    SiteCharger,
    SiteManifest,
    SiteVehicle,
    TariffType,
    TariffUsage,
)
from tests.support.broker import free_port

POSTGRES = os.environ.get("CHARGEBUS_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SITES_ROOT = "sites"
ALL_SCOPES = "evse:read charging_session:read"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- measuring processes --------------------------------------------------------------------------


@dataclass
class Usage:
    pid: int
    cpu_start_s: float = 0.0
    wall_start_s: float = 0.0
    rss_peak_mb: float = 0.0

    def cpu_s(self) -> float:
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def rss_mb(self) -> float:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def start(self) -> None:
        self.cpu_start_s, self.wall_start_s = self.cpu_s(), time.monotonic()

    def sample(self) -> None:
        self.rss_peak_mb = max(self.rss_peak_mb, self.rss_mb())

    def pct(self) -> float:
        wall = time.monotonic() - self.wall_start_s
        return 100 * (self.cpu_s() - self.cpu_start_s) / wall if wall > 0 else 0.0


# --- the synthetic sites ----------------------------------------------------------------------------


def site_id(n: int) -> str:
    return f"site-{n:06d}"


def manifest(n: int) -> SiteManifest:
    sid = site_id(n)
    return SiteManifest(
        site_id=sid,
        title=f"Home {n}",
        timezone="Europe/Berlin",
        currency="EUR",
        state_root=f"{SITES_ROOT}/{sid}/evcc",
        internal_root=f"{SITES_ROOT}/{sid}/chargebus",
        chargers=(SiteCharger(name="wallbox", driver="demo", loadpoint=1, title="Garage", mode="pv"),),
        vehicles=(SiteVehicle(name="ev", title="EV", capacity_kwh=60, limit_soc=90),),
        tariffs=("grid", "feedin"),
    )


SITE_KEYS = (
    "title", "gridPower", "pvPower", "homePower", "batteryPower", "batterySoc", "batteryMode", "bufferSoc",
    "prioritySoc", "greenShareHome", "greenShareLoadpoints", "tariffGrid", "tariffFeedIn", "tariffPriceHome",
    "tariffCo2", "residualPower", "siteTitle", "currency", "smartCostType", "batteryCapacity",
)  # fmt: skip
LOADPOINT_KEYS = (
    "title", "mode", "connected", "charging", "enabled", "chargePower", "offeredCurrent", "minCurrent",
    "maxCurrent", "phasesConfigured", "phasesActive", "chargerPhases1p3p", "limitSoc", "limitEnergy",
    "sessionEnergy", "chargedEnergy", "chargeDuration", "connectedDuration", "chargeTotalImport",
    "vehicleSoc", "vehicleName", "vehicleRange", "vehicleOdometer", "planActive", "pvAction",
    "enableThreshold", "disableThreshold", "priority", "smartCostActive", "chargeRemainingDuration",
)  # fmt: skip
VEHICLE_KEYS = ("title", "capacity", "minSoc", "limitSoc", "repeatingPlans")
CHANGING_SITE = ("gridPower", "pvPower", "homePower", "batteryPower", "batterySoc", "greenShareHome",
                 "greenShareLoadpoints", "tariffGrid")  # fmt: skip
CHANGING_LOADPOINT = ("sessionEnergy", "chargedEnergy", "chargeDuration", "connectedDuration",
                      "vehicleSoc", "chargeTotalImport", "offeredCurrent")  # fmt: skip


def value(key: str, rng: random.Random) -> str:
    if key in ("connected", "charging", "enabled", "planActive", "smartCostActive", "chargerPhases1p3p"):
        return "true"
    if key in ("mode",):
        return "pv"
    if key in ("title", "siteTitle", "vehicleName", "currency", "smartCostType", "pvAction", "batteryMode"):
        return {"currency": "EUR", "vehicleName": "ev", "pvAction": "inactive", "batteryMode": "normal"}.get(
            key, "x"
        )
    if key == "repeatingPlans":
        return "[]"
    return f"{rng.uniform(0, 5000):.1f}"


def tariffs(now: datetime) -> list[tuple[str, str]]:
    start = now.replace(minute=0, second=0, microsecond=0)
    grid = RateSeries(
        usage=TariffUsage.GRID,
        type=TariffType.PRICE_DYNAMIC,
        currency="EUR",
        rates=[
            Rate(start=start + timedelta(hours=h), end=start + timedelta(hours=h + 1), value=0.2 + h / 1000)
            for h in range(36)
        ],
    )
    feedin = RateSeries(
        usage=TariffUsage.FEEDIN,
        type=TariffType.PRICE_STATIC,
        currency="EUR",
        rates=[Rate(start=start, end=start + timedelta(days=2), value=0.08)],
    )
    return [("grid", grid.model_dump_json()), ("feedin", feedin.model_dump_json())]


@dataclass
class Published:
    events: set[str] = field(default_factory=set)
    messages: int = 0


class Sites:
    """Publishes for every site over a few connections (a real fleet arrives through many bridges)."""

    def __init__(self, host: str, port: int, count: int, connections: int = 4) -> None:
        self.host, self.port, self.count = host, port, count
        self.connections = connections
        self.clients: list[aiomqtt.Client] = []
        self.published = Published()
        self.rng = random.Random(7)
        self.sessions: dict[int, str] = {}
        self.probing: set[int] = set()
        """Sites whose chargePower a probe owns right now (their cycles leave it alone)."""

    @contextlib.asynccontextmanager
    async def connected(self) -> AsyncIterator[Sites]:
        async with contextlib.AsyncExitStack() as stack:
            for n in range(self.connections):
                client = aiomqtt.Client(
                    self.host, self.port, identifier=f"bench-sites-{n}-{uuid.uuid4().hex[:6]}"
                )
                self.clients.append(await stack.enter_async_context(client))
            yield self

    def client(self, n: int) -> aiomqtt.Client:
        return self.clients[n % len(self.clients)]

    async def publish(self, n: int, topic: str, payload: str, qos: int = 0, retain: bool = True) -> None:
        await self.client(n).publish(topic, payload, qos=qos, retain=retain)
        self.published.messages += 1

    async def retained(self, n: int, now: datetime) -> None:
        sid = site_id(n)
        root, internal = f"{SITES_ROOT}/{sid}/evcc", f"{SITES_ROOT}/{sid}/chargebus"
        for key in SITE_KEYS:
            await self.publish(n, f"{root}/site/{key}", value(key, self.rng))
        for key in LOADPOINT_KEYS:
            await self.publish(n, f"{root}/loadpoints/1/{key}", value(key, self.rng))
        for key in VEHICLE_KEYS:
            await self.publish(n, f"{root}/vehicles/ev/{key}", value(key, self.rng))
        await self.publish(n, f"{root}/status", "online")
        for usage, series in tariffs(now):
            await self.publish(n, f"{internal}/tariffs/{usage}", series, qos=1)
        for service in ("optimizer", "gateway", "charger-actuator", "meter-reader"):
            status = ServiceStatus(state="online", version="bench", started=now)
            await self.publish(n, f"{internal}/services/{service}/status", status.model_dump_json(), qos=1)
        await self.publish(n, f"{internal}/fleet/site", manifest(n).model_dump_json(), qos=1)

    async def cycle(self, n: int) -> None:
        """What evcc publishes for a charging site in one interval."""
        root = f"{SITES_ROOT}/{site_id(n)}/evcc"
        for key in CHANGING_SITE:
            await self.publish(n, f"{root}/site/{key}", value(key, self.rng))
        await self.publish(n, f"{root}/updated", str(int(time.time())))
        for key in CHANGING_LOADPOINT:
            await self.publish(n, f"{root}/loadpoints/1/{key}", value(key, self.rng))
        power = self.rng.uniform(1400, 11000)
        if n not in self.probing:
            await self.publish(n, f"{root}/loadpoints/1/chargePower", f"{power:.0f}")
        for phase in ("l1", "l2", "l3"):
            await self.publish(n, f"{root}/loadpoints/1/chargeCurrents/{phase}", f"{power / 690:.2f}")

    async def event(self, n: int, topic_kind: str, body: str) -> None:
        await self.publish(
            n, f"{SITES_ROOT}/{site_id(n)}/chargebus/events/{topic_kind}", body, qos=1, retain=False
        )

    async def session_step(self, n: int, charged_kwh: float | None = None) -> None:
        """The next event of site ``n``'s session: created (with a plug-in), updated, finished (unplug)."""
        now = datetime.now(UTC).replace(microsecond=0)
        uid = self.sessions.get(n)
        if uid is None:
            uid = self.sessions[n] = uuid.uuid4().hex
            await self.status(n, ChargeStatus.B, ChargeStatus.A)
            kind = "created"
        else:
            kind = self.rng.choice(["updated", "finished"])
        kwh = charged_kwh if charged_kwh is not None else round(self.rng.uniform(0, 30), 3)
        event = SessionEvent(
            event_id=uuid.uuid4().hex, kind=kind, session_uid=uid, loadpoint="Garage", loadpoint_id=1,
            vehicle="EV", created=now, finished=now if kind == "finished" else None, charged_kwh=kwh,
        )  # fmt: skip
        await self.event(n, "session", event.model_dump_json())
        self.published.events.add(event.event_id)
        if kind == "finished":
            await self.status(n, ChargeStatus.A, ChargeStatus.B)
            del self.sessions[n]

    async def status(self, n: int, status: ChargeStatus, previous: ChargeStatus) -> None:
        change = ChargerStatusChanged(
            event_id=uuid.uuid4().hex, loadpoint=1, charger="wallbox", status=status, previous=previous
        )
        await self.event(n, "charger-status", change.model_dump_json())
        self.published.events.add(change.event_id)


# --- the fleet gateways -------------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_schema(url: str) -> Iterator[tuple[str, Engine]]:
    admin = make_engine(url)
    schema = f"fleetbench_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    scoped = f"{url}?options=-csearch_path%3D{schema}"
    engine = make_engine(scoped)
    try:
        yield scoped, engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def gateway_config(folder: Path, broker_port: int, db_url: str, port: int, interval_s: float) -> Path:
    """The demo's fleet-gateway configuration with this run's database, group and flush interval."""
    data = fleet_data(folder, broker_port, port, db_url)
    data["fleet"] = {"sites_root": SITES_ROOT, "group": "bench", "flush_interval_s": interval_s}
    data["log"] = {"level": "warning", "format": "json"}
    path = folder / f"gateway-{port}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@contextlib.contextmanager
def gateways(
    folder: Path, count: int, broker_port: int, db_url: str, flush_s: float
) -> Iterator[list[tuple[int, subprocess.Popen[bytes]]]]:
    started: list[tuple[int, subprocess.Popen[bytes]]] = []
    try:
        for index in range(count):
            port = free_port()
            config = gateway_config(folder, broker_port, db_url, port, flush_s)
            env = {**os.environ, "CHARGEBUS_FLEET__INSTANCE": f"bench-{index}"}
            log = (folder / f"gateway-{index}.log").open("wb")
            proc = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "fleet-gateway", "--config", str(config)],
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            started.append((port, proc))
        yield started
    finally:
        for _, proc in started:
            proc.terminate()
        for _, proc in started:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def operator_token(engine: Engine) -> str:
    now = datetime.now(UTC)
    with Session(engine) as db:
        client, secret = create_client(
            db, name="bench", scopes=frozenset(ALL_SCOPES.split()), user_id=None, now=now,
            rate_limit_per_hour=10**9,
        )  # fmt: skip
        db.flush()
        assert secret is not None
        token, _ = issue_token(db, client.client_id, secret, None, now)
        db.commit()
    return token


ROWS_WRITTEN = "SELECT tup_inserted + tup_updated FROM pg_stat_database WHERE datname = current_database()"
SCHEMA_BYTES = (
    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'"
)


def scalar(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar() or 0)


# --- the run ------------------------------------------------------------------------------------------


async def wait_http(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{base}/health")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{base} did not come up")


async def evse_ids(
    http: httpx.AsyncClient, headers: dict[str, str], sites: int, timeout: float
) -> dict[str, str]:
    """site id → EVSE id, once every site is registered (listing pages of 100)."""
    deadline = time.monotonic() + timeout
    found: dict[str, str] = {}
    while time.monotonic() < deadline:
        found.clear()
        url: str | None = "/v2/evses?page_size=100"
        while url:
            page = await http.get(url, headers=headers)
            for evse in page.json():
                found[evse["site"]] = evse["id"]
            following = page.links.get("next", {}).get("url")
            url = following if following and following != "about:blank" else None
        if len(found) >= sites:
            return found
        await asyncio.sleep(0.5)
    raise TimeoutError(f"only {len(found)} of {sites} sites registered")


async def probe_state(
    http: httpx.AsyncClient, headers: dict[str, str], sites: Sites, n: int, evse: str, watts: int
) -> float | None:
    sites.probing.add(n)
    try:
        sent = time.monotonic()
        await sites.publish(n, f"{SITES_ROOT}/{site_id(n)}/evcc/loadpoints/1/chargePower", str(watts))
        while time.monotonic() - sent < 15:
            response = await http.get(f"/v2/evses/{evse}", headers=headers)
            live = response.json().get("live_status") if response.status_code == 200 else None
            if live and live.get("charge_rate_watts") == watts:
                return time.monotonic() - sent
            await asyncio.sleep(0.02)
        return None
    finally:
        sites.probing.discard(n)


async def probe_event(
    http: httpx.AsyncClient, headers: dict[str, str], sites: Sites, n: int, evse: str, wh: int
) -> float | None:
    sites.sessions.pop(n, None)  # a fresh session, so the probe's energy is its own
    sites.probing.add(n)
    sent = time.monotonic()
    await sites.session_step(n, charged_kwh=wh / 1000)
    while time.monotonic() - sent < 15:
        listed = (
            await http.get("/v2/charging_sessions", params={"evse_id": evse, "page_size": 5}, headers=headers)
        ).json()
        if any(s.get("energy_delivered_watt_hours") == wh for s in listed):
            sites.probing.discard(n)
            return time.monotonic() - sent
        await asyncio.sleep(0.02)
    sites.probing.discard(n)
    return None


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if find_mosquitto() is None:
        raise SystemExit("bench.fleet needs mosquitto")
    with tempfile.TemporaryDirectory() as tmp, postgres_schema(args.database) as (db_url, engine):
        folder = Path(args.logs or tmp)
        migrate(engine)
        migrate_fleet(engine)
        token = operator_token(engine)
        headers = {"Authorization": f"Bearer {token}"}
        broker_port = free_port()
        with (
            mosquitto(broker_port) as broker,
            gateways(folder, args.instances, broker_port, db_url, args.flush_s) as procs,
        ):
            await asyncio.gather(*(wait_http(f"http://127.0.0.1:{port}") for port, _ in procs))
            async with (
                Sites("127.0.0.1", broker_port, args.sites).connected() as sites,
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{procs[0][0]}", timeout=10) as http,
            ):
                t0 = time.monotonic()
                now = datetime.now(UTC)
                for n in range(args.sites):
                    await sites.retained(n, now)
                evses = await evse_ids(http, headers, args.sites, timeout=120 + args.sites / 10)
                setup_s = time.monotonic() - t0
                usages = [Usage(proc.pid) for _, proc in procs]
                broker_usage, me = Usage(broker.pid or 0), Usage(os.getpid())
                for usage in (*usages, broker_usage, me):
                    usage.start()
                rows_before = scalar(engine, ROWS_WRITTEN)
                published_before = sites.published.messages
                state_lags: list[float] = []
                event_lags: list[float] = []
                missed = 0
                stop = time.monotonic() + args.duration_s
                cycle_gap = args.interval_s / args.sites
                session_gap = args.session_every_s / args.sites

                async def cycles() -> None:
                    n = 0
                    while time.monotonic() < stop:
                        await sites.cycle(n % args.sites)
                        n += 1
                        await asyncio.sleep(cycle_gap)

                async def session_events() -> None:
                    n = 0
                    while time.monotonic() < stop:
                        site = sites.rng.randrange(args.sites)
                        if site not in sites.probing:
                            await sites.session_step(site)
                        n += 1
                        await asyncio.sleep(session_gap)

                async def probes() -> None:
                    nonlocal missed
                    k = 0
                    while time.monotonic() < stop:
                        k += 1
                        n = sites.rng.randrange(args.sites)
                        evse = evses[site_id(n)]
                        if k % 4:
                            lag = await probe_state(http, headers, sites, n, evse, 20000 + k)
                            (state_lags.append(lag) if lag is not None else None)
                        else:
                            lag = await probe_event(http, headers, sites, n, evse, 500000 + k)
                            (event_lags.append(lag) if lag is not None else None)
                        missed += lag is None
                        await asyncio.sleep(1 / args.probes_per_s)

                async def sampler() -> None:
                    while time.monotonic() < stop:
                        for usage in usages:
                            usage.sample()
                        await asyncio.sleep(1)

                await asyncio.gather(cycles(), session_events(), probes(), sampler())
                window_s = time.monotonic() - stop + args.duration_s
                cpu = [u.pct() for u in usages]
                broker_cpu, publisher_cpu = broker_usage.pct(), me.pct()
                rows_after = scalar(engine, ROWS_WRITTEN)
                msgs = sites.published.messages - published_before
            # drain: every event the sites published must be stored
            expected = len(sites.published.events)
            deadline = time.monotonic() + 30
            stored = 0
            while time.monotonic() < deadline:
                stored = scalar(engine, "SELECT count(*) FROM processed_events") + scalar(
                    engine, "SELECT count(*) FROM charger_status_logs"
                )
                if stored >= expected:
                    break
                await asyncio.sleep(0.5)
            size = scalar(engine, SCHEMA_BYTES)
            rss = sum(u.rss_peak_mb for u in usages)
    return {
        "benchmark": "fleet",
        "sites": args.sites,
        "instances": args.instances,
        "duration_s": round(window_s, 1),
        "setup_s": round(setup_s, 1),
        "msgs_per_s": round(msgs / window_s, 1),
        "lag_p50_ms": round(percentile(state_lags, 50) * 1000, 1) if state_lags else None,
        "lag_p99_ms": round(percentile(state_lags, 99) * 1000, 1) if state_lags else None,
        "event_lag_p50_ms": round(percentile(event_lags, 50) * 1000, 1) if event_lags else None,
        "event_lag_p99_ms": round(percentile(event_lags, 99) * 1000, 1) if event_lags else None,
        "probes": len(state_lags) + len(event_lags),
        "probes_missed": missed,
        "events_published": expected,
        "events_lost": max(0, expected - stored),
        "cpu_pct": round(sum(cpu), 1),
        "rss_mb": round(rss, 1),
        "broker_cpu_pct": round(broker_cpu, 1),
        "publisher_cpu_pct": round(publisher_cpu, 1),
        "db_rows_per_s": round((rows_after - rows_before) / window_s, 1),
        "db_bytes_per_site": round(size / args.sites),
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--duration-s", type=float, default=60.0)
    parser.add_argument("--interval-s", type=float, default=30.0, help="evcc's publish interval")
    parser.add_argument("--session-every-s", type=float, default=120.0, help="a session event per site")
    parser.add_argument("--probes-per-s", type=float, default=4.0)
    parser.add_argument("--flush-s", type=float, default=0.1, help="fleet.flush_interval_s of the gateways")
    parser.add_argument("--database", default=POSTGRES)
    parser.add_argument("--logs", help="keep the gateways' configs and logs in this folder")
    args = parser.parse_args()
    if args.logs:
        Path(args.logs).mkdir(parents=True, exist_ok=True)
    result = asyncio.run(run(args))
    print(json.dumps(result), flush=True)
    r = result
    print(
        f"  fleet {r['sites']} sites × {r['instances']} instance(s): lag p50 {r['lag_p50_ms']} ms "
        f"p99 {r['lag_p99_ms']} ms, events lag p99 {r['event_lag_p99_ms']} ms, "
        f"{r['events_lost']} of {r['events_published']} events lost, gateways {r['cpu_pct']} % CPU "
        f"{r['rss_mb']} MB, broker {r['broker_cpu_pct']} %, {r['msgs_per_s']} msg/s",
        flush=True,
    )


if __name__ == "__main__":
    main()
