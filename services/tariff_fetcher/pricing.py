"""Charges, tax and formula on market prices (evcc §5.1): ``(price + charges) · (1 + tax)`` by default."""

from __future__ import annotations

from collections.abc import Sequence

from services.tariff_fetcher.formula import evaluate
from shared.config_tariffs import PriceParams
from shared.messages import Rate


def price_value(price: float, params: PriceParams) -> float:
    """The end-customer value of one raw market price (currency/kWh)."""
    if params.formula:
        return evaluate(params.formula, price=price, charges=params.charges, tax=params.tax)
    return (price + params.charges) * (1 + params.tax)


def apply_price(rates: Sequence[Rate], params: PriceParams) -> list[Rate]:
    return [Rate(start=r.start, end=r.end, value=price_value(r.value, params)) for r in rates]


def has_adjustments(params: PriceParams) -> bool:
    return bool(params.formula) or params.charges != 0 or params.tax != 0
