"""The table of services the CLI can run: name → module holding ``async def run(config, stop)``."""

from __future__ import annotations

import importlib
from typing import cast

from shared.service import ServiceMain

SERVICES: dict[str, str] = {
    "simulator": "services.simulator.service",
    "meter-reader": "services.meter_reader.service",
    "charger-actuator": "services.charger_actuator.service",
    "tariff-fetcher": "services.tariff_fetcher.service",
    "optimizer": "services.optimizer.service",
    "gateway": "services.gateway.service",
}
"""Every service the CLI runs (the demo starts them in ``services.demo.START_LEVELS`` order)."""

CENTRE_SERVICES: dict[str, str] = {
    "fleet-gateway": "services.fleet_gateway.service",
}
"""Services of the centre of a fleet (DESIGN §7): not part of a site's stack."""


def service_main(name: str) -> ServiceMain:
    module = importlib.import_module({**SERVICES, **CENTRE_SERVICES}[name])
    return cast(ServiceMain, module.run)
