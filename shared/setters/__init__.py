"""The writable keys: their value types (:mod:`.values`), addresses (:mod:`.address`) and the one table
(:mod:`.table`) that the owners, the gateway's REST setters and the MQTT ``/set`` handlers share."""
