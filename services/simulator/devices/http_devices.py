"""Devices that speak HTTP, in their vendors' formats, fed by the home's physics.

- ``goe``: a go-e Charger's local HTTP API v2 — ``GET /api/status[?filter=k1,k2]`` with ``car`` (1 idle,
  2 charging, 3 waiting for the car, 4 complete), ``amp``, ``frc`` (0 neutral, 1 off, 2 on), ``psm`` (1 = one
  phase, 2 = three), ``alw``, ``nrg`` (U L1–L3 N in V, I L1–L3 in A, P L1–L3 N total in W, power factors),
  ``eto``/``wh`` (Wh), ``err``; ``GET /api/set?amp=…&frc=…&psm=…`` answers ``{"amp": true}`` per key, or 400
  with the reason. A neutral ``frc`` charges whenever a car is there, as the box does.
- ``shelly-3em``: a Shelly Pro 3EM — ``GET /rpc/EM.GetStatus?id=0`` (per phase ``a_current``,
  ``a_voltage``, ``a_act_power`` …, ``total_act_power``) and ``/rpc/EMData.GetStatus?id=0`` (``total_act``,
  ``total_act_ret`` in Wh), import positive; other methods 404 as the device answers.
- ``shelly-plug``: a Shelly Plus Plug S — ``GET /rpc/Switch.GetStatus?id=0`` (``apower`` W, ``voltage``,
  ``current``, ``aenergy.total`` Wh, ``output``), ``/rpc/Switch.Set?id=0&on=true|false``.

Every request is recorded in ``requests`` (tests await a write with :meth:`HttpDevice.wait_for`).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.simulator.devices.base import DeviceEnv, Model
from services.simulator.physics import MeterPoint, Simulation
from shared.tasks import cancel_and_wait

Handler = Callable[[Request], Awaitable[JSONResponse]]


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    query: dict[str, str]
    monotonic_s: float


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class HttpDevice:
    """An HTTP device on ``host:port`` (0 = a free port, see :attr:`port` after :meth:`start`)."""

    def __init__(self, env: DeviceEnv, routes: dict[str, Handler], host: str = "127.0.0.1") -> None:
        self.env = env
        self.host = host
        self.port = env.spec.port or _free_port(host)
        self.requests: list[HttpRequest] = []
        self._changed = asyncio.Event()

        def recorded(handler: Handler) -> Handler:
            async def wrapper(request: Request) -> JSONResponse:
                self.requests.append(
                    HttpRequest(
                        request.method, request.url.path, dict(request.query_params), time.monotonic()
                    )
                )
                self._changed.set()
                env.sync()
                return await handler(request)

            return wrapper

        app = Starlette(routes=[Route(path, recorded(h)) for path, h in routes.items()])
        self._server = uvicorn.Server(
            uvicorn.Config(
                app, host=host, port=self.port, log_level="warning", lifespan="off", access_log=False
            )
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server.should_exit = False
        self._task = asyncio.create_task(self._server.serve(), name=f"http-{self.env.spec.name}")
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Shut down as the device going away would: the port closes, open connections too."""
        self._server.should_exit = True
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 5.0)
            except TimeoutError:
                await cancel_and_wait([self._task])
            self._task = None

    async def wait_for(
        self, predicate: Callable[[HttpRequest], bool], *, since: int = 0, timeout: float = 10.0
    ) -> HttpRequest:
        async with asyncio.timeout(timeout):
            while True:
                for item in self.requests[since:]:
                    if predicate(item):
                        return item
                since = len(self.requests)
                self._changed.clear()
                await self._changed.wait()


def _phase_values(m: MeterPoint) -> tuple[list[float], list[float], list[float]]:
    currents = [abs(c) for c in m.currents_a]
    return list(m.voltages_v), currents, list(m.powers_w)


# --- go-e -------------------------------------------------------------------------------------------


class GoeCharger:
    """The go-e's state: what it was told (frc, amp, psm) drives the simulated wallbox."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.frc = 0
        self.amp = 16
        self.psm = 2
        self.apply()

    def apply(self) -> None:
        self.sim.set_current(float(self.amp))
        self.sim.set_phases(1 if self.psm == 1 else 3)
        self.sim.set_enabled(self.frc != 1)

    def car(self) -> int:
        box, car = self.sim.wallbox, self.sim.car
        if car is None:
            return 1
        if box.status == "C":
            return 2
        return 4 if car.full else 3

    def status(self) -> dict[str, Any]:
        box, charge = self.sim.wallbox, self.sim.points["charge"]
        voltages, currents, powers = _phase_values(charge)
        nrg = [*voltages, 0.0, *currents, *powers, 0.0, sum(powers), 1.0, 1.0, 1.0, 0.0]
        return {
            "car": self.car(),
            "amp": self.amp,
            "frc": self.frc,
            "psm": self.psm,
            "alw": self.frc != 1 and self.sim.car is not None,
            "nrg": [round(v, 2) for v in nrg],
            "eto": round(box.energy_kwh * 1000),
            "wh": round(box.session_kwh * 1000, 1),
            "err": 0,
            "trx": None if self.sim.car is None else 0,
            "fwv": "056.2",
        }

    def set(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        rules: dict[str, tuple[Callable[[int], bool], str]] = {
            "amp": (lambda v: 6 <= v <= 32, "amp must be 6..32"),
            "frc": (lambda v: v in (0, 1, 2), "frc must be 0, 1 or 2"),
            "psm": (lambda v: v in (0, 1, 2), "psm must be 0, 1 or 2"),
        }
        answer: dict[str, Any] = {}
        values: dict[str, int] = {}
        for key, text in query.items():
            if key not in rules:
                return 400, {key: "unknown key"}
            try:
                value = int(text)
            except ValueError:
                return 400, {key: "not an integer"}
            check, message = rules[key]
            if not check(value):
                return 400, {key: message}
            values[key] = value
            answer[key] = True
        for key, value in values.items():
            setattr(self, key, value)
        self.apply()
        return 200, answer


class GoeDevice(HttpDevice):
    box: GoeCharger


def goe(env: DeviceEnv) -> GoeDevice:
    box = GoeCharger(env.sim)

    async def status(request: Request) -> JSONResponse:
        data = box.status()
        wanted = request.query_params.get("filter")
        if wanted:
            data = {k: v for k, v in data.items() if k in wanted.split(",")}
        return JSONResponse(data)

    async def set_(request: Request) -> JSONResponse:
        code, body = box.set(dict(request.query_params))
        return JSONResponse(body, status_code=code)

    device = GoeDevice(env, {"/api/status": status, "/api/set": set_})
    device.box = box
    return device


# --- Shelly -----------------------------------------------------------------------------------------


def _no_handler(method: str) -> JSONResponse:
    return JSONResponse({"code": 404, "message": f"No handler for {method}"}, status_code=404)


def shelly_3em(env: DeviceEnv) -> HttpDevice:
    m = env.source

    async def em_status(request: Request) -> JSONResponse:
        if request.query_params.get("id", "0") != "0":
            return _no_handler("EM.GetStatus")
        voltages, currents, powers = _phase_values(m)
        data: dict[str, Any] = {"id": 0}
        for i, phase in enumerate("abc"):
            data |= {
                f"{phase}_current": round(currents[i], 3),
                f"{phase}_voltage": round(voltages[i], 1),
                f"{phase}_act_power": round(powers[i], 1),
                f"{phase}_aprt_power": round(abs(powers[i]), 1),
                f"{phase}_pf": 1.0 if powers[i] else 0.0,
                f"{phase}_freq": round(m.frequency_hz, 1),
            }
        data |= {
            "n_current": None,
            "total_current": round(sum(currents), 3),
            "total_act_power": round(sum(powers), 3),
            "total_aprt_power": round(sum(abs(p) for p in powers), 3),
            "user_calibrated_phase": [],
        }
        return JSONResponse(data)

    async def emdata_status(request: Request) -> JSONResponse:
        if request.query_params.get("id", "0") != "0":
            return _no_handler("EMData.GetStatus")
        data: dict[str, Any] = {"id": 0}
        for i, phase in enumerate("abc"):
            data[f"{phase}_total_act_energy"] = round(m.phase_import_kwh[i] * 1000, 2)
            data[f"{phase}_total_act_ret_energy"] = round(m.phase_export_kwh[i] * 1000, 2)
        data["total_act"] = round(m.import_kwh * 1000, 2)
        data["total_act_ret"] = round(m.export_kwh * 1000, 2)
        return JSONResponse(data)

    return HttpDevice(env, {"/rpc/EM.GetStatus": em_status, "/rpc/EMData.GetStatus": emdata_status})


def shelly_plug(env: DeviceEnv) -> HttpDevice:
    m = env.source
    state = {"on": True}

    async def status(request: Request) -> JSONResponse:
        power = m.power_w if state["on"] else 0.0
        voltage = m.voltages_v[0]
        return JSONResponse(
            {
                "id": 0,
                "source": "init",
                "output": state["on"],
                "apower": round(power, 1),
                "voltage": round(voltage, 1),
                "current": round(abs(power) / voltage, 3) if voltage else 0.0,
                "aenergy": {
                    "total": round(m.import_kwh * 1000, 3),
                    "by_minute": [0.0, 0.0, 0.0],
                    "minute_ts": 0,
                },
                "temperature": {"tC": 31.5, "tF": 88.7},
            }
        )

    async def switch_set(request: Request) -> JSONResponse:
        on = request.query_params.get("on")
        if on not in ("true", "false"):
            return JSONResponse({"code": -103, "message": "Invalid argument 'on'"}, status_code=400)
        was, state["on"] = state["on"], on == "true"
        return JSONResponse({"was_on": was})

    return HttpDevice(env, {"/rpc/Switch.GetStatus": status, "/rpc/Switch.Set": switch_set})


GOE = Model("goe", "wallbox", lambda env: [], source="charge", service=goe)
SHELLY_3EM = Model("shelly-3em", "meter", lambda env: [], source="grid", service=shelly_3em)
SHELLY_PLUG = Model("shelly-plug", "meter", lambda env: [], source="house", service=shelly_plug)
