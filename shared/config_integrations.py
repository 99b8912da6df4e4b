"""Configuration of the integrations the gateway offers beyond evcc: Home Assistant MQTT discovery and
notifications (``homeassistant:`` and ``notify:`` in the YAML file)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from shared.templating import Template


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HomeAssistantSettings(_Strict):
    discovery: bool = False
    """Publish retained Home Assistant MQTT discovery configs for the site, every loadpoint and vehicle."""
    prefix: str = Field(default="homeassistant", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
    """Home Assistant's discovery prefix (its MQTT integration setting)."""
    node_id: str = Field(default="home", pattern=r"^[a-z0-9_]{1,40}$")
    """The ``<site>`` part of every entity id (``chargebus_<site>_…``): keep it stable, Home Assistant keys
    its entities by it; give each site on a shared broker its own."""


NotifyEvent = Literal[
    "start", "stop", "connect", "disconnect", "soc", "guest", "planoverrun", "offline", "online"
]
"""evcc's messaging events, plus a service (or device) going offline and coming back."""


class NotifyTemplate(_Strict):
    title: str = Field(default="", max_length=200)
    message: str = Field(max_length=2000)
    """``{field}`` placeholders (see docs/integrations.md); no attribute access, no indexing, no code."""

    @field_validator("title", "message")
    @classmethod
    def _only_placeholders(cls, text: str) -> str:
        Template.parse(text)  # raises TemplateError (a ValueError) with the reason
        return text


class NotifySettings(_Strict):
    urls: list[SecretStr] = Field(default_factory=list, max_length=20)
    """Apprise URLs (``ntfys://ntfy.sh/topic``, ``tgram://token/chat``, ``json://host/path`` …). They carry
    tokens: set them from the environment (``CHARGEBUS_NOTIFY__URLS='["ntfys://…"]'``); never logged."""
    events: dict[NotifyEvent, NotifyTemplate] = Field(default_factory=dict)
    """Which events to send, with their texts; an event not listed is not sent. Empty = the defaults."""
    timeout_s: float = Field(default=10.0, gt=0, le=60)
    """Per delivery; a notification service that does not answer in time is logged and skipped."""
    guest_delay_s: float = Field(default=60.0, ge=0, le=3600)
    """How long a connected vehicle stays unidentified before the ``guest`` notification."""
