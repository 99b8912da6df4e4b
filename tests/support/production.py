"""The production broker for tests: mosquitto with the shipped ``mosquitto/mosquitto.conf`` and
``mosquitto/acl``, only its port and paths moved into the test's folder, with passwords made by
``chargebus mqtt-passwords``' own code."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from services.deployment import Credentials, prepare_credentials
from services.embedded_broker import find_mosquitto, wait_port
from shared.config import MqttSettings
from tests.support.broker import free_port

ROOT = Path(__file__).parents[2]
SHIPPED_CONF = ROOT / "mosquitto" / "mosquitto.conf"
SHIPPED_ACL = ROOT / "mosquitto" / "acl"


@dataclass(frozen=True)
class ProductionBroker:
    port: int
    credentials: Credentials
    env_file: Path
    log_file: Path
    pid: int

    def settings(self, user: str) -> MqttSettings:
        """Connection settings of broker user ``user`` (a service name, ``client`` or ``health``)."""
        return MqttSettings.model_validate(
            {
                "host": "127.0.0.1",
                "port": self.port,
                "user": user,
                "password": self.credentials.passwords[user],
            }
        )


def shipped_conf_for_test(port: int, directory: Path, passwd: Path) -> str:
    """The shipped config with the listener, persistence folder, password/ACL files and log moved: the
    paths of the container do not exist here; everything else stays as shipped."""
    out: list[str] = []
    for line in SHIPPED_CONF.read_text(encoding="utf-8").splitlines():
        key = line.split(" ", 1)[0]
        if key == "listener":
            line = f"listener {port} 127.0.0.1"
        elif key == "persistence_location":
            line = f"persistence_location {directory}/"
        elif key == "password_file":
            line = f"password_file {passwd}"
        elif key == "acl_file":
            line = f"acl_file {SHIPPED_ACL}"
        elif key == "log_dest":
            line = f"log_dest file {directory / 'mosquitto.log'}"
        out.append(line)
    if os.geteuid() == 0:
        out.append("user root")  # the container runs it as user mosquitto; here we are root
    return "\n".join(out) + "\n"


@contextlib.contextmanager
def production_broker(directory: Path) -> Iterator[ProductionBroker]:
    binary = find_mosquitto()
    if binary is None:
        raise FileNotFoundError("mosquitto is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    env_file, passwd = directory / ".env", directory / "passwd"
    credentials = prepare_credentials(env_file, passwd)
    port = free_port()
    conf = directory / "mosquitto.conf"
    conf.write_text(shipped_conf_for_test(port, directory, passwd), encoding="utf-8")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port("127.0.0.1", port)
        yield ProductionBroker(port, credentials, env_file, directory / "mosquitto.log", proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
