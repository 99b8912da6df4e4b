"""Recent log events (``shared.logging.RecentLines``) as evcc's log view: areas, levels, text lines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

LEVELS = ("FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE")
"""evcc's levels, most severe first."""

_STRUCTLOG_LEVELS = {
    "critical": "FATAL",
    "fatal": "FATAL",
    "error": "ERROR",
    "exception": "ERROR",
    "warning": "WARN",
    "warn": "WARN",
    "info": "INFO",
    "debug": "DEBUG",
    "notset": "TRACE",
}
_HIDDEN = {"event", "level", "timestamp", "service", "loadpoint", "device", "component"}


def level_of(event: dict[str, Any]) -> str:
    return _STRUCTLOG_LEVELS.get(str(event.get("level", "info")).lower(), "INFO")


def area_of(event: dict[str, Any]) -> str:
    """evcc-style area: ``lp-<id>`` for loadpoint lines, else the device, component or service."""
    if event.get("loadpoint") is not None:
        return f"lp-{event['loadpoint']}"
    for key in ("device", "component", "service"):
        if event.get(key):
            return str(event[key])
    return "main"


def render(event: dict[str, Any]) -> str:
    extras = " ".join(f"{k}={event[k]}" for k in event if k not in _HIDDEN)
    text = f"[{area_of(event)}] {level_of(event)} {event.get('timestamp', '')} {event.get('event', '')}"
    return f"{text} {extras}".rstrip()


def select_lines(
    events: Sequence[dict[str, Any]], level: str, areas: set[str], count: int | None
) -> list[dict[str, Any]]:
    """Events at ``level`` or more severe, from ``areas`` (all when empty), the newest ``count``."""
    limit = LEVELS.index(level)
    chosen = [e for e in events if LEVELS.index(level_of(e)) <= limit and (not areas or area_of(e) in areas)]
    return chosen[-count:] if count else chosen if count is None else []


def areas(events: Sequence[dict[str, Any]]) -> list[str]:
    return sorted({area_of(e) for e in events})
