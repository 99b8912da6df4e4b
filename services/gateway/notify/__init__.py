"""Notifications like evcc's messaging: events from the bus, templated texts, delivered through Apprise."""
