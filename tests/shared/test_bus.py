from __future__ import annotations

import asyncio
import json
from typing import Any

import aiomqtt
import pytest
from structlog.testing import capture_logs

from shared.bus import MAX_PAYLOAD_BYTES, Bus, BusMessage, RequestTimeout, _Outgoing
from shared.config import MqttSettings
from shared.messages import Reply, Request, ServiceStatus
from shared.service import EXIT_WEDGED, process_control
from shared.state import ChargeMode, LoadpointState
from shared.topics import InvalidTopic, Topics
from tests.support.probe import Probe


async def test_state_published_retained_and_status_online(mqtt_settings: MqttSettings, probe: Probe) -> None:
    async with Bus(mqtt_settings, "optimizer") as bus, Bus(mqtt_settings, "charger-actuator") as actuator:
        await bus.publish_state("loadpoints/1", LoadpointState(mode=ChargeMode.PV))
        await actuator.publish_state("loadpoints/1", LoadpointState(chargeCurrents=[1, 2, 3]))
        await probe.wait_state("loadpoints/1/chargeCurrents", lambda v: v == "6")
        await probe.wait_state("loadpoints/1/mode", lambda v: v == "pv")  # another connection, own pace
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
        await asyncio.wait_for(owner.serve_requests(handler), 5)  # subscribed once the broker said so
        await client.wait_connected(5)
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


async def _answer(request: Request) -> Reply:
    return Reply(id=request.id, ok=True, value=request.value)


async def test_a_hostile_reply_to_is_refused_and_the_service_keeps_answering(
    mqtt_settings: MqttSettings, probe: Probe
) -> None:
    """A wildcard or empty ``reply_to`` used to end the owner's connection for good (every later request
    timed out while its status still said online); now such a request is refused at the boundary."""
    handled: list[str] = []

    async def handler(request: Request) -> Reply:
        handled.append(request.id)
        return await _answer(request)

    topics = Topics(mqtt_settings.internal)
    async with Bus(mqtt_settings, "optimizer") as owner, Bus(mqtt_settings, "gateway") as client:
        await asyncio.wait_for(owner.serve_requests(handler), 5)
        await client.wait_connected(5)
        hostile = [
            {"id": "w1", "reply_to": "x/#", "key": "loadpoints/1/plan"},
            {"id": "w2", "reply_to": "", "key": "loadpoints/1/plan"},
            {
                "id": "w3",
                "reply_to": f"{mqtt_settings.topic}/loadpoints/1/mode/set",
                "key": "x",
                "value": "off",
            },
            {"id": "w4", "reply_to": topics.replies_root + "+/x", "key": "x"},
            {"id": "w5", "reply_to": topics.replies_root + "gateway/" + "a" * 300, "key": "x"},
        ]
        for request in hostile:
            await probe.publish(topics.requests("optimizer"), json.dumps(request))
        await probe.publish(topics.requests("optimizer"), b'{"id":"w6","reply_to":"\xff\xfe","key":"x"}')
        reply = await client.request("optimizer", "loadpoints/1/mode", "pv")
        assert reply.ok and reply.value == "pv"
        assert handled == [handled[-1]], "only the well-formed request reached the handler"
        assert probe.values.get(f"{mqtt_settings.topic}/loadpoints/1/mode/set") is None
        assert owner.connected.is_set()


async def test_publish_refuses_topics_no_broker_accepts(mqtt_settings: MqttSettings, probe: Probe) -> None:
    async with Bus(mqtt_settings, "optimizer") as bus:
        await bus.wait_connected(5)
        for topic in ("", "a/#", "a/+/b", "a\x00b", "x" * 70_000, "\udcff"):
            with pytest.raises(InvalidTopic):
                bus.publish_nowait(topic, "1")
        # and a refusal the client itself makes deep in the send loop drops that message only
        bus._enqueue(_Outgoing("a/#", b"1", 1, False))
        await bus.publish(f"{mqtt_settings.internal}/after", "still here", retain=False)
        assert await probe.wait_value(f"{mqtt_settings.internal}/after", bool) == "still here"
        assert bus.connected.is_set()


async def test_any_error_in_the_connection_costs_a_reconnect_not_the_bus(
    mqtt_settings: MqttSettings, probe: Probe, monkeypatch: pytest.MonkeyPatch
) -> None:
    received = asyncio.Queue[str]()

    async def handler(message: BusMessage) -> None:
        received.put_nowait(message.text)

    bus = Bus(mqtt_settings, "x")
    bus.on(f"{mqtt_settings.internal}/in", handler)
    original = bus._dispatch
    failures = iter([RuntimeError("a bug in the receive path")])

    async def dispatch_with_a_bug(message: BusMessage) -> None:
        error = next(failures, None)
        if error is not None and message.topic.endswith("/in"):
            raise error
        await original(message)

    monkeypatch.setattr(bus, "_dispatch", dispatch_with_a_bug)
    with capture_logs() as logs:
        async with bus:
            await bus.wait_connected(5)
            await probe.publish(f"{mqtt_settings.internal}/in", "lost to the bug")
            await probe.publish(f"{mqtt_settings.internal}/in", "after the reconnect", retain=True)
            assert await asyncio.wait_for(received.get(), 10) == "after the reconnect"
    assert any(e["event"] == "bus connection failed; reconnecting" for e in logs)


async def test_a_subscription_after_connect_is_awaitable_and_its_failure_is_not_swallowed(
    mqtt_settings: MqttSettings, probe: Probe
) -> None:
    received = asyncio.Queue[str]()

    async def handler(message: BusMessage) -> None:
        received.put_nowait(message.text)

    async with Bus(mqtt_settings, "x") as bus:
        await bus.wait_connected(5)
        await bus.subscribe(f"{mqtt_settings.internal}/late", handler, timeout=5)
        await probe.publish(f"{mqtt_settings.internal}/late", "1")  # no sleep: the SUBACK has arrived
        assert await asyncio.wait_for(received.get(), 5) == "1"

        client = bus._client
        assert client is not None

        async def refuse(*_args: Any, **_kwargs: Any) -> Any:
            raise aiomqtt.MqttError("Operation timed out")

        first_connection = client.subscribe
        client.subscribe = refuse  # type: ignore[method-assign]
        with pytest.raises(aiomqtt.MqttError):
            await bus.subscribe(f"{mqtt_settings.internal}/later", handler, timeout=5)
        client.subscribe = first_connection  # type: ignore[method-assign]
        # the bus reconnected, which subscribed the filter with the others
        await probe.publish(f"{mqtt_settings.internal}/later", "2", retain=True)
        assert await asyncio.wait_for(received.get(), 10) == "2"
        with pytest.raises(ValueError):
            bus.on("a/#/b", handler)


async def test_a_wedged_bus_says_offline_reconnects_and_then_gives_up_for_a_restart(
    mqtt_settings: MqttSettings, probe: Probe
) -> None:
    """A handler that never returns stops every message after it (requests included). The watchdog's ping
    notices, the connection is dropped so the broker publishes the will, and when it happens again right
    after the reconnect the service asks its process to exit non-zero."""
    settings = mqtt_settings.model_copy(update={"watchdog_s": 0.6})

    async def never_returns(_message: BusMessage) -> None:
        await asyncio.Event().wait()

    status_topic = Topics(settings.internal).service_status("optimizer")
    await probe.publish(f"{settings.internal}/stuck", "x", retain=True)
    stop = asyncio.Event()
    bus = Bus(settings, "optimizer")
    bus.on(f"{settings.internal}/stuck", never_returns)
    with process_control(stop) as control:
        async with bus:
            await probe.wait_value(status_topic, lambda v: '"online"' in v)
            await probe.wait_value(status_topic, lambda v: '"offline"' in v)  # the will, sent by the broker
            await probe.wait_value(status_topic, lambda v: '"online"' in v)  # reconnected
            await asyncio.wait_for(stop.wait(), 10)
    assert control.exit_code == EXIT_WEDGED and control.reason and "wedged" in control.reason


async def test_problems_ride_on_the_retained_status(mqtt_settings: MqttSettings, probe: Probe) -> None:
    status_topic = Topics(mqtt_settings.internal).service_status("optimizer")
    async with Bus(mqtt_settings, "optimizer") as bus:
        await bus.wait_connected(5)
        bus.report_problem("cycle", "control cycle failed: boom")
        raw = await probe.wait_value(status_topic, lambda v: "boom" in v)
        status = ServiceStatus.model_validate_json(raw)
        assert status.state == "online" and status.problems == ("control cycle failed: boom",)
        bus.report_problem("cycle", None)
        raw = await probe.wait_value(status_topic, lambda v: "boom" not in v)
        assert ServiceStatus.model_validate_json(raw).problems == ()


async def test_oversized_payloads_are_dropped_before_any_handler(
    mqtt_settings: MqttSettings, probe: Probe
) -> None:
    seen = asyncio.Queue[int]()

    async def handler(message: BusMessage) -> None:
        seen.put_nowait(len(message.payload))

    async with Bus(mqtt_settings, "x") as bus:
        await bus.subscribe(f"{mqtt_settings.internal}/big", handler, timeout=5)
        await probe.publish(f"{mqtt_settings.internal}/big", b"x" * (MAX_PAYLOAD_BYTES + 1))
        await probe.publish(f"{mqtt_settings.internal}/big", b"small")
        assert await asyncio.wait_for(seen.get(), 5) == 5
        assert seen.empty()


async def test_a_burst_logs_no_pending_calls_warning(mqtt_settings: MqttSettings) -> None:
    """Our in-flight window is 20; aiomqtt's warning threshold was 10, so every burst logged a flood of
    "There are N pending publish calls" lines outside the structured log."""
    topic = f"{mqtt_settings.internal}/events/burst"
    received = asyncio.Queue[str]()

    async def on_event(message: BusMessage) -> None:
        received.put_nowait(message.text)

    with capture_logs() as logs:
        consumer = Bus(mqtt_settings, "gateway")
        consumer.on(topic, on_event)
        async with consumer, Bus(mqtt_settings, "charger-actuator") as producer:
            await consumer.wait_connected(5)
            await producer.wait_connected(5)
            for number in range(200):
                producer.publish_nowait(topic, str(number), retain=False)
            for _ in range(200):
                await asyncio.wait_for(received.get(), 10)
    assert not [e for e in logs if "pending" in str(e.get("event"))]
