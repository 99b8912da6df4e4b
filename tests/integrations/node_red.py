"""Stock Node-RED 4 (npm ``node-red``) for the example flows: installed once into a cache directory (also by
``.ci/run``), started once per test session with a throw-away user directory."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.broker import free_port
from tests.support.gateway_part import stop_process

VERSION = "4"
HOME = Path(os.environ.get("CHARGEBUS_NODE_RED_DIR", Path.home() / ".cache" / "chargebus" / "node-red"))


def node_red_binary() -> Path:
    """``node-red`` from the cache, installing it from npm the first time (quiet, idempotent)."""
    binary = HOME / "node_modules" / ".bin" / "node-red"
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is needed to install Node-RED for the example-flow tests")
        HOME.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(HOME),
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                f"node-red@{VERSION}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=600,
        )
    return binary


@dataclass
class NodeRed:
    url: str
    user_dir: Path


@contextlib.contextmanager
def running_node_red(user_dir: Path) -> Iterator[NodeRed]:
    binary = node_red_binary()
    port = free_port()
    user_dir.mkdir(parents=True, exist_ok=True)
    log = (user_dir / "node-red.log").open("wb")
    proc = subprocess.Popen(
        [str(binary), "--userDir", str(user_dir), "--port", str(port), "--no-telemetry"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "NODE_RED_ENABLE_PROJECTS": "false"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=url, timeout=2) as http:
            while True:  # another process: its admin API answering is what there is to wait on
                with contextlib.suppress(httpx.HTTPError):
                    if http.get("/settings").status_code == 200:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"Node-RED did not start: {(user_dir / 'node-red.log').read_text()[-2000:]}"
                    )
                time.sleep(0.1)
        yield NodeRed(url, user_dir)
    finally:
        stop_process(proc, timeout=15)
        log.close()
