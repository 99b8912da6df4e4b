"""OCPP 1.6J over a websocket: one RPC endpoint per connection (the ``ocpp`` package underneath), both sides.

The central system in the charger-actuator and the simulated charge points stand on the same endpoint. It
routes incoming calls to plain async handlers (snake_case keyword arguments, a ``call_result`` dataclass
back) — the package validates every payload against the OCPP 1.6 JSON schemas in both directions and
answers a malformed call with a CALLERROR — and turns the outcome of an outgoing call into the device
layer's error model: no answer in time or a lost connection is a :class:`DeviceError`, a CALLERROR a
:class:`DeviceRefused`.

A handler must not wait for an outgoing call (the package reads the next message only after the handler
returns); work that talks back to the peer goes into an *after* hook, which runs once the answer is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from ocpp.exceptions import OCPPError
from ocpp.v16 import ChargePoint as _Rpc
from websockets.exceptions import ConnectionClosed

from shared.devices.errors import DeviceError, DeviceRefused

SUBPROTOCOL = "ocpp1.6"
MAX_MESSAGE_BYTES = 65536
"""Largest websocket message taken from a peer (a GetConfiguration answer of a big box is ~10 kB)."""

Handler = Callable[..., Awaitable[Any]]

# The package logs every message at INFO with its payload (idTags included); it is our peer's business.
logging.getLogger("ocpp").setLevel(logging.WARNING)


class Connection(Protocol):
    async def recv(self) -> str | bytes: ...

    async def send(self, message: str) -> None: ...


class OcppEndpoint:
    """RPC over one websocket connection to ``identity`` (the peer's, for messages)."""

    def __init__(
        self,
        identity: str,
        connection: Connection,
        handlers: Mapping[str, Handler],
        *,
        after: Mapping[str, Handler] | None = None,
        timeout_s: float = 15.0,
    ) -> None:
        self.identity = identity
        self.timeout_s = timeout_s
        self._rpc: Any = _Rpc(identity, connection, response_timeout=timeout_s)
        routes: dict[str, dict[str, Any]] = {
            action: {"_on_action": handler, "_skip_schema_validation": False}
            for action, handler in handlers.items()
        }
        for action, hook in (after or {}).items():
            routes.setdefault(action, {"_skip_schema_validation": False})["_after_action"] = hook
        self._rpc.route_map = routes

    async def serve(self) -> None:
        """Answer the peer's calls until the connection closes (returns then)."""
        try:
            await self._rpc.start()
        except ConnectionClosed:
            return

    async def call(self, payload: Any) -> Any:
        """Send one ``ocpp.v16.call`` payload and return the peer's ``call_result``."""
        action = type(payload).__name__
        try:
            return await self._rpc.call(payload, suppress=False)
        except TimeoutError:
            raise DeviceError(f"{self.identity}: no answer to {action} within {self.timeout_s:g} s") from None
        except ConnectionClosed:
            raise DeviceError(f"{self.identity}: connection lost during {action}") from None
        except OCPPError as error:
            raise DeviceRefused(f"{self.identity}: {action} refused: {type(error).__name__}") from None
