"""Structured logging: JSON lines in production, readable console lines for humans.

Every service binds ``service`` once; drivers and loadpoint code bind ``device`` / ``loadpoint`` on top,
so each line says where it came from.
"""

from __future__ import annotations

import logging
import sys
from collections import deque
from typing import Any, Literal

import structlog

LogFormat = Literal["json", "console"]


class RecentLines:
    """A bounded in-memory ring of rendered log events (for ``/api/system/log``)."""

    def __init__(self, size: int = 2000) -> None:
        self.lines: deque[dict[str, Any]] = deque(maxlen=size)

    def __call__(self, _logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        self.lines.append(dict(event))
        return event


def configure_logging(
    level: str = "info", fmt: LogFormat = "console", recent: RecentLines | None = None
) -> None:
    """Configure structlog and the stdlib root logger once per process."""
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if recent is not None:
        processors.append(recent)
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        # plain tracebacks: structlog's rich default prints every frame's local variables (passwords,
        # tokens, request bodies) into the log
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[*processors, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # one write per line: print() writes the newline separately, and the demo's children share a pipe
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr, format="%(name)s %(message)s")


def get_logger(service: str, **context: Any) -> Any:
    """A logger carrying the service name and any extra context (loadpoint, device). Lazy: it follows
    :func:`configure_logging` even when created before it (module-level loggers are created at import,
    and a logger bound then kept structlog's defaults — console lines with every traceback frame's local
    variables, outside the log ring and the configured format)."""
    logger: Any = structlog.get_logger(service=service, **context)
    return logger
