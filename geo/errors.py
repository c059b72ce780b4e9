"""The exceptions the geo package raises, under one base class.

    GeoError
     ├── InvalidSetting      a region, threshold or size is out of range (also a ValueError)
     ├── InvalidAddress      text that is not an IPv4 or IPv6 address (also a ValueError)
     ├── UnknownRegion       a health report for a region the board does not hold (also a KeyError)
     └── DatabaseUnreadable  a MaxMind database file cannot be opened or is not a City database

Looking a client up never raises: `locate` answers a `Location` of kind DEFAULT
instead, and a database that fails to reload is counted while the old one keeps
serving. These errors surface at start-up (settings, the first database) and to
callers that pass text they have not checked.
"""

from __future__ import annotations


class GeoError(Exception):
    """Base of every error the geo package raises, so callers can catch them in one place."""


class InvalidSetting(GeoError, ValueError):
    """Reject a value the geo package cannot work with, naming it and the accepted range."""

    def __init__(self, name: str, value: object, expected: str) -> None:
        self.name = name
        self.value = value
        self.expected = expected
        super().__init__(f"{name} = {value!r}: expected {expected}")


class InvalidAddress(GeoError, ValueError):
    """Report text offered as a client address that is not an IPv4 or IPv6 address."""

    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__(f"not an IP address: {text!r}")


class UnknownRegion(GeoError, KeyError):
    """Report a region name that the health board was not built with."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)

    def __str__(self) -> str:
        # KeyError's own __str__ shows only the repr of its argument.
        return f"no region named {self.name!r}"


class DatabaseUnreadable(GeoError):
    """Report a MaxMind database file that cannot serve City lookups, and why."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")
