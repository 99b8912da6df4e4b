"""Running a service: the signature every service implements and the process wrapper around it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Sequence

from shared.config import Config, ConfigError, load_config
from shared.logging import configure_logging, get_logger

ServiceMain = Callable[[Config, asyncio.Event], Awaitable[None]]
"""``async def run(config, stop)``: run until ``stop`` is set, then clean up and return."""


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def _serve(name: str, main: ServiceMain, config: Config) -> None:
    stop = asyncio.Event()
    install_stop_signals(stop)
    log = get_logger(name)
    log.info("service starting")
    await main(config, stop)
    log.info("service stopped")


def run_service(name: str, main: ServiceMain, config: Config) -> None:
    """Configure logging and run one service in this process until SIGINT/SIGTERM."""
    configure_logging(config.log.level, config.log.format)
    asyncio.run(_serve(name, main, config))


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
