"""Writes the facts on ``chargebus/events/<kind>`` into the database, idempotently.

Sessions are upserted by ``session_uid`` (an event id already applied is skipped, so a QoS 1 redelivery
changes nothing); command and charger-status logs are unique by ``event_id``. Every row names its site:
a site's gateway writes its own, a fleet gateway the one in the event's topic. Several writers may share
one database (fleet gateway instances): a write that loses a race on a unique key is tried once more and
then finds the other's row. Database work runs in a worker thread so the bus loop never blocks on disk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError, SQLAlchemyError
from sqlmodel import Session, select

from shared.bus import BusMessage
from shared.config import LOCAL_SITE
from shared.db import (
    ChargerStatusLog,
    ChargingSession,
    CommandLog,
    ProcessedEvent,
    session_scope,
    to_db_time,
    utc_naive,
)
from shared.messages import ChargerStatusChanged, CommandApplied, SessionEvent
from shared.tasks import cancel_and_wait
from shared.topics import EVENT_CHARGER_STATUS, EVENT_COMMAND, EVENT_SESSION

NS_PER_S = 1_000_000_000


def _already(session: Session, event_id: str) -> bool:
    return session.get(ProcessedEvent, event_id) is not None


def _mark(session: Session, event_id: str, kind: str) -> None:
    session.add(
        ProcessedEvent(event_id=event_id, kind=kind, processed_at=datetime.now(UTC).replace(tzinfo=None))
    )


def session_fields(event: SessionEvent) -> dict[str, Any]:
    """evcc's columns from a session event (duration in ns as evcc stores it)."""
    return {
        "created": to_db_time(event.created),
        "finished": to_db_time(event.finished),
        "loadpoint": event.loadpoint,
        "loadpoint_id": event.loadpoint_id,
        "identifier": event.identifier,
        "vehicle": event.vehicle,
        "odometer": event.odometer_km,
        "meter_start_kwh": event.meter_start_kwh,
        "meter_end_kwh": event.meter_end_kwh,
        "charged_kwh": event.charged_kwh,
        "charge_duration": round(event.charge_duration_s * NS_PER_S),
        "soc_start": event.soc_start_pct,
        "soc_end": event.soc_end_pct,
        "added_range": event.added_range_km,
        "solar_percentage": event.solar_percentage,
        "price": event.price,
        "price_per_kwh": event.price_per_kwh,
        "co2_per_kwh": event.co2_per_kwh,
        "reference_price_per_kwh": event.reference_price_per_kwh,
        "reference_co2_per_kwh": event.reference_co2_per_kwh,
    }


def write_session(engine: Engine, event: SessionEvent, site_id: str = LOCAL_SITE) -> bool:
    """Upsert the session; False when this event was applied before."""
    with session_scope(engine) as session:
        if _already(session, event.event_id):
            return False
        row = session.exec(
            select(ChargingSession).where(ChargingSession.session_uid == event.session_uid)
        ).first()
        values = session_fields(event)
        if row is None:
            row = ChargingSession(session_uid=event.session_uid, site_id=site_id, **values)
        else:
            for name, value in values.items():
                setattr(row, name, value)
        session.add(row)
        _mark(session, event.event_id, EVENT_SESSION)
    return True


def write_command(engine: Engine, event: CommandApplied, site_id: str = LOCAL_SITE) -> bool:
    with session_scope(engine) as session:
        if (
            session.exec(select(CommandLog.id).where(CommandLog.event_id == event.event_id)).first()
            is not None
        ):
            return False
        session.add(
            CommandLog(
                event_id=event.event_id,
                site_id=site_id,
                loadpoint=event.loadpoint,
                charger=event.charger,
                seq=event.seq,
                enabled=event.enabled,
                current_a=event.current_a,
                phases=event.phases,
                reason=event.reason.value,
                ok=event.ok,
                error=event.error,
                timestamp=utc_naive(event.timestamp),
            )
        )
    return True


def write_charger_status(engine: Engine, event: ChargerStatusChanged, site_id: str = LOCAL_SITE) -> bool:
    with session_scope(engine) as session:
        existing = session.exec(
            select(ChargerStatusLog.id).where(ChargerStatusLog.event_id == event.event_id)
        )
        if existing.first() is not None:
            return False
        session.add(
            ChargerStatusLog(
                event_id=event.event_id,
                site_id=site_id,
                loadpoint=event.loadpoint,
                charger=event.charger,
                status=event.status.value,
                previous=event.previous.value if event.previous else None,
                timestamp=utc_naive(event.timestamp),
            )
        )
    return True


Writer = Callable[[Engine, Any, str], bool]
EVENT_TABLE: dict[str, tuple[type[BaseModel], Writer]] = {
    EVENT_SESSION: (SessionEvent, write_session),
    EVENT_COMMAND: (CommandApplied, write_command),
    EVENT_CHARGER_STATUS: (ChargerStatusChanged, write_charger_status),
}


class EventWriter:
    """Bus handler for ``<internal>/events/+``.

    Valid events are queued and written by one worker task in arrival order, so a slow or unreachable
    database never holds up the bus (state updates keep flowing). A database that is down (connection
    errors) is retried with backoff until it is back — the events wait in memory meanwhile; an event the
    database rejects for its content is logged and dropped so it cannot block the ones behind it.
    """

    RETRY_FIRST_S = 0.5
    RETRY_MAX_S = 30.0

    def __init__(
        self,
        engine: Engine,
        log: Any,
        sessions_changed: asyncio.Event | None = None,
        site_of: Callable[[str], str | None] | None = None,
    ) -> None:
        self.engine = engine
        self.log = log
        self.sessions_changed = sessions_changed
        """Set whenever a session row changed (the statistics publisher waits on it)."""
        self.site_of = site_of or (lambda _topic: LOCAL_SITE)
        """The site an event's topic belongs to (None: not a site's event, ignored)."""
        self.written = asyncio.Event()
        """Set after every row written (the fleet API's session sync waits on it)."""
        self.handled = 0
        """Events handled so far (written, duplicate, invalid or dropped) — lets callers await progress."""
        self.failed_attempts = 0
        """Writes that failed because the database was unavailable (each is retried)."""
        self._progress = asyncio.Event()
        self._queue: asyncio.Queue[tuple[str, Writer, Any, str]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    async def wait_handled(self, count: int, timeout: float = 10.0) -> None:
        """Return once at least ``count`` events were handled."""
        await self.wait_until(lambda w: w.handled >= count, timeout)

    async def wait_until(self, predicate: Callable[[EventWriter], bool], timeout: float = 10.0) -> None:
        """Return once ``predicate(self)`` holds (re-checked after every write attempt)."""

        async def loop() -> None:
            while not predicate(self):
                self._progress.clear()
                await self._progress.wait()

        await asyncio.wait_for(loop(), timeout)

    def _done(self) -> None:
        self.handled += 1
        self._progress.set()

    async def on_message(self, message: BusMessage) -> None:
        kind = message.topic.rsplit("/", 1)[-1]
        entry = EVENT_TABLE.get(kind)
        site_id = self.site_of(message.topic)
        if entry is None or not message.payload or site_id is None:
            return
        model, writer = entry
        try:
            event = model.model_validate_json(message.payload)
        except ValidationError as error:
            self.log.warning("bad event ignored", kind=kind, error=str(error))
            self._done()
            return
        self._queue.put_nowait((kind, writer, event, site_id))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="gateway-event-writer")

    @property
    def pending(self) -> int:
        """Events received but not written yet."""
        return self._queue.qsize()

    async def _work(self) -> None:
        while True:
            kind, writer, event, site_id = await self._queue.get()
            try:
                written = await self._write(kind, writer, event, site_id)
            finally:
                self._done()
            if written:
                self.written.set()
            if written and kind == EVENT_SESSION and self.sessions_changed is not None:
                self.sessions_changed.set()
            if not written:
                self.log.debug("event not written", kind=kind, event_id=getattr(event, "event_id", None))

    async def _write(self, kind: str, writer: Writer, event: Any, site_id: str) -> bool:
        delay = self.RETRY_FIRST_S
        raced = False
        while True:
            try:
                return await asyncio.to_thread(writer, self.engine, event, site_id)
            except IntegrityError as error:
                if raced:  # not a race: the row itself is unacceptable
                    self.log.error("event rejected by the database; dropped", kind=kind, error=str(error))
                    return False
                raced = True  # another writer inserted the same key first: now it is an update or a no-op
            except (OperationalError, InterfaceError) as error:
                self.failed_attempts += 1
                self._progress.set()
                self.log.warning(
                    "database unavailable; event kept for retry",
                    kind=kind,
                    error=str(error).splitlines()[0],
                    retry_s=delay,
                    pending=self.pending + 1,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.RETRY_MAX_S)
            except SQLAlchemyError as error:
                self.log.error("event rejected by the database; dropped", kind=kind, error=str(error))
                return False

    async def close(self) -> None:
        if self._worker is not None:
            await cancel_and_wait([self._worker])
