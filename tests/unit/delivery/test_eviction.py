"""LRU by bytes with high and low watermarks, driven by an injected clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from delivery.eviction import LruIndex

FAST = settings(max_examples=200, deadline=None)


def _index(*sizes: int, max_size: int = 1000) -> LruIndex:
    """An index holding k0, k1, ... added in that order (k0 least recently used)."""
    index = LruIndex(max_size, high=0.95, low=0.90)
    for i, size in enumerate(sizes):
        index.add(f"k{i}", size, now=float(i))
    return index


def test_add_touch_remove_keep_count_and_total() -> None:
    index = _index(100, 200, 300)
    assert len(index) == 3
    assert index.total == 600
    assert "k1" in index
    assert "nope" not in index
    assert 42 not in index
    assert index.remove("k1") == 200
    assert index.remove("k1") == 0
    assert "k1" not in index
    assert (len(index), index.total) == (2, 400)


def test_adding_an_existing_key_replaces_its_size_and_makes_it_recent() -> None:
    index = _index(100, 200)
    index.add("k0", 50, now=10.0)
    assert index.total == 250
    assert len(index) == 2
    assert index.entries() == [("k1", 200, 1.0), ("k0", 50, 10.0)]


def test_touch_moves_a_key_to_the_recent_end_and_records_the_time() -> None:
    index = _index(100, 200, 300)
    index.touch("k0", now=99.0)
    assert index.entries() == [("k1", 200, 1.0), ("k2", 300, 2.0), ("k0", 100, 99.0)]
    index.touch("unknown", now=100.0)
    assert "unknown" not in index
    assert len(index) == 3


def test_no_victims_while_within_the_high_watermark() -> None:
    index = _index(300, 300, 300)
    assert index.victims(50, pinned=set()) == []  # 950 == 95% of 1000
    assert index.victims(51, pinned=set()) != []


def test_victims_are_least_recent_first_until_the_low_watermark() -> None:
    index = _index(100, 100, 100, 100, 100, 100, 100, 100, 100)  # 900
    # 900 + 100 = 1000 > 950; down to 900 needs one 100-byte victim.
    assert index.victims(100, pinned=set()) == ["k0"]
    # 900 + 300 = 1200; down to 900 needs three.
    assert index.victims(300, pinned=set()) == ["k0", "k1", "k2"]
    index.touch("k0", now=50.0)
    assert index.victims(300, pinned=set()) == ["k1", "k2", "k3"]


def test_victims_are_not_removed_by_asking() -> None:
    index = _index(500, 500)
    assert index.victims(100, pinned=set()) == ["k0"]
    assert index.total == 1000
    assert "k0" in index


def test_pinned_objects_are_never_victims() -> None:
    index = _index(400, 100, 400)
    assert index.victims(200, pinned={"k0"}) == ["k1", "k2"]


def test_when_everything_is_pinned_there_are_no_victims() -> None:
    index = _index(500, 500)
    assert index.victims(500, pinned={"k0", "k1"}) == []


def test_when_too_little_can_be_freed_all_candidates_are_returned() -> None:
    index = _index(100, 800)
    # 900 + 900 = 1800 cannot get to 900 without k1, which is pinned.
    assert index.victims(900, pinned={"k1"}) == ["k0"]


def test_an_object_larger_than_the_store_evicts_everything_it_can() -> None:
    index = _index(100, 200)
    assert index.victims(5000, pinned=set()) == ["k0", "k1"]


def test_entries_restore_the_same_order() -> None:
    index = _index(100, 200, 300)
    index.touch("k1", now=7.0)
    restored = LruIndex(1000)
    for key, size, last_access in index.entries():
        restored.add(key, size, last_access)
    assert restored.entries() == index.entries()
    assert restored.total == index.total


@pytest.mark.parametrize(
    ("max_size", "high", "low"),
    [(0, 0.95, 0.9), (-1, 0.95, 0.9), (100, 0.9, 0.95), (100, 1.5, 0.9), (100, 0.5, 0.0)],
)
def test_nonsense_limits_are_refused(max_size: int, high: float, low: float) -> None:
    with pytest.raises(ValueError):
        LruIndex(max_size, high=high, low=low)


def test_negative_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        LruIndex(100).add("k", -1, now=0.0)


_keys = st.sampled_from([f"k{i}" for i in range(8)])
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), _keys, st.integers(0, 400)),
        st.tuples(st.just("touch"), _keys, st.just(0)),
        st.tuples(st.just("remove"), _keys, st.just(0)),
    ),
    max_size=40,
)


def _run(ops: list[tuple[str, str, int]]) -> tuple[LruIndex, list[tuple[str, int]]]:
    """Apply ops to an index and to a plain list model (least recent first)."""
    index = LruIndex(1000)
    model: list[tuple[str, int]] = []
    for step, (op, key, size) in enumerate(ops):
        held = dict(model)
        if op == "add":
            index.add(key, size, now=float(step))
            model = [(k, s) for k, s in model if k != key] + [(key, size)]
        elif op == "touch":
            index.touch(key, now=float(step))
            if key in held:
                model = [(k, s) for k, s in model if k != key] + [(key, held[key])]
        else:
            assert index.remove(key) == held.get(key, 0)
            model = [(k, s) for k, s in model if k != key]
    return index, model


@FAST
@given(_ops)
def test_the_index_follows_a_plain_list_model(ops: list[tuple[str, str, int]]) -> None:
    index, model = _run(ops)
    assert [(k, s) for k, s, _t in index.entries()] == model
    assert index.total == sum(s for _k, s in model)
    assert len(index) == len(model)


@FAST
@given(ops=_ops, incoming=st.integers(0, 1500), pinned=st.sets(_keys))
def test_victims_properties(
    ops: list[tuple[str, str, int]], incoming: int, pinned: set[str]
) -> None:
    index, model = _run(ops)
    victims = index.victims(incoming, pinned)
    order = [k for k, _s in model]
    sizes = dict(model)

    assert not set(victims) & pinned
    assert len(set(victims)) == len(victims)
    assert victims == [k for k in order if k in set(victims)]  # LRU order
    if index.total + incoming <= index.high_bytes:
        assert victims == []
        return
    after = index.total + incoming - sum(sizes[k] for k in victims)
    remaining = [k for k in order if k not in set(victims)]
    assert after <= index.low_bytes or all(k in pinned for k in remaining)
    # Victims are a prefix of the unpinned keys, and no more than needed.
    assert victims == [k for k in order if k not in pinned][: len(victims)]
    if victims:
        assert after + sizes[victims[-1]] > index.low_bytes
