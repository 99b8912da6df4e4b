"""``chargebus demo``'s effective config: every file the children write lives below the data folder."""

from __future__ import annotations

from pathlib import Path

from services.demo import demo_config_data, effective_config
from shared.config import parse_config


def test_data_paths_below_the_data_folder(tmp_path: Path) -> None:
    effective = effective_config(demo_config_data(None), tmp_path, 7071, 1884)
    config = parse_config(effective)
    assert config.mqtt.port == 1884
    assert config.gateway.port == 7071
    assert config.database.url == f"sqlite:///{(tmp_path / 'chargebus.db').resolve()}"
    assert Path(config.optimizer.state_file).parent == tmp_path.resolve()
    # A fetched tariff's cache too, not ./data of whatever directory the demo was started from.
    assert config.tariffs.cache_file == str((tmp_path / "tariffs-cache.json").resolve())


def test_configured_paths_are_kept(tmp_path: Path) -> None:
    data = demo_config_data(None)
    data["tariffs"]["cache_file"] = None
    data["database"] = {"url": "sqlite:///elsewhere.db"}
    config = parse_config(effective_config(data, tmp_path, None, 1884))
    assert config.tariffs.cache_file is None
    assert config.database.url == "sqlite:///elsewhere.db"
