"""Run every benchmark with its defaults (``make bench``): each prints JSON lines and a human summary.

Copy the figures to ``bench/RESULTS.md``. A benchmark whose module does not import is reported as skipped.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

from bench.machine import machine

BENCHMARKS = [
    "bench.planner",
    "bench.devices",
    "bench.ocpp",
    "bench.optimizer_reaction",
    "bench.depot",
    "bench.calm",
    "bench.reaction",
    "bench.state_throughput",
    "bench.fleet",
    "bench.web",
]


def main() -> None:
    print(json.dumps({"machine": machine()}), flush=True)
    for module in BENCHMARKS:
        try:
            importlib.import_module(module)
        except ImportError as error:
            print(json.dumps({"benchmark": module, "skipped": str(error)}), flush=True)
            continue
        subprocess.run([sys.executable, "-m", module], check=False)


if __name__ == "__main__":
    main()
