"""``/api/state?jq=…`` evaluation that cannot stall the gateway.

Simple paths (``.loadpoints[0].chargePower`` — what dashboards send) are evaluated here in Python. Every
other expression runs in a separate worker process: the jq C library holds the GIL while it runs, so an
expensive program (``last(range(1e12))``) evaluated in-process would freeze every request. The worker is
killed and restarted when a program exceeds the time limit.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import re
import threading
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

_SIMPLE = re.compile(r"^(?:\.[A-Za-z_][A-Za-z0-9_]*|\.?\[\d+\])+$")
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\.?\[(\d+)\]")
STARTUP_TIMEOUT_S = 30.0
MAX_RESULTS = 2
"""We only need to know "exactly one"; stopping at two also bounds endless generators."""


class JqError(ValueError):
    """The program does not compile, fails, or does not yield exactly one value (message is evcc's)."""


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def simple_path(expression: str, document: Any) -> tuple[bool, Any]:
    """(True, value) for ``.`` and plain ``.key`` / ``[n]`` paths, evaluated with jq's semantics
    (missing key or index → null); (False, None) for anything else."""
    if expression == ".":
        return True, document
    if not _SIMPLE.match(expression):
        return False, None
    value = document
    for match in _STEP.finditer(expression):
        key, index = match.group(1), match.group(2)
        if value is None:
            continue
        if key is not None:
            if not isinstance(value, dict):
                raise JqError(f'jq: cannot index {_type_name(value)} with "{key}"')
            value = value.get(key)
        else:
            if not isinstance(value, list):
                raise JqError(f"jq: cannot index {_type_name(value)} with number")
            position = int(index)
            value = value[position] if position < len(value) else None
    return True, value


def _evaluate(expression: str, document_json: str) -> tuple[str, Any]:
    import jq

    try:
        program = jq.compile(expression)
    except Exception as error:  # any compile failure is the client's
        return "error", f"jq: {error}"
    results: list[Any] = []
    try:
        for item in program.input_text(document_json):
            results.append(item)
            if len(results) >= MAX_RESULTS:
                break
    except Exception as error:  # runtime errors of the client's program
        return "error", f"jq: {error}"
    return "ok", results


def _worker(conn: Connection) -> None:
    """The child process: evaluate requests until the pipe closes."""
    import jq  # noqa: F401  # imported before "ready" so start-up never counts against a program's time

    conn.send(("ready", None))
    while True:
        try:
            expression, document_json = conn.recv()
        except EOFError:
            return
        conn.send(_evaluate(expression, document_json))


class JqRunner:
    """Runs jq programs in a worker process, one at a time, with a time limit."""

    def __init__(self, timeout_s: float = 2.0) -> None:
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None

    def _ensure_worker(self) -> Connection:
        if self._process is None or not self._process.is_alive() or self._conn is None:
            self._stop_worker()
            context = multiprocessing.get_context("spawn")
            parent, child = context.Pipe()
            process = context.Process(target=_worker, args=(child,), daemon=True, name="chargebus-jq")
            process.start()
            child.close()
            self._process, self._conn = process, parent
            if not parent.poll(STARTUP_TIMEOUT_S):
                self._stop_worker()
                raise JqError("jq: evaluator did not start")
            parent.recv()
        return self._conn

    def _stop_worker(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
        if self._process is not None:
            self._process.kill()
            self._process.join(2)
        self._process, self._conn = None, None

    def evaluate(self, expression: str, document: Any) -> Any:
        """The single result of ``expression`` on ``document``; :class:`JqError` otherwise."""
        handled, value = simple_path(expression, document)
        if handled:
            return value
        with self._lock:
            try:
                conn = self._ensure_worker()
                conn.send((expression, json.dumps(document)))
                if not conn.poll(self.timeout_s):
                    self._stop_worker()
                    raise JqError(f"jq: evaluation took longer than {self.timeout_s:g} s")
                status, payload = conn.recv()
            except (OSError, EOFError):
                self._stop_worker()
                raise JqError("jq: evaluation failed") from None
        if status == "error":
            raise JqError(str(payload))
        results: list[Any] = payload
        if not results:
            raise JqError("jq: empty result")
        if len(results) > 1:
            raise JqError("jq: too many results")
        return results[0]

    def close(self) -> None:
        with self._lock:
            self._stop_worker()
