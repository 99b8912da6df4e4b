"""Vehicle readings (DESIGN §1: the meter-reader owns them): SoC, range and odometer of each vehicle from
its configured MQTT/HTTP sources, or pushed (``POST /api/vehicles/<name>/soc/<soc>``,
``<root>/vehicles/<name>/soc/set``), published as ``chargebus/vehicles/<name>``.

The freshest value wins: a push newer than the source's last measurement replaces it until the source
brings a new one (a source repeating the same values is no newer measurement). A push is stale
``soc_timeout_s`` after it arrived, a source as soon as it fails or times out; a stale reading is
republished with ``stale`` and the reason, so the optimizer stops acting on it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Literal

from shared.bus import Bus, BusMessage
from shared.config import VehicleConfig
from shared.config_sources import ConstSource, HttpSource, Source
from shared.devices.errors import DeviceError, describe_error
from shared.devices.source import Latest, backoff_s
from shared.devices.values import DeviceIO, Reader
from shared.messages import Reply, Request, VehicleReading
from shared.setters.table import find, parse_path
from shared.setters.values import MAX_PAYLOAD_BYTES, Invalid, shown
from shared.tasks import cancel_and_wait
from shared.tree import Service

Publish = Callable[[VehicleReading], Awaitable[None]]


Kind = Literal["mqtt", "http", "push", "const"]


def _kind(source: Source) -> Kind:
    if isinstance(source, ConstSource):
        return "const"
    return "http" if isinstance(source, HttpSource) else "mqtt"


class VehicleSource:
    def __init__(
        self,
        config: VehicleConfig,
        io: DeviceIO,
        publish: Publish,
        *,
        log: Any,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.publish = publish
        self.log = log
        self.clock = clock
        self.pushed: Latest[tuple[float, datetime]] = Latest(
            f"{config.name}.soc (pushed)", config.soc_timeout_s, clock=monotonic
        )
        self.polled: VehicleReading | None = None
        self.published: VehicleReading | None = None
        self.failures = 0
        self._wake = asyncio.Event()
        s = config.sources
        self.readers: dict[str, Reader] = {}
        if s is not None:
            self.readers["soc"] = Reader(s.soc, io, f"{config.name}.soc")
            for key, source in (("range", s.range), ("odometer", s.odometer)):
                if source is not None:
                    self.readers[key] = Reader(source, io, f"{config.name}.{key}")
        self.kind: Kind = _kind(s.soc) if s is not None else "push"

    def push(self, soc_pct: float) -> None:
        self.pushed.set((soc_pct, self.clock()))
        self.log.info("vehicle soc pushed", soc=soc_pct)
        self._wake.set()

    async def poll(self) -> None:
        if not self.readers:
            return
        try:
            values = {key: await reader.number() for key, reader in self.readers.items()}
        except DeviceError as error:
            self.failures += 1
            message = describe_error(error)
            if self.failures == 1:
                self.log.warning("vehicle source not answering", error=message)
            known = self.polled or VehicleReading(vehicle=self.config.name, source=self.kind)
            self.polled = known.model_copy(update={"stale": True, "error": message})
            return
        if not 0 <= values["soc"] <= 100 or values.get("range", 0) < 0 or values.get("odometer", 0) < 0:
            self.polled = VehicleReading(
                vehicle=self.config.name, source=self.kind, stale=True,
                error=f"implausible values {values}", timestamp=self.clock(),
            )  # fmt: skip
            return
        self.failures = 0
        last = self.polled
        if (
            last is not None
            and not last.stale
            and (last.soc_pct, last.range_km, last.odometer_km)
            == (values["soc"], values.get("range"), values.get("odometer"))
        ):
            return  # the same measurement again: it is no newer than a push that came since
        self.polled = VehicleReading(
            vehicle=self.config.name,
            soc_pct=values["soc"],
            range_km=values.get("range"),
            odometer_km=values.get("odometer"),
            source=self.kind,
            timestamp=self.clock(),
        )

    def reading(self) -> VehicleReading | None:
        """The freshest of the pushed and the polled value; stale when neither is fresh."""
        pushed = self.pushed.last.value if self.pushed.last is not None else None
        polled = self.polled
        if pushed is not None and (polled is None or polled.stale or pushed[1] >= polled.timestamp):
            soc, at = pushed
            base = polled.model_copy() if polled is not None else None
            reading = VehicleReading(
                vehicle=self.config.name,
                soc_pct=soc,
                range_km=base.range_km if base else None,
                odometer_km=base.odometer_km if base else None,
                source="push",
                timestamp=at,
            )
            if not self.pushed.fresh:
                return reading.model_copy(
                    update={"stale": True, "error": f"no SoC pushed for {self.config.soc_timeout_s:g} s"}
                )
            return reading
        return polled

    async def step(self) -> float:
        """Poll, publish what changed; the seconds until the next poll or until a push goes stale."""
        await self.poll()
        reading = self.reading()
        if reading is not None and reading != self.published:
            await self.publish(reading)
            self.published = reading
        delay = backoff_s(self.config.interval_s, self.failures) if self.readers else 3600.0
        age = self.pushed.age_s()
        if age is not None and self.pushed.fresh:
            delay = min(delay, max(0.0, self.config.soc_timeout_s - age) + 0.01)
        return delay

    async def run(self, stop: asyncio.Event) -> None:
        stopped = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    delay = await self.step()
                except Exception as error:  # publishing must never end the loop
                    self.log.warning("vehicle reading failed", error=describe_error(error))
                    delay = self.config.interval_s
                woken = asyncio.create_task(self._wake.wait())
                await asyncio.wait({woken, stopped}, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
                await cancel_and_wait([woken])
        finally:
            stopped.cancel()


class VehicleSetters:
    """The meter-reader's writable keys (``shared/setters/table.py``, owner meter-reader): a pushed SoC, by
    request (the gateway's REST setter) or by ``/set`` — the same parse and the same answers."""

    def __init__(self, sources: dict[str, VehicleSource], log: Any) -> None:
        self.sources = sources
        self.log = log

    def apply(self, path: str, raw: Any) -> Any:
        address = parse_path(path)
        entry = find(address)
        if entry is None or entry.owner != Service.METER_READER:
            raise Invalid(f"{path} is not written here", code=404)
        source = self.sources.get(str(address.target))
        if source is None:
            raise Invalid(f"unknown vehicle {address.target!r}", code=404)
        value = entry.parse(raw)
        source.push(float(value))
        return value

    async def on_request(self, request: Request) -> Reply:
        try:
            value = self.apply(request.key, request.value)
        except Invalid as error:
            self.log.info("request rejected", key=request.key, reason=str(error), code=error.code)
            return Reply(id=request.id, ok=False, error=str(error), code=error.code)
        return Reply(id=request.id, ok=True, value=value)

    def on_set(self, bus: Bus) -> Callable[[BusMessage], Awaitable[None]]:
        async def handle(message: BusMessage) -> None:
            if not message.payload:
                return  # our own clearing of the retained /set
            path = bus.tree.setter_path(message.topic)
            try:
                if path is None:
                    return
                if len(message.payload) > MAX_PAYLOAD_BYTES:
                    raise Invalid(f"payload too large ({len(message.payload)} bytes)")
                self.apply(path, message.payload.decode("utf-8", errors="replace"))
            except Invalid as error:
                self.log.warning(
                    "setting rejected", key=path, value=shown(message.payload[:100]), reason=str(error)
                )
            finally:
                await bus.clear(message.topic)

        return handle
