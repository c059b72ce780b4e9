"""An immutable mapping for Settings fields that copies, pickles and hashes like a value."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NoReturn, TypeVar

__all__ = ["FrozenMap"]

V = TypeVar("V")


class FrozenMap(Mapping[str, V]):
    """A read-only mapping, so nothing reachable from a Settings object can change.

    ``types.MappingProxyType`` would be read-only too, but it cannot be deep-copied
    or pickled, so ``dataclasses.asdict``, ``copy.deepcopy`` and handing Settings to a
    worker process would all fail on it.
    """

    __slots__ = ("_items",)

    _items: dict[str, V]

    def __init__(self, items: Mapping[str, V] | None = None) -> None:
        object.__setattr__(self, "_items", dict(items or {}))

    def __getitem__(self, key: str) -> V:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"FrozenMap({self._items!r})"

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("FrozenMap is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("FrozenMap is immutable")

    # Immutable, so a copy may be the object itself; the default copy protocol would
    # trip over __setattr__ above.
    def __copy__(self) -> FrozenMap[V]:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenMap[V]:
        return self

    def __reduce__(self) -> tuple[type[FrozenMap[Any]], tuple[dict[str, V]]]:
        return (FrozenMap, (self._items,))
