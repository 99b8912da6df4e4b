"""Running a service: the signature every service implements and the process wrapper around it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from shared.config import Config, ConfigError, load_config
from shared.logging import configure_logging, get_logger

ServiceMain = Callable[[Config, asyncio.Event], Awaitable[None]]
"""``async def run(config, stop)``: run until ``stop`` is set, then clean up and return."""

EXIT_WEDGED = 70
"""Exit status of a service that gave up on itself (EX_SOFTWARE): the supervisor or compose restarts it."""


@dataclass
class ProcessControl:
    """The running service process as its parts see it: a part that cannot recover (a wedged bus) asks
    for a non-zero exit here; the service then stops as on SIGTERM, cleaning up on its way out."""

    stop: asyncio.Event
    exit_code: int = 0
    reason: str | None = None

    def fail(self, reason: str, code: int = EXIT_WEDGED) -> None:
        if self.exit_code == 0:
            self.exit_code, self.reason = code, reason
        self.stop.set()


_process: contextvars.ContextVar[ProcessControl | None] = contextvars.ContextVar(
    "chargebus_process", default=None
)


def current_process() -> ProcessControl | None:
    """The control of the service process this code runs in; None in tests that run a service in-process."""
    return _process.get()


@contextlib.contextmanager
def process_control(stop: asyncio.Event) -> Iterator[ProcessControl]:
    control = ProcessControl(stop)
    token = _process.set(control)
    try:
        yield control
    finally:
        _process.reset(token)


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


def _log_loop_errors(log: Any) -> None:
    """Errors asyncio catches in callbacks (e.g. paho registering a writer on a socket that just closed)
    go to the structured log as one line instead of an unstructured traceback."""

    def handler(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        log.warning(
            "asyncio error in a callback",
            message=str(context.get("message", "")),
            error=repr(error) if error is not None else None,
        )

    asyncio.get_running_loop().set_exception_handler(handler)


async def _serve(name: str, main: ServiceMain, config: Config) -> int:
    stop = asyncio.Event()
    install_stop_signals(stop)
    log = get_logger(name)
    _log_loop_errors(log)
    log.info("service starting")
    with process_control(stop) as control:
        await main(config, stop)
    if control.exit_code:
        log.error(
            "service gave up; exiting for a restart", reason=control.reason, exit_code=control.exit_code
        )
    else:
        log.info("service stopped")
    return control.exit_code


def run_service(name: str, main: ServiceMain, config: Config) -> None:
    """Configure logging and run one service in this process until SIGINT/SIGTERM (exit 0) or until a part
    of it gives up (exit :data:`EXIT_WEDGED`, so that the supervisor restarts it)."""
    configure_logging(config.log.level, config.log.format, service=name)
    code = asyncio.run(_serve(name, main, config))
    if code:
        sys.exit(code)


def service_entry(name: str, main: ServiceMain, argv: Sequence[str] | None = None) -> None:
    """``python -m services.<package> [--config FILE]``: load the config and run ``main`` (exit 2 on a bad
    config, as ``chargebus <name>`` does)."""
    parser = argparse.ArgumentParser(prog=f"chargebus {name}", description=f"run the {name} service")
    parser.add_argument("--config", required=False, help="config file (YAML)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        parser.exit(2, f"chargebus: {error}\n")
    with contextlib.suppress(KeyboardInterrupt):
        run_service(name, main, config)
