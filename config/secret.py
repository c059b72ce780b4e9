"""A credential from the configuration that stays out of logs, reprs and tracebacks."""

from __future__ import annotations

import hmac
from typing import Any, NoReturn

__all__ = ["Secret"]

_MASK = "Secret('********')"


class Secret:
    """Holds a credential so that only an explicit ``reveal()`` shows it.

    ``repr()``, ``str()`` and f-strings all give ``Secret('********')``, so a logged
    or printed Settings object shows no token or key. Equality is constant-time
    (``hmac.compare_digest``), so comparing a presented token with a Secret leaks
    nothing through timing.

    Deliberately not a dataclass: ``dataclasses.asdict(settings)`` would then turn a
    Secret into a plain dict holding the value, and that dict is exactly what gets
    logged. As it is, asdict keeps the Secret object and its mask.
    """

    __slots__ = ("_value",)

    _value: str

    def __init__(self, value: str) -> None:
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """Give the credential itself, for the one place that must use it."""
        return self._value

    def __repr__(self) -> str:
        return _MASK

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("Secret is immutable")

    # Immutable, so a copy may be the object itself; the default copy protocol would
    # trip over __setattr__ above.
    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        return (Secret, (self._value,))
