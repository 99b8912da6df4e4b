"""The production shape's broker access (``docker compose up``): who connects, what each may read and write,
and their passwords.

The ACL is generated from the schema — every state field names its single writer (``shared.state``), every
writable key its owner (``shared.setters``) — so "one writer per branch" is enforced by the broker exactly
as the bus enforces it in-process. ``mosquitto/acl`` is this module's output (``chargebus mqtt-acl``); a
test keeps the two equal. Broker user = service name (compose sets it so).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from shared.setters.table import WRITABLE
from shared.state import LoadpointState, SiteState, VehicleState
from shared.topics import EVENT_CHARGER_STATUS, EVENT_COMMAND, EVENT_SESSION, Topics
from shared.tree import LOADPOINTS, SET, SITE, VEHICLES, Service, Tree, owned_by

Access = Literal["read", "write", "readwrite"]

SERVICE_USERS: tuple[str, ...] = tuple(service.value for service in Service)
CLIENT_USER = "client"
"""Node-RED, Home Assistant, scripts: read the evcc tree, write its ``/set`` topics, nothing internal."""
HEALTH_USER = "health"
"""The broker container's own health check: reads ``$SYS/broker/uptime`` and nothing else."""
USERS: tuple[str, ...] = (*SERVICE_USERS, CLIENT_USER, HEALTH_USER)
REQUESTER = Service.GATEWAY.value
"""The one service that sends requests (its REST setters); the owners answer into its replies branch."""
ANSWERING: frozenset[str] = frozenset(
    {*(entry.owner for entry in WRITABLE), Service.TARIFF_FETCHER.value}  # + the tariff queries
)
"""The services that answer requests: they may write into the requester's replies branch."""
JWT_SECRET_ENV = "GATEWAY_JWT_SECRET"
PASSWORD_ITERATIONS = 101
"""mosquitto_passwd's PBKDF2-SHA512 iteration count (format ``$7$``)."""


def password_env(user: str) -> str:
    """The ``.env`` / compose variable holding ``user``'s broker password: ``METER_READER_MQTT_PASSWORD``."""
    return user.upper().replace("-", "_") + "_MQTT_PASSWORD"


@dataclass(frozen=True)
class Rule:
    access: Access
    topic: str

    def line(self) -> str:
        return f"topic {self.access} {self.topic}"


STATE_SCOPES: tuple[tuple[type[BaseModel], str], ...] = (
    (SiteState, SITE),
    (LoadpointState, f"{LOADPOINTS}/+"),
    (VehicleState, f"{VEHICLES}/+"),
)


def _state_rules(service: str, tree: Tree) -> list[Rule]:
    """Write on every state key ``service`` owns (the key and what is flattened below it)."""
    from shared.encoding import mqtt_segment

    rules: list[Rule] = []
    for model, scope in STATE_SCOPES:
        for name in owned_by(model, service):
            key = tree.topic(f"{scope}/{mqtt_segment(name, model.model_fields[name])}")
            rules += [Rule("write", key), Rule("write", f"{key}/#")]
    return rules


def _set_rules(service: str, tree: Tree) -> list[Rule]:
    """Write on the ``/set`` topics of the keys ``service`` owns: it clears a handled retained ``/set``."""
    topics: dict[str, None] = {}
    for entry in WRITABLE:
        if entry.mqtt and entry.owner == service:
            scope = SITE if entry.scope == SITE else f"{entry.scope}/+"
            for name in entry.names():
                topics.setdefault(tree.topic(f"{scope}/{name}/{SET}"), None)
    return [Rule("write", topic) for topic in topics]


def _service_rules(service: str, tree: Tree, internal: Topics, ha_prefix: str) -> list[Rule]:
    root = internal.root
    own: dict[str, list[Rule]] = {
        Service.METER_READER: [
            Rule("write", f"{root}/meters/#"),
            Rule("write", f"{root}/vehicles/#"),
            Rule("write", f"{root}/signals/#"),
        ],
        Service.CHARGER_ACTUATOR: [
            Rule("write", internal.all_charger_status),
            Rule("write", internal.event(EVENT_COMMAND)),
            Rule("write", internal.event(EVENT_CHARGER_STATUS)),
            Rule("write", f"{root}/ocpp/#"),
        ],
        Service.OPTIMIZER: [
            Rule("write", internal.all_charger_commands),
            Rule("write", internal.event(EVENT_SESSION)),
            Rule("write", tree.status),
            Rule("write", tree.updated),
            Rule("write", tree.loadpoint_count),
            Rule("write", tree.vehicle_count),
        ],
        Service.TARIFF_FETCHER: [Rule("write", f"{root}/tariffs/#")],
        Service.GATEWAY: [
            Rule("write", f"{root}/requests/#"),
            Rule("write", f"{root}/fleet/#"),
            Rule("readwrite", f"{ha_prefix}/#"),
        ],
    }
    rules = [*own.get(Service(service), []), *_state_rules(service, tree), *_set_rules(service, tree)]
    if service in ANSWERING:
        rules.append(Rule("write", f"{internal.replies_root}{REQUESTER}/#"))
    return rules


def acl_text(
    state_root: str = "evcc", internal_root: str = "chargebus", ha_prefix: str = "homeassistant"
) -> str:
    """The broker ACL for a site with these roots (``mosquitto/acl`` is the default roots' one)."""
    tree, internal = Tree(state_root), Topics(internal_root)
    lines = [
        "# Generated by `chargebus mqtt-acl` from the schema's owners (shared/state.py, shared/setters):",
        "# edit the owners, not this file. One writer per topic (DESIGN §1): a service writes only what",
        "# it owns and asks the owner of anything else through its request topic (the gateway's REST",
        "# setters); its broker user is the service's name.",
        "#",
        "# MQTT devices (meter type custom, tasmota-*, opendtu, …) publish on topics of their own: in your",
        "# copy, add `topic read <their topics>` under the meter-reader or charger-actuator below.",
    ]
    for service in SERVICE_USERS:
        common = [
            Rule("read", f"{internal.root}/#"),
            Rule("read", tree.everything),
            Rule("readwrite", internal.service_status(service)),
            Rule("readwrite", f"{internal.replies_root}{service}/#"),  # its replies, its watchdog's ping
        ]
        lines += ["", f"user {service}"]
        lines += [rule.line() for rule in (*common, *_service_rules(service, tree, internal, ha_prefix))]
    lines += [
        "",
        "# Node-RED, Home Assistant, scripts: the tree and its /set topics, Home Assistant's discovery",
        f"user {CLIENT_USER}",
        Rule("read", tree.everything).line(),
        *(Rule("write", pattern).line() for pattern in tree.set_patterns),
        Rule("read", f"{ha_prefix}/#").line(),
        Rule("write", f"{ha_prefix}/status").line(),
        "",
        "# the broker container's health check",
        f"user {HEALTH_USER}",
        Rule("read", "$SYS/broker/uptime").line(),
    ]
    return "\n".join(lines) + "\n"


# --- passwords -----------------------------------------------------------------------------------------


def password_hash(password: str, salt: bytes | None = None) -> str:
    """A mosquitto password-file hash (``$7$``: PBKDF2-SHA512, as ``mosquitto_passwd`` writes it), so no
    mosquitto needs to be installed on the machine that prepares the deployment."""
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PASSWORD_ITERATIONS)
    return f"$7${PASSWORD_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def read_env(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of a ``.env`` file (comments and blanks skipped)."""
    if not path.exists():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and "=" in stripped:
            key, value = stripped.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def _write_private(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
    os.chmod(path, mode)


def write_env(path: Path, wanted: Mapping[str, str]) -> None:
    """Set ``wanted`` in ``.env``, keeping every other line as it is (mode 0600: it holds secrets)."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    seen: set[str] = set()
    out: list[str] = []
    for line in lines:
        key = line.split("=", 1)[0].strip() if "=" in line and not line.lstrip().startswith("#") else ""
        if key in wanted:
            out.append(f"{key}={wanted[key]}")
            seen.add(key)
        else:
            out.append(line)
    missing = [key for key in wanted if key not in seen]
    if missing and not lines:
        out.append("# chargebus secrets (chargebus mqtt-passwords); keep this file private")
    out += [f"{key}={wanted[key]}" for key in missing]
    _write_private(path, "\n".join(out) + "\n", 0o600)


@dataclass(frozen=True)
class Credentials:
    passwords: dict[str, str]
    """User → password (plain text: these go to ``.env``)."""
    created: tuple[str, ...]
    """Users that got a new password now (the others kept theirs from ``.env``)."""


def prepare_credentials(env_file: Path, passwd_file: Path, users: Iterable[str] = USERS) -> Credentials:
    """Give every broker user a password (keeping those already in ``env_file``), write mosquitto's
    ``passwd_file`` from them and ``env_file`` with the names compose reads, plus the gateway's JWT secret.
    Running it again changes nothing but missing entries, so it is safe on a machine already set up."""
    env = read_env(env_file)
    passwords: dict[str, str] = {}
    created: list[str] = []
    for user in users:
        existing = env.get(password_env(user))
        if existing:
            passwords[user] = existing
        else:
            passwords[user] = secrets.token_hex(24)
            created.append(user)
    wanted = {password_env(user): password for user, password in passwords.items()}
    wanted[JWT_SECRET_ENV] = env.get(JWT_SECRET_ENV) or secrets.token_urlsafe(48)
    write_env(env_file, wanted)
    # mosquitto (user 1883 in its container) must read the file; it holds salted hashes only
    _write_private(passwd_file, "".join(f"{u}:{password_hash(p)}\n" for u, p in passwords.items()), 0o644)
    return Credentials(passwords, tuple(created))
