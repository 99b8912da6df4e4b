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

    def replies(self, client: str) -> str:
        return f"{self.root}/replies/{client}"

    @property
    def ocpp_stations(self) -> str:
        return f"{self.root}/ocpp/stations"

    @property
    def all_meters(self) -> str:
        return f"{self.root}/meters/+"

    @property
    def all_charger_status(self) -> str:
        return f"{self.root}/chargers/+/status"

    @property
    def all_charger_commands(self) -> str:
        return f"{self.root}/chargers/+/command"

    @property
    def all_tariffs(self) -> str:
        return f"{self.root}/tariffs/+"

    @property
    def all_events(self) -> str:
        return f"{self.root}/events/+"

    @property
    def all_services(self) -> str:
        return f"{self.root}/services/+/status"


EVENT_COMMAND = "command"
EVENT_SESSION = "session"
EVENT_CHARGER_STATUS = "charger-status"
