"""The home's wallbox as an OCPP 1.6J charge point: the same physics behind an ``ocpp`` client.

It connects to a central system (``url`` = ``ws://host:port/<identity>``), boots, and then behaves like a
typical box:

- connector 1; status Available (no car) → Preparing (car, no transaction) → Charging / SuspendedEV (car
  full or not drawing) / SuspendedEVSE (the box holds back) → Available;
- a *free-vend* box starts its transaction itself when the car plugs in (idTag = the car's identifier, or
  ``freevend``); otherwise it waits for RemoteStartTransaction (or an idTag presented with
  :meth:`present_tag`, which is authorised first);
- the limit is the valid charging profile with the highest stack level (TxProfile over TxDefaultProfile;
  ``validTo`` honoured): A or W, ``numberPhases`` switches 1p/3p (a power limit without it: 1p below
  3 × 6 A); without any profile the box offers ``DEFAULT_CURRENT_A`` — what a box left alone does;
- MeterValues every MeterValueSampleInterval with the measurands of MeterValuesSampledData; Heartbeat at
  the BootNotification's interval; TriggerMessage, Get/ChangeConfiguration, Reset, RemoteStop answered.

Every call the central system makes is recorded in :attr:`received` (tests and the bench await them).
Tests pull the plug on the connection with :meth:`drop` and restart the box with :meth:`reboot`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ocpp.v16 import call, call_result
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException
from websockets.typing import Subprotocol

from services.simulator.devices.base import DeviceEnv, Model
from services.simulator.physics import MIN_CHARGE_CURRENT_A
from shared.devices.errors import DeviceError
from shared.devices.ocpp import MAX_MESSAGE_BYTES, SUBPROTOCOL, OcppEndpoint
from shared.logging import get_logger
from shared.tasks import cancel_and_wait

DEFAULT_CURRENT_A = 16.0
"""What the box offers with no charging profile installed."""
RECONNECT_S = 0.5
LOOP_S = 0.1
MEASURANDS = "Energy.Active.Import.Register,Power.Active.Import"


@dataclass(frozen=True)
class Received:
    """One call from the central system (``monotonic_s`` = time.monotonic() on arrival)."""

    action: str
    payload: dict[str, Any]
    monotonic_s: float


def _utc() -> datetime:
    return datetime.now(UTC)


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    return None


class SimulatedChargePoint:
    """See the module docstring. Use :meth:`start` / :meth:`stop` (the home does)."""

    def __init__(
        self, env: DeviceEnv, url: str, *, free_vend: bool = True, password: str | None = None
    ) -> None:
        self.env = env
        self.sim = env.sim
        self.url = url
        self.identity = url.rstrip("/").rsplit("/", 1)[-1]
        self.free_vend = free_vend
        self.password = password
        self.log = get_logger("simulator", device=env.spec.name)
        self.received: list[Received] = []
        self._received_changed = asyncio.Event()
        self.config: dict[str, tuple[str, bool]] = {
            "MeterValueSampleInterval": ("60", False),
            "MeterValuesSampledData": (MEASURANDS, False),
            "MeterValuesSampledDataMaxLength": ("8", True),
            "NumberOfConnectors": ("1", True),
            "SupportedFeatureProfiles": ("Core,SmartCharging,RemoteTrigger", True),
            "ChargeProfileMaxStackLevel": ("8", True),
            "ChargingScheduleAllowedChargingRateUnit": ("Current,Power", True),
            "ConnectorSwitch3to1PhaseSupported": ("true", True),
            "HeartbeatInterval": ("300", False),
            "AuthorizeRemoteTxRequests": ("false", False),
        }
        """key → (value, read-only)."""
        self.profiles: dict[tuple[str, int], dict[str, Any]] = {}
        """(purpose, stack level) → profile as received (snake_case)."""
        self.transaction: int | None = None
        self.id_tag: str | None = None
        self.boots = 0
        self.accepted = False
        self.connected = asyncio.Event()
        self._endpoint: OcppEndpoint | None = None
        self._connection: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._status_sent: str | None = None
        self._plugged = False
        self._heartbeat_s = 300.0
        self._meter_due = 0.0
        self._heartbeat_due = 0.0
        self._pending: list[Callable[[], Any]] = []
        """Messages the central system triggered, sent by the loop after the answer."""
        self._stopping = False
        self.fault: tuple[str, str | None] | None = None
        """(errorCode, info) while the box reports itself Faulted."""
        self.heartbeats = 0
        """Heartbeats the central system answered."""
        env.ticks.append(self._apply)  # profiles end with time, connected or not

    # --- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"ocpp-cp-{self.identity}")

    async def stop(self) -> None:
        self._stopping = True
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
        if self._task is not None:
            await cancel_and_wait([self._task], timeout=2.0)

    async def drop(self) -> None:
        """Lose the connection (as a network fault would); it reconnects after ``RECONNECT_S`` without
        rebooting."""
        if self._connection is not None:
            await self._connection.close()

    async def reboot(self) -> None:
        """Restart the box: connection lost, transaction and profiles gone, BootNotification on reconnect."""
        self.profiles.clear()
        self.transaction, self.id_tag = None, None
        self.accepted = False
        self._status_sent = None
        self._plugged = False  # a free-vend box starts a new transaction for the car still plugged in
        self._apply()
        await self.drop()

    async def wait_for(
        self, action: str, predicate: Callable[[dict[str, Any]], bool] = lambda _: True, *, since: int = 0,
        timeout: float = 10.0,
    ) -> Received:  # fmt: skip
        """The first call ``action`` from index ``since`` on that satisfies ``predicate``."""
        async with asyncio.timeout(timeout):
            while True:
                for item in self.received[since:]:
                    if item.action == action and predicate(item.payload):
                        return item
                since = len(self.received)
                self._received_changed.clear()
                await self._received_changed.wait()

    def present_tag(self, id_tag: str) -> None:
        """A user holds an RFID card to the box: Authorize, then start the transaction if accepted."""
        self._pending.append(lambda: self._authorize_and_start(id_tag))

    # --- the connection --------------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            headers = {}
            if self.password is not None:
                token = base64.b64encode(f"{self.identity}:{self.password}".encode()).decode()
                headers["Authorization"] = f"Basic {token}"
            try:
                async with connect(
                    self.url,
                    subprotocols=[Subprotocol(SUBPROTOCOL)],
                    additional_headers=headers,
                    max_size=MAX_MESSAGE_BYTES,
                    open_timeout=5,
                ) as connection:
                    self._connection = connection
                    endpoint = OcppEndpoint(self.identity, connection, self._handlers())
                    self._endpoint = endpoint
                    self.connected.set()
                    serving = asyncio.create_task(endpoint.serve())
                    try:
                        await self._session(endpoint, serving)
                    finally:
                        await cancel_and_wait([serving])
            except (OSError, WebSocketException, DeviceError, TimeoutError) as error:
                self.log.debug("ocpp connection ended", error=str(error) or type(error).__name__)
            self.connected.clear()
            self._endpoint = self._connection = None
            if not self._stopping:
                await asyncio.sleep(RECONNECT_S)

    async def _session(self, endpoint: OcppEndpoint, serving: asyncio.Task[None]) -> None:
        while not self.accepted:
            boot = await endpoint.call(
                call.BootNotification(
                    charge_point_vendor="chargebus",
                    charge_point_model="SimBox",
                    charge_point_serial_number=f"SIM-{self.identity}",
                    firmware_version="1.0.0",
                )
            )
            self.boots += 1
            self._heartbeat_s = float(boot.interval) or 300.0
            if boot.status == "Accepted":
                self.accepted = True
                break
            await asyncio.sleep(min(self._heartbeat_s, 1.0))
        self._status_sent = None
        while not serving.done():
            step = asyncio.create_task(self._step(endpoint))
            await asyncio.wait({step, serving}, return_when=asyncio.FIRST_COMPLETED)
            if not step.done():  # the connection ended under a call in flight: its answer never comes
                await cancel_and_wait([step])
                return
            step.result()
            await asyncio.wait({serving}, timeout=LOOP_S)

    async def _step(self, endpoint: OcppEndpoint) -> None:
        self.env.sync()
        now = time.monotonic()
        car = self.sim.car is not None
        if car and not self._plugged and self.free_vend and self.transaction is None:
            tag = (self.sim.car.spec.identifier if self.sim.car else None) or "freevend"
            await self._start_transaction(endpoint, tag)
        if not car and self.transaction is not None:
            await self._stop_transaction(endpoint, "EVDisconnected")
        self._plugged = car
        self._apply()
        status = self.status()
        if status != self._status_sent:
            await self._send_status(endpoint, status)
        while self._pending:
            await self._pending.pop(0)()
        if now >= self._meter_due:
            self._meter_due = now + float(self.config["MeterValueSampleInterval"][0] or 60)
            await self._send_meter_values(endpoint)
        if now >= self._heartbeat_due:
            self._heartbeat_due = now + self._heartbeat_s
            await endpoint.call(call.Heartbeat())
            self.heartbeats += 1

    # --- the box's behaviour ---------------------------------------------------------------------------

    def limit(self) -> tuple[float, int | None]:
        """(A, phases) of the valid profile with the highest stack level; the default without one."""
        now = _utc()
        best: tuple[int, int, dict[str, Any]] | None = None
        for (purpose, level), profile in self.profiles.items():
            valid_to = _parse(profile.get("valid_to"))
            if valid_to is not None and valid_to <= now:
                continue
            if purpose == "TxProfile" and profile.get("transaction_id") != self.transaction:
                continue
            rank = (1 if purpose == "TxProfile" else 0, level)
            if best is None or rank > best[:2]:
                best = (*rank, profile)
        if best is None:
            return DEFAULT_CURRENT_A, None
        schedule = best[2]["charging_schedule"]
        period = schedule["charging_schedule_period"][0]
        phases = period.get("number_phases")
        limit = float(period["limit"])
        if schedule["charging_rate_unit"] == "W":
            voltage = self.sim.scenario.voltage_v
            if phases is None:
                # A power limit alone: the box picks the phases that can carry it (3 × 6 A or more → 3p).
                phases = 3 if limit >= 3 * MIN_CHARGE_CURRENT_A * voltage else 1
            limit /= voltage * phases
        return limit, phases

    def _apply(self) -> None:
        """What the box lets the car draw, given its transaction and profiles."""
        current, phases = self.limit()
        if phases in (1, 3) and phases != self.sim.wallbox.phases:
            self.sim.set_phases(phases)
        allowed = self.transaction is not None and current >= MIN_CHARGE_CURRENT_A and self.fault is None
        if allowed and current != self.sim.wallbox.offered_a:
            self.sim.set_current(min(current, 80.0))
        if allowed != self.sim.wallbox.enabled:
            self.sim.set_enabled(allowed)

    def status(self) -> str:
        if self.fault is not None:
            return "Faulted"
        if self.sim.car is None:
            return "Available"
        if self.transaction is None:
            return "Preparing"
        if self.sim.wallbox.status == "C":
            return "Charging"
        return "SuspendedEVSE" if not self.sim.wallbox.enabled else "SuspendedEV"

    def _energy_wh(self) -> float:
        return self.sim.wallbox.energy_kwh * 1000

    async def _send_status(self, endpoint: OcppEndpoint, status: str) -> None:
        self._status_sent = status
        code, info = self.fault or ("NoError", None)
        await endpoint.call(
            call.StatusNotification(
                connector_id=1, error_code=code, status=status, info=info, timestamp=_time(_utc())
            )
        )

    def _samples(self) -> list[dict[str, Any]]:
        box, charge = self.sim.wallbox, self.sim.points["charge"]
        wanted = set(self.config["MeterValuesSampledData"][0].split(","))
        out: list[dict[str, Any]] = []
        if "Energy.Active.Import.Register" in wanted:
            out.append(
                {
                    "value": f"{self._energy_wh():.0f}",
                    "measurand": "Energy.Active.Import.Register",
                    "unit": "Wh",
                }
            )
        if "Power.Active.Import" in wanted:
            out.append({"value": f"{charge.power_w:.1f}", "measurand": "Power.Active.Import", "unit": "W"})
        if "Current.Import" in wanted:
            for i, phase in enumerate(("L1", "L2", "L3")):
                out.append(
                    {
                        "value": f"{box.currents_a[i]:.2f}",
                        "measurand": "Current.Import",
                        "phase": phase,
                        "unit": "A",
                    }
                )
        if "Voltage" in wanted:
            for i, phase in enumerate(("L1-N", "L2-N", "L3-N")):
                out.append(
                    {
                        "value": f"{charge.voltages_v[i]:.1f}",
                        "measurand": "Voltage",
                        "phase": phase,
                        "unit": "V",
                    }
                )
        if "Current.Offered" in wanted:
            offered = box.offered_a if box.enabled else 0.0
            out.append({"value": f"{offered:.1f}", "measurand": "Current.Offered", "unit": "A"})
        if "SoC" in wanted and self.sim.car is not None:
            out.append(
                {
                    "value": f"{self.sim.car.soc_pct:.0f}",
                    "measurand": "SoC",
                    "unit": "Percent",
                    "location": "EV",
                }
            )
        return out

    async def _send_meter_values(self, endpoint: OcppEndpoint) -> None:
        samples = self._samples()
        if not samples:
            return
        await endpoint.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=self.transaction,
                meter_value=[{"timestamp": _time(_utc()), "sampled_value": samples}],
            )
        )

    async def _start_transaction(self, endpoint: OcppEndpoint, id_tag: str) -> bool:
        answer = await endpoint.call(
            call.StartTransaction(
                connector_id=1, id_tag=id_tag, meter_start=round(self._energy_wh()), timestamp=_time(_utc())
            )
        )
        if answer.id_tag_info.get("status") != "Accepted":
            return False
        self.transaction, self.id_tag = int(answer.transaction_id), id_tag
        self._apply()
        return True

    async def _stop_transaction(self, endpoint: OcppEndpoint, reason: str) -> None:
        transaction, self.transaction = self.transaction, None
        self.id_tag = None
        self.profiles = {k: p for k, p in self.profiles.items() if k[0] != "TxProfile"}
        self._apply()
        if transaction is not None:
            await endpoint.call(
                call.StopTransaction(
                    meter_stop=round(self._energy_wh()), timestamp=_time(_utc()), transaction_id=transaction,
                    reason=reason,
                )
            )  # fmt: skip

    async def _authorize_and_start(self, id_tag: str) -> None:
        endpoint = self._endpoint
        if endpoint is None:
            return
        answer = await endpoint.call(call.Authorize(id_tag=id_tag))
        if (
            answer.id_tag_info.get("status") == "Accepted"
            and self.sim.car is not None
            and self.transaction is None
        ):
            await self._start_transaction(endpoint, id_tag)

    # --- calls from the central system -----------------------------------------------------------------

    def _record(self, action: str, payload: dict[str, Any]) -> None:
        self.received.append(Received(action, payload, time.monotonic()))
        self._received_changed.set()

    def _handlers(self) -> dict[str, Callable[..., Any]]:
        def recorded(action: str, handler: Callable[..., Any]) -> Callable[..., Any]:
            async def wrapper(**payload: Any) -> Any:
                self._record(action, payload)
                return await handler(**payload)

            return wrapper

        table: dict[str, Callable[..., Any]] = {
            "GetConfiguration": self.on_get_configuration,
            "ChangeConfiguration": self.on_change_configuration,
            "SetChargingProfile": self.on_set_charging_profile,
            "ClearChargingProfile": self.on_clear_charging_profile,
            "RemoteStartTransaction": self.on_remote_start,
            "RemoteStopTransaction": self.on_remote_stop,
            "TriggerMessage": self.on_trigger_message,
            "ChangeAvailability": self.on_change_availability,
            "Reset": self.on_reset,
        }
        return {action: recorded(action, handler) for action, handler in table.items()}

    async def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> Any:
        keys = key or list(self.config)
        known = [
            {"key": k, "readonly": self.config[k][1], "value": self.config[k][0]}
            for k in keys
            if k in self.config
        ]
        unknown = [k for k in keys if k not in self.config]
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    async def on_change_configuration(self, key: str, value: str, **_: Any) -> Any:
        if key not in self.config:
            return call_result.ChangeConfiguration(status="NotSupported")
        if self.config[key][1]:
            return call_result.ChangeConfiguration(status="Rejected")
        if key == "MeterValuesSampledData":
            allowed = {
                "Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage",
                "Current.Offered", "SoC",
            }  # fmt: skip
            items = [v.strip() for v in value.split(",") if v.strip()]
            if not items or any(v not in allowed for v in items) or len(items) > 8:
                return call_result.ChangeConfiguration(status="Rejected")
        if key == "MeterValueSampleInterval":
            try:
                seconds = int(value)
            except ValueError:
                return call_result.ChangeConfiguration(status="Rejected")
            if seconds < 1:
                return call_result.ChangeConfiguration(status="Rejected")
            self._meter_due = 0.0
        self.config[key] = (value, False)
        return call_result.ChangeConfiguration(status="Accepted")

    async def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any
    ) -> Any:
        profile = cs_charging_profiles
        purpose = profile["charging_profile_purpose"]
        if connector_id not in (0, 1) or purpose == "ChargePointMaxProfile":
            return call_result.SetChargingProfile(status="Rejected")
        if purpose == "TxProfile" and (
            self.transaction is None or profile.get("transaction_id") != self.transaction
        ):
            return call_result.SetChargingProfile(status="Rejected")
        level = int(profile["stack_level"])
        if level > int(self.config["ChargeProfileMaxStackLevel"][0]):
            return call_result.SetChargingProfile(status="Rejected")
        # A profile with the same id, or the same purpose and stack level, replaces the old one (1.6 §3.13.2).
        self.profiles = {
            k: p
            for k, p in self.profiles.items()
            if p["charging_profile_id"] != profile["charging_profile_id"]
        }
        self.profiles[(purpose, level)] = profile
        self._apply()
        return call_result.SetChargingProfile(status="Accepted")

    async def on_clear_charging_profile(self, **criteria: Any) -> Any:
        before = len(self.profiles)
        self.profiles = {
            k: p for k, p in self.profiles.items()
            if criteria.get("id") not in (None, p["charging_profile_id"])
            or criteria.get("charging_profile_purpose") not in (None, k[0])
        } if criteria else {}  # fmt: skip
        self._apply()
        return call_result.ClearChargingProfile(
            status="Accepted" if len(self.profiles) < before else "Unknown"
        )

    async def on_remote_start(self, id_tag: str, **_: Any) -> Any:
        if self.sim.car is None or self.transaction is not None:
            return call_result.RemoteStartTransaction(status="Rejected")
        self._pending.append(lambda: self._remote_started(id_tag))
        return call_result.RemoteStartTransaction(status="Accepted")

    async def _remote_started(self, id_tag: str) -> None:
        if self._endpoint is not None and self.sim.car is not None and self.transaction is None:
            await self._start_transaction(self._endpoint, id_tag)

    async def on_remote_stop(self, transaction_id: int, **_: Any) -> Any:
        if transaction_id != self.transaction:
            return call_result.RemoteStopTransaction(status="Rejected")
        self._pending.append(lambda: self._remote_stopped())
        return call_result.RemoteStopTransaction(status="Accepted")

    async def _remote_stopped(self) -> None:
        if self._endpoint is not None:
            await self._stop_transaction(self._endpoint, "Remote")

    async def on_trigger_message(self, requested_message: str, **_: Any) -> Any:
        endpoint = self._endpoint
        if endpoint is None:
            return call_result.TriggerMessage(status="Rejected")
        actions: dict[str, Callable[[], Any]] = {
            "StatusNotification": lambda: self._send_status(endpoint, self.status()),
            "MeterValues": lambda: self._send_meter_values(endpoint),
            "Heartbeat": lambda: endpoint.call(call.Heartbeat()),
        }
        action = actions.get(requested_message)
        if action is None:
            return call_result.TriggerMessage(status="NotImplemented")
        self._pending.append(action)
        return call_result.TriggerMessage(status="Accepted")

    async def on_change_availability(self, **_: Any) -> Any:
        return call_result.ChangeAvailability(status="Accepted")

    async def on_reset(self, type: str, **_: Any) -> Any:
        self._pending.append(self.reboot)
        return call_result.Reset(status="Accepted")


def build(env: DeviceEnv) -> SimulatedChargePoint:
    spec = env.spec
    if not spec.url:
        raise ValueError(
            f"ocpp device {spec.name!r} needs the central system's url (ws://host:port/<identity>)"
        )
    password = os.environ.get(spec.password_env) if spec.password_env else None
    return SimulatedChargePoint(env, spec.url, free_vend=spec.free_vend, password=password)


OCPP = Model("ocpp", "wallbox", lambda env: [], source="charge", service=build)
