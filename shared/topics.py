"""Names of the internal ``chargebus/...`` topics, in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    """Topic names below the internal root (default ``chargebus``; per site in a fleet)."""

    root: str = "chargebus"

    def service_status(self, service: str) -> str:
        return f"{self.root}/services/{service}/status"

    def meter(self, meter: str) -> str:
        return f"{self.root}/meters/{meter}"

    def vehicle(self, name: str) -> str:
        return f"{self.root}/vehicles/{name}"

    def charger_status(self, loadpoint: int) -> str:
        return f"{self.root}/chargers/{loadpoint}/status"

    def charger_command(self, loadpoint: int) -> str:
        return f"{self.root}/chargers/{loadpoint}/command"

    def tariff(self, usage: str) -> str:
        return f"{self.root}/tariffs/{usage}"

    def event(self, kind: str) -> str:
        return f"{self.root}/events/{kind}"

    def requests(self, service: str) -> str:
        return f"{self.root}/requests/{service}"

    def replies(self, service: str, client: str) -> str:
        """Where ``client`` (a connection of ``service``) receives its replies; the broker's ACL lets each
        service user read and write only below its own ``<root>/replies/<service>/``."""
        return f"{self.replies_root}{service}/{client}"

    @property
    def replies_root(self) -> str:
        """Every reply topic starts with this (requests naming another ``reply_to`` are refused)."""
        return f"{self.root}/replies/"

    def signal(self, name: str) -> str:
        return f"{self.root}/signals/{name}"

    @property
    def ocpp_stations(self) -> str:
        return f"{self.root}/ocpp/stations"

    @property
    def all_meters(self) -> str:
        return f"{self.root}/meters/+"

    @property
    def all_vehicles(self) -> str:
        return f"{self.root}/vehicles/+"

    @property
    def all_charger_status(self) -> str:
        return f"{self.root}/chargers/+/status"

    @property
    def all_charger_commands(self) -> str:
        return f"{self.root}/chargers/+/command"

    @property
    def all_signals(self) -> str:
        return f"{self.root}/signals/+"

    @property
    def all_tariffs(self) -> str:
        return f"{self.root}/tariffs/+"

    @property
    def all_events(self) -> str:
        return f"{self.root}/events/+"

    @property
    def all_services(self) -> str:
        return f"{self.root}/services/+/status"

    @property
    def site_manifest(self) -> str:
        """The site's :class:`~shared.messages.SiteManifest` (retained, from its gateway)."""
        return f"{self.root}/fleet/site"


EVENT_COMMAND = "command"
EVENT_SESSION = "session"
EVENT_CHARGER_STATUS = "charger-status"


MAX_TOPIC_BYTES = 65535
"""MQTT's limit on a topic name (a two-byte length prefix)."""


class InvalidTopic(ValueError):
    """A topic that cannot be published to: empty, with a wildcard or NUL, too long or not UTF-8."""


def check_publish_topic(topic: str, max_bytes: int = MAX_TOPIC_BYTES) -> str:
    """``topic`` if a broker accepts a PUBLISH to it; raises :class:`InvalidTopic` otherwise.

    A wildcard handed to the MQTT client raises deep inside its send loop, which used to take the whole
    connection down; refusing it here keeps a bad topic the caller's problem.
    """
    if not topic:
        raise InvalidTopic("empty topic")
    if "+" in topic or "#" in topic:
        raise InvalidTopic(f"wildcard in topic {topic[:80]!r}")
    if "\x00" in topic:
        raise InvalidTopic("NUL character in topic")
    try:
        size = len(topic.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidTopic("topic is not valid UTF-8") from None
    if size > max_bytes:
        raise InvalidTopic(f"topic longer than {max_bytes} bytes")
    return topic
