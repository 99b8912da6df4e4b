"""What a fleet gateway keeps of every site's live bus: loadpoint keys, tariff series, service status and
site manifests — validated, gathered, and written to the shared database in batches.

Each message is decoded with the state schema (a value that does not fit its field is dropped and
logged), merged into a pending batch, and a flush every ``fleet.flush_interval_s`` writes the whole batch
in one transaction (``INSERT … ON CONFLICT DO UPDATE``, merging JSON so instances that each saw some keys
of a loadpoint never erase each other's). Retained state arrives through a one-off plain subscription at
start (shared subscriptions deliver no retained messages); its values never overwrite what an instance
has written since the bootstrap began.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from services.fleet_gateway.topics import FleetTopics
from services.gateway.fleet.live import LIVE_KEYS
from services.gateway.fleet.models import SiteService, SiteTariff, insert_for
from services.gateway.fleet.sites import register_site
from shared.bus import BusMessage
from shared.encoding import decode_value
from shared.messages import RateSeries, ServiceStatus, SiteManifest
from shared.state import LoadpointState

MAX_LOADPOINT = 1000
MAX_PAYLOAD = 1024
"""A loadpoint value longer than this is not a value of any key the fleet keeps."""

_MERGE = {
    "postgresql": "({old}::jsonb || {new}::jsonb)::text",
    "sqlite": "json_patch({old}, {new})",
}


def _upsert_loadpoints(engine: Engine, keep_newer_than: datetime | None) -> Any:
    """The batched upsert of loadpoint states: incoming keys win, except in a bootstrap where a row
    written since ``keep_newer_than`` keeps its keys."""
    merge = _MERGE["postgresql" if engine.dialect.name == "postgresql" else "sqlite"]
    table, new = "fleet_live_loadpoints", "excluded.state"
    incoming_wins = merge.format(old=f"{table}.state", new=new)
    if keep_newer_than is None:
        state = incoming_wins
    else:
        existing_wins = merge.format(old=new, new=f"{table}.state")
        state = f"CASE WHEN {table}.updated_at >= :since THEN {existing_wins} ELSE {incoming_wins} END"
    return text(
        f"INSERT INTO {table} (site_id, loadpoint_id, state, updated_at) "
        "VALUES (:site_id, :loadpoint_id, :state, :updated_at) "
        f"ON CONFLICT (site_id, loadpoint_id) DO UPDATE SET state = {state}, "
        f"updated_at = CASE WHEN excluded.updated_at > {table}.updated_at "
        f"THEN excluded.updated_at ELSE {table}.updated_at END"
    )


@dataclass
class Batch:
    loadpoints: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    tariffs: dict[tuple[str, str], str] = field(default_factory=dict)
    services: dict[tuple[str, str], bool] = field(default_factory=dict)
    manifests: dict[str, SiteManifest] = field(default_factory=dict)
    messages: int = 0

    def __bool__(self) -> bool:
        return bool(self.loadpoints or self.tariffs or self.services or self.manifests)


class LiveIngest:
    """Bus handlers that gather site state, and the flush that writes it."""

    def __init__(self, engine: Engine, topics: FleetTopics, log: Any, clock: Any) -> None:
        self.engine = engine
        self.topics = topics
        self.log = log
        self.clock = clock
        self.batch = Batch()
        self.bootstrap_since: datetime | None = None
        """Set while the retained state of a bootstrap is being read (its values yield to newer ones)."""
        self.flushed = asyncio.Event()
        """Set after every flush (tests and the bench wait on it)."""
        self.received = 0
        self.written = 0
        self.rejected = 0

    # --- handlers -------------------------------------------------------------------------------

    async def on_loadpoint(self, message: BusMessage) -> None:
        parsed = self.topics.parse(message.topic)
        if parsed is None or len(parsed.rest) != 3 or parsed.rest[0] != "loadpoints":
            return
        _, number, key = parsed.rest
        if key not in LIVE_KEYS or not number.isdigit() or not 1 <= int(number) <= MAX_LOADPOINT:
            return
        self.received += 1
        if len(message.payload) > MAX_PAYLOAD:
            self._reject(message.topic, "payload too long")
            return
        info = LoadpointState.model_fields[key]
        try:
            value = decode_value(info.annotation, info, {message.topic: message.text}, message.topic)
            checked = LoadpointState.model_validate({key: value}).model_dump(mode="json")[key]
        except (ValueError, TypeError, ValidationError) as error:
            self._reject(message.topic, str(error).splitlines()[0])
            return
        self.batch.loadpoints.setdefault((parsed.site_id, int(number)), {})[key] = checked

    async def on_tariff(self, message: BusMessage) -> None:
        parsed = self.topics.parse(message.topic)
        if parsed is None or len(parsed.rest) != 2:
            return
        self.received += 1
        if not message.payload:
            return
        try:
            series = RateSeries.model_validate_json(message.payload)
        except ValidationError as error:
            self._reject(message.topic, str(error).splitlines()[0])
            return
        self.batch.tariffs[(parsed.site_id, parsed.rest[1])] = series.model_dump_json()

    async def on_service(self, message: BusMessage) -> None:
        parsed = self.topics.parse(message.topic)
        if parsed is None or len(parsed.rest) != 3:
            return
        self.received += 1
        try:
            status = ServiceStatus.model_validate_json(message.payload)
        except ValidationError as error:
            self._reject(message.topic, str(error).splitlines()[0])
            return
        self.batch.services[(parsed.site_id, parsed.rest[1])] = status.state == "online"

    async def on_manifest(self, message: BusMessage) -> None:
        parsed = self.topics.parse(message.topic)
        if parsed is None or not message.payload:
            return
        self.received += 1
        try:
            manifest = SiteManifest.model_validate_json(message.payload)
        except ValidationError as error:
            self._reject(message.topic, str(error).splitlines()[0])
            return
        if manifest.site_id != parsed.site_id:  # a site speaks only for itself
            self._reject(message.topic, f"manifest of {manifest.site_id!r} below {parsed.site_id!r}")
            return
        self.batch.manifests[parsed.site_id] = manifest

    def _reject(self, topic: str, reason: str) -> None:
        self.rejected += 1
        self.log.warning("site message ignored", topic=topic, reason=reason)

    # --- writing --------------------------------------------------------------------------------

    def write(self, batch: Batch) -> None:
        """Write one batch in one transaction (run in a worker thread)."""
        now = self.clock()
        with Session(self.engine) as db:
            for site_id, manifest in batch.manifests.items():
                try:
                    with db.begin_nested():  # another instance may register the same new site right now
                        register_site(db, manifest, now, self.topics.central_root(site_id))
                except IntegrityError:
                    self.log.info("site registered by another instance meanwhile", site=site_id)
            db.flush()
            if batch.loadpoints:
                rows = [
                    {"site_id": s, "loadpoint_id": lp, "state": json.dumps(values), "updated_at": now}
                    for (s, lp), values in sorted(batch.loadpoints.items())
                ]
                statement = _upsert_loadpoints(self.engine, self.bootstrap_since)
                params = {"since": self.bootstrap_since} if self.bootstrap_since else {}
                db.execute(statement, [{**row, **params} for row in rows])
            insert = insert_for(self.engine)
            for (site_id, usage), series in sorted(batch.tariffs.items()):
                upsert = insert(SiteTariff).values(
                    site_id=site_id, usage=usage, series=series, updated_at=now
                )
                db.execute(
                    upsert.on_conflict_do_update(
                        index_elements=["site_id", "usage"], set_={"series": series, "updated_at": now}
                    )
                )
            for (site_id, service), online in sorted(batch.services.items()):
                upsert = insert(SiteService).values(
                    site_id=site_id, service=service, online=online, updated_at=now
                )
                db.execute(
                    upsert.on_conflict_do_update(
                        index_elements=["site_id", "service"], set_={"online": online, "updated_at": now}
                    )
                )
            db.commit()

    async def flush(self) -> int:
        """Write what was gathered; returns the messages written (0 when there was nothing)."""
        batch, self.batch = self.batch, Batch()
        if not batch:
            return 0
        count = len(batch.loadpoints) + len(batch.tariffs) + len(batch.services) + len(batch.manifests)
        await asyncio.to_thread(self.write, batch)
        self.written += count
        self.flushed.set()
        return count

    async def run(self, interval_s: float, stop: asyncio.Event) -> None:
        """Flush every ``interval_s`` until ``stop``; a failed write is logged and its batch retried."""
        while not stop.is_set():
            pending = self.batch
            try:
                await self.flush()
            except Exception as error:
                self.log.warning(
                    "live state not written; retrying",
                    error_type=type(error).__name__,
                    error=str(getattr(error, "orig", None) or error).splitlines()[0],
                )
                _merge_back(self, pending)
                await _sleep(stop, min(5.0, interval_s * 20))
                continue
            await _sleep(stop, interval_s)
        await self.flush()


def _merge_back(ingest: LiveIngest, failed: Batch) -> None:
    """Put a batch that could not be written back under what arrived since (newer values win)."""
    newer = ingest.batch
    for key, values in failed.loadpoints.items():
        newer.loadpoints[key] = {**values, **newer.loadpoints.get(key, {})}
    newer.tariffs = {**failed.tariffs, **newer.tariffs}
    newer.services = {**failed.services, **newer.services}
    newer.manifests = {**failed.manifests, **newer.manifests}


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
