"""The service entry point as the CLI runs it: ``run(config, stop)`` serves until stop or shutdown."""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from services.gateway.service import run
from shared.config import Config
from tests.support.broker import free_port


def with_port(config: Config, port: int) -> Config:
    return config.model_copy(update={"gateway": config.gateway.model_copy(update={"port": port})})


async def wait_serving(client: httpx.AsyncClient, task: asyncio.Task[None]) -> None:
    """Until the server answers (it binds a moment after the task starts)."""
    for _ in range(500):
        if task.done():
            task.result()
        try:
            await client.get("/api/state")
            return
        except httpx.TransportError:
            await asyncio.sleep(0.02)
    raise AssertionError("gateway did not start")


async def test_run_serves_until_stop(config: Config) -> None:
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(run(with_port(config, port), stop))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        await wait_serving(client, task)
        state = await client.get("/api/state")  # nothing on the bus yet: not ready, and says why
        assert state.status_code == 503 and state.json()["error"].startswith("starting: waiting for the site")
        stop.set()
        await asyncio.wait_for(task, 10)
        try:
            await client.get("/api/state")
        except httpx.TransportError:
            pass
        else:
            raise AssertionError("still serving after stop")


async def test_shutdown_endpoint_ends_run(config: Config) -> None:
    port = free_port()
    task = asyncio.create_task(run(with_port(config, port), asyncio.Event()))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        await wait_serving(client, task)
        await client.put("/api/auth/password", json={"new": "pw"})
        assert (await client.post("/api/system/shutdown")).status_code == 204
    await asyncio.wait_for(task, 10)


async def test_without_broker_the_api_serves_and_health_says_why(config: Config) -> None:
    port = free_port()
    dead_broker = config.mqtt.model_copy(update={"port": free_port()})
    cfg = with_port(config, port).model_copy(update={"mqtt": dead_broker})
    stop = asyncio.Event()
    task = asyncio.create_task(run(cfg, stop))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        await wait_serving(client, task)
        health = await client.get("/api/health")
        assert health.status_code == 503 and "broker" in health.json()["error"]
        mode = await client.post("/api/loadpoints/1/mode/pv")
        assert mode.status_code == 503 and "broker" in mode.json()["error"]  # at once, no hang
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_stop_closes_open_websockets(config: Config) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(run(with_port(config, port), stop))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        await wait_serving(client, task)
    async with connect(f"ws://127.0.0.1:{port}/ws") as socket:
        await asyncio.wait_for(socket.recv(), 10)  # welcome
        stop.set()
        await asyncio.wait_for(task, 10)

        async def until_closed() -> None:
            with contextlib.suppress(ConnectionClosed):
                while True:  # updates queued before the stop may still arrive
                    await socket.recv()

        await asyncio.wait_for(until_closed(), 10)
