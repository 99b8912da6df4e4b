"""The mosquitto bridge that connects a site's broker to the centre of its fleet (``chargebus fleet-bridge``).

The site keeps its own roots (``evcc/…``, ``chargebus/…`` — Home Assistant, Node-RED and the broker's ACL
stay as they are); the bridge remaps them to ``<sites_root>/<site-id>/…`` on the central broker. Out go
what the centre reads: the evcc tree (QoS 0: retained state, the newest value is what counts), and with
QoS 1 the events, service status, tariffs, the site's manifest and the answers to the centre's requests;
in come the centre's requests. The bridge keeps a persistent session on both sides (``cleansession
false``), so events published while the link is down are queued on the site and delivered when it is
back — nothing the centre must store is lost to a network outage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.config import SITE_ID_PATTERN
from shared.topics import Topics

SERVICE = "fleet-gateway"


@dataclass(frozen=True)
class Bridge:
    site_id: str
    central_host: str
    central_port: int = 1883
    sites_root: str = "sites"
    local_state_root: str = "evcc"
    local_internal_root: str = "chargebus"
    username: str | None = None
    """The bridge's user on the central broker (its password goes in ``remote_password``, from a secret)."""
    queue_limit: int = 100_000
    """QoS 1 messages the site keeps for the centre while the link is down."""

    def config(self) -> str:
        if not re.match(SITE_ID_PATTERN, self.site_id):
            raise ValueError(f"invalid site id {self.site_id!r}")
        central = f"{self.sites_root}/{self.site_id}"
        local_state, local_internal = f"{self.local_state_root}/", f"{self.local_internal_root}/"
        remote_state, remote_internal = f"{central}/evcc/", f"{central}/chargebus/"
        internal = Topics(self.local_internal_root)
        manifest = internal.site_manifest[len(local_internal) :]
        lines = [
            f"# site {self.site_id} → fleet centre {self.central_host}:{self.central_port}",
            f"max_queued_messages {self.queue_limit}",
            f"connection chargebus-{self.site_id}",
            f"address {self.central_host}:{self.central_port}",
            f"remote_clientid chargebus-bridge-{self.site_id}",
            "cleansession false",
            "try_private true",
            "restart_timeout 2 30",
            "notifications true",
            f"notification_topic {remote_internal}bridge/state",
        ]
        if self.username:
            lines.append(f"remote_username {self.username}")
        lines += [
            f"topic # out 0 {local_state} {remote_state}",
            f"topic events/# out 1 {local_internal} {remote_internal}",
            f"topic services/# out 1 {local_internal} {remote_internal}",
            f"topic tariffs/# out 1 {local_internal} {remote_internal}",
            f"topic {manifest} out 1 {local_internal} {remote_internal}",
            f"topic replies/{SERVICE}/# out 1 {local_internal} {remote_internal}",
            f"topic requests/# in 1 {local_internal} {remote_internal}",
        ]
        return "\n".join(lines) + "\n"
