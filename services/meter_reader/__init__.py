"""The meter-reader service: polls grid, PV, battery and charge meters over Modbus and publishes readings."""
