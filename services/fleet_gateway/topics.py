"""Where a fleet's sites publish on the central broker: ``<sites_root>/<site-id>/evcc/...`` and
``<sites_root>/<site-id>/chargebus/...`` — and the filters a fleet gateway subscribes with."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.config import SITE_ID_PATTERN

_SITE = re.compile(SITE_ID_PATTERN)


@dataclass(frozen=True)
class SiteTopic:
    """A topic below one site's roots: ``tree`` is ``evcc`` or ``chargebus``, ``rest`` what follows."""

    site_id: str
    tree: str
    rest: tuple[str, ...]


@dataclass(frozen=True)
class FleetTopics:
    sites_root: str = "sites"
    group: str = "fleet-gateway"

    def parse(self, topic: str) -> SiteTopic | None:
        """The site and tree of ``topic``, or None when it is not a site's topic (or the id is invalid)."""
        prefix = self.sites_root + "/"
        if not topic.startswith(prefix):
            return None
        parts = topic[len(prefix) :].split("/")
        if len(parts) < 3 or parts[1] not in ("evcc", "chargebus") or not _SITE.match(parts[0]):
            return None
        return SiteTopic(parts[0], parts[1], tuple(parts[2:]))

    def central_root(self, site_id: str) -> str:
        """A site's internal root on the central broker."""
        return f"{self.sites_root}/{site_id}/chargebus"

    def shared(self, pattern: str) -> str:
        """``pattern`` as an MQTT 5 shared subscription of this fleet's instances."""
        return f"$share/{self.group}/{pattern}"

    @property
    def loadpoint_keys(self) -> str:
        return f"{self.sites_root}/+/evcc/loadpoints/+/+"

    @property
    def events(self) -> str:
        return f"{self.sites_root}/+/chargebus/events/+"

    @property
    def tariffs(self) -> str:
        return f"{self.sites_root}/+/chargebus/tariffs/+"

    @property
    def services(self) -> str:
        return f"{self.sites_root}/+/chargebus/services/+/status"

    @property
    def manifests(self) -> str:
        return f"{self.sites_root}/+/chargebus/fleet/site"

    def replies(self, service: str, client: str) -> str:
        """Where the sites' owners answer this instance (every site's replies branch)."""
        return f"{self.sites_root}/+/chargebus/replies/{service}/{client}"
