"""``chargebus fleet-client …``: create and list OAuth clients of the fleet API.

The gateway's ``services/gateway/commands.py`` calls :func:`register` with its subparsers.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from services.gateway.fleet.auth import SCOPES, AuthError, create_client, parse_scopes
from services.gateway.fleet.ids import new_id
from services.gateway.fleet.models import FleetUser, OAuthClient, migrate_fleet
from services.gateway.fleet.records import site_owner, sync_configured
from shared.config import Config, load_config
from shared.db import open_database


def _create(args: argparse.Namespace) -> int:
    try:
        scopes = parse_scopes(args.scopes)
    except AuthError as error:
        print(f"chargebus: {error.description} (known: {', '.join(sorted(SCOPES))})", file=sys.stderr)
        return 2
    if not scopes:
        print("chargebus: --scopes must name at least one scope", file=sys.stderr)
        return 2
    config = load_config(args.config)
    engine = open_database(config.database.url)
    try:
        return _create_in(engine, config, args, scopes)
    finally:
        engine.dispose()


def _create_in(engine: Engine, config: Config, args: argparse.Namespace, scopes: frozenset[str]) -> int:
    migrate_fleet(engine)
    now = datetime.now(UTC)
    with Session(engine) as db:
        sync_configured(db, config, now)
        user_id: str | None = None
        if args.owner:
            user_id = site_owner(db, now).id
        elif args.user:
            if db.get(FleetUser, args.user) is None:
                print(f"chargebus: unknown user {args.user!r}", file=sys.stderr)
                return 2
            user_id = args.user
        elif args.new_user:
            user = FleetUser(id=new_id("user", now), email=args.new_user, joined_at=now)
            db.add(user)
            db.flush()
            user_id = user.id
        client, secret = create_client(
            db, name=args.name, scopes=scopes, user_id=user_id, now=now, rate_limit_per_hour=args.rate_limit
        )
        db.commit()
        print(f"client_id:     {client.client_id}")
        print(f"client_secret: {secret}")
        print(f"scopes:        {client.scopes}")
        print(f"user:          {user_id or '(operator: choose with EvEnergy-User)'}")
        print(f"site owner:    {site_owner(db, now).id}")
    print("The secret is shown only now; only its hash is stored.", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace) -> int:
    engine = open_database(load_config(args.config).database.url)
    try:
        _list_in(engine)
    finally:
        engine.dispose()
    return 0


def _list_in(engine: Engine) -> None:
    migrate_fleet(engine)
    with Session(engine) as db:
        for client in db.exec(select(OAuthClient).order_by(col(OAuthClient.created_at))).all():
            state = "disabled" if client.disabled else "active"
            user = client.user_id or "-"
            print(f"{client.client_id}  {state}  user={user}  scopes={client.scopes}  {client.name}")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``fleet-client create`` and ``fleet-client list`` to the ``chargebus`` command line."""
    fleet = subparsers.add_parser("fleet-client", help="manage OAuth clients of the fleet API (/v2)")
    actions = fleet.add_subparsers(dest="fleet_action", required=True)

    create = actions.add_parser("create", help="create a client-credentials client and print its secret once")
    create.add_argument("--config", required=False, help="config file (YAML); selects the database")
    create.add_argument(
        "--scopes", required=True, help="space- or comma-separated, e.g. 'evse:read debug:read'"
    )
    create.add_argument("--name", default="", help="a label for the client")
    owner = create.add_mutually_exclusive_group()
    owner.add_argument("--owner", action="store_true", help="bind the client to the site owner")
    owner.add_argument("--user", help="bind the client to this existing user ID (user…)")
    owner.add_argument(
        "--new-user", metavar="EMAIL", help="create a user with this e-mail and bind the client"
    )
    create.add_argument("--rate-limit", type=int, default=1000, help="requests per hour (default 1000)")
    create.set_defaults(handler=_create)

    listing = actions.add_parser("list", help="list clients (never secrets)")
    listing.add_argument("--config", required=False)
    listing.set_defaults(handler=_list)
