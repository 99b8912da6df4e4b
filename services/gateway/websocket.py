"""``/ws``: evcc's websocket. A welcome message with the whole state (site keys as-is, loadpoint keys as
``loadpoints.<0-based>.<key>``), then ``{key: value, …}`` objects with what changed, as topics change.

Server → client only. Each client has a bounded queue (1024 messages, as evcc); a client that cannot keep
up is closed with policy violation "connection too slow" instead of growing memory."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from services.gateway.context import get_ctx
from shared.encoding import go_json

router = APIRouter()
QUEUE_SIZE = 1024
POLICY_VIOLATION = 1008


def _dumps(value: Any) -> str:
    return go_json(value)


@router.websocket("/ws")
async def websocket_endpoint(socket: WebSocket) -> None:
    ctx = get_ctx(socket)
    await socket.accept()
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=QUEUE_SIZE)
    overflow = asyncio.Event()

    def listener(changes: dict[str, Any]) -> None:
        try:
            queue.put_nowait(changes)
        except asyncio.QueueFull:
            overflow.set()

    async def until_disconnect() -> None:
        # Clients never send anything meaningful; reading only tells us when they are gone.
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                message = await socket.receive()
                if message["type"] == "websocket.disconnect":
                    return

    ctx.store.add_listener(listener)
    reader = asyncio.create_task(until_disconnect())
    overflowed = asyncio.create_task(overflow.wait())
    try:
        await socket.send_text(_dumps(ctx.store.welcome()))
        while True:
            getter = asyncio.create_task(queue.get())
            done, _ = await asyncio.wait({getter, reader, overflowed}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                if overflowed in done and socket.application_state == WebSocketState.CONNECTED:
                    await socket.close(code=POLICY_VIOLATION, reason="connection too slow")
                return
            await socket.send_text(_dumps(getter.result()))
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        ctx.store.remove_listener(listener)
        for task in (reader, overflowed):
            task.cancel()
