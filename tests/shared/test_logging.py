"""Every log line through structlog: chargebus' own and the libraries' (aiomqtt, pymodbus, uvicorn)."""

from __future__ import annotations

import json
import logging
import re

import pytest
import structlog

from shared.logging import RecentLines, configure_logging, get_logger


@pytest.fixture(autouse=True)
def restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()
    logging.captureWarnings(False)


def test_json_lines_for_our_logs_and_the_libraries(capsys: pytest.CaptureFixture[str]) -> None:
    recent = RecentLines()
    configure_logging("info", "json", recent=recent, service="meter-reader")
    get_logger("meter-reader", device="grid").warning("meter unreachable", attempts=3)
    logging.getLogger("pymodbus.logging").error("Connection to (127.0.0.1, 15021) failed")
    logging.getLogger("aiomqtt").warning("There are 21 pending publish calls.")
    logging.getLogger("uvicorn.error").info("below the library threshold: not shown")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["event"] for line in lines] == [
        "meter unreachable",
        "Connection to (127.0.0.1, 15021) failed",
        "There are 21 pending publish calls.",
    ]
    ours, modbus, mqtt = lines
    assert ours["device"] == "grid" and ours["attempts"] == 3 and ours["level"] == "warning"
    assert (modbus["logger"], modbus["level"], modbus["service"]) == (
        "pymodbus.logging",
        "error",
        "meter-reader",
    )
    assert mqtt["logger"] == "aiomqtt"
    for line in lines:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", line["timestamp"])
    assert [line["event"] for line in recent.lines][-2:] == [modbus["event"], mqtt["event"]]
    assert "_record" not in recent.lines[-1]


def test_console_lines_carry_a_timestamp_too(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("debug", "console")
    logging.getLogger("uvicorn.error").info("Started server process [42]")
    get_logger("gateway").info("gateway listening", port=7070)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", line) for line in lines)
    assert "Started server process [42]" in lines[0] and "uvicorn.error" in lines[0]
