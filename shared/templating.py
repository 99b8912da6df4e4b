"""A text template that can only fill in named values (notification texts).

A template is text with ``{placeholder}`` fields, optionally with a format spec (``{soc:.0f}``). It is
parsed once, when the configuration is loaded: any field that is not a known placeholder, any attribute
access (``{x.__class__}``), indexing (``{x[0]}``), conversion (``!r``) or nested field is refused with the
reason. Rendering only looks values up in a flat dict of plain strings and numbers, so a template sees
nothing of the process — no environment, no files, no objects.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass

PLACEHOLDERS: dict[str, str] = {
    "site": "site title",
    "title": "loadpoint title",
    "loadpoint": "loadpoint id (1-based)",
    "vehicle": "vehicle title, 'guest' when unidentified",
    "mode": "charge mode (off, now, minpv, pv)",
    "soc": "vehicle SoC, %",
    "limit": "effective SoC limit, %",
    "power": "charge power, kW",
    "energy": "energy charged in the session, kWh",
    "duration": "charge duration of the session, h:mm",
    "price": "cost of the session",
    "currency": "the site's currency",
    "solar": "solar share of the session, %",
    "overrun": "how late the plan will finish, h:mm",
    "device": "the device or service concerned",
    "error": "the error it reports",
}
"""Every value a template may use (documented in docs/integrations.md)."""


class TemplateError(ValueError):
    """A template that uses something other than the named placeholders."""


@dataclass(frozen=True)
class Template:
    """One parsed text: literal parts and (placeholder, format spec) fields."""

    parts: tuple[tuple[str, str | None, str], ...]
    """(literal text, placeholder or None, format spec)."""

    @classmethod
    def parse(cls, text: str) -> Template:
        parts: list[tuple[str, str | None, str]] = []
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as error:
            raise TemplateError(f"{text!r}: {error}") from None
        for literal, field, spec, conversion in parsed:
            if field is None:
                parts.append((literal, None, ""))
                continue
            if conversion is not None:
                raise TemplateError(f"{{{field}!{conversion}}}: conversions are not allowed")
            if field not in PLACEHOLDERS:
                raise TemplateError(f"{{{field}}}: unknown placeholder (known: {', '.join(PLACEHOLDERS)})")
            if spec and ("{" in spec or "}" in spec):
                raise TemplateError(f"{{{field}:{spec}}}: nested fields are not allowed")
            parts.append((literal, field, spec or ""))
        return cls(tuple(parts))

    def render(self, values: Mapping[str, str | int | float]) -> str:
        out: list[str] = []
        for literal, field, spec in self.parts:
            out.append(literal)
            if field is None:
                continue
            value = values.get(field, "")
            try:
                out.append(format(value, spec))
            except (ValueError, TypeError):  # a numeric spec on a missing value: show the value as it is
                out.append(str(value))
        return "".join(out)
