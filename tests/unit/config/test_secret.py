"""Secrets stay out of reprs and logs; FrozenMap keeps Settings immutable yet copyable."""

from __future__ import annotations

import copy
import hmac
import pickle

import pytest

from config import Secret
from config.frozen import FrozenMap

VALUE = "s3cr3t-v4lue-that-must-not-leak"


@pytest.mark.parametrize("render", [repr, str, "{}".format, lambda s: f"{s!r}", lambda s: f"{s}"])
def test_every_rendering_is_masked(render: object) -> None:
    rendered = render(Secret(VALUE))  # type: ignore[operator]
    assert rendered == "Secret('********')"


def test_reveal_gives_the_value() -> None:
    assert Secret(VALUE).reveal() == VALUE


def test_equality_is_by_value() -> None:
    assert Secret(VALUE) == Secret(VALUE)
    assert Secret(VALUE) != Secret(VALUE + "x")
    assert Secret(VALUE) != VALUE
    assert hash(Secret(VALUE)) == hash(Secret(VALUE))


def test_equality_uses_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert Secret("ünïcode-tøken") == Secret("ünïcode-tøken")
    assert len(calls) == 1


def test_cannot_be_changed() -> None:
    secret = Secret(VALUE)
    with pytest.raises(AttributeError):
        secret._value = "other"
    with pytest.raises(AttributeError):
        del secret._value
    assert secret.reveal() == VALUE


def test_copies_and_pickles_keep_the_value() -> None:
    secret = Secret(VALUE)
    assert copy.copy(secret).reveal() == VALUE
    assert copy.deepcopy(secret).reveal() == VALUE
    assert pickle.loads(pickle.dumps(secret)).reveal() == VALUE  # noqa: S301 -- bytes made just above


def test_frozen_map_reads_like_a_mapping() -> None:
    frozen = FrozenMap({"a": 1, "b": 2})
    assert dict(frozen) == {"a": 1, "b": 2}
    assert frozen["a"] == 1
    assert "b" in frozen
    assert len(frozen) == 2
    assert frozen == {"a": 1, "b": 2}
    assert repr(frozen) == "FrozenMap({'a': 1, 'b': 2})"


def test_frozen_map_cannot_be_changed() -> None:
    frozen = FrozenMap({"a": 1})
    with pytest.raises(TypeError):
        frozen["a"] = 2  # type: ignore[index]
    with pytest.raises(AttributeError):
        frozen._items = {}
    with pytest.raises(AttributeError):
        frozen.update({"b": 2})  # type: ignore[attr-defined]
    assert dict(frozen) == {"a": 1}


def test_frozen_map_copies_pickles_and_hashes() -> None:
    frozen = FrozenMap({"k1": Secret(VALUE)})
    assert copy.deepcopy(frozen) == frozen
    assert pickle.loads(pickle.dumps(frozen)) == frozen  # noqa: S301 -- bytes made just above
    assert hash(frozen) == hash(FrozenMap({"k1": Secret(VALUE)}))
