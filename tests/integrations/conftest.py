"""One live demo for the integration tests (Home Assistant, Node-RED, Prometheus, notifications): started once
per session, with a local HTTP receiver standing in for the notification services."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from shared.config import MqttSettings
from tests.e2e.stack import Stack, running_demo, stack_config


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    """Records every POST (an ntfy server, a JSON webhook); answers 200."""

    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def wait(self, predicate: Callable[[list[Received]], bool], timeout: float = 30.0) -> list[Received]:
        with self.changed:
            if not self.changed.wait_for(lambda: predicate(self.requests), timeout):
                raise TimeoutError(f"not received in {timeout} s; got {[r.body for r in self.requests]}")
            return list(self.requests)


def start_receiver() -> Receiver:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8", errors="replace")
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw
            receiver = holder["receiver"]
            with receiver.changed:
                receiver.requests.append(Received(self.path, dict(self.headers), body))
                receiver.changed.notify_all()
            payload = b'{"id":"1","time":0,"event":"message"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["receiver"] = Receiver(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return holder["receiver"]


@dataclass
class Live:
    stack: Stack
    receiver: Receiver

    @property
    def mqtt(self) -> MqttSettings:
        return MqttSettings(host="127.0.0.1", port=self.stack.broker_port)

    @property
    def base_url(self) -> str:
        return self.stack.base_url


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    receiver = start_receiver()

    def integrations(config: dict[str, Any]) -> None:
        config["homeassistant"] = {"discovery": True, "node_id": "demo"}
        config["notify"] = {"urls": [f"json://{receiver.url}/hook", f"ntfy://{receiver.url}/chargebus"]}

    try:
        with running_demo(tmp_path_factory.mktemp("live"), stack_config(integrations)) as stack:
            deadline = time.monotonic() + 90
            with httpx.Client(base_url=stack.base_url, timeout=5) as http:
                while True:  # the demo is another process: its health is all there is to wait on
                    try:
                        if http.get("/api/health").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline or stack.proc.poll() is not None:
                        raise RuntimeError("the demo did not become healthy")
                    time.sleep(0.2)
            yield Live(stack, receiver)
    finally:
        receiver.server.shutdown()
