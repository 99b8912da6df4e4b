"""Config type → provider class (a dispatch table, no if-chains)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.tariff_fetcher.providers.awattar import AwattarProvider
from services.tariff_fetcher.providers.base import Context, Provider
from services.tariff_fetcher.providers.custom import CustomProvider
from services.tariff_fetcher.providers.demo import DemoProvider
from services.tariff_fetcher.providers.energy_charts import EnergyChartsProvider
from services.tariff_fetcher.providers.entsoe import EntsoeProvider
from services.tariff_fetcher.providers.fixed import FixedProvider
from services.tariff_fetcher.providers.forecast_solar import ForecastSolarProvider
from services.tariff_fetcher.providers.gruenstromindex import GruenstromindexProvider
from services.tariff_fetcher.providers.octopus import OctopusProvider
from services.tariff_fetcher.providers.tibber import TibberProvider
from shared.config_tariffs import TariffConfig

PROVIDERS: dict[str, Callable[[Any, Context], Provider]] = {
    "fixed": FixedProvider,
    "demo": DemoProvider,
    "awattar": AwattarProvider,
    "tibber": TibberProvider,
    "octopus": OctopusProvider,
    "entsoe": EntsoeProvider,
    "energy-charts": EnergyChartsProvider,
    "gruenstromindex": GruenstromindexProvider,
    "forecast-solar": ForecastSolarProvider,
    "custom": CustomProvider,
}


def build_provider(config: TariffConfig, context: Context) -> Provider:
    return PROVIDERS[config.type](config, context)
