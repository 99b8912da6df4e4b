"""Depot cycle time: one optimizer control cycle (``run_cycle``, the pure core) at 10, 100, 1,000 loadpoints.

The depot: a main fuse measured by the grid meter, sub-distributions of ten loadpoints each (32 A per
phase, 22 kW), every loadpoint with its own charger and vehicle; a third in mode ``now``, a third in
``pv``, a third in ``minpv``, priorities 0–2; every charger charging at 6–16 A with measured currents. Each
cycle sees one new meter or charger reading (as the shell runs a cycle per reading) and carries the memory
on. Timed: ``run_cycle`` only, after warm-up cycles — wall time (``time.perf_counter``) and the CPU time the
cycle's thread used (``time.thread_time``: on a shared machine the wall time also counts other processes).

    python -m bench.depot --cycles 200
"""

from __future__ import annotations

import argparse
import gc
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.stats import emit, percentile
from services.optimizer.cycle import CycleInputs, CycleMemory, run_cycle
from services.optimizer.settings import default_settings
from services.optimizer.snapshot import Snapshot
from shared.config import Config, parse_config
from shared.messages import ChargerStatus, ChargeStatus, MeterReading, MeterUsage

SIZES = (10, 100, 1000)
TARGET_MS = 50.0
GROUP = 10
START = datetime(2026, 6, 1, 11, 0, tzinfo=UTC)
MODBUS = {"host": "127.0.0.1"}
MODES = ("now", "pv", "minpv")


def depot_config(loadpoints: int) -> Config:
    groups = (loadpoints + GROUP - 1) // GROUP
    data: dict[str, Any] = {
        "site": {"title": "Depot", "grid": "grid", "pv": ["pv"]},
        "meters": [
            {"name": "grid", "type": "sdm", "usage": "grid", "modbus": MODBUS},
            {"name": "pv", "type": "sunspec", "usage": "pv", "modbus": MODBUS},
        ],
        "circuits": [{"name": "main", "max_current_a": min(4000, 32 * GROUP * groups // 2), "meter": "grid"}]
        + [
            {"name": f"row{g}", "parent": "main", "max_current_a": 32, "max_power_w": 22000}
            for g in range(groups)
        ],
        "chargers": [{"name": f"cp{i}", "type": "demo", "modbus": MODBUS} for i in range(loadpoints)],
        "loadpoints": [
            {
                "title": f"Bay {i}",
                "charger": f"cp{i}",
                "mode": MODES[i % 3],
                "priority": i % 3,
                "vehicle": f"ev{i}",
                "circuit": f"row{i // GROUP}",
            }
            for i in range(loadpoints)
        ],
        "vehicles": [{"name": f"ev{i}", "capacity_kwh": 60} for i in range(loadpoints)],
    }
    return parse_config(data)


def charger(lp: int, at: datetime) -> ChargerStatus:
    current = 6.0 + lp % 11
    return ChargerStatus(
        loadpoint=lp, charger=f"cp{lp - 1}", status=ChargeStatus.C, enabled=True, offered_current_a=current,
        power_w=current * 3 * 230, currents_a=(current, current, current), energy_kwh=100.0 + lp,
        timestamp=at, current_step_a=0.1,
    )  # fmt: skip


def grid(at: datetime, wobble: float) -> MeterReading:
    currents = (400.0 + wobble, 390.0 + wobble, 410.0 + wobble)
    return MeterReading(
        meter="grid", usage=MeterUsage.GRID, power_w=sum(currents) * 230, currents_a=currents,
        powers_w=(currents[0] * 230, currents[1] * 230, currents[2] * 230), timestamp=at,
    )  # fmt: skip


def measure(loadpoints: int, cycles: int, cpu: list[float] | None = None) -> list[float]:
    config = depot_config(loadpoints)
    settings = default_settings(config)
    snapshot = Snapshot()
    for lp in range(1, loadpoints + 1):
        snapshot = snapshot.with_charger(charger(lp, START))
    snapshot = snapshot.with_meter(grid(START, 0)).with_meter(
        MeterReading(meter="pv", usage=MeterUsage.PV, power_w=150_000, timestamp=START)
    )
    memory = CycleMemory()
    samples: list[float] = []
    warmup = 5
    for n in range(warmup + cycles):
        now = START + timedelta(seconds=0.2 * (n + 1))
        # one new reading per cycle: the grid meter, or one charger, in turn
        if n % 2 == 0:
            snapshot = snapshot.with_meter(grid(now, (n % 7) * 0.3))
        else:
            snapshot = snapshot.with_charger(charger(1 + n % loadpoints, now))
        inputs = CycleInputs(config, settings, settings, snapshot, now, refresh=n % 25 == 0)
        started, started_cpu = time.perf_counter(), time.thread_time()
        result = run_cycle(inputs, memory)
        elapsed, spent = time.perf_counter() - started, time.thread_time() - started_cpu
        memory = result.memory
        if result.settings_after is not None:
            settings = result.settings_after
        if n >= warmup:
            samples.append(elapsed)
            if cpu is not None:
                cpu.append(spent)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    args = parser.parse_args()
    for size in args.sizes:
        cycles = max(20, args.cycles if size <= 100 else args.cycles // 4)
        gc.collect()
        cpu: list[float] = []
        samples = measure(size, cycles, cpu)
        ms = [s * 1000 for s in samples]
        cpu_ms = [s * 1000 for s in cpu]
        p50, p99 = percentile(ms, 50), percentile(ms, 99)
        emit(
            f"depot cycle, {size} loadpoints",
            {"n": float(len(ms)), "p50_ms": round(p50, 2), "p90_ms": round(percentile(ms, 90), 2),
             "p99_ms": round(p99, 2), "max_ms": round(max(ms), 2)},
            loadpoints=size, per_loadpoint_us=round(p50 / size * 1000, 1),
            cpu_p50_ms=round(percentile(cpu_ms, 50), 2), cpu_p99_ms=round(percentile(cpu_ms, 99), 2),
            target_met=size != 1000 or p99 <= TARGET_MS,
        )  # fmt: skip


if __name__ == "__main__":
    main()
