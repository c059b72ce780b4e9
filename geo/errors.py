"""The exceptions the geo package raises, under one base class.

    GeoError
     ├── InvalidSetting      a region, threshold or size is out of range (also a ValueError)
     ├── InvalidAddress      text that is not an IPv4 or IPv6 address (also a ValueError)
     ├── UnknownRegion       a health report for a region the board does not hold (also a KeyError)
     ├── DatabaseUnreadable  a MaxMind database file cannot be opened or is not a City database
     ├── UnsafePath          a path no redirect may carry (also a ValueError); status hint 400
     └── Refused             no valid grant or proxy secret for the path; status hint 403

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


class UnsafePath(GeoError, ValueError):
    """Refuse a media path that could make a redirect point anywhere but a configured edge."""

    status_hint = 400

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"path {path[:80]!r} {reason}")


class Refused(GeoError):
    """Refuse a request whose grant (or proxy secret) does not allow the path.

    `reason` is a short word for metrics (`no_grant`, `bad_proxy_secret`, or the
    signer's reason such as `expired` or `out_of_scope`); `detail` is for the log and
    never holds the grant itself. Every refusal gets the same 403, whatever the reason.
    """

    status_hint = 403

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")
