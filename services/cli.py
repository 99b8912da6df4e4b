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
    if args.sites:
        from services.demo_fleet import run_fleet_demo

        return run_fleet_demo(
            args.sites, args.config, Path(args.data), args.port, args.broker_port, args.fleet_database
        )
    from services.demo import run_demo

    return run_demo(
        config_path=args.config,
        data_dir=Path(args.data),
        port=args.port,
        broker_port=args.broker_port,
        secure=args.secure,
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


def _mqtt_acl_command(args: argparse.Namespace) -> int:
    from services.deployment import acl_text

    text = acl_text(args.topic, args.internal, args.ha_prefix)
    if args.write:
        Path(args.write).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _mqtt_passwords_command(args: argparse.Namespace) -> int:
    """Create (or complete) the broker's password file and the matching ``.env`` for ``docker compose``."""
    from services.deployment import password_env, prepare_credentials

    credentials = prepare_credentials(Path(args.env), Path(args.passwd))
    for user in credentials.passwords:
        state = "new password" if user in credentials.created else "kept"
        print(f"{user:<17} {password_env(user):<33} {state}")
    print(f"wrote {args.passwd} (hashes) and {args.env} (passwords, mode 0600)")
    return 0


def build_parser(*, gateway_commands: bool = True) -> argparse.ArgumentParser:
    """The CLI; without ``gateway_commands`` it skips importing the gateway (FastAPI), which the services'
    own commands and the container health checks (run every 15 s) do not need."""
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
    demo.add_argument(
        "--sites", type=int, default=0, help="a fleet: this many homes and the fleet gateway on 7070 (/v2)"
    )
    demo.add_argument(
        "--secure",
        action="store_true",
        help="the production broker: passwords and the one-writer ACL, each service as its own user",
    )
    demo.add_argument("--fleet-database", help="with --sites: the fleet gateway's database URL (PostgreSQL)")
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

    acl = commands.add_parser("mqtt-acl", help="print the broker ACL generated from the schema's owners")
    acl.add_argument("--topic", default="evcc", help="root of the evcc tree")
    acl.add_argument("--internal", default="chargebus", help="root of the internal tree")
    acl.add_argument("--ha-prefix", default="homeassistant", help="Home Assistant's discovery prefix")
    acl.add_argument("--write", metavar="FILE", help="write it to FILE instead (e.g. mosquitto/acl)")
    acl.set_defaults(handler=_mqtt_acl_command)

    passwords = commands.add_parser(
        "mqtt-passwords", help="create the broker's passwd file and a matching .env for docker compose"
    )
    passwords.add_argument("--env", default=".env", help="the .env file compose reads (default .env)")
    passwords.add_argument("--passwd", default="mosquitto/passwd", help="mosquitto's password file")
    passwords.set_defaults(handler=_mqtt_passwords_command)

    if gateway_commands:
        from services.gateway.commands import register as register_gateway_commands

        register_gateway_commands(commands)  # password, fleet-client
    return parser


def _own_command(argv: Sequence[str]) -> bool:
    """Whether ``argv`` names one of this module's commands (so the gateway's need not be loaded)."""
    from services.registry import CENTRE_SERVICES, SERVICES

    own = {
        "demo",
        "check-config",
        "health",
        "docs",
        "mqtt-acl",
        "mqtt-passwords",
        *SERVICES,
        *CENTRE_SERVICES,
    }
    return bool(argv) and argv[0] in own


def main(argv: Sequence[str] | None = None) -> None:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(gateway_commands=not _own_command(arguments)).parse_args(arguments)
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
