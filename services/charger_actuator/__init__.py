"""The charger-actuator service: drives wallboxes over Modbus and applies the optimizer's commands."""
