"""Every documented configuration loads: the example files and each YAML block of docs/tariffs.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from shared.config import parse_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("tariffs-*.yaml"))
DOC_BLOCKS = re.findall(
    r"```yaml\n(.*?)```", (ROOT / "docs" / "tariffs.md").read_text(encoding="utf-8"), re.S
)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_files_load(path: Path) -> None:
    config = parse_config(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert config.tariffs.grid is not None or config.tariffs.solar is not None


@pytest.mark.parametrize("block", DOC_BLOCKS[1:], ids=[f"block{i}" for i in range(1, len(DOC_BLOCKS))])
def test_documented_provider_blocks_load(block: str) -> None:
    # block 0 is the schema overview with placeholders
    assert parse_config(yaml.safe_load(block)).tariffs


def test_demo_home_uses_the_network_free_dynamic_tariff() -> None:
    config = parse_config(yaml.safe_load((ROOT / "services" / "demo.yaml").read_text(encoding="utf-8")))
    assert config.tariffs.grid is not None and config.tariffs.grid.type == "demo"
    assert config.tariffs.feedin is not None and config.tariffs.feedin.type == "fixed"
