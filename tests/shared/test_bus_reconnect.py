"""The bus client survives a broker restart: it reconnects, re-subscribes, republishes its retained state
and delivers the events queued while the broker was away."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import pytest
from structlog.testing import capture_logs

from services.embedded_broker import find_mosquitto, mosquitto
from shared.bus import STOP_GRACE_S, Bus, BusMessage
from shared.config import MqttSettings
from shared.state import ChargeMode, LoadpointState
from tests.support.broker import free_port
from tests.support.probe import Probe

pytestmark = pytest.mark.skipif(find_mosquitto() is None, reason="needs a restartable mosquitto")


async def _until(predicate: Callable[[], bool]) -> None:
    # a lost connection is a state, not an event the client offers; polling it is the only way
    while not predicate():  # noqa: ASYNC110
        await asyncio.sleep(0.01)


async def test_reconnect_republishes_retained_state_and_resubscribes() -> None:
    port = free_port()
    settings = MqttSettings(host="127.0.0.1", port=port)
    received = asyncio.Queue[str]()

    async def on_command(message: BusMessage) -> None:
        received.put_nowait(message.text)

    with capture_logs() as logs:
        with mosquitto(port):
            bus = Bus(settings, "optimizer")
            bus.on("chargebus/test/in", on_command)
            await bus.start()
            await bus.wait_connected(5)
            await bus.publish_state("loadpoints/1", LoadpointState(mode=ChargeMode.NOW))
        # the broker is gone, and without persistence its retained messages are gone with it
        await asyncio.wait_for(_until(lambda: not bus.connected.is_set()), 10)
        await asyncio.sleep(1.0)  # a second of failed retries (several attempts) while it is away

        try:
            with mosquitto(port):
                await bus.wait_connected(15)
                async with Probe(settings) as probe:
                    assert await probe.wait_state("loadpoints/1/mode", lambda v: v == "now") == "now"
                    await probe.publish("chargebus/test/in", "hello")
                    assert await asyncio.wait_for(received.get(), 5) == "hello"
        finally:
            await bus.stop()
    # one line when the broker goes, one summary when it is back — not one per retry
    outage = [e for e in logs if str(e["event"]).startswith("broker")][:3]
    assert [e["event"] for e in outage] == [
        "broker connection lost",
        "broker reconnected",
        "broker connection lost",  # the test's second broker stopping before the bus
    ], outage
    assert outage[1]["attempts"] >= 3


async def test_events_published_while_the_broker_is_down_are_delivered(tmp_path: Path) -> None:
    port = free_port()
    settings = MqttSettings(host="127.0.0.1", port=port)
    persistence = tmp_path / "mosquitto"
    persistence.mkdir()

    def consumer() -> aiomqtt.Client:  # a persistent session, like the gateway's
        return aiomqtt.Client("127.0.0.1", port, identifier="event-consumer", clean_session=False)

    with mosquitto(port, persistence):
        async with consumer() as client:
            await client.subscribe("chargebus/events/#", qos=1)
        bus = Bus(settings, "charger-actuator")
        await bus.start()
        await bus.wait_connected(5)
    await asyncio.wait_for(_until(lambda: not bus.connected.is_set()), 10)
    await bus.publish("chargebus/events/command", "applied-while-down", retain=False)

    try:
        with mosquitto(port, persistence):
            await bus.wait_connected(15)
            await asyncio.wait_for(_until(lambda: not bus._outbox), 10)
            async with consumer() as client:
                async with asyncio.timeout(10):
                    async for message in client.messages:
                        assert message.payload == b"applied-while-down"
                        break
    finally:
        await bus.stop()


async def test_stop_does_not_wait_for_a_hung_broker() -> None:
    """A broker that stops answering (paused, not gone) must not hold a service's shutdown for aiomqtt's
    10 s operation timeout: the in-flight QoS 1 publish and the disconnect are given up promptly."""
    port = free_port()
    settings = MqttSettings(host="127.0.0.1", port=port)
    with mosquitto(port) as broker:
        assert broker.pid is not None
        bus = Bus(settings, "optimizer", root_presence=True)
        await bus.start()
        await bus.wait_connected(5)
        os.kill(broker.pid, signal.SIGSTOP)
        try:
            await bus.publish("chargebus/test/unacknowledged", "x", retain=False)
            # the bound is well under aiomqtt's 10 s wait for the broker's acknowledgements
            await asyncio.wait_for(bus.stop(), 6 * STOP_GRACE_S)
            assert not bus.connected.is_set()
        finally:
            os.kill(broker.pid, signal.SIGCONT)
