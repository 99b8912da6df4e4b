"""One demo stack and one headless Chromium for every UI test (each costs seconds to start)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.stack import Stack, api_result, demo_stack, stack_config
from tests.web.browser import Browser, available

SIM_SPEED = 30
"""Simulated seconds per real second: the car charges a session's worth of energy in a few seconds."""
ADMIN_PASSWORD = "correct horse battery"


def _web_demo(config: dict[str, Any]) -> None:
    config["simulator"]["speed"] = SIM_SPEED
    # protected setters: the first action in the browser must go through the admin login
    config.setdefault("gateway", {})["auth_required_for_setters"] = True


@pytest.fixture(scope="session")
def ui_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not available():
        pytest.skip("Chromium/chromedriver not installed (.ci/run installs them)")
    loop = asyncio.new_event_loop()
    context = demo_stack(Path(tmp_path_factory.mktemp("web")), stack_config(_web_demo))
    stack = loop.run_until_complete(context.__aenter__())
    try:
        with httpx.Client(base_url=stack.base_url, timeout=5) as http:
            wait_healthy(http)
        yield stack
    finally:
        loop.run_until_complete(context.__aexit__(None, None, None))
        loop.close()


def wait_healthy(http: httpx.Client, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http.get("/api/health").status_code == 200:
                state = api_result(http.get("/api/state"))
                if state.get("loadpoints") and state["loadpoints"][0].get("mode"):
                    return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError("the demo stack did not become healthy")


@pytest.fixture(scope="session")
def api(ui_stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ui_stack.base_url, timeout=5) as client:
        # the admin password is set once; this client keeps the session cookie, the browser logs in itself
        assert client.put("/api/auth/password", json={"new": ADMIN_PASSWORD}).status_code == 201
        yield client


@pytest.fixture(scope="session")
def browser(ui_stack: Stack) -> Iterator[Browser]:
    b = Browser.start(ui_stack.base_url)
    try:
        yield b
    finally:
        b.quit()
