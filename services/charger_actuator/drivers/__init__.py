"""Wallbox drivers, one module per device model, each with its register map as data."""
