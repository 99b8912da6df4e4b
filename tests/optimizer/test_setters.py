"""The setter table (reference §1.7): parsing, validation, sentinels, read-back; one table for MQTT and
request/reply."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.optimizer.facts import LoadpointFacts, loadpoint_facts
from services.optimizer.setters import SetterContext, apply_setter, missing_handlers, read_setting
from services.optimizer.settings import LoadpointSettings, Settings, SiteSettings, VehicleSettings
from shared.config import Config, parse_config
from shared.messages import ChargerStatus, ChargeStatus
from shared.setters.table import WRITABLE
from shared.setters.values import Invalid
from shared.state import ChargeMode

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
BASE = Settings(
    site=SiteSettings(),
    loadpoints={1: LoadpointSettings(), 2: LoadpointSettings(mode=ChargeMode.PV)},
    vehicles={"ev": VehicleSettings(title="EV", capacity_kwh=60)},
)
CTX = SetterContext(
    now=NOW,
    battery_configured=True,
    loadpoints={1: LoadpointFacts(physical_phases=3, switchable=True), 2: LoadpointFacts(3, False)},
    session_energy_kwh={1: 2.5},
)

VALID = [
    # key, raw value (MQTT text or JSON value), confirmed value
    ("loadpoints/1/mode", "now", "now"),
    ("loadpoints/1/mode", "MinPV", "minpv"),
    ("loadpoints/1/mode", "pv", "pv"),
    ("loadpoints/1/limitSoc", "80", 80),
    ("loadpoints/1/limitSoc", 90, 90),
    ("loadpoints/1/minSoc", "20", 20),
    ("loadpoints/1/priority", "3", 3),
    ("loadpoints/1/minCurrent", "8.5", 8.5),
    ("loadpoints/1/maxCurrent", "32", 32.0),
    ("loadpoints/1/limitEnergy", "12.5", 12.5),
    ("loadpoints/1/enableThreshold", "-1400", -1400.0),
    ("loadpoints/1/disableThreshold", "200", 200.0),
    ("loadpoints/1/enableDelay", "30", 30),
    ("loadpoints/1/disableDelay", "120", 120),
    ("loadpoints/1/phasesConfigured", "0", 0),
    ("loadpoints/1/phasesConfigured", "1", 1),
    ("loadpoints/1/smartCostLimit", "0.25", 0.25),
    ("loadpoints/1/smartCostLimit", "null", None),
    ("loadpoints/1/smartFeedInPriorityLimit", "-", None),
    ("loadpoints/2/batteryBoost", "true", True),
    ("loadpoints/1/batteryBoostLimit", "40", 40),
    (
        "loadpoints/1/planStrategy",
        '{"continuous":true,"precondition":900}',
        {"continuous": True, "precondition": 900},
    ),
    ("loadpoints/1/vehicle", "ev", "ev"),
    ("loadpoints/1/vehicle", "none", None),
    ("site/residualPower", "-50", -50.0),
    ("site/prioritySoc", "20", 20.0),
    ("site/bufferSoc", "60", 60.0),
    ("site/bufferStartSoc", "80", 80.0),
    ("site/batteryDischargeControl", "1", True),
    ("site/batteryGridChargeLimit", "0.12", 0.12),
    ("site/batteryGridChargeLimit", "nil", None),
    ("site/batteryMode", "hold", "hold"),
    ("site/gridExportLimit", "5000", 5000.0),
    ("site/smartCostLimit", "0.2", 0.2),
    ("vehicles/ev/limitSoc", "85", 85),
    ("vehicles/ev/minSoc", 15, 15),
    ("vehicles/ev/mode", "pv", "pv"),
    ("vehicles/ev/mode", None, None),
    (
        "vehicles/ev/planStrategy",
        {"continuous": False, "precondition": 0},
        {"continuous": False, "precondition": 0},
    ),
]


@pytest.mark.parametrize(("key", "raw", "confirmed"), VALID, ids=[f"{k}={r}" for k, r, _ in VALID])
def test_valid_values_are_applied_and_confirmed(key: str, raw: Any, confirmed: Any) -> None:
    outcome = apply_setter(BASE, CTX, key, raw)
    assert outcome.value == confirmed
    assert read_setting(outcome.settings, key) == confirmed


INVALID = [
    # key, raw, reason fragment, code
    ("loadpoints/1/mode", "turbo", "invalid mode", 400),
    ("loadpoints/1/limitSoc", "3.5", "not a whole number", 400),
    ("loadpoints/1/limitSoc", "120", "120 exceeds the maximum of 100", 400),
    ("loadpoints/1/minCurrent", "20", "must not exceed maxCurrent", 400),
    ("loadpoints/1/maxCurrent", "4", "must not be below minCurrent", 400),
    ("loadpoints/1/maxCurrent", "NaN", "not a number", 400),
    ("loadpoints/1/maxCurrent", "inf", "not a number", 400),
    ("loadpoints/2/phasesConfigured", "0", "switch phases", 400),
    ("loadpoints/2/phasesConfigured", "1", "cannot switch", 400),
    ("loadpoints/1/phasesConfigured", "2", "invalid phases", 400),
    ("loadpoints/1/batteryBoost", "true", "only available in pv", 400),
    ("loadpoints/1/enableDelay", "1m", "not a whole number", 400),
    ("loadpoints/1/planStrategy", "{broken", "not valid JSON", 400),
    ("loadpoints/1/planEnergy", {"time": "2026-11-22T11:00:00Z", "value": 10}, "future", 400),
    ("loadpoints/1/planEnergy", {"time": "2026-11-23T07:00:00", "value": 10}, "offset", 400),
    ("loadpoints/1/vehicle", "unknown-car", "unknown vehicle", 404),
    ("site/prioritySoc", "101", "101 exceeds the maximum of 100", 400),
    ("site/batteryMode", "turbo", "invalid battery mode", 400),
    ("site/gridExportLimit", "-1", "below the minimum of 0", 400),
    ("vehicles/ev/planSoc", {"time": "2026-11-23T07:00:00Z", "value": 80.5}, "not a whole number", 400),
    ("vehicles/ev/repeatingPlans", [{"weekdays": [7], "time": "07:00", "soc": 80}], "weekdays", 400),
    ("vehicles/ev/repeatingPlans", [{"weekdays": [1], "time": "25:00", "soc": 80}], "HH:MM", 400),
    (
        "vehicles/ev/repeatingPlans",
        [{"weekdays": [1], "time": "07:00", "tz": "Mars/Base", "soc": 80}],
        "time zone",
        400,
    ),
    ("loadpoints/9/mode", "pv", "unknown loadpoint", 404),
    ("loadpoints/x/mode", "pv", "unknown loadpoint", 404),
    ("vehicles/nope/limitSoc", "80", "unknown vehicle", 404),
    ("loadpoints/1/chargePower", "100", "unknown key", 404),
    ("site/pvPower", "100", "unknown key", 404),
]


@pytest.mark.parametrize(
    ("key", "raw", "reason", "code"), INVALID, ids=[f"{k}={r}" for k, r, _, _ in INVALID]
)
def test_invalid_values_are_rejected_with_a_reason(key: str, raw: Any, reason: str, code: int) -> None:
    with pytest.raises(Invalid) as error:
        apply_setter(BASE, CTX, key, raw)
    assert reason in str(error.value)
    assert error.value.code == code


def test_soc_ordering_of_buffer_and_priority() -> None:
    settings = apply_setter(BASE, CTX, "site/prioritySoc", "50").settings
    with pytest.raises(Invalid, match="below prioritySoc"):
        apply_setter(settings, CTX, "site/bufferSoc", "40")
    settings = apply_setter(settings, CTX, "site/bufferSoc", "70").settings
    with pytest.raises(Invalid, match="must not exceed bufferSoc"):
        apply_setter(settings, CTX, "site/prioritySoc", "80")
    with pytest.raises(Invalid, match="below bufferSoc"):
        apply_setter(settings, CTX, "site/bufferStartSoc", "60")
    assert apply_setter(settings, CTX, "site/bufferSoc", "0").value == 0  # 0 = off is always allowed


def test_battery_settings_need_a_battery() -> None:
    no_battery = SetterContext(now=NOW)
    with pytest.raises(Invalid, match="no home battery"):
        apply_setter(BASE, no_battery, "site/bufferSoc", "50")


def test_energy_plan_counts_from_the_energy_already_charged() -> None:
    outcome = apply_setter(
        BASE, CTX, "loadpoints/1/planEnergy", '{"time":"2026-11-23T07:00:00+01:00","value":20}'
    )
    plan = outcome.settings.loadpoints[1].energy_plan
    assert plan is not None and plan.energy_kwh == 20 and plan.offset_kwh == 2.5
    assert outcome.value == {"time": "2026-11-23T07:00:00+01:00", "value": 20.0, "energy": 20.0}
    deleted = apply_setter(
        outcome.settings, CTX, "loadpoints/1/planEnergy", {"time": "2026-11-23T07:00:00Z", "value": 0}
    )
    assert deleted.settings.loadpoints[1].energy_plan is None and deleted.value is None


def test_vehicle_soc_plan_and_repeating_plans() -> None:
    outcome = apply_setter(BASE, CTX, "vehicles/ev/planSoc", {"time": "2026-11-23T06:00:00Z", "value": 80})
    assert outcome.value == {"time": "2026-11-23T06:00:00+00:00", "value": 80, "soc": 80}
    repeating = [
        {"weekdays": [1, 2, 3, 4, 5], "time": "07:30", "tz": "Europe/Berlin", "soc": 80, "active": True}
    ]
    result = apply_setter(outcome.settings, CTX, "vehicles/ev/repeatingPlans", repeating)
    assert result.value == repeating
    assert apply_setter(result.settings, CTX, "vehicles/ev/planSoc", "none").value is None


def test_site_smart_cost_limit_applies_to_every_loadpoint() -> None:
    settings = apply_setter(BASE, CTX, "site/smartCostLimit", "0.18").settings
    assert {lp.smart_cost_limit for lp in settings.loadpoints.values()} == {0.18}


def test_mqtt_only_sees_mqtt_setters() -> None:
    with pytest.raises(Invalid) as error:
        apply_setter(BASE, CTX, "vehicles/ev/capacity", "70", mqtt=True)
    assert error.value.code == 404
    mqtt_keys = {(e.scope, e.key) for e in WRITABLE if e.mqtt}
    evcc_mqtt_setters = (
        {  # server/mqtt.go: listenSiteSetters, listenLoadpointSetters, listenVehicleSetters
            ("site", key)
            for key in [
                "bufferSoc",
                "bufferStartSoc",
                "batteryDischargeControl",
                "batteryGridDischarge",
                "prioritySoc",
                "residualPower",
                "gridExportLimit",
                "solarAdjusted",
                "smartCostLimit",
                "smartFeedInPriorityLimit",
                "batteryGridChargeLimit",
                "batteryMode",
            ]
        }
        | {
            ("loadpoints", key)
            for key in [
                "mode",
                "phasesConfigured",
                "limitSoc",
                "minSoc",
                "priority",
                "minCurrent",
                "maxCurrent",
                "limitEnergy",
                "enableThreshold",
                "disableThreshold",
                "enableDelay",
                "disableDelay",
                "smartCostLimit",
                "smartFeedInPriorityLimit",
                "batteryBoost",
                "batteryBoostLimit",
                "planStrategy",
                "planEnergy",
                "vehicle",
            ]
        }
        | {("vehicles", key) for key in ("limitSoc", "minSoc", "planStrategy", "planSoc")}
    )
    assert mqtt_keys >= evcc_mqtt_setters
    # evcc's REST-only vehicle setters work on MQTT too
    assert {("vehicles", "mode"), ("vehicles", "repeatingPlans")} <= mqtt_keys
    assert missing_handlers() == set()  # every key the optimizer owns has exactly one handler


def test_a_rejected_value_changes_nothing() -> None:
    settings = apply_setter(BASE, CTX, "loadpoints/1/maxCurrent", "20").settings
    with pytest.raises(Invalid):
        apply_setter(settings, CTX, "loadpoints/1/maxCurrent", "abc")
    assert settings.loadpoints[1].max_current_a == 20


def test_plan_goals_carry_their_own_precondition() -> None:
    goal = {"time": "2026-11-23T06:00:00Z", "value": 80, "precondition": 1800}
    outcome = apply_setter(BASE, CTX, "vehicles/ev/planSoc", goal)
    assert outcome.value == {
        "time": "2026-11-23T06:00:00+00:00",
        "value": 80,
        "soc": 80,
        "precondition": 1800,
    }
    plans = [{"weekdays": [], "time": "07:00", "tz": "UTC", "soc": 0, "active": False, "precondition": 600}]
    assert apply_setter(BASE, CTX, "vehicles/ev/repeatingPlans", plans).value == plans


def test_vehicles_created_at_run_time() -> None:
    created = apply_setter(
        BASE, CTX, "vehicles/van/create", {"title": "Van", "capacity_kwh": 75, "limit_soc": 90}
    )
    van = created.settings.vehicles["van"]
    assert van.dynamic and van.capacity_kwh == 75 and van.limit_soc == 90
    again = apply_setter(created.settings, CTX, "vehicles/van/create", {"capacity_kwh": 80})
    assert again.settings.vehicles["van"].capacity_kwh == 80  # a retry updates, never duplicates
    with pytest.raises(Invalid) as conflict:
        apply_setter(BASE, CTX, "vehicles/ev/create", {"capacity_kwh": 50})
    assert conflict.value.code == 409
    with pytest.raises(Invalid, match="invalid vehicle name"):
        apply_setter(BASE, CTX, "vehicles/a b/create", {"capacity_kwh": 50})
    assigned = apply_setter(again.settings, CTX, "loadpoints/1/vehicle", "van").settings
    deleted = apply_setter(assigned, CTX, "vehicles/van/delete", None).settings
    assert "van" not in deleted.vehicles and deleted.loadpoints[1].vehicle is None
    with pytest.raises(Invalid) as config_vehicle:
        apply_setter(BASE, CTX, "vehicles/ev/delete", None)
    assert config_vehicle.value.code == 409


def test_run_time_vehicles_and_api_capacity_survive_a_restart() -> None:
    from services.optimizer.settings import merge_persisted

    stored = apply_setter(BASE, CTX, "vehicles/van/create", {"capacity_kwh": 75}).settings
    stored = apply_setter(stored, CTX, "vehicles/ev/capacity", 77).settings
    merged = merge_persisted(BASE, stored)
    assert merged.vehicles["van"].capacity_kwh == 75 and merged.vehicles["ev"].capacity_kwh == 77


# --- the charger's facts decide, from the same status the state publishes ------------------------------


def _config(phases: int = 3) -> Config:
    return parse_config(
        {
            "chargers": [{"name": "eve", "type": "alfen"}],
            "loadpoints": [{"title": "Garage", "charger": "eve", "phases": phases}],
        }
    )


def _status(**fields: Any) -> ChargerStatus:
    return ChargerStatus(loadpoint=1, charger="eve", status=ChargeStatus.B, enabled=False, **fields)


def test_phase_switching_comes_from_the_chargers_status() -> None:
    config = _config(phases=3)  # evcc's default: configured 3 phases on a charger that can switch
    before_status = loadpoint_facts(config, 1, None)
    assert not before_status.switchable  # only the configuration is known yet
    facts = loadpoint_facts(config, 1, _status(phase_switching=True))
    assert facts.switchable
    context = SetterContext(now=NOW, loadpoints={1: facts})
    for phases in ("1", "0", "3"):
        assert apply_setter(BASE, context, "loadpoints/1/phasesConfigured", phases).value == int(phases)
    fixed = SetterContext(now=NOW, loadpoints={1: loadpoint_facts(config, 1, _status(phase_switching=False))})
    with pytest.raises(Invalid, match="cannot switch"):
        apply_setter(BASE, fixed, "loadpoints/1/phasesConfigured", "1")


def test_the_state_advertises_what_the_setter_accepts() -> None:
    """chargerPhases1p3p in the optimizer's loadpoint state and the phases setter use the same fact."""
    from services.optimizer.cycle import loadpoint_inputs
    from services.optimizer.settings import default_settings
    from services.optimizer.snapshot import Snapshot

    config = _config(phases=3)
    for switchable in (True, False):
        snapshot = Snapshot(chargers={1: _status(phase_switching=switchable)})
        inputs = loadpoint_inputs(config, default_settings(config), snapshot, 1, 0.0)
        facts = loadpoint_facts(config, 1, snapshot.chargers[1])
        assert inputs.switchable is facts.switchable is switchable


def test_a_one_phase_car_on_a_switched_three_phase_charger_is_not_held_by_a_phase_sync() -> None:
    from services.optimizer.control import LoadpointInputs, Timers, decide

    inputs = LoadpointInputs(
        id=1, connected=True, charging=True, enabled=True, offered_current_a=16, phases_active=1,
        phases_switched=3, switchable=True,
    )  # fmt: skip
    lp = LoadpointSettings(mode=ChargeMode.OFF, phases_configured=3)
    assert decide(lp, inputs, None, Timers(), NOW).case == "off"  # not "phases": the charger is on 3 already
    one_phase = LoadpointSettings(mode=ChargeMode.NOW, phases_configured=1)
    assert decide(one_phase, inputs, None, Timers(), NOW).case == "phases"


def test_currents_stay_within_the_chargers_range() -> None:
    context = SetterContext(now=NOW, loadpoints={1: LoadpointFacts(min_current_a=6, max_current_a=32)})
    assert apply_setter(BASE, context, "loadpoints/1/maxCurrent", "32").value == 32
    for key, value in (("maxCurrent", "33"), ("minCurrent", "5.9"), ("maxCurrent", "1e30")):
        with pytest.raises(Invalid) as error:
            apply_setter(BASE, context, f"loadpoints/1/{key}", value)
        assert error.value.code == 400
    low = SetterContext(now=NOW, loadpoints={1: loadpoint_facts(_config(), 1, _status(min_current_a=1.0))})
    assert apply_setter(BASE, low, "loadpoints/1/minCurrent", "2").value == 2  # the charger allows less


def test_aliases_resolve_to_their_key() -> None:
    outcome = apply_setter(BASE, CTX, "loadpoints/1/phases", "1", mqtt=True)
    assert (
        outcome.key == "loadpoints/1/phasesConfigured"
        and outcome.settings.loadpoints[1].phases_configured == 1
    )
    assert apply_setter(BASE, CTX, "loadpoints/1/targetSoc", "70").key == "loadpoints/1/limitSoc"
