"""The charger-actuator service: drives wallboxes (Modbus, MQTT/HTTP, OCPP 1.6J as a central system) and
applies the optimizer's commands."""
