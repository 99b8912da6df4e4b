"""Run every benchmark and print one JSON line each (``make bench``); copy the figures to RESULTS.md."""

from __future__ import annotations

import importlib
import subprocess
import sys

BENCHMARKS = ["bench.reaction", "bench.planner", "bench.state_throughput"]


def main() -> None:
    for module in BENCHMARKS:
        try:
            importlib.import_module(module)
        except ImportError as error:
            print(f'{{"benchmark": "{module}", "skipped": "{error}"}}')
            continue
        subprocess.run([sys.executable, "-m", module], check=False)


if __name__ == "__main__":
    main()
