"""Stopping helper tasks without swallowing the caller's own cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]], timeout: float | None = None) -> None:
    """Cancel ``tasks`` and wait (at most ``timeout`` seconds) until they have finished.

    ``with suppress(CancelledError): await task`` would also swallow a cancellation aimed at the caller,
    leaving a service that was told to stop running forever; ``asyncio.wait`` re-raises only that one.
    Errors the tasks ended with are retrieved here so asyncio does not report them as never retrieved.
    """
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=timeout)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()
