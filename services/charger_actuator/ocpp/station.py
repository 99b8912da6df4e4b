"""One configured OCPP 1.6J charge point: its connection, boot record, configuration and connectors.

The charge point calls us (BootNotification, Heartbeat, StatusNotification, MeterValues, Authorize,
Start/StopTransaction); the answers update the connectors' state, which the connectors' drivers read.
After every connect and every BootNotification (a reboot forgets profiles and transactions) the station
sets the box up — GetConfiguration, MeterValuesSampledData, MeterValueSampleInterval, TriggerMessage for a
fresh status and meter reading — and then lets each driver restore what it had asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from ocpp.v16 import call, call_result
from ocpp.v16.enums import AuthorizationStatus, RegistrationStatus

from services.charger_actuator.ocpp.measurands import DESIRED_MEASURANDS, Meter, apply_meter_values
from shared.config_devices import OcppChargerConfig, OcppSettings
from shared.devices.errors import DeviceError, describe_error
from shared.devices.ocpp import Connection, OcppEndpoint
from shared.tasks import cancel_and_wait

BOOT_GRACE_S = 2.0
"""After a connect, wait this long for the box's own BootNotification before setting it up anyway (a box
that only reconnected its websocket sends none)."""
_transaction_ids = itertools.count(max(1, int(time.time()) - 1_700_000_000))
"""Transaction ids, unique across stations and (counting from the clock) across restarts of the actuator."""


def now_utc() -> datetime:
    return datetime.now(UTC)


def ocpp_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass
class Boot:
    """What the box said about itself in its last BootNotification."""

    vendor: str
    model: str
    serial: str | None
    firmware: str | None
    at: datetime


@dataclass
class Connector:
    """The state of one connector as the box reported it."""

    status: str | None = None
    """OCPP ChargePointStatus (Available, Preparing, Charging, …); None before the first notification."""
    error_code: str | None = None
    info: str | None = None
    status_at: datetime | None = None
    """When the box says the status began (its timestamp, else our arrival time)."""
    status_received: datetime | None = None
    """When we received it (our clock: comparable with ``meter_at``)."""
    transaction_id: int | None = None
    id_tag: str | None = None
    """idTag of the running transaction."""
    meter: Meter = field(default_factory=Meter)
    meter_at: datetime | None = None


@dataclass(frozen=True)
class Features:
    """What the box announced in GetConfiguration, with the configuration's overrides applied."""

    rate_unit: Literal["A", "W"] = "A"
    phase_switching: bool = False
    max_stack_level: int | None = None
    connectors: int | None = None
    sampled_data: tuple[str, ...] = ()
    sampled_data_readonly: bool = False
    remote_trigger: bool = True
    plug_and_charge_id: str | None = None


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes")


def _int(value: str | None) -> int | None:
    try:
        return int((value or "").strip())
    except ValueError:
        return None


def features(keys: Mapping[str, str | None], readonly: set[str], config: OcppChargerConfig) -> Features:
    """The box's features from its configuration keys (matched case-insensitively, as boxes vary)."""
    lower = {k.lower(): v for k, v in keys.items()}
    units = (lower.get("chargingscheduleallowedchargingrateunit") or "").replace(" ", "").split(",")
    announced_w = "Power" in units or "W" in units
    rate: Literal["A", "W"] = config.charging_rate_unit or (
        "A" if "Current" in units or not announced_w else "W"
    )
    switch = lower.get("connectorswitch3to1phasesupported") or lower.get("acphaseswitchingsupported")
    phase_switching = config.phase_switching if config.phase_switching is not None else _flag(switch)
    sampled = tuple(
        s.strip(" '") for s in (lower.get("metervaluessampleddata") or "").split(",") if s.strip(" '")
    )
    profiles = (lower.get("supportedfeatureprofiles") or "").replace(" ", "").split(",")
    return Features(
        rate_unit=rate,
        phase_switching=phase_switching,
        max_stack_level=_int(lower.get("chargeprofilemaxstacklevel")),
        connectors=_int(lower.get("numberofconnectors")),
        sampled_data=sampled,
        sampled_data_readonly="metervaluessampleddata" in {k.lower() for k in readonly},
        remote_trigger="RemoteTrigger" in profiles if "supportedfeatureprofiles" in lower else True,
        plug_and_charge_id=lower.get("plugandchargeidentifier"),
    )


class ConnectorDriver(Protocol):
    """What the station tells the driver of one of its connectors."""

    def changed(self) -> None:
        """Something the driver reads changed (wake its runner)."""
        ...

    async def restore(self) -> None:
        """The box was (re)connected or rebooted and set up: write again what was asked for."""
        ...

    async def status_notified(self) -> None:
        """A StatusNotification for the connector was answered (e.g. start a transaction remotely)."""
        ...


class Station:
    """A configured charge point identity; :meth:`attach` serves one websocket connection of it."""

    def __init__(
        self,
        identity: str,
        config: OcppChargerConfig,
        settings: OcppSettings,
        *,
        log: Any,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self.identity = identity
        self.config = config
        self.settings = settings
        self.log = log
        self.clock = clock
        self.endpoint: OcppEndpoint | None = None
        self.remote: str | None = None
        self.connected_at: datetime | None = None
        self.disconnected_at: datetime | None = None
        self.boot: Boot | None = None
        self.features = Features(rate_unit=config.charging_rate_unit or "A")
        self.configured = False
        """Set up since the last connect/boot (the drivers' state has been restored)."""
        self.authorized: tuple[str, datetime] | None = None
        """The last idTag the box asked to authorise, and when."""
        self.connectors: dict[int, Connector] = {}
        self.drivers: dict[int, ConnectorDriver] = {}
        self._booted = asyncio.Event()
        self.on_change: Callable[[], None] = lambda: None
        """Called when something shown in ``chargebus/ocpp/stations`` changed."""

    # --- what drivers use ----------------------------------------------------------------------------

    @property
    def online(self) -> bool:
        return self.endpoint is not None

    def connector(self, number: int) -> Connector:
        return self.connectors.setdefault(number, Connector())

    def attach_driver(self, number: int, driver: ConnectorDriver) -> None:
        self.drivers[number] = driver

    async def call(self, payload: Any) -> Any:
        endpoint = self.endpoint
        if endpoint is None:
            raise DeviceError(f"charge point {self.identity} is not connected")
        return await endpoint.call(payload)

    def _changed(self, connector: int | None = None) -> None:
        targets = (
            self.drivers.values()
            if connector is None
            else [d for n, d in self.drivers.items() if n == connector]
        )
        for driver in targets:
            driver.changed()
        self.on_change()

    # --- the connection ------------------------------------------------------------------------------

    async def attach(self, connection: Connection, remote: str | None) -> None:
        """Serve ``connection`` until it closes; a newer connection of the same box replaces it."""
        endpoint = OcppEndpoint(
            self.identity,
            connection,
            {
                "BootNotification": self.on_boot_notification,
                "Heartbeat": self.on_heartbeat,
                "StatusNotification": self.on_status_notification,
                "MeterValues": self.on_meter_values,
                "Authorize": self.on_authorize,
                "StartTransaction": self.on_start_transaction,
                "StopTransaction": self.on_stop_transaction,
                "DataTransfer": self.on_data_transfer,
                "FirmwareStatusNotification": self.on_firmware_status,
                "DiagnosticsStatusNotification": self.on_diagnostics_status,
            },
            after={"BootNotification": self.after_boot, "StatusNotification": self.after_status},
            timeout_s=self.settings.response_timeout_s,
        )
        self.endpoint, self.remote, self.configured = endpoint, remote, False
        self.connected_at = self.clock()
        self.log.info("charge point connected", remote=remote)
        self._booted.clear()
        self._changed()
        setup = asyncio.create_task(self._setup_loop(endpoint), name=f"ocpp-setup-{self.identity}")
        try:
            await endpoint.serve()
        finally:
            await cancel_and_wait([setup])
            if self.endpoint is endpoint:
                self.endpoint, self.configured = None, False
                self.disconnected_at = self.clock()
                self.log.warning("charge point disconnected", remote=remote)
                self._changed()

    async def _setup_loop(self, endpoint: OcppEndpoint) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._booted.wait(), BOOT_GRACE_S)
        while self.endpoint is endpoint:
            self._booted.clear()
            try:
                await self.setup()
            except DeviceError as error:
                self.log.warning("charge point setup failed", error=describe_error(error))
            await self._booted.wait()  # a BootNotification on the same connection: the box rebooted

    async def _change_configuration(self, key: str, value: str) -> bool:
        result = await self.call(call.ChangeConfiguration(key=key, value=value))
        accepted = result.status in ("Accepted", "RebootRequired")
        if not accepted:
            self.log.info("configuration not taken", key=key, value=value, status=result.status)
        return bool(accepted)

    async def setup(self) -> None:
        """Learn the box's features and configure its meter values; then the drivers restore their state."""
        answer = await self.call(call.GetConfiguration())
        keys: dict[str, str | None] = {}
        readonly: set[str] = set()
        for item in answer.configuration_key or []:
            if isinstance(item, dict) and isinstance(item.get("key"), str):
                keys[item["key"]] = item.get("value") if isinstance(item.get("value"), str) else None
                if item.get("readonly"):
                    readonly.add(item["key"])
        self.features = features(keys, readonly, self.config)
        wanted = list(self.config.meter_values or DESIRED_MEASURANDS)
        if not self.features.sampled_data_readonly and not await self._change_configuration(
            "MeterValuesSampledData", ",".join(wanted)
        ):
            accepted = [m for m in wanted if await self._change_configuration("MeterValuesSampledData", m)]
            if accepted:
                await self._change_configuration("MeterValuesSampledData", ",".join(accepted))
        await self._change_configuration("MeterValueSampleInterval", str(self.config.meter_interval_s))
        if self.features.remote_trigger:
            for number in sorted(self.drivers):
                for message in ("StatusNotification", "MeterValues"):
                    try:
                        await self.call(call.TriggerMessage(requested_message=message, connector_id=number))
                    except DeviceError as error:
                        self.log.info("trigger not taken", message=message, error=describe_error(error))
        for driver in self.drivers.values():
            await driver.restore()
        self.configured = True
        self.log.info(
            "charge point set up",
            rate_unit=self.features.rate_unit,
            phase_switching=self.features.phase_switching,
            sampled=",".join(self.features.sampled_data),
        )
        self._changed()

    # --- calls from the charge point -----------------------------------------------------------------

    async def on_boot_notification(
        self, charge_point_vendor: str, charge_point_model: str, **extra: Any
    ) -> call_result.BootNotification:
        rebooted = self.boot is not None
        self.boot = Boot(
            vendor=charge_point_vendor,
            model=charge_point_model,
            serial=extra.get("charge_point_serial_number") or extra.get("charge_box_serial_number"),
            firmware=extra.get("firmware_version"),
            at=self.clock(),
        )
        # A reboot ends every transaction and forgets every charging profile.
        for connector in self.connectors.values():
            connector.transaction_id, connector.id_tag = None, None
            connector.meter.stopped()
        self.configured = False
        self.log.info(
            "boot notification", vendor=charge_point_vendor, model=charge_point_model, rebooted=rebooted
        )
        self._changed()
        return call_result.BootNotification(
            current_time=ocpp_time(self.clock()),
            interval=self.settings.heartbeat_s,
            status=RegistrationStatus.accepted,
        )

    async def after_boot(self, **_: Any) -> None:
        self._booted.set()

    async def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=ocpp_time(self.clock()))

    async def on_status_notification(
        self, connector_id: int, error_code: str, status: str, **extra: Any
    ) -> call_result.StatusNotification:
        at = parse_time(extra.get("timestamp"))
        if connector_id == 0:
            # The whole box: only a fault matters (it concerns every connector).
            for number in self.drivers:
                if status == "Faulted" or self.connector(number).status == "Faulted":
                    self._set_status(
                        number, status if status == "Faulted" else "Available", error_code, extra, at
                    )
            return call_result.StatusNotification()
        connector = self.connector(connector_id)
        if at is not None and connector.status_at is not None and at < connector.status_at:
            self.log.debug("older status ignored", connector=connector_id, status=status)
            return call_result.StatusNotification()
        self._set_status(connector_id, status, error_code, extra, at)
        return call_result.StatusNotification()

    def _set_status(
        self, number: int, status: str, error_code: str, extra: Mapping[str, Any], at: datetime | None
    ) -> None:
        connector = self.connector(number)
        previous = connector.status
        connector.status, connector.error_code = status, error_code
        connector.info = extra.get("info") or extra.get("vendor_error_code")
        connector.status_received = self.clock()
        connector.status_at = at or connector.status_received
        if status == "Available" and connector.transaction_id is not None:
            # The car is gone and the StopTransaction was lost or is still queued in the box.
            connector.transaction_id, connector.id_tag = None, None
            connector.meter.stopped()
        if status != previous:
            self.log.info("connector status", connector=number, status=status, error_code=error_code)
        self._changed(number)

    async def after_status(self, connector_id: int, **_: Any) -> None:
        driver = self.drivers.get(connector_id)
        if driver is not None:
            await driver.status_notified()

    async def on_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], **extra: Any
    ) -> call_result.MeterValues:
        connector = self.connector(connector_id)
        transaction = extra.get("transaction_id")
        if (
            isinstance(transaction, int)
            and transaction > 0
            and connector.transaction_id is None
            and connector.status in ("Charging", "SuspendedEV", "SuspendedEVSE")
        ):
            connector.transaction_id = transaction  # a transaction started before we were told
        if apply_meter_values(connector.meter, meter_value):
            connector.meter_at = self.clock()
            self._changed(connector_id)
        return call_result.MeterValues()

    async def on_authorize(self, id_tag: str, **_: Any) -> call_result.Authorize:
        self.authorized = (id_tag, self.clock())
        self._changed()
        return call_result.Authorize(id_tag_info={"status": AuthorizationStatus.accepted})

    async def on_start_transaction(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **_: Any
    ) -> call_result.StartTransaction:
        connector = self.connector(connector_id)
        connector.transaction_id = next(_transaction_ids)
        connector.id_tag = id_tag
        if 0 <= meter_start <= 1e12 and "Energy.Active.Import.Register" not in connector.meter.totals:
            connector.meter.totals["Energy.Active.Import.Register"] = meter_start / 1000
        self.log.info("transaction started", connector=connector_id, transaction=connector.transaction_id)
        self._changed(connector_id)
        return call_result.StartTransaction(
            transaction_id=connector.transaction_id,
            id_tag_info={"status": AuthorizationStatus.accepted},
        )

    async def on_stop_transaction(
        self, meter_stop: int, timestamp: str, transaction_id: int, **extra: Any
    ) -> call_result.StopTransaction:
        for number, connector in self.connectors.items():
            if connector.transaction_id == transaction_id:
                if extra.get("transaction_data"):
                    apply_meter_values(connector.meter, extra["transaction_data"])
                connector.transaction_id, connector.id_tag = None, None
                connector.meter.stopped()
                if 0 <= meter_stop <= 1e12:
                    connector.meter.totals["Energy.Active.Import.Register"] = meter_stop / 1000
                self.log.info("transaction stopped", connector=number, transaction=transaction_id)
                self._changed(number)
                break
        else:
            self.log.info("stop of an unknown transaction", transaction=transaction_id)
        return call_result.StopTransaction(id_tag_info={"status": AuthorizationStatus.accepted})

    async def on_data_transfer(self, vendor_id: str, **_: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status="UnknownVendorId")

    async def on_firmware_status(self, **_: Any) -> call_result.FirmwareStatusNotification:
        return call_result.FirmwareStatusNotification()

    async def on_diagnostics_status(self, **_: Any) -> call_result.DiagnosticsStatusNotification:
        return call_result.DiagnosticsStatusNotification()
