from __future__ import annotations

from pathlib import Path

from shared.docs import mqtt_reference


def test_docs_mqtt_md_is_generated_from_the_schema() -> None:
    """docs/mqtt.md must match the schema; regenerate with `make docs` after changing shared/state.py."""
    current = (Path(__file__).parents[2] / "docs" / "mqtt.md").read_text(encoding="utf-8")
    assert current == mqtt_reference()
