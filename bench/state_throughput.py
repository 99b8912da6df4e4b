"""Throughput and latency of ``GET /api/state`` beside a bare uvicorn endpoint answering the same JSON.

Targets, each measured with the same client, request count and concurrency, one after the other:

- ``gateway``: ``/api/state`` of the demo stack (``chargebus demo`` on free ports, every service running, the
  state changing every second) — or of a running gateway given with ``--url``;
- ``bare-asgi``: a raw ASGI app under uvicorn answering the gateway's response bytes (same size); the
  gateway should reach at least half its rate (it serves the current snapshot's pre-encoded bytes);
- ``fastapi-sync``: a FastAPI sync route encoding the same document (what routing, the threadpool and JSON
  encoding cost without building the state).

First, 50 concurrent runaway jq programs (``def f: f; f``) while plain reads of /api/state and /api/health
go on: the plain reads' latency and how the programs were answered (429/503 at once, 400 after the time
limit for the admitted ones).

The Python client is httpx.AsyncClient with ``--concurrency`` workers sharing ``--requests`` requests over
keep-alive connections; it runs on the same machine and competes for the same cores, so its figures are a
floor for the server, not a ceiling. When ``wrk`` is installed (``apt-get install wrk``) each target is also
measured with ``wrk -t1 -c<concurrency> -d<wrk-seconds>s --latency``.

    python -m bench.state_throughput --requests 3000 --concurrency 8
    python -m bench.state_throughput --url http://127.0.0.1:7070    # against `make run`
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx

from bench.machine import machine
from bench.stats import emit, summary_ms
from services.demo import free_port

ROOT = Path(__file__).parents[1]
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


async def load(url: str, requests: int, concurrency: int, warmup: int = 50) -> dict[str, float]:
    """``requests`` GETs of ``url`` by ``concurrency`` workers; throughput and latency percentiles."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        for _ in range(warmup):
            (await client.get(url)).raise_for_status()
        remaining = requests
        samples: list[float] = []
        errors = 0

        async def worker() -> None:
            nonlocal remaining, errors
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                response = await client.get(url)
                samples.append(time.perf_counter() - started)
                errors += response.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"rps": round(len(samples) / elapsed, 1), **summary_ms(samples), "errors": float(errors)}


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s and the latency distribution (ms) from ``wrk --latency`` output."""
    figures: dict[str, float] = {}
    for pct, value, unit in re.findall(r"^\s*(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE):
        figures[f"p{pct}_ms"] = round(float(value) * UNITS_MS[unit], 3)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if rate is None:
        raise ValueError("no Requests/sec in the wrk output")
    figures["rps"] = float(rate.group(1))
    total = re.search(r"^\s*(\d+) requests in", output, re.MULTILINE)
    if total is not None:
        figures["n"] = float(total.group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    figures["errors"] = float(bad.group(1)) if bad else 0.0
    return figures


def run_wrk(url: str, concurrency: int, seconds: int) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--latency", url]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return parse_wrk(output)


async def wait_ok(url: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{url} did not answer 200 within {timeout:g} s")


@contextlib.contextmanager
def bare_server(body_file: Path, *, fastapi: bool) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "bench.bare_server", "--port", str(port), "--body", str(body_file)]
    proc = subprocess.Popen([*command, *(["--fastapi"] if fastapi else [])], cwd=ROOT)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.asynccontextmanager
async def gateway(url: str | None, tmp: Path) -> AsyncIterator[str]:
    """The gateway's ``/api/state``: the given one, or the demo stack's."""
    if url is not None:
        yield url.rstrip("/") + "/api/state"
        return
    from tests.e2e.stack import demo_stack, stack_config

    def quiet(config: dict[str, Any]) -> None:
        config["log"] = {"level": "warning"}

    async with demo_stack(tmp, stack_config(quiet)) as stack:
        await wait_ok(stack.base_url + "/api/health")
        yield stack.base_url + "/api/state"


async def jq_storm(state_url: str, abusers: int = 50, reads: int = 40) -> None:
    """``abusers`` concurrent ``?jq=def f: f; f`` (never ends) while plain reads of /api/state and
    /api/health go on: their latency, and how the runaway programs were answered."""
    health_url = state_url.removesuffix("/state") + "/health"
    limits = httpx.Limits(max_connections=abusers + 4)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        storm = [
            asyncio.create_task(client.get(state_url, params={"jq": "def f: f; f"})) for _ in range(abusers)
        ]
        samples: list[float] = []
        server_errors = 0
        for n in range(reads):
            began = time.perf_counter()
            response = await client.get(health_url if n % 2 else state_url)
            samples.append(time.perf_counter() - began)
            server_errors += response.status_code >= 500 and response.status_code != 503
        answers = await asyncio.gather(*storm)
    codes = sorted({r.status_code for r in answers})
    emit(
        f"GET /api/state and /api/health during {abusers} runaway jq programs",
        {**summary_ms(samples), "errors": float(server_errors)},
        jq_answers=" ".join(f"{code}×{sum(r.status_code == code for r in answers)}" for code in codes),
    )


async def measure(args: argparse.Namespace) -> None:
    use_wrk = not args.no_wrk and shutil.which("wrk") is not None
    with tempfile.TemporaryDirectory() as tmp:
        async with gateway(args.url, Path(tmp)) as state_url:
            async with httpx.AsyncClient(timeout=10) as client:
                body = (await client.get(state_url)).content
            body_file = Path(tmp) / "state.json"
            body_file.write_bytes(body)
            await jq_storm(state_url)
            targets: list[tuple[str, str]] = [("gateway /api/state", state_url)]
            with bare_server(body_file, fastapi=False) as raw, bare_server(body_file, fastapi=True) as fast:
                await wait_ok(raw)
                await wait_ok(fast)
                targets += [("bare uvicorn (raw ASGI)", raw), ("bare uvicorn (FastAPI sync route)", fast)]
                rates: dict[tuple[str, str], float] = {}
                for label, url in targets:
                    figures = await load(url, args.requests, args.concurrency)
                    emit(f"GET {label}, httpx", figures, bytes=len(body), concurrency=args.concurrency)
                    rates[label, "httpx"] = figures["rps"]
                    if use_wrk:
                        figures = await asyncio.to_thread(run_wrk, url, args.concurrency, args.wrk_seconds)
                        emit(f"GET {label}, wrk", figures, bytes=len(body), concurrency=args.concurrency)
                        rates[label, "wrk"] = figures["rps"]
    for tool in ("httpx", "wrk"):
        gateway_rps, raw_rps = rates.get((targets[0][0], tool)), rates.get((targets[1][0], tool))
        if gateway_rps and raw_rps:
            ratio = round(gateway_rps / raw_rps, 3)
            emit(f"GET /api/state ÷ raw ASGI, {tool}", {"ratio": ratio}, target=0.5, met=ratio >= 0.5)
    if not use_wrk:
        print("  (wrk not run: not installed or --no-wrk)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000, help="requests per target (httpx client)")
    parser.add_argument("--runs", type=int, dest="requests", help="alias of --requests")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--url", help="a running gateway (e.g. http://127.0.0.1:7070) instead of the demo")
    parser.add_argument("--wrk-seconds", type=int, default=10)
    parser.add_argument("--no-wrk", action="store_true")
    args = parser.parse_args()
    print(f"  machine: {machine()}")
    asyncio.run(measure(args))


if __name__ == "__main__":
    main()
