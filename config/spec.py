"""Declarative field specs for the YAML sections, and the one function that applies them.

A section is a list of ``Field(name, kind, default)``; a kind knows what it expects
(for messages and docs) and how to turn a YAML value into a typed one. ``build``
rejects unknown keys, fills defaults, converts every field and runs the section's
cross-field checks, so adding a section means writing its dataclass and its field
list, not more branches. Defaults are written as they would be in YAML (``"5s"``),
so they go through the same conversion as the operator's values and the docs can
quote them as they are.

The kinds themselves are in ``kinds.py``. Everything here is pure: no file, no
environment, no clock.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from .frozen import FrozenMap
from .units import quote

__all__ = [
    "EMPTY",
    "REQUIRED",
    "Field",
    "Invalid",
    "Kind",
    "Section",
    "build",
    "key_path",
    "shape",
    "show",
]

T = TypeVar("T")


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Final[object] = _Required()
"""The default of a field the operator must give."""

EMPTY: Mapping[str, object] = FrozenMap()
"""The default of a section that may be left out: all of its own defaults apply."""


class Invalid(Exception):
    """Carries a rejected value up to the top, collecting its key path on the way.

    Never leaves the package: the loader turns it into a ConfigError that also
    names the file.
    """

    def __init__(self, message: str, path: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def under(self, key: str) -> Invalid:
        """Give the same rejection as seen from the section that holds ``key``."""
        return Invalid(self.message, (key, *self.path))


@dataclass(frozen=True)
class Kind:
    """What a field accepts: a phrase for messages and docs, and the converter.

    ``convert`` raises ValueError (or Invalid, for a nested section) when the value
    does not fit. ``section`` is the nested spec for section kinds, so tests and
    docs can walk the whole tree.
    """

    expected: str
    convert: Callable[[object], object]
    section: Section[Any] | None = None


@dataclass(frozen=True)
class Field:
    """One key of a section: its name, its kind, and its default as written in YAML."""

    name: str
    kind: Kind
    default: object = REQUIRED


@dataclass(frozen=True)
class Section(Generic[T]):
    """The keys a YAML mapping may hold, the dataclass they build, and cross-field checks.

    A check receives the built dataclass and raises Invalid with a path relative to
    the section, ``()`` meaning the section itself. ``prepare``, when given, rewrites
    the raw mapping before any key is read (one section inheriting another's keys).
    """

    make: Callable[..., T]
    fields: tuple[Field, ...]
    checks: tuple[Callable[[T], None], ...] = ()
    prepare: Callable[[Mapping[str, object]], Mapping[str, object]] | None = None


def build(spec: Section[T], raw: object, **extra: object) -> T:
    """Check a YAML mapping against a section spec and build its dataclass.

    ``extra`` passes values that do not come from YAML (the file name) to the
    dataclass. Raises Invalid for the first problem found.
    """
    if not isinstance(raw, Mapping):
        raise Invalid(f"expected a mapping, got {show(raw)}")
    if spec.prepare is not None:
        raw = spec.prepare(raw)
    names = [field.name for field in spec.fields]
    for key in raw:
        if key not in names:
            raise Invalid(_unknown_key(key, names), (str(key),))
    values = dict(extra)
    for field in spec.fields:
        if field.name in raw:
            value = raw[field.name]
        elif field.default is REQUIRED:
            raise Invalid(f"missing; expected {field.kind.expected}", (field.name,))
        else:
            value = field.default
        try:
            values[field.name] = field.kind.convert(value)
        except Invalid as error:
            raise error.under(field.name) from None
        except ValueError as error:
            raise Invalid(str(error), (field.name,)) from None
    built = spec.make(**values)
    for check in spec.checks:
        check(built)
    return built


def key_path(parts: tuple[str, ...]) -> str:
    """Join key parts the way an operator reads them: ``cache.max_size``, ``regions[2]``."""
    joined = ""
    for part in parts:
        joined += part if not joined or part.startswith("[") else f".{part}"
    return joined


def show(value: object) -> str:
    """Render a YAML value for an error message in YAML's own words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, int | float):
        return repr(value)
    return shape(value)


def shape(value: object) -> str:
    """Describe what kind of YAML value this is without showing it, as for a secret."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a mapping" if value else "an empty mapping"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    return f"a value of type {type(value).__name__}"


def _unknown_key(key: object, names: list[str]) -> str:
    close = difflib.get_close_matches(str(key), names, n=1)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return f"unknown key; expected one of {', '.join(names)}"
