"""Control calm on the demo home: a steady sun, a passing cloud, a kettle (issue 10's measure).

The stack: mosquitto, the simulated home in this process (the demo's realistic plant — the battery a
zero-export controller with a 1.5 s time constant, meters updating every 0.5–1 s, the car ramping its
current at 6 A/s), and the meter-reader, charger-actuator and optimizer as child processes with the demo's
settings (mode pv). The scenario runs in real time from 10:00 (sun ≈ 5.5 kW, house 400 W):

    0 s        warm-up: the services start, PV charging is enabled after its delay and settles
    60–150 s   steady sun
    150 s      a cloud: PV −60 % for 20 s
    210 s      a kettle: +3 kW for 30 s

Per phase: offered-current changes and register writes at the wallbox (its write log), charger commands
on the bus, grid import energy (Wh), battery energy discharged into the car (Wh), the time to settle after
each edge of the event (the last offered-current change after it, s), and how far the published
``homePower`` strayed from the house's real consumption. Targets: steady ≤ 1 change / 10 s and ≤ 1
command / s; a cloud or a kettle settled within 15 s with ≤ 5 changes and ≤ 20 Wh grid import.

    python -m bench.calm
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt

from bench.stack import bench_config, bench_stack
from services.simulator.home import SimulatedHome
from shared.config import Config
from shared.logging import configure_logging
from tests.e2e.stack import use_scenario

SERVICES = ("meter-reader", "charger-actuator", "optimizer")
WARMUP_S = 60.0
STEADY_S = 90.0
CLOUD_S = 20.0
KETTLE_S = 30.0
AFTER_S = 40.0
"""Observation after an event's end before the next phase."""
SAMPLE_S = 0.05


def scenario(steady_s: float) -> tuple[dict[str, Any], dict[str, tuple[float, float, float]]]:
    """The scenario file's content, and per phase (start, event end, phase end) in seconds from 10:00."""
    cloud = WARMUP_S + steady_s
    kettle = cloud + CLOUD_S + AFTER_S

    def clock(seconds: float) -> str:
        return (datetime(2026, 6, 21, 10) + timedelta(seconds=seconds)).strftime("%H:%M:%S")

    data = {
        "start": "10:00",
        "sun": {
            "peak_w": 8000,
            "clouds": [{"start": clock(cloud), "end": clock(cloud + CLOUD_S), "factor": 0.4}],
        },
        "house": {
            "base_w": 400,
            "events": [
                {"name": "kettle", "start": clock(kettle), "end": clock(kettle + KETTLE_S), "power_w": 3000}
            ],
        },
        "battery": {"capacity_kwh": 10, "soc_pct": 60, "max_charge_w": 5000, "max_discharge_w": 5000,
                    "response_s": 1.5},
        "meters": {"grid": 0.5, "pv": 1.0, "battery": 1.0, "charge": 0.5, "house": 0},
        "cars": [{"name": "ev", "capacity_kwh": 60, "soc_pct": 35, "ramp_a_per_s": 6}],
    }  # fmt: skip
    phases = {
        "steady": (WARMUP_S, WARMUP_S + steady_s, WARMUP_S + steady_s),
        "cloud": (cloud, cloud + CLOUD_S, cloud + CLOUD_S + AFTER_S),
        "kettle": (kettle, kettle + KETTLE_S, kettle + KETTLE_S + AFTER_S),
    }
    return data, phases


@dataclass
class Sample:
    t: float
    """Simulated seconds since 10:00."""
    grid_w: float
    pv_w: float
    house_w: float
    battery_w: float
    car_w: float


@dataclass
class Recorder:
    home: SimulatedHome
    origin: datetime
    samples: list[Sample] = field(default_factory=list)
    commands: list[float] = field(default_factory=list)
    home_power: list[tuple[float, float]] = field(default_factory=list)
    """(t, published homePower)."""

    def now_s(self) -> float:
        return (self.home.clock() - self.origin).total_seconds()

    async def sample(self, until_s: float) -> None:
        while (t := self.now_s()) < until_s:
            s = self.home.state
            self.samples.append(Sample(t, s.grid_w, s.pv_w, s.house_w, s.battery_w, s.wallbox_w))
            await asyncio.sleep(SAMPLE_S)

    async def listen(self, config: Config) -> None:
        command_topic = f"{config.mqtt.internal}/chargers/1/command"
        home_topic = f"{config.mqtt.topic}/site/homePower"
        async with aiomqtt.Client(config.mqtt.host, config.mqtt.port) as client:
            await client.subscribe(command_topic, qos=1)
            await client.subscribe(home_topic)
            async for message in client.messages:
                t = self.now_s()
                if message.topic.matches(command_topic):
                    self.commands.append(t)
                elif isinstance(message.payload, bytes | bytearray) and message.payload:
                    self.home_power.append((t, float(message.payload)))


def offered_changes(home: SimulatedHome, origin: datetime) -> tuple[list[float], list[float]]:
    """(times of offered-current changes, times of all register writes) at the wallbox, s since 10:00."""
    enabled, current = False, None
    changes: list[float] = []
    writes: list[float] = []
    for record in home.wallbox.writes:
        t = (record.at - origin).total_seconds()
        writes.append(t)
        before = current if enabled else 0.0
        if record.point == "enabled":
            enabled = bool(record.value)
        elif record.point == "max_current":
            current = float(record.value)
        after = current if enabled else 0.0
        if after != before:
            changes.append(t)
    return changes, writes


def energy_wh(samples: list[Sample], start: float, end: float, power: Any) -> float:
    total = 0.0
    inside = [s for s in samples if start <= s.t < end]
    for a, b in itertools.pairwise(inside):
        total += power(a) * (b.t - a.t) / 3600
    return round(total, 2)


def battery_into_car_w(s: Sample) -> float:
    """What the battery gives the car: its discharge, up to the car's power PV does not cover."""
    uncovered = max(0.0, s.car_w - max(0.0, s.pv_w - s.house_w))
    return min(max(0.0, s.battery_w), uncovered)


def phantom_w(samples: list[Sample], t: float, published_w: float) -> float:
    """How far a published homePower is from every value the house really had in the 3 s before it was
    published (what a reading of that window could have shown): 0 for a late but true value."""
    window = [s.house_w for s in samples if t - 3.0 <= s.t <= t]
    return min((abs(published_w - h) for h in window), default=0.0)


def settle_s(changes: list[float], edge: float, until: float) -> float:
    after = [t for t in changes if edge <= t < until]
    return round(after[-1] - edge, 1) if after else 0.0


def figures(rec: Recorder, phases: dict[str, tuple[float, float, float]]) -> list[dict[str, Any]]:
    changes, writes = offered_changes(rec.home, rec.origin)
    out: list[dict[str, Any]] = []
    for name, (start, event_end, end) in phases.items():
        duration = end - start
        n_changes = sum(1 for t in changes if start <= t < end)
        n_commands = sum(1 for t in rec.commands if start <= t < end)
        row: dict[str, Any] = {
            "scenario": name,
            "duration_s": round(duration, 1),
            "offered_current_changes": n_changes,
            "register_writes": sum(1 for t in writes if start <= t < end),
            "charger_commands": n_commands,
            "grid_import_wh": energy_wh(rec.samples, start, end, lambda s: max(0.0, s.grid_w)),
            "battery_into_car_wh": energy_wh(rec.samples, start, end, battery_into_car_w),
        }
        phantoms = [phantom_w(rec.samples, t, p) for t, p in rec.home_power if start <= t < end]
        row["home_power_phantom_w"] = round(max(phantoms), 1) if phantoms else None
        if name == "steady":
            row["changes_per_10s"] = round(n_changes / duration * 10, 3)
            row["commands_per_s"] = round(n_commands / duration, 3)
            row["target_met"] = row["changes_per_10s"] <= 1 and row["commands_per_s"] <= 1
        else:
            row["settle_s"] = max(settle_s(changes, start, event_end), settle_s(changes, event_end, end))
            row["target_met"] = row["settle_s"] <= 15 and n_changes <= 5 and row["grid_import_wh"] <= 20
        out.append(row)
    return out


def write_trace(path: Path, rec: Recorder) -> None:
    changes, writes = offered_changes(rec.home, rec.origin)
    trace = {
        "samples": [s.__dict__ for s in rec.samples],
        "commands": rec.commands,
        "home_power": rec.home_power,
        "offered_changes": changes,
        "writes": [(t, r.point, r.value) for t, r in zip(writes, rec.home.wallbox.writes, strict=True)],
    }
    path.write_text(json.dumps(trace), encoding="utf-8")


async def run(steady_s: float, trace: Path | None = None) -> list[dict[str, Any]]:
    data, phases = scenario(steady_s)
    with tempfile.TemporaryDirectory() as tmp:
        config_data = bench_config()
        use_scenario(config_data, Path(tmp), data)
        async with bench_stack(Path(tmp), config_data, SERVICES) as stack:
            assert stack.home is not None
            home = stack.home
            origin = home.clock().replace(hour=10, minute=0, second=0, microsecond=0)
            rec = Recorder(home, origin)
            listener = asyncio.create_task(rec.listen(stack.config))
            try:
                await rec.sample(max(end for _, _, end in phases.values()))
            finally:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
            if trace is not None:
                write_trace(trace, rec)
            return figures(rec, phases)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steady-s", type=float, default=STEADY_S, help="length of the steady phase (s)")
    parser.add_argument("--trace", type=Path, help="write every sample, command and write to this JSON file")
    args = parser.parse_args()
    configure_logging("warning", "console")
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # its shutdown chatter is not a figure
    for row in asyncio.run(run(args.steady_s, args.trace)):
        print(json.dumps({"benchmark": "calm", **row}), flush=True)
        print("  " + human(row), flush=True)


def human(row: dict[str, Any]) -> str:
    parts = [
        f"{row['offered_current_changes']} changes",
        f"{row['charger_commands']} commands",
        f"{row['register_writes']} register writes",
        f"grid import {row['grid_import_wh']} Wh",
        f"battery → car {row['battery_into_car_wh']} Wh",
    ]
    if "settle_s" in row:
        parts.insert(0, f"settled in {row['settle_s']} s")
    else:
        parts.insert(0, f"{row['changes_per_10s']} changes/10 s, {row['commands_per_s']} commands/s")
    met = "target met" if row["target_met"] else "TARGET MISSED"
    return f"calm {row['scenario']} ({row['duration_s']:g} s): " + ", ".join(parts) + f" — {met}"


if __name__ == "__main__":
    main()
