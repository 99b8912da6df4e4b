from __future__ import annotations

import pytest

from services.tariff_fetcher.formula import FormulaError, evaluate
from services.tariff_fetcher.pricing import price_value
from shared.config import ConfigError, parse_config
from shared.config_tariffs import AwattarTariff


@pytest.mark.parametrize(
    ("formula", "price", "expected"),
    [
        ("(price + charges) * (1 + tax)", 0.10, (0.10 + 0.2) * 1.19),
        ("max(price, 0) + charges", -0.05, 0.2),
        ("math.Max(price, 0) + charges", -0.05, 0.2),  # evcc's Go spelling keeps working
        ("price * 2 if price > 0 else 0", 0.1, 0.2),
        ("price * 2 if price > 0 else 0", -0.1, 0.0),
        ("-price + 1.5 ** 2", 0.25, 2.0),
        ("round(price * 100) / 100", 0.12345, 0.12),
    ],
)
def test_formula_computes_the_end_customer_price(formula: str, price: float, expected: float) -> None:
    assert evaluate(formula, price=price, charges=0.2, tax=0.19) == pytest.approx(expected)


@pytest.mark.parametrize(
    "formula",
    ["__import__('os').system('true')", "price.__class__", "open('x')", "[price]", "ts", "price / 0"],
)
def test_formula_rejects_anything_but_arithmetic(formula: str) -> None:
    with pytest.raises(FormulaError):
        evaluate(formula, price=0.1)


def test_bad_formula_fails_at_config_load_with_the_key() -> None:
    with pytest.raises(ConfigError, match=r"tariffs\.grid\.awattar\.formula"):
        parse_config({"tariffs": {"grid": {"type": "awattar", "formula": "import os"}}})


def test_default_price_is_price_plus_charges_times_tax() -> None:
    params = AwattarTariff(type="awattar", charges=0.2, tax=0.19)
    assert price_value(0.1, params) == pytest.approx(0.357)
