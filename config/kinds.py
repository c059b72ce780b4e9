"""The kinds of value a configuration key can hold, each a small Kind factory.

Each factory returns a Kind whose converter takes a value as YAML produced it and
returns the typed value, or raises ValueError with a message of the form
``expected <what>, got <what was found>``. ``spec.build`` adds the key path.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .frozen import FrozenMap
from .listen import Listen
from .secret import Secret
from .spec import EMPTY, Invalid, Kind, Section, build, shape, show
from .units import parse_duration, parse_size

__all__ = [
    "boolean",
    "by_id",
    "choice",
    "duration",
    "fraction",
    "header_name",
    "header_value",
    "integer",
    "items",
    "listen",
    "network",
    "number",
    "optional",
    "path",
    "path_prefix",
    "secret",
    "section",
    "size",
    "switch",
    "text",
    "url",
    "web_origin",
]


def _reject(expected: str, value: object, why: str = "") -> ValueError:
    detail = f" ({why})" if why else ""
    return ValueError(f"expected {expected}, got {show(value)}{detail}")


def text(expected: str = "a non-empty string") -> Kind:
    """A non-empty string, kept as written."""

    def convert(value: object) -> str:
        if not isinstance(value, str) or not value.strip():
            raise _reject(expected, value)
        return value

    return Kind(expected, convert)


def header_value(expected: str = "an HTTP header value") -> Kind:
    """A string sent as an HTTP field value, so one without control characters.

    CR or LF in a configured header would let the file inject headers of its own.
    https://www.rfc-editor.org/rfc/rfc9110#section-5.5
    """

    def convert(value: object) -> str:
        if not isinstance(value, str) or not value.strip():
            raise _reject(expected, value)
        if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
            raise _reject(expected, value, "control characters are not allowed")
        return value

    return Kind(expected, convert)


# RFC 9110 field names are tokens: https://www.rfc-editor.org/rfc/rfc9110#section-5.1
_FIELD_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def header_name(expected: str = "an HTTP header name such as 'X-Castedge-Grant'") -> Kind:
    """The name of an HTTP header field, kept as written (header names ignore case)."""

    def convert(value: object) -> str:
        if not isinstance(value, str) or not _FIELD_NAME.fullmatch(value):
            raise _reject(expected, value)
        return value

    return Kind(expected, convert)


def choice(*options: str) -> Kind:
    """One of a few words, case-insensitive, kept in lower case."""
    expected = "one of " + ", ".join(options)

    def convert(value: object) -> str:
        if not isinstance(value, str) or value.lower() not in options:
            raise _reject(expected, value)
        return value.lower()

    return Kind(expected, convert)


def switch(*options: str) -> Kind:
    """``auto``, ``on`` or ``off`` (any case); YAML 1.1 reads a bare on/off as true/false."""
    expected = "one of " + ", ".join(options)

    def convert(value: object) -> str:
        if isinstance(value, bool):
            value = "on" if value else "off"
        if not isinstance(value, str) or value.lower() not in options:
            raise _reject(expected, value)
        return value.lower()

    return Kind(expected, convert)


def integer(lowest: int, highest: int) -> Kind:
    """A whole number within bounds; a quoted number is the wrong type."""
    expected = f"an integer from {lowest} to {highest}"

    def convert(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
            raise _reject(expected, value)
        return value

    return Kind(expected, convert)


def number(lowest: float, highest: float, *, above_lowest: bool = False) -> Kind:
    """A finite number within bounds, such as a latitude; ``above_lowest`` excludes ``lowest``."""
    expected = (
        f"a number above {lowest:g} and at most {highest:g}"
        if above_lowest
        else f"a number from {lowest:g} to {highest:g}"
    )

    def convert(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _reject(expected, value)
        number = float(value)
        low_ok = number > lowest if above_lowest else number >= lowest
        if not (math.isfinite(number) and low_ok and number <= highest):
            raise _reject(expected, value)
        return number

    return Kind(expected, convert)


def boolean() -> Kind:
    """true or false, as YAML writes them (yes/no/on/off are YAML 1.1's, also read as such)."""
    expected = "true or false"

    def convert(value: object) -> bool:
        if not isinstance(value, bool):
            raise _reject(expected, value)
        return value

    return Kind(expected, convert)


def count_or_auto(lowest: int, highest: int) -> Kind:
    """A whole number within bounds, or "auto" (kept as None: the program decides)."""
    expected = f"'auto' or an integer from {lowest} to {highest}"

    def convert(value: object) -> int | None:
        if isinstance(value, str) and value.lower() == "auto":
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
            raise _reject(expected, value)
        return value

    return Kind(expected, convert)


def fraction() -> Kind:
    """A number greater than 0 and at most 1, such as a share of a disk."""
    expected = "a number greater than 0 and at most 1"

    def convert(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
            raise _reject(expected, value)
        return float(value)

    return Kind(expected, convert)


def size(*, positive: bool = False) -> Kind:
    """A number of bytes written as ``200GB``, ``512MiB`` or a plain integer."""
    expected = "a size such as '200GB'"

    def convert(value: object) -> int:
        if not isinstance(value, str | int):
            raise _reject(expected, value)
        parsed = parse_size(value)
        if positive and parsed <= 0:
            raise _reject("a size greater than 0 bytes", value)
        return parsed

    return Kind(expected, convert)


def duration(*, positive: bool = False, at_most: str | None = None) -> Kind:
    """A number of seconds written as ``500ms``, ``30s``, ``5m``, ``6h``, ``1d`` or a number."""
    expected = "a duration such as '30s'"
    bounds: list[str] = []
    if positive:
        bounds.append("greater than 0")
    if at_most is not None:
        bounds.append(f"at most {at_most}")
    in_range = f"a duration {' and '.join(bounds)}"
    limit = parse_duration(at_most) if at_most else None

    def convert(value: object) -> float:
        if not isinstance(value, str | int | float):
            raise _reject(expected, value)
        parsed = parse_duration(value)
        if (positive and parsed <= 0) or (limit is not None and parsed > limit):
            raise _reject(in_range, value)
        return parsed

    return Kind(expected, convert)


def path(expected: str = "a directory path") -> Kind:
    """A filesystem path, kept as written; whether it exists is the role's concern."""

    def convert(value: object) -> Path:
        if not isinstance(value, str) or not value.strip():
            raise _reject(expected, value)
        if "\0" in value:
            raise _reject(expected, value, "a path cannot contain a NUL character")
        return Path(value)

    return Kind(expected, convert)


def url(*, strip_slash: bool = False) -> Kind:
    """An http or https URL with a host; ``strip_slash`` drops trailing slashes."""
    expected = "an http(s) URL such as 'http://127.0.0.1:9000'"

    def convert(value: object) -> str:
        if not isinstance(value, str) or any(c.isspace() for c in value):
            raise _reject(expected, value)
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 -- reading it is what checks the port is 0 to 65535
        except ValueError:
            raise _reject(expected, value) from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _reject(expected, value)
        if parts.username is not None or parts.password is not None:
            # The URL is shown in logs and in repr(settings); credentials come from
            # the environment (AWS_ACCESS_KEY_ID and friends), never from here.
            raise ValueError(f"expected {expected}, got a URL with credentials in it")
        return value.rstrip("/") if strip_slash else value

    return Kind(expected, convert)


def path_prefix(expected: str = "a folder such as 'marketing/'") -> Kind:
    """A folder of object keys, relative and ending in "/", such as ``marketing/trailers/``."""

    def convert(value: object) -> str:
        if not isinstance(value, str) or not value.endswith("/"):
            raise _reject(expected, value, "end it with '/'" if isinstance(value, str) else "")
        if value.startswith("/"):
            raise _reject(expected, value, "without a leading '/'")
        if any(segment in ("", ".", "..") for segment in value[:-1].split("/")):
            raise _reject(expected, value, "no empty, '.' or '..' segments")
        if any(ord(c) < 0x20 or ord(c) == 0x7F or c == "\\" for c in value):
            raise _reject(expected, value, "no control characters or backslashes")
        return value

    return Kind(expected, convert)


def web_origin() -> Kind:
    """A browser origin, ``scheme://host[:port]`` as the Origin header spells it, or "*".

    Kept in lower case without a trailing "/", the form browsers send.
    https://www.rfc-editor.org/rfc/rfc6454#section-6.1
    """
    expected = "an origin such as 'https://learn.example.com', or '*'"

    def convert(value: object) -> str:
        if value == "*":
            return "*"
        if not isinstance(value, str) or any(c.isspace() for c in value):
            raise _reject(expected, value)
        try:
            parts = urlsplit(value.rstrip("/"))
            port = parts.port
        except ValueError:
            raise _reject(expected, value) from None
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise _reject(expected, value)
        if parts.path or parts.query or parts.fragment or parts.username is not None:
            raise _reject(expected, value, "an origin has no path, query or user")
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port is not None else "")

    return Kind(expected, convert)


def items(item: Kind, *, expected: str) -> Kind:
    """A YAML list of values of one kind, kept as a tuple; an empty list is allowed."""

    def convert(value: object) -> tuple[object, ...]:
        if not isinstance(value, list):
            raise _reject(expected, value)
        converted: list[object] = []
        for index, element in enumerate(value):
            try:
                converted.append(item.convert(element))
            except Invalid as error:
                raise error.under(f"[{index}]") from None
            except ValueError as error:
                raise Invalid(str(error), (f"[{index}]",)) from None
        return tuple(converted)

    return Kind(expected, convert)


def network(
    expected: str = "an address or network such as '10.0.0.0/8' or '2001:db8::/32'",
) -> Kind:
    """An IPv4 or IPv6 network in CIDR notation; a bare address is a network of one."""

    def convert(value: object) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        if not isinstance(value, str):
            raise _reject(expected, value)
        try:
            return ipaddress.ip_network(value.strip(), strict=True)
        except ValueError as exc:
            why = "host bits are set" if "host bits set" in str(exc) else ""
            raise _reject(expected, value, why) from None

    return Kind(expected, convert)


def listen() -> Kind:
    """An address to bind, ``host:port``; see Listen.parse."""
    expected = "an address such as '0.0.0.0:8080'"

    def convert(value: object) -> Listen:
        if not isinstance(value, str):
            raise _reject(expected, value)
        return Listen.parse(value)

    return Kind(expected, convert)


def secret(*, min_length: int = 1, header_safe: bool = False, expected: str = "") -> Kind:
    """A credential, wrapped in Secret. Messages give its length, never its characters.

    ``header_safe`` refuses spaces and control characters, for a credential that
    travels in an HTTP header and would be mangled or refused there.
    """
    wanted = expected or f"a secret of at least {min_length} characters"

    def convert(value: object) -> Secret:
        if not isinstance(value, str):
            hint = " (quote it)" if isinstance(value, int | float) else ""
            raise ValueError(f"expected {wanted}, got {shape(value)}{hint}")
        if len(value) < min_length:
            raise ValueError(f"expected {wanted}, got {len(value)} characters")
        if header_safe and any(c.isspace() or not c.isprintable() for c in value):
            raise ValueError(f"expected {wanted}, got one with spaces or control characters")
        return Secret(value)

    return Kind(wanted, convert)


def by_id(*, expected: str, id_pattern: str, id_expected: str, value: Kind) -> Kind:
    """A non-empty mapping from short ids to values, such as signing keys by key id."""
    id_re = re.compile(id_pattern)

    def convert(raw: object) -> Mapping[str, object]:
        if not isinstance(raw, Mapping) or not raw:
            raise _reject(expected, raw)
        converted: dict[str, object] = {}
        for key, item in raw.items():
            if not isinstance(key, str) or not id_re.fullmatch(key):
                why = "" if isinstance(key, str) else "quote it"
                raise Invalid(str(_reject(id_expected, key, why)), (str(key),))
            try:
                converted[key] = value.convert(item)
            except Invalid as error:
                raise error.under(key) from None
            except ValueError as error:
                raise Invalid(str(error), (key,)) from None
        return FrozenMap(converted)

    return Kind(expected, convert)


def optional(kind: Kind) -> Kind:
    """The same kind, or null."""

    def convert(value: object) -> object:
        return None if value is None else kind.convert(value)

    return Kind(f"{kind.expected}, or null", convert, kind.section)


def section(spec: Section[Any]) -> Kind:
    """A nested mapping built by its own spec; left empty or null, its defaults apply."""

    def convert(value: object) -> object:
        return build(spec, EMPTY if value is None else value)

    return Kind("a mapping", convert, spec)
