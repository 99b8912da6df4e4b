"""The ``type: ocpp`` charger: one connector of an OCPP 1.6J charge point, driven through charging profiles.

Reads come from what the box reported (StatusNotification, MeterValues, transactions); writes are one
SetChargingProfile per decision: the limit in A (or W, where the box takes only power), ``numberPhases``
for 1p/3p switching, as the connector's TxDefaultProfile — or, with ``tx_profile``, as a TxProfile of the
running transaction. A disable is a 0 A profile; an enable on a box that waits for an authorisation also
starts the transaction with RemoteStartTransaction, and ``remote_stop`` ends it on disable.

Failsafe: when the box allows two stack levels, a permanent TxDefaultProfile at level 0 holds the charger's
failsafe limit (0 A for ``failsafe.mode: disable``); the live profile above it ends ``profile_validity_s``
after it was written and is re-written at half of that (the heartbeat), so a box that lost chargebus
falls back to the failsafe limit on its own. A disable never ends (the safe state needs no refresh).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ocpp.v16 import call

from services.charger_actuator.driver import Capabilities, ChargerReading
from services.charger_actuator.ocpp import measurands as m
from services.charger_actuator.ocpp.station import Station, ocpp_time
from shared.config_devices import ChargerConfig, OcppChargerConfig
from shared.devices.errors import DeviceError, DeviceRefused, describe_error

FALLBACK_PROFILE_ID = 1
LIVE_PROFILE_ID = 2
TX_PROFILE_ID = 3
SETTLE_S = 30.0
"""After a write the box's status may lag (it reports on its next notification): until then the reading
shows what was written, so the actuator does not take the lag for a disagreement and write again."""
REPEAT_S = 1.0
"""An identical profile written less than this ago is not sent again (the enable after a current change)."""
REMOTE_START_RETRY_S = 30.0
AUTHORIZE_VALID_S = 300.0
"""An Authorize this recent identifies the vehicle until the transaction brings its own idTag."""
WAITING = ("Preparing", "SuspendedEV", "SuspendedEVSE", "Finishing")


@dataclass(frozen=True)
class Written:
    """A profile the box accepted."""

    limit_a: float
    phases: int
    transaction: int | None
    """Transaction of a TxProfile; None for the TxDefaultProfile."""
    at: datetime


def _none_flowing(currents: tuple[float, float, float] | None) -> tuple[float, float, float] | None:
    return None if currents is None else (0.0, 0.0, 0.0)


class OcppCharger:
    def __init__(self, config: ChargerConfig, station: Station, *, voltage_v: float = 230.0) -> None:
        assert config.ocpp is not None  # guaranteed by ChargerConfig's validation
        self.config = config
        self.ocpp: OcppChargerConfig = config.ocpp
        self.station = station
        self.number = config.ocpp.connector
        self.voltage_v = voltage_v
        self.log = station.log.bind(connector=self.number)
        self._wake: Callable[[], None] = lambda: None
        self._lock = asyncio.Lock()
        self._enabled = False
        self._current_a = 6.0
        self._phases = 0
        """Asked for by the actuator; restored after a reconnect or reboot."""
        self._asked = False
        self._default: Written | None = None
        self._tx: Written | None = None
        self._remote_start_at: datetime | None = None
        station.attach_driver(self.number, self)

    # --- ChargerDriver ---------------------------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        validity = self.ocpp.profile_validity_s
        return Capabilities(
            phase_switching=self.station.features.phase_switching and self.config.phases == 3,
            current_step_a=0.1,
            heartbeat_s=validity / 2 if validity > 0 else None,
            has_meter=m.POWER in self.station.features.sampled_data
            or self.station.connector(self.number).meter.total(m.POWER) is not None,
        )

    @property
    def address(self) -> str:
        return f"ocpp://{self.station.identity}#{self.number}"

    def watch(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    def close(self) -> None:
        """The connection belongs to the central system."""

    async def read(self) -> ChargerReading:
        station = self.station
        if not station.online:
            since = station.disconnected_at
            detail = f" since {since.isoformat(timespec='seconds')}" if since else ""
            raise DeviceError(f"charge point {station.identity} is not connected{detail}")
        connector = station.connector(self.number)
        if connector.status is None:
            raise DeviceError(f"charge point {station.identity}: no status of connector {self.number} yet")
        status, fault = m.charge_status(connector.status, connector.error_code, connector.info)
        written = self._in_force(connector.transaction_id)
        now = station.clock()
        settling = written is not None and (now - written.at).total_seconds() < SETTLE_S
        enabled = m.enabled_from_status(connector.status)
        if settling or enabled is None:
            offered = connector.meter.total(m.OFFERED)
            enabled = written.limit_a > 0 if written is not None else offered is not None and offered > 0
        meter = connector.meter
        # The box stopped drawing after its last sample (it samples every few seconds): nothing flows now.
        flows = connector.status == "Charging" or (
            connector.meter_at is not None
            and connector.status_received is not None
            and connector.meter_at > connector.status_received
        )
        return ChargerReading(
            status=status,
            enabled=enabled,
            current_a=written.limit_a if written is not None else None,
            phases=written.phases if written is not None and written.phases in (1, 3) else None,
            power_w=meter.total(m.POWER) if flows or meter.total(m.POWER) is None else 0.0,
            energy_kwh=meter.total(m.ENERGY),
            currents_a=meter.per_phase(m.CURRENT) if flows else _none_flowing(meter.per_phase(m.CURRENT)),
            voltages_v=meter.per_phase(m.VOLTAGE),
            identifier=self._identifier(connector.id_tag, connector.status, now),
            soc_pct=meter.total(m.SOC),
            fault=fault,
        )

    async def set_current(self, current_a: float) -> float:
        self._current_a, self._asked = current_a, True
        if self._enabled:
            await self._apply()
        return current_a

    async def set_enabled(self, enabled: bool) -> None:
        self._enabled, self._asked = enabled, True
        await self._apply()
        if enabled:
            await self._remote_start_if_waiting()
        elif self.ocpp.remote_stop:
            await self._remote_stop()

    async def set_phases(self, phases: int) -> None:
        """Taken with the next profile (``numberPhases``); the actuator disables before switching."""
        if not self.capabilities.phase_switching:
            raise DeviceError("this charge point cannot switch phases")
        self._phases, self._asked = phases, True

    # --- from the station ------------------------------------------------------------------------------

    def changed(self) -> None:
        self._wake()

    async def restore(self) -> None:
        """Re-install the failsafe profile and what was asked for (a reboot forgot both)."""
        self._default = self._tx = None
        try:
            await self._install_fallback()
            if self._asked:
                await self._apply()
                if self._enabled:
                    await self._remote_start_if_waiting()
        except DeviceError as error:
            self.log.warning("restoring the charging profile failed", error=describe_error(error))
        self._wake()

    async def status_notified(self) -> None:
        try:
            await self._remote_start_if_waiting()
        except DeviceError as error:
            self.log.warning("remote start failed", error=describe_error(error))

    # --- profiles --------------------------------------------------------------------------------------

    def _in_force(self, transaction: int | None) -> Written | None:
        if self._tx is not None and transaction is not None and self._tx.transaction == transaction:
            return self._tx
        return self._default

    def _identifier(self, id_tag: str | None, status: str, now: datetime) -> str | None:
        if id_tag:
            return id_tag
        authorized = self.station.authorized
        if authorized and status in WAITING and (now - authorized[1]).total_seconds() < AUTHORIZE_VALID_S:
            return authorized[0]
        return None

    def _live_level(self) -> int:
        if self.ocpp.stack_level is not None:
            return self.ocpp.stack_level
        top = self.station.features.max_stack_level
        return 1 if top is None or top >= 1 else 0

    def _limit(self, current_a: float, phases: int) -> float:
        """The schedule limit: A with one decimal (evcc truncates), or W for boxes that take power only."""
        if self.station.features.rate_unit == "W":
            return float(math.floor(self.voltage_v * current_a * (phases or self.config.phases)))
        return math.floor(current_a * 10 + 1e-6) / 10

    def _profile(
        self, profile_id: int, level: int, limit_a: float, phases: int, transaction: int | None, now: datetime
    ) -> dict[str, Any]:
        period: dict[str, Any] = {"start_period": 0, "limit": self._limit(limit_a, phases)}
        if phases in (1, 3) and self.station.features.rate_unit == "A":
            period["number_phases"] = phases
        profile: dict[str, Any] = {
            "charging_profile_id": profile_id,
            "stack_level": level,
            "charging_profile_purpose": "TxProfile" if transaction is not None else "TxDefaultProfile",
            "charging_profile_kind": "Absolute",
            "charging_schedule": {
                "charging_rate_unit": self.station.features.rate_unit,
                "charging_schedule_period": [period],
                "start_schedule": ocpp_time(now - timedelta(minutes=1)),
            },
        }
        if transaction is not None:
            profile["transaction_id"] = transaction
        validity = self.ocpp.profile_validity_s
        if validity > 0 and limit_a > 0 and level > 0:
            profile["valid_to"] = ocpp_time(now + timedelta(seconds=validity))
        return profile

    async def _send_profile(self, profile: dict[str, Any]) -> None:
        result = await self.station.call(
            call.SetChargingProfile(connector_id=self.number, cs_charging_profiles=profile)
        )
        if result.status != "Accepted":
            raise DeviceRefused(f"charge point {self.station.identity}: SetChargingProfile {result.status}")

    async def _install_fallback(self) -> None:
        if self._live_level() == 0:
            return
        failsafe = self.config.failsafe
        limit = failsafe.current_a if failsafe.mode == "current" else 0.0
        await self._send_profile(self._profile(FALLBACK_PROFILE_ID, 0, limit, 0, None, self.station.clock()))

    async def _apply(self) -> None:
        """Write what was asked for as one profile (skipped when the box holds exactly that already)."""
        async with self._lock:
            limit = self._current_a if self._enabled else 0.0
            transaction = self.station.connector(self.number).transaction_id if self.ocpp.tx_profile else None
            now = self.station.clock()
            last = self._tx if transaction is not None else self._default
            if (
                last is not None
                and last.limit_a == limit
                and last.phases == self._phases
                and last.transaction == transaction
                and (now - last.at).total_seconds() < REPEAT_S
            ):
                return
            profile_id = TX_PROFILE_ID if transaction is not None else LIVE_PROFILE_ID
            await self._send_profile(
                self._profile(profile_id, self._live_level(), limit, self._phases, transaction, now)
            )
            written = Written(limit, self._phases, transaction, now)
            if transaction is None:
                self._default = written
            else:
                self._tx = written

    async def _remote_start_if_waiting(self) -> None:
        connector = self.station.connector(self.number)
        now = self.station.clock()
        if (
            not self.ocpp.remote_start
            or not self._enabled
            or connector.transaction_id is not None
            or connector.status not in WAITING
            or (
                self._remote_start_at is not None
                and (now - self._remote_start_at).total_seconds() < REMOTE_START_RETRY_S
            )
        ):
            return
        self._remote_start_at = now
        result = await self.station.call(
            call.RemoteStartTransaction(id_tag=self.ocpp.id_tag, connector_id=self.number)
        )
        self.log.info("remote start", status=result.status)
        if result.status != "Accepted":
            raise DeviceRefused(
                f"charge point {self.station.identity}: RemoteStartTransaction {result.status}"
            )

    async def _remote_stop(self) -> None:
        transaction = self.station.connector(self.number).transaction_id
        if transaction is None:
            return
        result = await self.station.call(call.RemoteStopTransaction(transaction_id=transaction))
        self.log.info("remote stop", status=result.status, transaction=transaction)
        if result.status != "Accepted":
            raise DeviceRefused(
                f"charge point {self.station.identity}: RemoteStopTransaction {result.status}"
            )
