"""The copy-paste snippets of docs/integrations.md are configurations chargebus accepts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from shared.config import parse_config

ROOT = Path(__file__).parents[2]


def test_the_chargebus_yaml_snippets_load() -> None:
    text = (ROOT / "docs" / "integrations.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(# chargebus\.yaml\n.*?)```", text, flags=re.S)
    assert len(blocks) >= 2
    for block in blocks:
        parse_config(yaml.safe_load(block))


def test_the_example_flows_and_dashboard_are_json() -> None:
    for path in [
        *sorted((ROOT / "examples" / "node-red").glob("*.json")),
        ROOT / "examples" / "grafana-dashboard.json",
    ]:
        assert json.loads(path.read_text(encoding="utf-8")), path
