"""The meter-reader service: reads grid, PV, battery and charge meters (Modbus, MQTT, HTTP) and vehicle
sources, and publishes readings."""
