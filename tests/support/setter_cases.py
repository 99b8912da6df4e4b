"""Valid, boundary and refused values of every writable key, as MQTT payload text (REST path text alike).

``valid[0]`` is accepted by the optimizer in the test homes (a battery, one 3-phase loadpoint that cannot
switch phases, vehicles ``ev1``/``ev``) when the keys are set in table order; the other valid values are
the boundaries, accepted by the value type (the owner may still refuse them in context, e.g. minCurrent
80 A above maxCurrent). ``bad`` are refused by the value type: out of range, wrong type, malformed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

FUTURE = "2030-01-02T07:30:00Z"
HUGE = "9" * 1_000_000
"""1 MB of digits."""
LONG_PATH_VALUE = "9" * 60_000
"""The longest path value an HTTP client sends (httpx refuses URLs of 64 KiB)."""
INVALID_UTF8 = b"\xff\xfe\xc3\x28"


@dataclass(frozen=True)
class Cases:
    valid: tuple[str, ...]
    bad: tuple[str, ...]


def _json(value: object) -> str:
    return json.dumps(value)


BOOL = Cases(("true", "false", "1", "0", "T", "F"), ("yes", "2", "truee", "-1"))
SOC = Cases(("20", "0", "100", "50.5"), ("100.01", "-1", "1e309", "NaN", "abc", "true"))
WHOLE_SOC = Cases(("80", "0", "100", "80.0"), ("101", "-1", "50.5", "3.5", "abc", "false"))
POWER = Cases(("-100", "0", "10000000", "-10000000"), ("1e30", "10000000.5", "nan", "inf", "1,5", "true"))
COST = Cases(("0.2", "-100000", "100000", "null", "-"), ("100001", "-1e400", "abc", "true"))
DELAY = Cases(("60", "0", "86400"), ("86401", "-1", "1.5", "1m", "9223372036854775808"))
STRATEGY = Cases(
    (_json({"continuous": True, "precondition": 1800}), "{}", _json({"precondition": 86400})),
    (
        _json({"precondition": 86401}),
        _json({"precondition": -1}),
        _json({"continuous": "yes"}),
        _json({"other": 1}),
        "[1]",
        "{broken",
        "5",
    ),
)
PLAN = {"weekdays": [1, 3], "time": "07:30", "tz": "Europe/Berlin", "soc": 80, "active": True}

CASES: dict[tuple[str, str], Cases] = {
    ("site", "residualPower"): POWER,
    ("site", "prioritySoc"): SOC,
    ("site", "bufferSoc"): Cases(("60", "0", "100"), SOC.bad),
    ("site", "bufferStartSoc"): Cases(("80", "0", "100"), SOC.bad),
    ("site", "gridExportLimit"): Cases(("5000", "0", "10000000"), ("-1", "1e8", "inf", "x")),
    ("site", "batteryDischargeControl"): BOOL,
    ("site", "batteryGridDischarge"): BOOL,
    ("site", "batteryGridChargeLimit"): COST,
    ("site", "batteryMode"): Cases(
        ("hold", "normal", "charge", "holdcharge", "unknown", "HOLD", "none"), ("turbo", "1", "true")
    ),
    ("site", "smartCostLimit"): COST,
    ("site", "smartFeedInPriorityLimit"): COST,
    ("site", "solarAdjusted"): BOOL,
    ("site", "dimmed"): BOOL,
    ("site", "peakShavingLimit"): Cases(("5000", "0", "10000000"), ("-1", "1e8", "inf", "x")),
    ("loadpoints", "mode"): Cases(("pv", "off", "now", "minpv", "PV", "smart"), ("turbo", "1", "true")),
    ("loadpoints", "phasesConfigured"): Cases(("3", "0", "1", "3.0"), ("2", "4", "-1", "3.5", "x")),
    ("loadpoints", "limitSoc"): WHOLE_SOC,
    ("loadpoints", "minSoc"): Cases(("20", "0", "100"), WHOLE_SOC.bad),
    ("loadpoints", "priority"): Cases(("2", "0", "1000"), ("1001", "-1", "1.5", "9223372036854775808")),
    ("loadpoints", "minCurrent"): Cases(("6", "80", "0.5"), ("0", "-6", "80.1", "1e30", "nan", "x")),
    ("loadpoints", "maxCurrent"): Cases(("32", "80", "6"), ("0", "80.5", "1e30", "-1", "inf")),
    ("loadpoints", "limitEnergy"): Cases(("12.5", "0", "1000"), ("1000.5", "1e307", "-1", "x")),
    ("loadpoints", "enableThreshold"): POWER,
    ("loadpoints", "disableThreshold"): Cases(("200", *POWER.valid), POWER.bad),
    ("loadpoints", "enableDelay"): DELAY,
    ("loadpoints", "disableDelay"): Cases(("180", *DELAY.valid), DELAY.bad),
    ("loadpoints", "smartCostLimit"): COST,
    ("loadpoints", "smartFeedInPriorityLimit"): COST,
    ("loadpoints", "batteryBoost"): BOOL,
    ("loadpoints", "batteryBoostLimit"): Cases(("50", "0", "100"), WHOLE_SOC.bad),
    ("loadpoints", "planStrategy"): STRATEGY,
    ("loadpoints", "planEnergy"): Cases(
        (
            _json({"time": FUTURE, "value": 20}),
            _json({"time": "2030-01-02T07:30:00+01:00", "value": 1000, "precondition": 3600}),
            _json({"value": 0}),
            "null",
        ),
        (
            _json({"time": FUTURE, "value": 1001}),
            _json({"time": FUTURE, "value": 1e307}),
            _json({"time": "2030-01-02T07:30:00", "value": 5}),
            _json({"time": "9999-12-31T23:59:59-23:59", "value": 5}),
            _json({"value": 5}),
            _json({"time": FUTURE, "value": 5, "precondition": 86401}),
            "x",
        ),
    ),
    ("loadpoints", "vehicle"): Cases(("ev1", "none", "-"), ("a b", "x" * 65, "ä", "1/2")),
    ("vehicles", "limitSoc"): WHOLE_SOC,
    ("vehicles", "minSoc"): Cases(("25", "0", "100"), WHOLE_SOC.bad),
    ("vehicles", "soc"): Cases(("57.5", "0", "100"), SOC.bad),
    ("vehicles", "mode"): Cases(("minpv", "null", "now"), ("turbo", "2")),
    ("vehicles", "planStrategy"): STRATEGY,
    ("vehicles", "planSoc"): Cases(
        (_json({"time": FUTURE, "value": 80}), _json({"time": FUTURE, "value": 100}), _json({"value": 0})),
        (
            _json({"time": FUTURE, "value": 101}),
            _json({"time": FUTURE, "value": 80.5}),
            _json({"time": "tomorrow", "value": 80}),
            _json({"soc": 80}),
            "[]",
        ),
    ),
    ("vehicles", "repeatingPlans"): Cases(
        (_json([PLAN]), "[]", _json({"plans": [PLAN | {"precondition": 86400}]})),
        (
            _json([PLAN | {"weekdays": [7]}]),
            _json([PLAN | {"weekdays": [1, 1]}]),
            _json([PLAN | {"time": "25:00"}]),
            _json([PLAN | {"tz": "Mars/Olympus"}]),
            _json([PLAN | {"soc": 101}]),
            _json([PLAN | {"tz": "x" * 100}]),
            _json([PLAN] * 33),
            _json({"plans": "x"}),
            "5",
        ),
    ),
    ("vehicles", "capacity"): Cases(("77", "0.5", "1000"), ("0", "-1", "1001", "x")),
    ("vehicles", "create"): Cases(
        (_json({"capacity_kwh": 75}), _json({"title": "T" * 128, "capacity_kwh": 1000, "limit_soc": 100})),
        (_json({"capacity_kwh": 1001}), _json({"title": "T" * 129}), _json({"limit_soc": 101}), "[]"),
    ),
    ("vehicles", "delete"): Cases(("", "x"), ()),
}

REFUSED_EVERYWHERE = (HUGE,)
"""Refused by every key, on MQTT and REST alike."""

GOAL_AMOUNTS = {"energy": Cases(("20", "0", "1000"), ("1001", "1e307", "-1", "abc")),
                "soc": Cases(("80", "0", "100"), ("101", "80.5", "-1", "abc"))}  # fmt: skip
"""REST plan goals take the amount and the time as path values."""
BAD_TIMES = ("tomorrow", "2030-01-02T07:30:00", "9999-12-31T23:59:59-23:59", "2030-13-02T07:30:00Z")
