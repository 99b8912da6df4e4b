"""The centre of a fleet: ``chargebus fleet-gateway`` serves ``/v2`` for every site of a central broker.

Any number of instances run side by side on one PostgreSQL; MQTT 5 shared subscriptions hand each
message to exactly one of them (DESIGN §7, docs/scaling.md).
"""
