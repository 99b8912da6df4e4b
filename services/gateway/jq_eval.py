"""``/api/state?jq=…``: evaluation that can neither leak nor stall the gateway.

Simple paths (``.loadpoints[0].chargePower`` — what dashboards send) are evaluated here in Python. Every
other program goes to the jq sandbox (:mod:`shared.jq_sandbox`: separate processes with an empty
environment, a time limit, a bounded queue) — and only so many at once per client: a client over its share
gets 429 at once, and a client whose program ran out of time waits ``cooldown_s`` before the next. Plain
reads never touch any of this.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.config import JqSettings
from shared.jq_sandbox import JqBusy, JqError, JqSandbox, JqTimeout

__all__ = ["JqBusy", "JqError", "JqGate", "JqThrottled", "simple_path"]

_SIMPLE = re.compile(r"^(?:\.[A-Za-z_][A-Za-z0-9_]*|\.?\[\d+\])+$")
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\.?\[(\d+)\]")
MAX_CLIENTS = 10_000
"""Cool-downs remembered at most (expired ones are forgotten first)."""


class JqThrottled(JqError):
    """This client has too many programs running or is cooling down after a runaway one."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def simple_path(expression: str, document: Any) -> tuple[bool, Any]:
    """(True, value) for ``.`` and plain ``.key`` / ``[n]`` paths, evaluated with jq's semantics
    (missing key or index → null); (False, None) for anything else."""
    if expression == ".":
        return True, document
    if not _SIMPLE.match(expression):
        return False, None
    value = document
    for match in _STEP.finditer(expression):
        key, index = match.group(1), match.group(2)
        if value is None:
            continue
        if key is not None:
            if not isinstance(value, dict):
                raise JqError(f'jq: cannot index {_type_name(value)} with "{key}"')
            value = value.get(key)
        else:
            if not isinstance(value, list):
                raise JqError(f"jq: cannot index {_type_name(value)} with number")
            position = int(index)
            value = value[position] if position < len(value) else None
    return True, value


@dataclass
class JqGate:
    """Per-client admission in front of the sandbox (which bounds the total)."""

    settings: JqSettings
    clock: Callable[[], float] = time.monotonic
    sandbox: JqSandbox = field(init=False)
    _running: dict[str, int] = field(default_factory=dict, init=False)
    _cooling: dict[str, float] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.sandbox = JqSandbox(
            workers=s.workers,
            queue=s.queue,
            timeout_s=s.timeout_s,
            memory_mb=s.memory_mb,
            max_result_bytes=s.max_result_bytes,
        )

    async def evaluate(self, client: str, expression: str, document: Any, document_json: bytes) -> Any:
        """The single result of ``expression`` on ``document`` (``document_json`` is the same as JSON)."""
        handled, value = simple_path(expression, document)
        if handled:
            return value
        self._admit(client)
        self._running[client] = self._running.get(client, 0) + 1
        try:
            return await self.sandbox.one(expression, document_json)
        except JqTimeout:
            self._cool_down(client)
            raise
        finally:
            left = self._running[client] - 1
            if left:
                self._running[client] = left
            else:
                del self._running[client]

    def _admit(self, client: str) -> None:
        now = self.clock()
        until = self._cooling.get(client)
        if until is not None:
            if until > now:
                raise JqThrottled(
                    f"jq: a program of yours ran out of time; try again in {until - now:.0f} s", until - now
                )
            del self._cooling[client]
        if self._running.get(client, 0) >= self.settings.per_client:
            raise JqThrottled(
                f"jq: at most {self.settings.per_client} programs per client at once", self.settings.timeout_s
            )

    def _cool_down(self, client: str) -> None:
        if self.settings.cooldown_s <= 0:
            return
        now = self.clock()
        if len(self._cooling) >= MAX_CLIENTS:
            self._cooling = {c: t for c, t in self._cooling.items() if t > now}
        if len(self._cooling) < MAX_CLIENTS:
            self._cooling[client] = now + self.settings.cooldown_s

    async def start(self) -> None:
        await self.sandbox.start()

    async def aclose(self) -> None:
        await self.sandbox.aclose()
