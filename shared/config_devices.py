"""Configuration models of meters and chargers (the devices the meter-reader and actuator drive)."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.config_sources import Setter, Source
from shared.messages import MeterUsage


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModbusConnection(Strict):
    """How to reach a Modbus device: TCP, RTU over TCP through a gateway, or serial RTU/ASCII."""

    protocol: Literal["tcp", "rtuovertcp", "rtu", "ascii"] = "tcp"
    host: str | None = None
    port: int = Field(default=502, ge=1, le=65535)
    device: str | None = None
    """Serial device for rtu/ascii, e.g. /dev/ttyUSB0."""
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    id: int = Field(default=1, ge=0, le=255)
    """Modbus unit id."""
    timeout_s: float = Field(default=1.0, gt=0)


MeterRegisterSource = Literal["holding", "input"]
MeterRegisterType = Literal["int16", "uint16", "int32", "uint32", "float32", "float64"]
REGISTER_WIDTH = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2, "float64": 4}
"""16-bit registers each type occupies."""


def _check_span(address: int, dtype: str) -> None:
    if address + REGISTER_WIDTH[dtype] > 65536:
        raise ValueError(f"a {dtype} at {address} runs past register 65535")


class MeterRegister(Strict):
    """One value of a generic ``type: modbus`` meter: where it lives and how to decode it.

    Value in the unit of the key (W, kWh, A, V, %, kWh) = raw × scale, negated when ``invert`` is set.
    """

    address: int = Field(ge=0, le=65535)
    """0-based register address."""
    source: MeterRegisterSource = "holding"
    """Function code: ``holding`` (3) or ``input`` (4)."""
    type: MeterRegisterType = "uint16"
    word_order: Literal["big", "little"] = "big"
    """``big`` = high word first (the common case); ``little`` = low word first (e.g. Phoenix, some SMA)."""
    scale: float = 1.0
    """E.g. 0.001 for a Wh register feeding a kWh key, 0.1 for deciwatts."""
    invert: bool = False
    """Flip the sign, e.g. for a meter mounted the other way round or an inverter that reports export < 0."""

    @model_validator(mode="after")
    def _fits(self) -> MeterRegister:
        if self.scale == 0 or self.scale != self.scale:
            raise ValueError("scale must be a non-zero number")
        _check_span(self.address, self.type)
        return self


class MeterRegisterMap(Strict):
    """Register map of a generic ``type: modbus`` meter, already in the sign convention of its usage
    (grid > 0 import, pv > 0 production, battery > 0 discharging); ``invert`` where the device differs."""

    power: MeterRegister
    """W."""
    energy: MeterRegister | None = None
    """kWh imported (pv: produced; battery: discharged)."""
    return_energy: MeterRegister | None = None
    """kWh exported (pv: consumed; battery: charged)."""
    currents: list[MeterRegister] | None = Field(default=None, min_length=3, max_length=3)
    """A, L1..L3."""
    voltages: list[MeterRegister] | None = Field(default=None, min_length=3, max_length=3)
    """V, L1..L3."""
    powers: list[MeterRegister] | None = Field(default=None, min_length=3, max_length=3)
    """W, L1..L3, same sign convention as ``power``."""
    soc: MeterRegister | None = None
    """Battery state of charge, %."""
    capacity: MeterRegister | None = None
    """Battery capacity, kWh."""


BatteryControlType = Literal["int16", "uint16", "int32", "uint32", "float32"]
_CONTROL_RANGE = {
    "int16": (-0x8000, 0x7FFF), "uint16": (0, 0xFFFF),
    "int32": (-0x80000000, 0x7FFFFFFF), "uint32": (0, 0xFFFFFFFF),
}  # fmt: skip


class BatteryControlWrite(Strict):
    """One holding-register write of a battery mode: ``value`` encoded as ``type`` at ``address``."""

    address: int = Field(ge=0, le=65535)
    """0-based holding register address."""
    value: float
    """What to write (an integer for the integer types)."""
    source: Literal["holding"] = "holding"
    """Register table; only holding registers are writable."""
    type: BatteryControlType = "uint16"
    word_order: Literal["big", "little"] = "big"
    """``big`` = high word first; ``little`` = low word first."""

    @model_validator(mode="after")
    def _fits(self) -> BatteryControlWrite:
        _check_span(self.address, self.type)
        if not math.isfinite(self.value):
            raise ValueError("value must be a finite number")
        if self.type in _CONTROL_RANGE:
            lo, hi = _CONTROL_RANGE[self.type]
            if self.value != int(self.value) or not lo <= self.value <= hi:
                raise ValueError(f"value {self.value:g} is not a {self.type} ({lo}..{hi})")
        return self


class BatteryControl(Strict):
    """How to put a Modbus battery into evcc's battery modes: the register writes of each mode."""

    normal: list[BatteryControlWrite] = Field(min_length=1)
    """Self-consumption: the battery runs on its own (also the safe fallback)."""
    hold: list[BatteryControlWrite] = Field(min_length=1)
    """No discharging."""
    charge: list[BatteryControlWrite] = Field(min_length=1)
    """Charge from the grid."""
    watchdog_s: float = Field(default=60.0, gt=0)
    """Back to ``normal`` when the optimizer is silent this long (or goes offline)."""


class CustomMeterSources(Strict):
    """Where a ``type: custom`` meter's values come from (units W, kWh, A, V, %, kWh)."""

    power: Source
    energy: Source | None = None
    return_energy: Source | None = None
    currents: list[Source] | None = Field(default=None, min_length=3, max_length=3)
    voltages: list[Source] | None = Field(default=None, min_length=3, max_length=3)
    powers: list[Source] | None = Field(default=None, min_length=3, max_length=3)
    soc: Source | None = None
    capacity: Source | None = None


TemplateParams = dict[str, str | int | float | bool]

MeterType = Literal["sunspec", "sdm", "sdm630", "sdm72", "modbus", "custom"]


class MeterConfig(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    type: MeterType
    """Driver: sunspec (inverter/meter/battery, discovered from register 40000), sdm / sdm630 / sdm72
    (Eastron), modbus (generic, needs ``registers``)."""
    usage: MeterUsage
    title: str | None = None
    modbus: ModbusConnection = Field(default_factory=ModbusConnection)
    interval_s: float = Field(default=1.0, gt=0)
    """Poll interval."""
    capacity_kwh: float | None = Field(default=None, gt=0)
    """Battery capacity when the device does not report it."""
    registers: MeterRegisterMap | None = None
    """Register map, only for ``type: modbus``."""
    battery_control: BatteryControl | None = None
    """Register writes of the battery modes (``usage: battery`` only); makes the battery controllable."""
    sources: CustomMeterSources | None = None
    """MQTT/HTTP sources of ``type: custom`` (or what a ``template`` expands to)."""
    convention: Literal["native", "consumer", "producer"] = "native"
    """``type: custom``: the sign the sources count in — native = already the usage's (grid > 0 import, pv
    > 0 production); consumer = import positive, flipped for pv/battery (a Shelly on the PV feed)."""
    template: str | None = None
    """A device template (docs/devices-meters.md): expands into ``type: custom`` with its sources."""
    params: TemplateParams = Field(default_factory=dict)
    """The template's parameters (``host``, ``topic``, …)."""

    @model_validator(mode="before")
    @classmethod
    def _expand_template(cls, data: Any) -> Any:
        from shared.devices.templates import expand_meter

        return expand_meter(data)

    @model_validator(mode="after")
    def _consistent(self) -> MeterConfig:
        if self.battery_control is not None and self.usage is not MeterUsage.BATTERY:
            raise ValueError(f"battery_control is only for usage battery, not {self.usage}")
        if self.type == "modbus" and self.registers is None:
            raise ValueError("type modbus needs a registers map")
        if self.type != "modbus" and self.registers is not None:
            raise ValueError(f"registers are only for type modbus, not {self.type}")
        if (self.type == "custom") != (self.sources is not None):
            raise ValueError("type custom needs sources (power, …), and only type custom takes them")
        if self.type == "custom":
            if self.battery_control is not None:
                raise ValueError("battery_control needs a Modbus battery")
            return self
        if self.modbus.protocol in ("tcp", "rtuovertcp") and not self.modbus.host:
            raise ValueError(f"modbus.host is required for protocol {self.modbus.protocol}")
        if self.modbus.protocol in ("rtu", "ascii") and not (self.modbus.device or self.modbus.host):
            raise ValueError(
                f"{self.modbus.protocol} needs modbus.device (e.g. /dev/ttyUSB0) or a gateway modbus.host"
            )
        return self


class VehicleSources(Strict):
    """A vehicle's values from MQTT topics or HTTP endpoints (e.g. an OEM bridge such as TeslaMate or
    evcc's own vehicle API relayed to MQTT): SoC %, range km, odometer km."""

    soc: Source
    range: Source | None = None
    odometer: Source | None = None


class FailsafeConfig(Strict):
    """What the actuator does when commands stop arriving or the optimizer goes offline."""

    mode: Literal["disable", "current"] = "disable"
    current_a: float = Field(default=6.0, ge=0)
    """Safe current for mode ``current``."""
    timeout_s: float = Field(default=60.0, gt=0)
    """No valid command for this long → failsafe."""


ChargerRegisterSource = Literal["holding", "input", "coil", "discrete"]
ChargerRegisterType = Literal["uint16", "int16", "uint32", "int32", "float32", "float64", "string"]


class ChargerRegister(Strict):
    """One value of a generic Modbus charger: where it lives and how to decode it."""

    address: int = Field(ge=0, le=65535)
    """0-based register (or coil) address."""
    source: ChargerRegisterSource = "holding"
    type: ChargerRegisterType = "uint16"
    word_order: Literal["big", "little"] = "big"
    """``big`` = high word first (the common case); ``little`` = low word first."""
    scale: float = 1.0
    """Value in the unit of the key (A, W, kWh, V, %) = raw × scale."""
    length: int = Field(default=1, ge=1, le=64)
    """Registers of a ``string`` value."""

    @model_validator(mode="after")
    def _scale_nonzero(self) -> ChargerRegister:
        if self.scale == 0:
            raise ValueError("scale must not be 0")
        return self


class ChargerStatusRegister(ChargerRegister):
    """Vehicle status: numeric codes mapped to A–F, or (``type: string``) IEC letters parsed as evcc does."""

    map: dict[int, Literal["A", "B", "C", "D", "E", "F"]] | None = None


class ChargerEnableRegister(ChargerRegister):
    """Charger enable as a register or coil; the values written/read for on and off."""

    on: int = 1
    off: int = 0


class ChargerRegisterMap(Strict):
    """Register map of a generic ``type: modbus`` charger. Without ``enable`` a current of 0 disables it."""

    status: ChargerStatusRegister
    current: ChargerRegister
    """Writable max current (A after scale)."""
    enable: ChargerEnableRegister | None = None
    phases: ChargerRegister | None = None
    """Writable 1/3 register → the charger supports 1p/3p switching."""
    power: ChargerRegister | None = None
    """W; without it power is estimated from offered current."""
    energy: ChargerRegister | None = None
    """kWh (meter reading)."""
    currents: list[ChargerRegister] | None = Field(default=None, min_length=3, max_length=3)
    """A, L1..L3."""
    voltages: list[ChargerRegister] | None = Field(default=None, min_length=3, max_length=3)
    """V, L1..L3."""
    soc: ChargerRegister | None = None
    """Vehicle SoC %."""
    identifier: ChargerRegister | None = None
    """RFID / vehicle identifier (``type: string``)."""


IDENTITY_PATTERN = r"^[A-Za-z0-9_.:*+@|-]{1,48}$"
"""An OCPP charge point identity (``ws://<host>:<port>/<identity>``): the 1.6 CiString48 of the station id,
without characters that would need escaping in a URL path."""


class OcppChargerConfig(Strict):
    """How the central system drives one OCPP 1.6J charge point connector (``type: ocpp``)."""

    identity: str = Field(pattern=IDENTITY_PATTERN)
    """The charge point's identity, the last path segment of the URL it connects to."""
    connector: int = Field(default=1, ge=1, le=16)
    password_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    """Environment variable holding the basic-auth password (the charge point's AuthorizationKey, security
    profile 1); set = the charge point must authenticate. Secrets never go into the file."""
    tls_only: bool = False
    """Accept this charge point only over the central system's TLS listener (``wss``)."""
    remote_start: bool = False
    """The box waits for an authorisation on plug-in: start its transaction with RemoteStartTransaction
    (free-vend boxes start on their own)."""
    remote_stop: bool = False
    """Also end the transaction with RemoteStopTransaction on disable (boxes that ignore a 0 A profile)."""
    id_tag: str = Field(default="chargebus", min_length=1, max_length=20)
    """idTag sent with RemoteStartTransaction."""
    charging_rate_unit: Literal["A", "W"] | None = None
    """Unit of the charging profiles; unset = what the box announces
    (ChargingScheduleAllowedChargingRateUnit), else A."""
    phase_switching: bool | None = None
    """1p/3p switching through numberPhases; unset = what the box announces
    (ConnectorSwitch3to1PhaseSupported)."""
    tx_profile: bool = False
    """During a transaction write the limit as a TxProfile for it (boxes that apply a changed
    TxDefaultProfile only to the next transaction); otherwise always the TxDefaultProfile."""
    profile_validity_s: float = Field(default=300.0, ge=0)
    """Each charging profile ends this long after it was written (``validTo``) and is re-written at half of
    it, so a box left without chargebus falls back to its own default; 0 = profiles never end."""
    meter_interval_s: int = Field(default=10, ge=1, le=3600)
    """MeterValueSampleInterval configured on the box."""
    meter_values: list[str] | None = Field(default=None, max_length=16)
    """MeterValuesSampledData to configure; unset = power, energy, currents, voltages, offered current, SoC
    (each the box accepts)."""
    stack_level: int | None = Field(default=None, ge=0, le=100)
    """Stack level of the profiles; unset = the box's ChargeProfileMaxStackLevel (else 0)."""


class OcppTls(Strict):
    cert_file: str
    key_file: str
    port: int = Field(default=8888, ge=0, le=65535)
    """Port of the ``wss`` listener (0 = a free one)."""


class OcppSettings(Strict):
    """The charger-actuator's OCPP 1.6J central system (started when a charger has ``type: ocpp``)."""

    host: str = "0.0.0.0"
    port: int = Field(default=8887, ge=0, le=65535)
    """``ws://<host>:<port>/<identity>``, 8887 as in evcc (0 = a free one)."""
    tls: OcppTls | None = None
    unknown: Literal["park", "reject"] = "park"
    """A charge point with an identity nobody configured: ``park`` keeps its connection, answers its
    BootNotification with Pending and shows it in ``chargebus/ocpp/stations``; ``reject`` refuses it."""
    heartbeat_s: int = Field(default=60, ge=5, le=86400)
    """Heartbeat interval given to charge points in the BootNotification answer."""
    response_timeout_s: float = Field(default=15.0, gt=0, le=120)
    """How long a request to a charge point waits for its answer."""


ChargeLetter = Literal["A", "B", "C", "D", "E", "F"]


class CustomChargerSources(Strict):
    """Where a ``type: custom`` charger's values come from (units A, W, kWh, V, %)."""

    status: Source
    """IEC 61851 letter (A–F, C1/D1 as evcc reads them), or a device code translated by ``status_map``."""
    status_map: dict[str, ChargeLetter] | None = Field(default=None, max_length=32)
    """Device code (as text, e.g. go-e's ``car`` ``"2"``) → letter; a code not in the map is a fault."""
    enabled: Source | None = None
    """true/false (or 1/0); unset = enabled while ``current`` > 0."""
    current: Source | None = None
    """The current limit the device holds (A)."""
    phases: Source | None = None
    """Phases switched to (1/3), through ``phases_map`` when the device counts otherwise."""
    phases_map: dict[str, Literal[1, 3]] | None = Field(default=None, max_length=8)
    power: Source | None = None
    energy: Source | None = None
    currents: list[Source] | None = Field(default=None, min_length=3, max_length=3)
    voltages: list[Source] | None = Field(default=None, min_length=3, max_length=3)
    soc: Source | None = None
    identifier: Source | None = None


class CustomChargerSetters(Strict):
    """How a ``type: custom`` charger is told what to do."""

    enable: Setter
    """Written true/false (``format`` turns them into the device's words)."""
    current: Setter
    """Written in A."""
    phases: Setter | None = None
    """Written 1 or 3: the charger switches phases."""


ChargerType = Literal["alfen", "phoenix", "wallbe", "evsedin", "abl", "modbus", "demo", "ocpp", "custom"]
CHARGER_UNIT_IDS: dict[str, int] = {"phoenix": 255, "wallbe": 255}
"""Modbus unit id a charger type listens on when ``modbus.id`` is left out (else 1)."""


class ChargerConfig(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    type: ChargerType
    """Driver: alfen (Eve), phoenix (EV-ETH), wallbe (EV-ETH, milli current), evsedin (SimpleEVSE), abl (eMH),
    modbus (generic, needs ``registers``), demo (the simulator's wallbox), ocpp (an OCPP 1.6J charge point
    connecting to the central system)."""
    modbus: ModbusConnection = Field(default_factory=ModbusConnection)
    phases: Literal[1, 3] = 3
    """Physical phases wired to the charger."""
    interval_s: float = Field(default=1.0, gt=0)
    """Status poll interval."""
    failsafe: FailsafeConfig = Field(default_factory=FailsafeConfig)
    registers: ChargerRegisterMap | None = None
    """Register map, only for ``type: modbus``."""
    millicurrent: bool | None = None
    """phoenix/wallbe: max current register in 0.1 A; unset = detect (register value ≥ 60)."""
    ocpp: OcppChargerConfig | None = None
    """The charge point of ``type: ocpp``."""
    sources: CustomChargerSources | None = None
    """``type: custom``: where its values come from (MQTT/HTTP)."""
    setters: CustomChargerSetters | None = None
    """``type: custom``: how it is told what to do."""
    min_current_a: float = Field(default=6.0, ge=0, le=80)
    """``type: custom``: the device refuses enabled currents below this."""
    current_step_a: float = Field(default=1.0, ge=0, le=1)
    """``type: custom``: resolution of the current setter (0 = any)."""
    template: str | None = None
    """A device template (docs/devices-chargers.md): expands into ``type: custom``."""
    params: TemplateParams = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _device_unit_id(cls, data: Any) -> Any:
        """A left-out unit id means the device's usual one (Phoenix EV-ETH listens on 255); a template
        expands into its ``type: custom`` sources and setters."""
        from shared.devices.templates import expand_charger

        data = expand_charger(data)
        if not isinstance(data, dict) or data.get("type") not in CHARGER_UNIT_IDS:
            return data
        modbus = data.get("modbus") or {}
        if isinstance(modbus, dict) and "id" not in modbus:
            return {**data, "modbus": {**modbus, "id": CHARGER_UNIT_IDS[data["type"]]}}
        return data

    @model_validator(mode="after")
    def _registers_match_type(self) -> ChargerConfig:
        if self.type == "modbus" and self.registers is None:
            raise ValueError("type modbus needs a registers map")
        if self.type != "modbus" and self.registers is not None:
            raise ValueError(f"registers are only for type modbus, not {self.type}")
        if (self.type == "ocpp") != (self.ocpp is not None):
            raise ValueError("type ocpp needs an ocpp block (identity, …), and only type ocpp takes one")
        if (self.type == "custom") != (self.sources is not None and self.setters is not None):
            raise ValueError("type custom needs sources and setters, and only type custom takes them")
        return self
