"""docs/devices-*.md name every device type and template the configuration accepts."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from shared.config_devices import ChargerType, MeterType
from shared.devices.templates import names

DOCS = Path(__file__).parents[3] / "docs"


@pytest.mark.parametrize(
    ("doc", "types", "kind"),
    [
        ("devices-chargers.md", get_args(ChargerType), "charger"),
        ("devices-meters.md", get_args(MeterType), "meter"),
    ],
)
def test_every_type_and_template_is_documented(doc: str, types: tuple[str, ...], kind: str) -> None:
    text = (DOCS / doc).read_text(encoding="utf-8")
    missing = [t for t in (*types, *names(kind)) if f"`{t}`" not in text]
    assert missing == [], f"{doc} does not describe {missing}"
