"""The address a listener binds: parsing ``host:port`` as operators write it."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from .units import quote

__all__ = ["Listen"]

_EXAMPLE = "an address such as '0.0.0.0:8080' or '[::1]:8080'"
_BRACKETED = re.compile(r"\[(?P<host>[^\[\]]+)\]:(?P<port>[^:]*)")
_PLAIN = re.compile(r"(?P<host>[^\[\]:]*):(?P<port>[^:]*)")
_PORT = re.compile(r"[0-9]{1,5}")
# Host names and IPv4 literals; anything else (spaces, '*', '/') is a typo.
_HOST_NAME = re.compile(r"[A-Za-z0-9._-]+")
_MAX_PORT = 65535


@dataclass(frozen=True)
class Listen:
    """Where a server binds: a host (name, IPv4 or IPv6 literal) and a TCP port.

    Port 0 asks the kernel for any free port, which is what tests use.
    """

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Listen:
        """Read ``'host:port'``, ``'[::1]:8080'`` or ``':8080'`` (all IPv4 interfaces).

        Raises ValueError saying what was expected. An IPv6 literal needs brackets,
        as in a URL (https://www.rfc-editor.org/rfc/rfc3986#section-3.2.2), because
        otherwise its last group cannot be told from the port.
        """
        stripped = text.strip()
        match = _BRACKETED.fullmatch(stripped) or _PLAIN.fullmatch(stripped)
        if match is None:
            raise ValueError(f"expected {_EXAMPLE}, got {quote(text)}")
        host, port_text = match["host"], match["port"]
        if match.re is _BRACKETED:
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise ValueError(
                    f"expected {_EXAMPLE}, got {quote(text)} ({host!r} is not an IPv6 address)"
                ) from None
        elif not host:
            host = "0.0.0.0"
        elif not _HOST_NAME.fullmatch(host):
            raise ValueError(
                f"expected {_EXAMPLE}, got {quote(text)} ({host!r} is not a host name or address)"
            )
        if not _PORT.fullmatch(port_text) or int(port_text) > _MAX_PORT:
            raise ValueError(
                f"expected {_EXAMPLE}, got {quote(text)} (the port must be 0 to {_MAX_PORT})"
            )
        return cls(host, int(port_text))

    def __str__(self) -> str:
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"
