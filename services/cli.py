"""``chargebus <command>``: the demo, one service by name, and small admin commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from shared.config import ConfigError, load_config


def _service_command(name: str, args: argparse.Namespace) -> int:
    from services.registry import service_main
    from shared.service import run_service

    config = load_config(args.config)
    run_service(name, service_main(name), config)
    return 0


def _demo_command(args: argparse.Namespace) -> int:
    from services.demo import run_demo

    return run_demo(
        config_path=args.config, data_dir=Path(args.data), port=args.port, broker_port=args.broker_port
    )


def _check_config(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    print(
        f"ok: {len(config.meters)} meters, {len(config.chargers)} chargers, "
        f"{len(config.loadpoints)} loadpoints, {len(config.vehicles)} vehicles"
    )
    return 0


def _docs_command(_args: argparse.Namespace) -> int:
    from shared.docs import mqtt_reference

    sys.stdout.write(mqtt_reference())
    return 0


def _health_command(args: argparse.Namespace) -> int:
    """Exit 0 when the service's retained status on the broker says online (container health checks)."""
    import asyncio

    from services.health import service_online

    config = load_config(args.config)
    online, detail = asyncio.run(service_online(config.mqtt, args.service, timeout=args.timeout))
    print(detail)
    return 0 if online else 1


def build_parser() -> argparse.ArgumentParser:
    from services.registry import CENTRE_SERVICES, SERVICES

    parser = argparse.ArgumentParser(prog="chargebus", description="Solar and tariff-aware EV charging.")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the whole system with a simulated home")
    demo.add_argument("--config", help="config file (default: the bundled demo home)")
    demo.add_argument("--data", default="data", help="data folder (database, settings, logs)")
    demo.add_argument("--port", type=int, default=None, help="gateway port (default 7070)")
    demo.add_argument(
        "--broker-port", type=int, default=None, help="embedded broker port (default 1883, or free)"
    )
    demo.set_defaults(handler=_demo_command)

    for name in (*SERVICES, *CENTRE_SERVICES):
        sub = commands.add_parser(name, help=f"run the {name} service")
        sub.add_argument("--config", required=False, help="config file (YAML)")
        sub.set_defaults(handler=lambda a, n=name: _service_command(n, a))

    check = commands.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("--config", required=True)
    check.set_defaults(handler=_check_config)

    health = commands.add_parser("health", help="exit 0 when a service reports online on the broker")
    health.add_argument("service", choices=[*SERVICES, *CENTRE_SERVICES])
    health.add_argument("--config", required=False)
    health.add_argument("--timeout", type=float, default=3.0)
    health.set_defaults(handler=_health_command)

    docs = commands.add_parser("docs", help="print the generated MQTT topic reference")
    docs.set_defaults(handler=_docs_command)

    from services.gateway.commands import register as register_gateway_commands

    register_gateway_commands(commands)  # password, fleet-client
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        code = int(args.handler(args) or 0)
    except ConfigError as error:
        print(f"chargebus: {error}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
