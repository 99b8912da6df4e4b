"""The simulated home: physics plus real Modbus servers playing the devices (dev/demo only)."""
