"""Gateway admin commands for the CLI: ``chargebus password set|reset`` and ``chargebus fleet-client``."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from services.gateway.auth import AuthStore, PasswordError
from services.gateway.fleet.commands import register as register_fleet_commands
from shared.config import load_config
from shared.db import open_database


def read_password(args: argparse.Namespace) -> str:
    if args.stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("New admin password: ")
    if getpass.getpass("Repeat: ") != first:
        raise PasswordError("the passwords do not match")
    return first


def _password_set(args: argparse.Namespace) -> int:
    engine = open_database(load_config(args.config).database.url)
    try:
        AuthStore(engine).set_password(read_password(args))
    except PasswordError as error:
        print(f"chargebus: {error}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print("admin password set")
    return 0


def _password_reset(args: argparse.Namespace) -> int:
    engine = open_database(load_config(args.config).database.url)
    try:
        AuthStore(engine).reset()
    finally:
        engine.dispose()
    print("admin password and sessions reset; set a new password in the UI or with 'chargebus password set'")
    return 0


def register(subparsers: Any) -> None:
    """Add ``password set|reset`` and ``fleet-client create|list`` to the ``chargebus`` command."""
    register_fleet_commands(subparsers)
    password = subparsers.add_parser("password", help="set or reset the gateway's admin password")
    actions = password.add_subparsers(dest="password_action", required=True)
    set_cmd = actions.add_parser("set", help="set the admin password (prompted, or one line on stdin)")
    set_cmd.add_argument("--config", help="config file (YAML)")
    set_cmd.add_argument("--stdin", action="store_true", help="read the password from stdin")
    set_cmd.set_defaults(handler=_password_set)
    reset_cmd = actions.add_parser("reset", help="forget the admin password and log everybody out")
    reset_cmd.add_argument("--config", help="config file (YAML)")
    reset_cmd.set_defaults(handler=_password_reset)
