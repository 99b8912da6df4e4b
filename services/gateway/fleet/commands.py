"""``chargebus fleet-client …`` and ``chargebus fleet-user …``: OAuth clients and users of the fleet API.

They work on the database of the config given: a site's gateway (its own site is registered from the
config first, so ``--owner`` works before the gateway ever ran) or a fleet gateway (every site that
reported). The gateway's ``services/gateway/commands.py`` calls :func:`register` with its subparsers.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from services.gateway.fleet.auth import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    SCOPES,
    AuthError,
    create_client,
    hash_secret,
    parse_scopes,
)
from services.gateway.fleet.ids import new_id
from services.gateway.fleet.models import FleetSite, FleetUser, OAuthClient, migrate_fleet
from services.gateway.fleet.sites import (
    adopt_local_records,
    manifest_from_config,
    register_site,
    site_owner,
    sites_of,
)
from shared.config import Config, load_config
from shared.db import open_database

MAX_PASSWORD_BYTES = 72


def _fail(message: str) -> int:
    print(f"chargebus: {message}", file=sys.stderr)
    return 2


def _open(config: Config) -> Engine:
    """The database of ``config`` with the fleet tables, and the config's own site when it has one."""
    engine = open_database(config.database.url)
    migrate_fleet(engine)
    if config.chargers or config.loadpoints or config.vehicles:
        with Session(engine) as db:
            manifest = manifest_from_config(config)
            adopt_local_records(db, manifest.site_id)
            register_site(db, manifest, datetime.now(UTC), manifest.internal_root)
            db.commit()
    return engine


def _site_for(db: Session, config: Config, wanted: str | None) -> FleetSite | str:
    """The site ``--owner`` means: the one named, the config's own, or any when they all have one owner
    (a fleet gateway whose sites belong to one person)."""
    if wanted:
        return db.get(FleetSite, wanted) or f"unknown site {wanted!r}"
    own = db.get(FleetSite, config.site_id)
    if own is not None:
        return own
    every = sites_of(db, None)
    if len({site.owner_id for site in every}) == 1:
        return every[0]
    if not every:
        return "no site has been registered yet (start its gateway, or give a site config)"
    return "the sites have several owners: choose one with --site (fleet-client create --owner --site ID)"


def _create(args: argparse.Namespace) -> int:
    try:
        scopes = parse_scopes(args.scopes)
    except AuthError as error:
        return _fail(f"{error.description} (known: {', '.join(sorted(SCOPES))})")
    if not scopes:
        return _fail("--scopes must name at least one scope")
    config = load_config(args.config)
    engine = _open(config)
    try:
        return _create_in(engine, config, args, scopes)
    finally:
        engine.dispose()


def _create_in(engine: Engine, config: Config, args: argparse.Namespace, scopes: frozenset[str]) -> int:
    now = datetime.now(UTC)
    grants = tuple(dict.fromkeys(g for g in args.grant or [CLIENT_CREDENTIALS]))
    with Session(engine) as db:
        user_id: str | None = None
        if args.owner:
            site = _site_for(db, config, args.site)
            if isinstance(site, str):
                return _fail(site)
            user_id = site.owner_id
        elif args.user:
            if db.get(FleetUser, args.user) is None:
                return _fail(f"unknown user {args.user!r}")
            user_id = args.user
        elif args.new_user:
            user = FleetUser(id=new_id("user", now), email=args.new_user, joined_at=now)
            db.add(user)
            db.flush()
            user_id = user.id
        try:
            client, secret = create_client(
                db,
                name=args.name,
                scopes=scopes,
                user_id=user_id,
                now=now,
                rate_limit_per_hour=args.rate_limit,
                grant_types=grants,
                redirect_uris=tuple(args.redirect_uri or ()),
                public=args.public,
            )
        except AuthError as error:
            return _fail(error.description)
        db.commit()
        print(f"client_id:     {client.client_id}")
        print(f"client_secret: {secret or '(none: a public client, PKCE required)'}")
        print(f"scopes:        {client.scopes}")
        print(f"grants:        {client.grant_types}")
        print(f"user:          {user_id or '(operator: choose with EvEnergy-User)'}")
        for site in sites_of(db, None)[:20]:
            print(f"site:          {site.id}  owner {site.owner_id}  {site.title}")
    if secret:
        print("The secret is shown only now; only its hash is stored.", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace) -> int:
    engine = _open(load_config(args.config))
    try:
        with Session(engine) as db:
            for client in db.exec(select(OAuthClient).order_by(col(OAuthClient.created_at))).all():
                state = "disabled" if client.disabled else "active"
                user = client.user_id or "-"
                print(
                    f"{client.client_id}  {state}  user={user}  grants={client.grant_types}  "
                    f"scopes={client.scopes}  {client.name}"
                )
    finally:
        engine.dispose()
    return 0


def _user_password(args: argparse.Namespace) -> int:
    """Create a user (or pick the site owner / an existing user) and set the password it signs in with on
    the authorization page."""
    from services.gateway.commands import read_password  # the admin password's prompt (and its checks)

    config = load_config(args.config)
    try:
        password = read_password(args)
    except ValueError as error:
        return _fail(str(error))
    if not password or len(password.encode()) > MAX_PASSWORD_BYTES:
        return _fail(f"the password must be 1 to {MAX_PASSWORD_BYTES} bytes")
    engine = _open(config)
    now = datetime.now(UTC)
    try:
        with Session(engine) as db:
            user: FleetUser | None
            if args.owner:
                site = _site_for(db, config, args.site)
                if isinstance(site, str):
                    return _fail(site)
                user = site_owner(db, site.id)
            elif args.user:
                user = db.get(FleetUser, args.user)
            elif not args.email:
                return _fail("--new needs --email")
            else:
                user = db.exec(select(FleetUser).where(FleetUser.email == args.email)).first()
                if user is None:
                    user = FleetUser(id=new_id("user", now), email=args.email, joined_at=now)
            if user is None:
                return _fail("unknown user")
            if args.email:
                user.email = args.email
            if not user.email:
                return _fail("the user needs an e-mail to sign in with: give --email")
            user.password_hash = hash_secret(password)
            db.add(user)
            db.commit()
            print(f"user:  {user.id}\nemail: {user.email}")
    finally:
        engine.dispose()
    return 0


def _bridge(args: argparse.Namespace) -> int:
    """Print the mosquitto bridge section that connects this site's broker to the fleet's centre."""
    from services.fleet_gateway.bridge import Bridge

    config = load_config(args.config)
    site_id = args.site_id or config.site.id
    if not site_id:
        return _fail("give --site-id (or site.id in the config)")
    host, _, port = args.central.rpartition(":")
    if not host or not port.isdigit():
        return _fail("--central must be HOST:PORT")
    bridge = Bridge(
        site_id=site_id,
        central_host=host,
        central_port=int(port),
        sites_root=config.fleet.sites_root,
        local_state_root=config.mqtt.topic,
        local_internal_root=config.mqtt.internal,
        username=args.username,
    )
    try:
        sys.stdout.write(bridge.config())
    except ValueError as error:
        return _fail(str(error))
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``fleet-client create|list`` and ``fleet-user password`` to the ``chargebus`` command line."""
    fleet = subparsers.add_parser("fleet-client", help="manage OAuth clients of the fleet API (/v2)")
    actions = fleet.add_subparsers(dest="fleet_action", required=True)

    create = actions.add_parser("create", help="create an OAuth client and print its secret once")
    create.add_argument("--config", required=False, help="config file (YAML); selects the database")
    create.add_argument(
        "--scopes", required=True, help="space- or comma-separated, e.g. 'evse:read debug:read'"
    )
    create.add_argument("--name", default="", help="a label for the client (shown on the consent page)")
    owner = create.add_mutually_exclusive_group()
    owner.add_argument("--owner", action="store_true", help="bind the client to a site's owner")
    owner.add_argument("--user", help="bind the client to this existing user ID (user…)")
    owner.add_argument(
        "--new-user", metavar="EMAIL", help="create a user with this e-mail and bind the client"
    )
    create.add_argument("--site", help="with --owner: the site (default: the config's, or the only one)")
    create.add_argument("--rate-limit", type=int, default=1000, help="requests per hour (default 1000)")
    create.add_argument(
        "--grant",
        action="append",
        choices=[CLIENT_CREDENTIALS, AUTHORIZATION_CODE],
        help="grant types (repeat for both; default client_credentials)",
    )
    create.add_argument(
        "--redirect-uri", action="append", help="for authorization_code: an allowed redirect URI (repeat)"
    )
    create.add_argument(
        "--public", action="store_true", help="a native or browser app without a secret (PKCE only)"
    )
    create.set_defaults(handler=_create)

    listing = actions.add_parser("list", help="list clients (never secrets)")
    listing.add_argument("--config", required=False)
    listing.set_defaults(handler=_list)

    users = subparsers.add_parser("fleet-user", help="users of the fleet API (sign-in for OAuth)")
    user_actions = users.add_subparsers(dest="user_action", required=True)
    password = user_actions.add_parser(
        "password", help="set the password a user signs in with on /o/authorize/ (creates the user by e-mail)"
    )
    password.add_argument("--config", required=False)
    who = password.add_mutually_exclusive_group(required=True)
    who.add_argument("--owner", action="store_true", help="the owner of a site (see --site)")
    who.add_argument("--user", help="an existing user ID (user…)")
    who.add_argument("--new", dest="new", action="store_true", help="a user found or created by --email")
    password.add_argument("--email", help="the e-mail the user signs in with")
    password.add_argument("--site", help="with --owner: the site (default: the config's, or the only one)")
    password.add_argument("--stdin", action="store_true", help="read the password from stdin")
    password.set_defaults(handler=_user_password)

    bridge = subparsers.add_parser(
        "fleet-bridge", help="print the mosquitto bridge that connects this site to a fleet's central broker"
    )
    bridge.add_argument("--config", required=False, help="the site's config (its roots and site.id)")
    bridge.add_argument("--site-id", help="the site's id in the fleet (default: site.id)")
    bridge.add_argument("--central", required=True, help="the central broker, HOST:PORT")
    bridge.add_argument("--username", help="the bridge's user on the central broker")
    bridge.set_defaults(handler=_bridge)
