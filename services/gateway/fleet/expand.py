"""The ``expand`` query parameter: repeated, dotted (``expand=model&expand=model.make``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from services.gateway.fleet.problems import validation_failed

ExpandTree = dict[str, "ExpandTree"]


def parse_expand(values: Sequence[str], allowed: Iterable[str]) -> ExpandTree:
    """Turn ``["model.make", "user"]`` into ``{"model": {"make": {}}, "user": {}}``; unknown paths → 400.

    ``model.make`` implies ``model`` (you cannot inline a field of a URL)."""
    permitted = set(allowed)
    bad = sorted({v for v in values if v not in permitted})
    if bad:
        choices = ", ".join(sorted(permitted)) or "(none)"
        raise validation_failed(
            {"expand": [f"Unknown value {b!r}; choose from: {choices}." for b in bad]}, "expand"
        )
    tree: ExpandTree = {}
    for value in values:
        node = tree
        for part in value.split("."):
            node = node.setdefault(part, {})
    return tree


def sub(tree: ExpandTree, field: str) -> ExpandTree | None:
    """The subtree for ``field`` when it is expanded, else None (render a URL)."""
    return tree.get(field)


def prefixed(prefix: str, paths: Iterable[str]) -> list[str]:
    """``prefixed("evse", ["model"])`` → ``["evse", "evse.model"]`` for nested expand enums."""
    return [prefix, *(f"{prefix}.{p}" for p in paths)]
