"""The notification texts: evcc-like defaults for every event, parsed into safe templates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.config_integrations import NotifyEvent, NotifyTemplate
from shared.templating import Template

DEFAULTS: dict[NotifyEvent, NotifyTemplate] = {
    "start": NotifyTemplate(title="Charging started", message="{title}: charging {vehicle} in {mode} mode."),
    "stop": NotifyTemplate(
        title="Charging stopped", message="{title}: {vehicle} charged {energy:.1f} kWh in {duration}."
    ),
    "connect": NotifyTemplate(
        title="Vehicle connected", message="{title}: {vehicle} connected, mode {mode}."
    ),
    "disconnect": NotifyTemplate(
        title="Vehicle disconnected", message="{title}: {vehicle} disconnected after {energy:.1f} kWh."
    ),
    "soc": NotifyTemplate(title="Charge limit reached", message="{title}: {vehicle} reached {soc:.0f} %."),
    "guest": NotifyTemplate(
        title="Unknown vehicle", message="{title}: a vehicle connected that chargebus cannot identify."
    ),
    "planoverrun": NotifyTemplate(
        title="Plan cannot be met", message="{title}: the plan for {vehicle} will finish {overrun} late."
    ),
    "offline": NotifyTemplate(title="Device offline", message="{site}: {device} is offline ({error})."),
    "online": NotifyTemplate(title="Device back online", message="{site}: {device} is online again."),
}


@dataclass(frozen=True)
class Texts:
    title: Template
    message: Template

    @classmethod
    def parse(cls, template: NotifyTemplate) -> Texts:
        return cls(Template.parse(template.title), Template.parse(template.message))


def parse_texts(configured: Mapping[NotifyEvent, NotifyTemplate]) -> dict[NotifyEvent, Texts]:
    """The events to send with their parsed texts (the defaults when none are configured)."""
    return {event: Texts.parse(template) for event, template in (configured or DEFAULTS).items()}
