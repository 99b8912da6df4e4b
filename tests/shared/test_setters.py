"""The one table of writable keys: every key's value type accepts its valid and boundary values and
refuses out-of-range, wrongly typed, malformed and huge ones with a readable reason; aliases, addresses,
subscriptions and the generated reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shared.setters.table import OPTIMIZER, WRITABLE, Writable, find, parse_path, set_topics
from shared.setters.values import Invalid, RepeatingPlan, next_occurrence
from shared.tree import Address, Tree
from tests.support.setter_cases import CASES, REFUSED_EVERYWHERE

KEYS = {(entry.scope, entry.key): entry for entry in WRITABLE}


def test_every_writable_key_has_cases() -> None:
    assert set(CASES) == set(KEYS)


VALID = [(e, raw) for (scope, key), e in KEYS.items() for raw in CASES[(scope, key)].valid]
BAD = [(e, raw) for (scope, key), e in KEYS.items() for raw in CASES[(scope, key)].bad]
HUGE = [(e, raw) for e in WRITABLE if e.key != "delete" for raw in REFUSED_EVERYWHERE]


def _id(case: tuple[Writable, Any]) -> str:
    entry, raw = case
    return f"{entry.scope}/{entry.key}={raw[:30]!s}"


@pytest.mark.parametrize("case", VALID, ids=[_id(c) for c in VALID])
def test_valid_and_boundary_values_parse(case: tuple[Writable, str]) -> None:
    entry, raw = case
    value = entry.parse(raw)
    assert entry.parse(entry.dump(value)) == value  # the request value on the bus parses to the same


@pytest.mark.parametrize("case", BAD + HUGE, ids=[_id(c) for c in BAD + HUGE])
def test_bad_values_are_refused_with_a_reason(case: tuple[Writable, str]) -> None:
    entry, raw = case
    with pytest.raises(Invalid) as error:
        entry.parse(raw)
    assert error.value.code == 400
    assert 0 < len(str(error.value)) < 600  # a readable reason, never the whole payload


@pytest.mark.parametrize("raw", [True, 1e30, float("nan"), [1], {"a": 1}, None, b"\xff\xfe"])
def test_json_values_of_the_wrong_type_are_refused(raw: Any) -> None:
    entry = KEYS[("loadpoints", "maxCurrent")]
    with pytest.raises(Invalid):
        entry.parse(raw)


def test_aliases_and_addresses() -> None:
    assert find(parse_path("loadpoints/2/phases")) is KEYS[("loadpoints", "phasesConfigured")]
    assert find(parse_path("loadpoints/1/targetSoc")) is KEYS[("loadpoints", "limitSoc")]
    assert parse_path("vehicles/ev:1/planSoc") == Address("vehicles", "ev:1", "planSoc")
    for path, code in (("loadpoints/0/mode", 404), ("loadpoints/x/mode", 404), ("vehicles/a b/minSoc", 404)):
        with pytest.raises(Invalid) as error:
            parse_path(path)
        assert error.value.code == code


def test_every_owner_subscribes_to_its_mqtt_keys_and_aliases() -> None:
    topics = set_topics(Tree("evcc"), OPTIMIZER)
    assert "evcc/loadpoints/+/phases/set" in topics
    assert "evcc/loadpoints/+/phasesConfigured/set" in topics
    assert "evcc/site/batteryMode/set" in topics
    assert "evcc/vehicles/+/capacity/set" not in topics  # request only
    assert set_topics(Tree("evcc"), "nobody") == []
    for topic in topics:  # one key per subscription: no wildcard in the key position
        assert topic.endswith("/set") and "#" not in topic and topic.split("/")[-2] != "+"


def test_every_rest_route_is_unique() -> None:
    routes = [(r.method, r.path) for e in WRITABLE for r in e.rest]
    operations = [r.operation_id for e in WRITABLE for r in e.rest]
    assert len(set(routes)) == len(routes) and len(set(operations)) == len(operations)


def test_repeating_plans_are_normalised() -> None:
    entry = KEYS[("vehicles", "repeatingPlans")]
    plans = entry.parse({"plans": [{"weekdays": [5, 1], "time": "07:00", "soc": 80}]})
    assert plans == (RepeatingPlan(weekdays=(1, 5), time="07:00", tz="UTC", soc=80),)
    assert entry.dump(plans) == [
        {"weekdays": [1, 5], "time": "07:00", "tz": "UTC", "soc": 80, "active": True}
    ]


def test_plan_goals_value_zero_deletes() -> None:
    entry = KEYS[("loadpoints", "planEnergy")]
    assert entry.parse('{"time":"2030-01-01T00:00:00Z","value":0}') is None
    assert entry.parse("none") is None
    goal = entry.parse({"time": "2030-01-01T07:00:00+01:00", "energy": 12})  # evcc's answer shape
    assert goal.value == 12 and goal.time.utcoffset().total_seconds() == 3600


def test_next_occurrence_without_weekdays() -> None:
    from datetime import UTC, datetime

    assert next_occurrence((), "07:00", "UTC", datetime(2026, 1, 1, tzinfo=UTC)) is None


def test_docs_setters_md_is_generated_from_the_table() -> None:
    from shared.setters.docs import setters_reference

    doc = (Path(__file__).parents[2] / "docs" / "setters.md").read_text(encoding="utf-8")
    assert doc == setters_reference(), "docs/setters.md is out of date: run python -m shared.setters.docs"
