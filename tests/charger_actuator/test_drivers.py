"""Every driver against its simulated wallbox: real pymodbus servers on free ports (tests/support/modbus)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.charger_actuator.driver import ChargerDriver
from services.charger_actuator.drivers.demo import DEMO_REGISTERS
from services.charger_actuator.drivers.registry import create_driver
from shared.config_devices import ChargerConfig
from shared.devices.errors import DeviceError
from shared.messages import ChargeStatus
from tests.support.modbus import Device, simulated_device

# simulator model → (charger type, modbus protocol): ABL and EVSE-DIN frames travel over TCP here.
MODELS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "tcp"),
    "alfen": ("alfen", "tcp"),
    "phoenix": ("phoenix", "tcp"),
    "evsedin": ("evsedin", "rtuovertcp"),
    "abl": ("abl", "ascii"),
}


def charger_config(dev: Device, charger_type: str, protocol: str, **extra: Any) -> ChargerConfig:
    modbus = {"protocol": protocol, "host": dev.host, "port": dev.port, "timeout_s": 1}
    if charger_type not in ("phoenix", "wallbe"):  # prove the default unit id 255 is used
        modbus["id"] = dev.unit
    return ChargerConfig.model_validate({"name": "wb", "type": charger_type, "modbus": modbus, **extra})


@pytest.fixture(params=list(MODELS))
async def charger(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Device, ChargerDriver]]:
    model = request.param
    charger_type, protocol = MODELS[model]
    async with simulated_device(model, car={"connected": True, "soc_pct": 40}) as dev:
        driver = create_driver(charger_config(dev, charger_type, protocol))
        try:
            yield dev, driver
        finally:
            driver.close()


async def test_enable_at_current_then_disable(charger: tuple[Device, ChargerDriver]) -> None:
    dev, driver = charger
    await driver.set_current(10)
    await driver.set_enabled(True)
    reading = await driver.read()
    assert reading.enabled
    assert reading.status is ChargeStatus.C
    assert reading.current_a == pytest.approx(10, abs=0.1)
    assert dev.state.wallbox_enabled
    assert dev.state.wallbox_offered_a == pytest.approx(10, abs=0.1)

    held = await driver.set_current(13)
    assert held == pytest.approx(13, abs=0.1)
    assert dev.state.wallbox_offered_a == pytest.approx(13, abs=0.1)

    await driver.set_enabled(False)
    reading = await driver.read()
    assert not reading.enabled
    assert reading.status is ChargeStatus.B
    assert not dev.state.wallbox_enabled


async def test_power_measured_or_left_to_the_estimate(charger: tuple[Device, ChargerDriver]) -> None:
    dev, driver = charger
    await driver.set_current(16)
    await driver.set_enabled(True)
    reading = await driver.read()
    if driver.capabilities.has_meter:
        assert reading.power_w is not None and reading.power_w > 3000
        assert reading.power_w == pytest.approx(dev.state.wallbox_w, rel=0.01)
    else:
        assert reading.power_w is None


async def test_unplugged_car_reads_status_a(charger: tuple[Device, ChargerDriver]) -> None:
    dev, driver = charger
    dev.sim.unplug()
    assert (await driver.read()).status is ChargeStatus.A


async def test_current_set_while_disabled_is_applied_on_enable(charger: tuple[Device, ChargerDriver]) -> None:
    dev, driver = charger
    await driver.set_enabled(False)
    await driver.set_current(8)
    await driver.set_enabled(True)
    assert dev.state.wallbox_enabled
    assert dev.state.wallbox_offered_a == pytest.approx(8, abs=0.1)


@pytest.mark.parametrize("model", ["demo", "alfen"])
async def test_phase_switching(model: str) -> None:
    async with simulated_device(model) as dev:
        driver = create_driver(charger_config(dev, *MODELS[model]))
        assert driver.capabilities.phase_switching
        await driver.set_phases(1)
        assert dev.state.wallbox_phases == 1
        assert (await driver.read()).phases == 1
        await driver.set_phases(3)
        assert dev.state.wallbox_phases == 3
        driver.close()


async def test_generic_modbus_charger_from_yaml_map() -> None:
    """The generic driver configured like a user would, against the demo wallbox's registers."""
    async with simulated_device("demo", car={"connected": True, "identifier": "RFID-42"}) as dev:
        config = charger_config(dev, "modbus", "tcp", registers=DEMO_REGISTERS.model_dump(exclude_none=True))
        driver = create_driver(config)
        await driver.set_current(7.5)
        await driver.set_enabled(True)
        reading = await driver.read()
        assert reading.current_a == pytest.approx(7.5)
        assert reading.identifier == "RFID-42"
        assert reading.soc_pct == pytest.approx(dev.state.car_soc_pct, abs=0.01)
        assert reading.voltages_v is not None and reading.voltages_v[0] == pytest.approx(230, abs=1)
        driver.close()


async def test_generic_charger_without_enable_register_disables_by_current_zero() -> None:
    async with simulated_device("demo", car={"connected": True}) as dev:
        registers = DEMO_REGISTERS.model_dump(exclude_none=True, exclude={"enable"})
        driver = create_driver(charger_config(dev, "modbus", "tcp", registers=registers))
        await driver.set_current(9)
        await driver.set_enabled(False)
        reading = await driver.read()
        assert not reading.enabled and reading.current_a == 0
        driver.close()


async def test_refused_write_is_an_error_not_assumed() -> None:
    async with simulated_device("phoenix", car={"connected": True}) as dev:
        driver = create_driver(charger_config(dev, "phoenix", "tcp"))
        before = dev.state.wallbox_offered_a
        with pytest.raises(DeviceError):
            await driver.set_current(90)  # the box takes 6–80 A
        assert dev.state.wallbox_offered_a == before
        driver.close()


async def test_dead_charger_raises_device_error() -> None:
    async with simulated_device("demo") as dev:
        config = charger_config(dev, "demo", "tcp")
    driver = create_driver(config)  # the server is gone now
    with pytest.raises(DeviceError, match="cannot connect"):
        await driver.read()
    driver.close()


async def test_evsedin_switches_on_milli_current_mode() -> None:
    async with simulated_device("evsedin", car={"connected": True}) as dev:
        driver = create_driver(charger_config(dev, "evsedin", "rtuovertcp"))
        await driver.read()
        assert driver.capabilities.current_step_a == 0.01
        await driver.set_current(6.5)
        await driver.set_enabled(True)
        assert dev.state.wallbox_offered_a == pytest.approx(6.5)
        driver.close()


async def test_wallbe_without_the_64_bit_counter_reads_the_ev_eth_energy() -> None:
    async with simulated_device("phoenix", car={"connected": True}) as dev:
        driver = create_driver(charger_config(dev, "wallbe", "tcp"))
        await driver.set_current(16)
        await driver.set_enabled(True)
        dev.advance(3600)
        reading = await driver.read()
        assert reading.energy_kwh is not None and reading.energy_kwh > 1
        assert reading.energy_kwh == pytest.approx(dev.state.wallbox_energy_kwh, abs=0.002)
        driver.close()


async def test_generic_map_with_coil_enable_string_status_and_little_endian_meter() -> None:
    """A Phoenix EV-ETH described as a generic charger: the map options a user would need."""
    registers = {
        "status": {"address": 100, "source": "input", "type": "string", "length": 1},
        "enable": {"address": 400, "source": "coil"},
        "current": {"address": 528},
        "power": {"address": 120, "source": "input", "type": "int32", "word_order": "little"},
        "energy": {"address": 904, "type": "uint32", "word_order": "little", "scale": 0.001},
    }
    async with simulated_device("phoenix", car={"connected": True}) as dev:
        config = charger_config(dev, "modbus", "tcp", registers=registers)
        driver = create_driver(config)
        assert driver.capabilities.current_step_a == 1 and not driver.capabilities.phase_switching
        await driver.set_current(12)
        await driver.set_enabled(True)
        dev.advance(1800)
        reading = await driver.read()
        assert (reading.status, reading.enabled, reading.current_a) == (ChargeStatus.C, True, 12)
        assert reading.power_w == pytest.approx(dev.state.wallbox_w, abs=1)
        assert reading.energy_kwh == pytest.approx(dev.state.wallbox_energy_kwh, abs=0.002)
        await driver.set_enabled(False)
        assert not dev.state.wallbox_enabled
        driver.close()
