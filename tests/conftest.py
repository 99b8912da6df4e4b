from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import pytest

from shared.config import MqttSettings
from tests.support.broker import Broker, amqtt_broker, container_broker, mosquitto_broker, preferred_kind


def _amqtt_in_thread() -> Iterator[Broker]:
    """amqtt lives in its own loop/thread so a session-wide broker survives per-test event loops."""
    loop = asyncio.new_event_loop()
    started: list[Broker] = []
    ready = threading.Event()
    stop = asyncio.Event()

    async def main() -> None:
        async with amqtt_broker() as broker:
            started.append(broker)
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield started[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(5)


@pytest.fixture(scope="session")
def broker() -> Iterator[Broker]:
    """One real broker for the whole test session."""
    kind = preferred_kind()
    if kind == "mosquitto":
        with mosquitto_broker() as b:
            yield b
    elif kind == "container":
        with container_broker() as b:
            yield b
    else:
        yield from _amqtt_in_thread()


_counter = iter(range(1_000_000))


@pytest.fixture
def mqtt_settings(broker: Broker) -> MqttSettings:
    """Settings with roots unique to the test, so tests sharing the broker never see each other."""
    n = next(_counter)
    return MqttSettings(host=broker.host, port=broker.port, topic=f"t{n}/evcc", internal=f"t{n}/chargebus")


@pytest.fixture
async def probe(mqtt_settings: MqttSettings) -> AsyncIterator[object]:
    from tests.support.probe import Probe

    async with Probe(mqtt_settings) as p:
        yield p
