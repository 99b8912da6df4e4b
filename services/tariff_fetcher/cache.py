"""The last good series per usage on disk (JSON), so a restart serves prices before the first fetch returns.

An entry is only used if it was written for the same provider configuration (a hash of it), so changing
the tariff in the config never serves the old provider's prices.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, ValidationError

from shared.messages import Rate, TariffType


class CacheEntry(BaseModel):
    key: str
    type: TariffType
    rates: list[Rate]
    refreshed_at: AwareDatetime


class CacheFile(BaseModel):
    version: int = 1
    usages: dict[str, CacheEntry] = {}


def config_key(config: Any) -> str:
    """A stable hash of a provider configuration (list of configs for summed solar)."""
    items = config if isinstance(config, list) else [config]
    text = json.dumps([c.model_dump(mode="json") for c in items], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_cache(path: Path) -> tuple[CacheFile, str | None]:
    """The cache, or an empty one plus the reason why the file could not be used."""
    try:
        return CacheFile.model_validate_json(path.read_bytes()), None
    except FileNotFoundError:
        return CacheFile(), None
    except (OSError, ValidationError, ValueError) as error:
        return CacheFile(), f"{path}: unreadable tariff cache ignored: {type(error).__name__}"


def save_cache(path: Path, cache: CacheFile) -> None:
    """Write atomically (temp file + rename) so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(cache.model_dump_json(), encoding="utf-8")
    os.replace(temp, path)


def cached_entry(
    cache: CacheFile, usage: str, key: str, now: datetime, max_age_s: float
) -> CacheEntry | None:
    entry = cache.usages.get(usage)
    if entry is None or entry.key != key or (now - entry.refreshed_at).total_seconds() > max_age_s:
        return None
    return entry


def remove_stale_temp(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.with_name(path.name + ".tmp").unlink()
