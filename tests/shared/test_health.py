from __future__ import annotations

from services.health import service_online
from shared.bus import Bus
from shared.config import MqttSettings
from tests.support.broker import free_port


async def test_health_follows_the_service_status(mqtt_settings: MqttSettings) -> None:
    online, detail = await service_online(mqtt_settings, "optimizer", timeout=0.3)
    assert not online and "no status" in detail
    async with Bus(mqtt_settings, "optimizer") as bus:
        await bus.wait_connected(5)
        online, detail = await service_online(mqtt_settings, "optimizer")
        assert online, detail
    online, detail = await service_online(mqtt_settings, "optimizer")
    assert not online and "offline" in detail


async def test_health_without_a_broker_is_unhealthy() -> None:
    online, detail = await service_online(MqttSettings(port=free_port()), "optimizer", timeout=0.5)
    assert not online and "unreachable" in detail
