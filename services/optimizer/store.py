"""The optimizer's small stores: one JSON file per model, written atomically (temp file + rename)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from services.optimizer.settings import Settings

M = TypeVar("M", bound=BaseModel)


class StoreError(Exception):
    """The stored file exists but cannot be read as the expected model."""


class JsonStore(Generic[M]):
    def __init__(self, path: str | Path, model: type[M]) -> None:
        self.path = Path(path)
        self.model = model

    def load(self) -> M | None:
        """The stored model, ``None`` when there is no file; :class:`StoreError` when it is unreadable."""
        try:
            return self.model.model_validate_json(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError, ValueError) as error:
            raise StoreError(f"{self.path}: {error}") from None

    def save(self, value: M) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = value.model_dump_json(indent=1).encode()
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def settings_store(path: str | Path) -> JsonStore[Settings]:
    return JsonStore(path, Settings)


def sibling(path: str | Path, suffix: str) -> Path:
    """``data/optimizer-settings.json`` → ``data/optimizer-settings-<suffix>.json``."""
    file = Path(path)
    return file.with_name(f"{file.stem}-{suffix}{file.suffix or '.json'}")
