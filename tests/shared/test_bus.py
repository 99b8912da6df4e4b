from __future__ import annotations

import asyncio

from shared.bus import Bus, BusMessage, RequestTimeout
from shared.config import MqttSettings
from shared.messages import Reply, Request
from shared.state import ChargeMode, LoadpointState
from tests.support.probe import Probe


async def test_state_published_retained_and_status_online(mqtt_settings: MqttSettings, probe: Probe) -> None:
    async with Bus(mqtt_settings, "optimizer") as bus, Bus(mqtt_settings, "charger-actuator") as actuator:
        await bus.publish_state("loadpoints/1", LoadpointState(mode=ChargeMode.PV))
        await actuator.publish_state("loadpoints/1", LoadpointState(chargeCurrents=[1, 2, 3]))
        await probe.wait_state("loadpoints/1/chargeCurrents", lambda v: v == "6")
        assert probe.state("loadpoints/1/mode") == "pv"
        assert probe.state("loadpoints/1/chargeCurrents/l2") == "2"
        status = await probe.wait_value(
            f"{mqtt_settings.internal}/services/optimizer/status", lambda v: "online" in v
        )
        assert '"state":"online"' in status
    await probe.wait_value(f"{mqtt_settings.internal}/services/optimizer/status", lambda v: "offline" in v)


async def test_request_reply_roundtrip_and_timeout(mqtt_settings: MqttSettings) -> None:
    async def handler(request: Request) -> Reply:
        if request.key == "loadpoints/1/mode" and request.value in ("off", "pv"):
            return Reply(id=request.id, ok=True, value=request.value)
        return Reply(id=request.id, ok=False, error="invalid", code=400)

    async with Bus(mqtt_settings, "optimizer") as owner, Bus(mqtt_settings, "gateway") as client:
        owner.serve_requests(handler)
        await owner.wait_connected(5)
        await client.wait_connected(5)
        await asyncio.sleep(0)  # let the late subscription go out before the first request
        reply = await client.request("optimizer", "loadpoints/1/mode", "pv")
        assert reply.ok and reply.value == "pv"
        bad = await client.request("optimizer", "loadpoints/1/mode", "fast")
        assert not bad.ok and bad.code == 400
        try:
            await client.request("nobody", "x", 1, timeout=0.3)
        except RequestTimeout as error:
            assert "nobody" in str(error)
        else:
            raise AssertionError("a request to a missing service must time out")


async def test_bad_payload_is_ignored_and_service_keeps_running(
    mqtt_settings: MqttSettings, probe: Probe
) -> None:
    seen = asyncio.Queue[str]()

    async def handler(message: BusMessage) -> None:
        seen.put_nowait(str(int(message.text)))

    bus = Bus(mqtt_settings, "x")
    bus.on(f"{mqtt_settings.internal}/test", handler)  # subscribed before the bus reports connected
    async with bus:
        await bus.wait_connected(5)
        await probe.publish(f"{mqtt_settings.internal}/test", "not a number")
        await probe.publish(f"{mqtt_settings.internal}/test", "7")
        assert await asyncio.wait_for(seen.get(), 5) == "7"  # the bad one raised, was logged, and skipped
        assert seen.empty()


async def test_a_burst_of_events_arrives_complete_and_in_order(mqtt_settings: MqttSettings) -> None:
    """Several publishes are in flight at once; the broker still sees them in the order they were queued."""
    topic = f"{mqtt_settings.internal}/events/burst"
    received = asyncio.Queue[str]()

    async def on_event(message: BusMessage) -> None:
        received.put_nowait(message.text)

    consumer = Bus(mqtt_settings, "gateway")
    consumer.on(topic, on_event)
    async with consumer, Bus(mqtt_settings, "charger-actuator") as producer:
        await consumer.wait_connected(5)
        await producer.wait_connected(5)
        for number in range(300):
            producer.publish_nowait(topic, str(number), retain=False)
        got = [await asyncio.wait_for(received.get(), 10) for _ in range(300)]
    assert got == [str(number) for number in range(300)]
