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
HANDLER_NAME = "chargebus"
"""The root handler configure_logging installs (others, e.g. a test runner's, are left alone)."""
LIBRARIES = ("uvicorn", "uvicorn.error", "uvicorn.access", "aiomqtt", "mqtt", "pymodbus", "apprise", "ocpp")
WIRE_LOGGERS = ("httpx", "httpcore", "hpack")
"""HTTP clients' own lines name every URL (query tokens such as ENTSO-E's ``securityToken``) and, at
debug, every header (``Authorization``, ``Set-Cookie``): warnings only, at every level."""


class RecentLines:
    """A bounded in-memory ring of rendered log events (for ``/api/system/log``)."""

    def __init__(self, size: int = 2000) -> None:
        self.lines: deque[dict[str, Any]] = deque(maxlen=size)

    def __call__(self, _logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        self.lines.append(dict(event))
        return event


def configure_logging(
    level: str = "info",
    fmt: LogFormat = "console",
    recent: RecentLines | None = None,
    service: str | None = None,
) -> None:
    """Configure structlog and the stdlib root logger once per process.

    Every line goes out through the same processors and renderer — chargebus' own and those of the
    libraries that log through the standard library (aiomqtt, pymodbus, uvicorn, apprise, ocpp …): an ISO
    timestamp (UTC), the level, the logger's name for library lines, ``service`` when given, and JSON lines
    when ``fmt`` is ``json``. Libraries log from WARNING up (everything at ``debug``)."""
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if service is not None:
        shared.append(_with_default("service", service))
    kept: list[Any] = [recent] if recent is not None else []
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
        processors=[*shared, *kept, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # one write per line: print() writes the newline separately, and the demo's children share a pipe
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *kept,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.set_name(HANDLER_NAME)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:  # configured again: replace ours
        root.removeHandler(old)
    root.addHandler(handler)
    for (
        name
    ) in LIBRARIES:  # a library that set up its own handler (uvicorn's default config) logs through ours
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate, library.disabled = True, False
        library.setLevel(logging.NOTSET)
    root.setLevel(logging.DEBUG if numeric <= logging.DEBUG else max(numeric, logging.WARNING))
    for name in WIRE_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.captureWarnings(True)


def _with_default(key: str, value: str) -> Any:
    def add(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault(key, value)
        return event

    return add


def get_logger(service: str, **context: Any) -> Any:
    """A logger carrying the service name and any extra context (loadpoint, device). Lazy: it follows
    :func:`configure_logging` even when created before it (module-level loggers are created at import,
    and a logger bound then kept structlog's defaults — console lines with every traceback frame's local
    variables, outside the log ring and the configured format)."""
    logger: Any = structlog.get_logger(service=service, **context)
    return logger
