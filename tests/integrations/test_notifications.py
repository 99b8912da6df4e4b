"""Notifications from the live demo: a charge that starts or stops reaches the ntfy server and the JSON
webhook configured in ``notify.urls`` (the session's local receiver)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.e2e.stack import api_result
from tests.integrations.conftest import Live, Received

pytestmark = pytest.mark.e2e


def titled(requests: list[Received], title: str) -> int:
    return sum(isinstance(r.body, dict) and r.body.get("title") == title for r in requests)


async def test_a_charge_stopping_or_starting_is_announced(live: Live) -> None:
    async with httpx.AsyncClient(base_url=live.base_url, timeout=5) as http:
        state = api_result(await http.get("/api/state", params={"jq": ".loadpoints[0]"}))
        before = len(live.receiver.requests)
        charging, mode = state["charging"], state["mode"]
        # off stops a running charge, now starts one: either way the state changes and evcc would announce it
        await http.post(f"/api/loadpoints/1/mode/{'off' if charging else 'now'}")
        expected = "Charging stopped" if charging else "Charging started"
        try:
            got = await asyncio.to_thread(
                live.receiver.wait,
                lambda rs: titled(rs[before:], expected) >= 2,
                60,
            )
        finally:
            await http.post(f"/api/loadpoints/1/mode/{mode}")
    announced = [r for r in got[before:] if isinstance(r.body, dict) and r.body.get("title") == expected]
    assert all(str(r.body["message"]).startswith("Garage: ") for r in announced), [r.body for r in announced]
    assert {r.path == "/hook" for r in announced} == {True, False}  # the webhook and the ntfy server
