"""Which address a request really came from, seen through the proxies the operator trusts.

A proxy in front of the locator appends the address it received the request from to
`X-Forwarded-For` (or adds a `for=` element to `Forwarded`, RFC 7239); everything to
the left of that was written by whoever sent the request and may be forged. So the
client is found by walking the list from the right, skipping the addresses of trusted
proxies, and taking the first address that is not one. A request whose socket peer is
not a trusted proxy is taken at its word: the peer is the client and the headers are
ignored, because anyone can send them.
(https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/X-Forwarded-For#selecting_an_ip_address)

Only one header is read, the one the operator's proxy writes: with both accepted, a
client could put a forged address in whichever header the proxy leaves alone.

Pure: header values in, an address out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Network, IPv6Network

from geo.address import ClientAddress, parse_client_address
from geo.errors import InvalidAddress

Network = IPv4Network | IPv6Network

X_FORWARDED_FOR = "x-forwarded-for"
FORWARDED = "forwarded"

# RFC 7239 section 4: forwarded-pair = token "=" value, value = token / quoted-string.
# https://www.rfc-editor.org/rfc/rfc7239#section-4
_PAIR = re.compile(
    r"[ \t]*(?P<name>[!#$%&'*+.^_`|~0-9A-Za-z-]+)="
    r'(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<token>[^",;\s]*))[ \t]*'
)
_ESCAPE = re.compile(r"\\(.)")
# "[2001:db8::1]:4711", "192.0.2.43:4711", or a port obfuscated as "_abc" (RFC 7239 6.3).
_BRACKETED = re.compile(r"\[(?P<host>[^\]]+)\](?::(?:[0-9]+|_[A-Za-z0-9._-]+))?")
_WITH_PORT = re.compile(r"(?P<host>[0-9.]+):(?:[0-9]+|_[A-Za-z0-9._-]+)")


def hop_address(text: str) -> ClientAddress | None:
    """The address in one list entry (with or without brackets and port), or None.

    None stands for anything that is not an address: "unknown", an obfuscated
    identifier such as "_hidden", a host name, or garbage.
    """
    entry = text.strip()
    match = _BRACKETED.fullmatch(entry) or _WITH_PORT.fullmatch(entry)
    if match is not None:
        entry = match["host"]
    try:
        return parse_client_address(entry)
    except InvalidAddress:
        return None


def x_forwarded_for(values: Iterable[str]) -> list[str]:
    """The entries of every `X-Forwarded-For` line, in order (several lines join as one list)."""
    return [entry for value in values for entry in value.split(",")]


def forwarded_for(values: Iterable[str]) -> list[str]:
    """The `for=` value of every element of every `Forwarded` line, in order.

    An element without `for=` gives "" (it names no address). A line that does not
    parse gives nothing at all: its commas cannot be trusted to separate the elements
    a proxy appended from those a client wrote.
    """
    found: list[str] = []
    for value in values:
        parsed = _parse_forwarded(value)
        if parsed is not None:
            found.extend(parsed)
    return found


def _parse_forwarded(value: str) -> list[str] | None:
    elements: list[str] = []
    position, end = 0, len(value)
    current: str | None = None
    while True:
        match = _PAIR.match(value, position)
        if match is not None and match.end() > position:
            if match["name"].lower() == "for":
                quoted = match["quoted"]
                current = _ESCAPE.sub(r"\1", quoted) if quoted is not None else match["token"]
            position = match.end()
        while position < end and value[position] in " \t":
            position += 1
        if position >= end:
            elements.append(current or "")
            return elements
        separator = value[position]
        position += 1
        if separator == ",":
            elements.append(current or "")
            current = None
        elif separator != ";":
            return None


def client_address(
    peer: str | None,
    hops: Sequence[str],
    trusted: Sequence[Network],
) -> ClientAddress | None:
    """The client's address: the peer, or the right-most untrusted hop behind trusted proxies.

    `hops` are the forwarding list's entries, left (the client's side) to right (the
    proxy nearest us). Walking from the right, a trusted address is skipped; an entry
    that is not an address stops the walk at the trusted address before it, since
    nothing further left can be believed; if every entry is trusted, the left-most is
    the client (someone inside the operator's own network). None when there is no
    peer address (a Unix socket).
    """
    if peer is None:
        return None
    try:
        address = parse_client_address(peer)
    except InvalidAddress:
        return None
    if not is_trusted(address, trusted):
        return address
    for hop in reversed(hops):
        candidate = hop_address(hop)
        if candidate is None:
            return address
        address = candidate
        if not is_trusted(address, trusted):
            return address
    return address


def is_trusted(address: ClientAddress, trusted: Sequence[Network]) -> bool:
    """Whether `address` lies in one of the trusted proxy networks."""
    # An IPv4 address is never "in" an IPv6 network, nor the reverse; no error either way.
    return any(address in network for network in trusted)
