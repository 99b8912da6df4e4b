"""The one device layer every driver stands on (meter-reader, charger-actuator, vehicle sources, simulator).

- :mod:`~shared.devices.errors` — what can go wrong talking to a device, as one error model.
- :mod:`~shared.devices.codec` — Modbus register words ↔ numbers and text (types, word orders, SunSpec
  sentinels), and how many registers to read in one request.
- :mod:`~shared.devices.modbus` — Modbus TCP, RTU over TCP and serial RTU/ASCII links; devices on one serial
  line or gateway share one link.
- :mod:`~shared.devices.source` — values with a timestamp, a timeout after which they are stale, and the
  retry backoff of a device that does not answer.

Drivers keep only what is specific to a device: register maps and templates as data.
"""
