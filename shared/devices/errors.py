"""The device layer's error model: every transport turns its failures into these, worded for the user."""

from __future__ import annotations


class DeviceError(Exception):
    """The device did not answer, answered with an error, or did not take a write."""


class DeviceRefused(DeviceError):
    """The device answered and said no (a Modbus exception, an HTTP 4xx): the link itself works."""


class DeviceStale(DeviceError):
    """The value is older than its timeout (a pushed source went quiet), or never arrived."""


def describe_error(error: BaseException) -> str:
    """The message of ``error``, or its type when it has none (a bare ``TimeoutError``)."""
    text = str(error)
    return text if text else type(error).__name__
