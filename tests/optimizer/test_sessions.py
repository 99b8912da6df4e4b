"""Session lifecycle (reference §6.2): created at the first charge start, updated at every stop,
finished at disconnect; energy from the charge meter, solar share, price and CO2 per added kWh."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from services.optimizer.sessions import SessionTracker
from services.optimizer.snapshot import Snapshot
from shared.config import parse_config
from shared.messages import ChargerStatus, ChargeStatus

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
CONFIG = parse_config(
    {
        "chargers": [{"name": "wb", "type": "demo", "modbus": {"host": "127.0.0.1"}}],
        "loadpoints": [{"title": "Garage", "charger": "wb"}],
    }
)


@dataclass(frozen=True)
class Facts:
    green_share_loadpoints: float = 0.5
    price_loadpoints: float | None = 0.20
    co2_loadpoints: float | None = 300.0


def status(
    code: ChargeStatus, energy: float | None, soc: float | None = None, power: float = 0.0
) -> Snapshot:
    charger = ChargerStatus(
        loadpoint=1,
        charger="wb",
        status=code,
        enabled=code is ChargeStatus.C,
        energy_kwh=energy,
        vehicle_soc_pct=soc,
        power_w=power,
        identifier="tag-1",
    )
    return Snapshot(chargers={1: charger})


def test_a_connection_with_two_charging_segments() -> None:
    tracker = SessionTracker(CONFIG)
    facts = Facts()
    steps = [
        (0, status(ChargeStatus.B, 100.0, soc=40)),
        (60, status(ChargeStatus.C, 100.0, soc=40)),
        (3660, status(ChargeStatus.B, 110.0, soc=55)),
        (7200, status(ChargeStatus.C, 110.0, soc=55)),
        (9000, status(ChargeStatus.B, 112.0, soc=58)),
        (9600, status(ChargeStatus.A, 112.0, soc=58)),
    ]
    events = []
    for seconds, snapshot in steps:
        events += tracker.update(snapshot, facts, T0 + timedelta(seconds=seconds), {1: "ev"})
    assert [e.kind for e in events] == ["created", "updated", "updated", "finished"]
    assert len({e.session_uid for e in events}) == 1
    assert len({e.event_id for e in events}) == 4
    final = events[-1]
    assert final.created == T0 + timedelta(seconds=60)
    assert final.finished == T0 + timedelta(seconds=9000)
    assert final.charged_kwh == pytest.approx(12.0)
    assert final.charge_duration_s == pytest.approx(3600 + 1800)
    assert (final.meter_start_kwh, final.meter_end_kwh) == (100.0, 112.0)
    assert (final.soc_start_pct, final.soc_end_pct) == (40, 58)
    assert final.solar_percentage == pytest.approx(50)
    assert final.price == pytest.approx(2.4) and final.price_per_kwh == pytest.approx(0.2)
    assert final.co2_per_kwh == pytest.approx(300)
    assert (final.vehicle, final.identifier, final.loadpoint) == ("ev", "tag-1", "Garage")


def test_a_connection_without_charging_is_never_written() -> None:
    tracker = SessionTracker(CONFIG)
    events = tracker.update(status(ChargeStatus.B, 5.0), Facts(), T0)
    events += tracker.update(status(ChargeStatus.A, 5.0), Facts(), T0 + timedelta(hours=1))
    assert events == []


def test_energy_without_a_meter_total_is_integrated_from_power() -> None:
    tracker = SessionTracker(CONFIG)
    tracker.update(status(ChargeStatus.C, None, power=11000), Facts(), T0)
    tracker.update(status(ChargeStatus.C, None, power=11000), Facts(), T0 + timedelta(minutes=30))
    assert tracker.session_energy_kwh(1) == pytest.approx(5.5)
    state = tracker.state(1, T0 + timedelta(minutes=30))
    assert state.sessionEnergy == pytest.approx(5500) and state.chargeDuration == 1800


def test_a_new_connection_starts_a_new_session() -> None:
    tracker = SessionTracker(CONFIG)
    first = tracker.update(status(ChargeStatus.C, 1.0), Facts(), T0)
    tracker.update(status(ChargeStatus.A, 2.0), Facts(), T0 + timedelta(hours=1))
    second = tracker.update(status(ChargeStatus.C, 2.0), Facts(), T0 + timedelta(hours=2))
    assert first[0].session_uid != second[0].session_uid
    assert tracker.session_energy_kwh(1) == 0


def test_a_restored_session_continues_with_the_same_uid() -> None:
    tracker = SessionTracker(CONFIG)
    created = tracker.update(status(ChargeStatus.C, 50.0, soc=30), Facts(), T0)
    tracker.update(status(ChargeStatus.C, 52.0, soc=33), Facts(), T0 + timedelta(minutes=10))
    saved = tracker.export()

    later = T0 + timedelta(hours=1)
    restarted = SessionTracker(CONFIG)
    restarted.restore(saved, later)
    assert restarted.session_energy_kwh(1) == pytest.approx(2.0)
    restarted.update(status(ChargeStatus.C, 55.0, soc=38), Facts(), later)
    events = restarted.update(status(ChargeStatus.A, 55.0, soc=38), Facts(), later + timedelta(minutes=5))
    assert [e.kind for e in events] == ["updated", "finished"]
    assert events[-1].session_uid == created[0].session_uid
    assert events[-1].charged_kwh == pytest.approx(5.0)
    # the segment before the restart counts up to when it was last seen, the new one from the restart
    assert events[-1].charge_duration_s == pytest.approx(600 + 300)
