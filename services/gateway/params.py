"""REST path and query values, parsed with the shared value types (:mod:`shared.setters.values`): the same
rules and messages as MQTT ``/set`` and the owners; a bad value is :class:`ApiError` 400 naming it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.gateway.errors import ApiError
from shared.setters import values as v

Parse = Callable[[Any], Any]

parse_bool: Parse = v.validator(v.Bool)


def parse(name: str, parser: Parse, raw: Any) -> Any:
    """``raw`` through ``parser``, or :class:`ApiError` 400 ``invalid <name>: <reason>``."""
    try:
        return parser(raw)
    except v.Invalid as error:
        raise ApiError(error.code, f"invalid {name}: {error}") from None


def boolean(name: str, raw: str) -> bool:
    return bool(parse(name, parse_bool, raw))
