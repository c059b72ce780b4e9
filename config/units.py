"""Parsing the sizes and durations operators write in the YAML file.

Sizes use the units people already read on disks and in ``df -H`` (powers of 1000)
and in ``df -h`` (powers of 1024, spelled with an ``i``), so ``200GB`` means what the
disk vendor means and ``512MiB`` means what the kernel means. Durations use the
suffixes of Go's ``time.ParseDuration`` and Prometheus, the two an operator of this
kind of service will have written before.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

__all__ = [
    "DURATION_UNITS",
    "SIZE_UNITS",
    "format_size",
    "parse_duration",
    "parse_size",
    "quote",
]

SIZE_UNITS: dict[str, int] = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}

DURATION_UNITS: dict[str, Fraction] = {
    "ms": Fraction(1, 1000),
    "s": Fraction(1),
    "m": Fraction(60),
    "h": Fraction(3600),
    "d": Fraction(86400),
}

# A number without sign or exponent, then an optional unit: what a person writes.
# [0-9] rather than \d, which would also accept digits from other scripts.
_QUANTITY = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>[A-Za-z]*)")

_SIZE_EXAMPLE = "a size such as '200GB'"
_DURATION_EXAMPLE = "a duration such as '30s'"

# Long enough for any real value, short enough to keep an error on one screen line.
_QUOTE_LIMIT = 60


def parse_size(text: str | int) -> int:
    """Turn ``'200GB'``, ``'512MiB'``, ``'1.5GB'`` or a plain int into a number of bytes.

    Units are case-insensitive; a fraction of a byte is rounded down, so ``'0.3GiB'``
    is 322122547. Raises ValueError naming the text and, for an unknown unit, the
    units that are known.
    """
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise ValueError(f"expected {_SIZE_EXAMPLE}, got {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"expected {_SIZE_EXAMPLE}, got {text}")
        return text
    number, unit = _split(text, _SIZE_EXAMPLE)
    factor = SIZE_UNITS.get(unit.lower() or "b")
    if factor is None:
        raise ValueError(
            f"expected {_SIZE_EXAMPLE}, got {quote(text)} "
            f"(unknown unit {unit!r}; use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)"
        )
    return int(number * factor)


def format_size(size: int) -> str:
    """Show a number of bytes as an operator would write it back: ``100 GB``, ``1.5 TB``."""
    for unit in ("TB", "GB", "MB", "kB"):
        scale = SIZE_UNITS[unit.lower()]
        if size >= scale:
            return f"{size / scale:.4g} {unit}"
    return f"{size} B"


def parse_duration(text: str | int | float) -> float:
    """Turn ``'500ms'``, ``'30s'``, ``'5m'``, ``'6h'``, ``'1d'`` or a number into seconds.

    A plain number, written as a YAML number or a string, is seconds. Units are lower
    case only, because ``'5M'`` reads as five months as easily as five minutes.
    Raises ValueError naming the text.
    """
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError(f"expected {_DURATION_EXAMPLE}, got {text!r}")
    if isinstance(text, int | float):
        if not math.isfinite(text) or text < 0:
            raise ValueError(f"expected {_DURATION_EXAMPLE}, got {text!r}")
        return float(text)
    number, unit = _split(text, _DURATION_EXAMPLE)
    factor = DURATION_UNITS.get(unit or "s")
    if factor is None:
        raise ValueError(
            f"expected {_DURATION_EXAMPLE}, got {quote(text)} "
            f"(unknown unit {unit!r}; use ms, s, m, h or d)"
        )
    try:
        return float(number * factor)
    except OverflowError:
        raise ValueError(f"expected {_DURATION_EXAMPLE}, got {quote(text)}") from None


def quote(text: str) -> str:
    """Quote text for an error message the way Python would, cut short if it is long."""
    if len(text) > _QUOTE_LIMIT:
        return repr(text[: _QUOTE_LIMIT - 3] + "...")
    return repr(text)


def _split(text: str, example: str) -> tuple[Fraction, str]:
    """Split a quantity into its exact number and its unit as written."""
    match = _QUANTITY.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"expected {example}, got {quote(text)}")
    try:
        # Fraction keeps '1.001KB' exact; through a float it rounds down to 1000 bytes.
        return Fraction(match["number"]), match["unit"]
    except ValueError:
        # int() refuses more digits than sys.get_int_max_str_digits(); no real value has them.
        raise ValueError(f"expected {example}, got {quote(text)}") from None
