"""The OCPP 1.6J central system: a websocket server charge points connect to (``ws://host:port/<identity>``).

Configured identities get their :class:`~services.charger_actuator.ocpp.station.Station`; an identity
nobody configured is parked (its BootNotification answered Pending, so it keeps asking and can be adopted
by adding it to the configuration) or refused, as ``ocpp.unknown`` says — either way it shows up in
``chargebus/ocpp/stations``. A charge point with ``password_env`` must authenticate with HTTP basic auth
(security profile 1: user = identity, password = its AuthorizationKey); one with ``tls_only`` is taken only
on the TLS listener. The handshake refuses everything else before a websocket exists.
"""

from __future__ import annotations

import base64
import hmac
import http
import os
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from ocpp.v16 import call_result
from ocpp.v16.enums import RegistrationStatus
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from services.charger_actuator.ocpp.station import Station, now_utc, ocpp_time
from shared.config_devices import IDENTITY_PATTERN, OcppChargerConfig, OcppSettings
from shared.devices.ocpp import MAX_MESSAGE_BYTES, SUBPROTOCOL, OcppEndpoint
from shared.messages import OcppStation, OcppStations

_IDENTITY = re.compile(IDENTITY_PATTERN)
MAX_VISITORS = 50
"""Unknown identities remembered for the stations list (the oldest is forgotten first)."""


def identity_of(path: str) -> str | None:
    """The identity in a request path: its last segment (boxes may put a prefix before it)."""
    segment = unquote(path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1])
    return segment if _IDENTITY.match(segment) else None


def basic_auth_ok(header: str | None, identity: str, password: str) -> bool:
    if not header or not header.lower().startswith("basic "):
        return False
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return False
    user, _, given = decoded.partition(":")
    return hmac.compare_digest(user.encode(), identity.encode()) & hmac.compare_digest(
        given.encode(), password.encode()
    )


@dataclass
class Visitor:
    """A charge point nobody configured: parked or refused."""

    identity: str
    registration: str
    remote: str | None
    seen: datetime
    connected: bool = False
    vendor: str | None = None
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None


class CentralSystem:
    """Serves charge points until :meth:`stop`; stations are registered before :meth:`start`."""

    def __init__(
        self,
        settings: OcppSettings,
        *,
        log: Any,
        on_stations: Callable[[OcppStations], None] = lambda _: None,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self.settings = settings
        self.log = log
        self.on_stations = on_stations
        self.clock = clock
        self.stations: dict[str, Station] = {}
        self.visitors: dict[str, Visitor] = {}
        self._servers: list[Server] = []
        self.port: int | None = None
        self.tls_port: int | None = None

    def station(self, config: OcppChargerConfig) -> Station:
        """The station of ``config.identity`` (one per identity, shared by its connectors)."""
        station = self.stations.get(config.identity)
        if station is None:
            station = Station(
                config.identity,
                config,
                self.settings,
                log=self.log.bind(device=config.identity),
                clock=self.clock,
            )
            station.on_change = self.publish
            self.stations[config.identity] = station
        return station

    # --- serving ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        common: dict[str, Any] = {
            "subprotocols": [Subprotocol(SUBPROTOCOL)],
            "max_size": MAX_MESSAGE_BYTES,
            "ping_interval": 30,
            "ping_timeout": 30,
        }
        plain = await serve(
            self._handler(tls=False),
            self.settings.host,
            self.settings.port,
            process_request=self._checker(tls=False),
            **common,
        )
        self._servers.append(plain)
        self.port = next(iter(plain.sockets)).getsockname()[1]
        tls = self.settings.tls
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls.cert_file, tls.key_file)
            secure = await serve(
                self._handler(tls=True),
                self.settings.host,
                tls.port,
                process_request=self._checker(tls=True),
                ssl=context,
                **common,
            )
            self._servers.append(secure)
            self.tls_port = next(iter(secure.sockets)).getsockname()[1]
        self.log.info("ocpp central system listening", port=self.port, tls_port=self.tls_port)
        self.publish()

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()
        self._servers.clear()

    def _refuse(self, connection: ServerConnection, status: http.HTTPStatus, why: str, who: str) -> Response:
        self.log.warning("charge point refused", identity=who, reason=why, remote=_remote(connection))
        if who not in self.stations:
            self._remember(Visitor(who, "rejected", _remote(connection), self.clock()))
        self.publish()
        response = connection.respond(status, f"{why}\n")
        if status is http.HTTPStatus.UNAUTHORIZED:
            response.headers["WWW-Authenticate"] = 'Basic realm="chargebus", charset="UTF-8"'
        return response

    def _checker(self, *, tls: bool) -> Callable[[ServerConnection, Request], Response | None]:
        def check(connection: ServerConnection, request: Request) -> Response | None:
            identity = identity_of(request.path)
            if identity is None:
                return self._refuse(
                    connection, http.HTTPStatus.BAD_REQUEST, "no valid identity in the path", "?"
                )
            station = self.stations.get(identity)
            if station is None:
                if self.settings.unknown == "reject":
                    return self._refuse(
                        connection, http.HTTPStatus.NOT_FOUND, "unknown charge point", identity
                    )
                return None
            config = station.config
            if config.tls_only and not tls:
                return self._refuse(connection, http.HTTPStatus.FORBIDDEN, "TLS required", identity)
            if config.password_env is not None:
                password = os.environ.get(config.password_env)
                if not password:
                    self.log.error(
                        "charge point password not set", identity=identity, env=config.password_env
                    )
                    return self._refuse(
                        connection, http.HTTPStatus.UNAUTHORIZED, "no password configured", identity
                    )
                if not basic_auth_ok(_header(request.headers, "Authorization"), identity, password):
                    return self._refuse(
                        connection, http.HTTPStatus.UNAUTHORIZED, "authentication failed", identity
                    )
            return None

        return check

    def _handler(self, *, tls: bool) -> Callable[[ServerConnection], Any]:
        async def handle(connection: ServerConnection) -> None:
            request = connection.request
            identity = identity_of(request.path) if request is not None else None
            if identity is None:
                return
            if connection.subprotocol != SUBPROTOCOL:
                self.log.warning("charge point did not ask for ocpp1.6", identity=identity)
            station = self.stations.get(identity)
            if station is not None:
                await station.attach(connection, _remote(connection))
            else:
                await self._park(identity, connection)

        return handle

    async def _park(self, identity: str, connection: ServerConnection) -> None:
        visitor = Visitor(identity, "pending", _remote(connection), self.clock(), connected=True)
        self._remember(visitor)
        self.log.warning("unknown charge point parked", identity=identity, remote=visitor.remote)
        self.publish()

        async def boot(charge_point_vendor: str, charge_point_model: str, **extra: Any) -> Any:
            visitor.vendor, visitor.model = charge_point_vendor, charge_point_model
            visitor.serial = extra.get("charge_point_serial_number")
            visitor.firmware = extra.get("firmware_version")
            visitor.seen = self.clock()
            self.publish()
            return call_result.BootNotification(
                current_time=ocpp_time(self.clock()),
                interval=self.settings.heartbeat_s,
                status=RegistrationStatus.pending,
            )

        async def heartbeat(**_: Any) -> Any:
            visitor.seen = self.clock()
            return call_result.Heartbeat(current_time=ocpp_time(self.clock()))

        endpoint = OcppEndpoint(
            identity,
            connection,
            {"BootNotification": boot, "Heartbeat": heartbeat},
            timeout_s=self.settings.response_timeout_s,
        )
        try:
            await endpoint.serve()
        finally:
            visitor.connected = False
            visitor.seen = self.clock()
            self.publish()

    def _remember(self, visitor: Visitor) -> None:
        self.visitors.pop(visitor.identity, None)
        self.visitors[visitor.identity] = visitor
        while len(self.visitors) > MAX_VISITORS:
            del self.visitors[next(iter(self.visitors))]

    # --- state -----------------------------------------------------------------------------------------

    def snapshot(self) -> OcppStations:
        """Every configured station and every visitor, for ``chargebus/ocpp/stations``."""
        items = [
            OcppStation(
                identity=s.identity,
                configured=True,
                registration="accepted" if s.boot is not None or s.online else "unknown",
                connected=s.online,
                remote=s.remote,
                vendor=s.boot.vendor if s.boot else None,
                model=s.boot.model if s.boot else None,
                serial=s.boot.serial if s.boot else None,
                firmware=s.boot.firmware if s.boot else None,
                since=s.connected_at if s.online else s.disconnected_at,
            )
            for s in self.stations.values()
        ]
        items += [
            OcppStation(
                identity=v.identity,
                configured=False,
                registration=v.registration,
                connected=v.connected,
                remote=v.remote,
                vendor=v.vendor,
                model=v.model,
                serial=v.serial,
                firmware=v.firmware,
                since=v.seen,
            )
            for v in self.visitors.values()
        ]
        return OcppStations(stations=sorted(items, key=lambda s: s.identity))

    def publish(self) -> None:
        self.on_stations(self.snapshot())


def _remote(connection: ServerConnection) -> str | None:
    address = connection.remote_address
    return f"{address[0]}:{address[1]}" if address else None


def _header(headers: Headers, name: str) -> str | None:
    return headers.get(name)
