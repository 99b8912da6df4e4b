"""Site power and the values derived from it (reference §3.2) — pure functions over one snapshot.

Sign conventions: grid > 0 import, battery > 0 discharging, pv > 0 production, charge > 0 consumption,
site power < 0 = surplus.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from services.optimizer.settings import SiteSettings

PRIORITY_MARGIN_W = 100.0
"""While the battery has priority, keep this much import as margin so it gets every watt (evcc)."""


@dataclass(frozen=True)
class SiteInputs:
    """Meter values of one cycle (W, %)."""

    grid_power_w: float | None
    """None without a grid meter (then derived from charge and pv power)."""
    pv_power_w: float = 0.0
    """Σ max(0, pv) of all PV meters."""
    pv_configured: bool = True
    battery_power_w: float | None = None
    """None without a home battery."""
    battery_soc_pct: float | None = None
    aux_power_w: float = 0.0
    charge_power_w: float = 0.0
    """Σ charge power of all loadpoints."""


@dataclass(frozen=True)
class SitePower:
    site_power_w: float
    """Power available for adjustment: < 0 surplus, > 0 import (including residual power)."""
    grid_power_w: float
    priority_adjustment_w: float
    """Power held back for the battery's priority; a battery boost adds it back."""
    battery_buffered: bool
    """Battery above bufferSoc: may support PV charging that is running."""
    battery_start: bool
    """Battery at or above bufferStartSoc: may start PV charging."""
    pv_power_w: float
    battery_power_w: float = 0.0
    """W the battery discharges now (< 0 charging), as measured."""
    residual_power_w: float = 0.0
    """W of the site setting residualPower (before the priority margin)."""


def site_power(inputs: SiteInputs, settings: SiteSettings) -> SitePower:
    grid = (
        inputs.grid_power_w if inputs.grid_power_w is not None else inputs.charge_power_w - inputs.pv_power_w
    )
    residual = settings.residual_power_w
    adjustment = 0.0
    battery = inputs.battery_soc_pct is not None
    soc = inputs.battery_soc_pct or 0.0
    if battery and soc < settings.priority_soc and residual <= 0:
        adjustment += residual - PRIORITY_MARGIN_W
        residual = PRIORITY_MARGIN_W
    pv = inputs.pv_power_w
    if not inputs.pv_configured:
        pv = max(0.0, inputs.charge_power_w - grid + residual)
    battery_power = inputs.battery_power_w or 0.0
    buffered = start = False
    if battery:
        if soc < settings.priority_soc and battery_power < 0:
            # The battery is charging and has priority: its charge power is not surplus for the car.
            adjustment += battery_power
            battery_power = 0.0
        else:
            buffered = settings.buffer_soc > 0 and soc > settings.buffer_soc
            start = settings.buffer_start_soc > 0 and soc >= settings.buffer_start_soc
    total = grid + battery_power + residual - inputs.aux_power_w
    return SitePower(
        total, grid, adjustment, buffered, start, pv, inputs.battery_power_w or 0.0, settings.residual_power_w
    )


def home_power(inputs: SiteInputs, grid_power_w: float) -> float:
    """W — max(0, grid + max(0, pv) + battery − Σ charge)."""
    battery = inputs.battery_power_w or 0.0
    return max(0.0, grid_power_w + max(0.0, inputs.pv_power_w) + battery - inputs.charge_power_w)


def green_share(pv_w: float, battery_w: float, start_w: float, end_w: float) -> float:
    """Share (0..1) of the consumption between ``start_w`` and ``end_w`` covered by PV and battery."""
    green = max(0.0, pv_w) + max(0.0, battery_w)
    available = max(0.0, green - start_w)
    span = end_w - start_w
    if span <= 0 or math.isnan(span):
        return 1.0 if available > 0 else 0.0
    return min(available, span) / span


@dataclass(frozen=True)
class GreenShares:
    home: float
    loadpoints: float


def green_shares(inputs: SiteInputs, home_w: float) -> GreenShares:
    battery = inputs.battery_power_w or 0.0
    home_share = green_share(inputs.pv_power_w, battery, 0.0, home_w)
    start = home_w + max(0.0, -battery)
    lp_share = green_share(inputs.pv_power_w, battery, start, start + inputs.charge_power_w)
    return GreenShares(home_share, lp_share)


def effective_price(grid: float | None, feed_in: float | None, share: float) -> float | None:
    """currency/kWh — grid price for the grey part, the forgone feed-in for the green part."""
    if grid is None:
        return None
    return grid * (1 - share) + (feed_in or 0.0) * share


def effective_co2(co2: float | None, share: float) -> float | None:
    """g/kWh — green power counts as CO2-free."""
    return None if co2 is None else co2 * (1 - share)
