"""The common library of the chargebus services: bus client, contracts, state schema, config, logging."""

__version__ = "0.1.0"
