"""The replication plan: what each region must fetch and purge to hold exactly the bucket."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sync.plan import Obj, plan

REGIONS = ("eu", "us", "ap")


def test_a_new_object_is_fetched_by_every_region() -> None:
    work = plan({"a.mp4": Obj('"1"', 10)}, {}, REGIONS, max_deletes=10)
    assert {r: p.fetch for r, p in work.regions.items()} == {
        r: (("a.mp4", Obj('"1"', 10)),) for r in REGIONS
    }
    assert all(p.purge == () for p in work.regions.values())
    assert work.regions["eu"].bytes == 10


def test_a_replaced_object_is_purged_then_fetched() -> None:
    work = plan({"a.mp4": Obj('"2"', 5)}, {"eu": {"a.mp4": '"1"'}}, ("eu",), max_deletes=10)
    assert work.regions["eu"].purge == ("a.mp4",)
    assert work.regions["eu"].fetch == (("a.mp4", Obj('"2"', 5)),)


def test_a_deleted_object_is_purged_everywhere_and_counts_once() -> None:
    work = plan({}, {"eu": {"a.mp4": '"1"'}, "us": {"a.mp4": '"1"'}}, ("eu", "us"), max_deletes=1)
    assert [p.purge for p in work.regions.values()] == [("a.mp4",), ("a.mp4",)]
    # One object gone from the bucket, however many regions hold it.
    assert (work.deletes, work.deletes_held) == (1, False)


def test_too_many_deletes_purge_nothing_but_fetches_go_ahead() -> None:
    holdings = {"eu": {f"old/{i}": '"x"' for i in range(5)} | {"keep": '"1"'}}
    listing = {"keep": Obj('"2"', 1), "new": Obj('"1"', 1)}
    work = plan(listing, holdings, ("eu",), max_deletes=4)
    assert work.deletes_held and work.deletes == 5
    # The replaced copy still goes (it is no delete); the five deletes wait.
    assert work.regions["eu"].purge == ("keep",)
    assert [key for key, _ in work.regions["eu"].fetch] == ["keep", "new"]


def test_a_region_that_holds_everything_has_nothing_to_do() -> None:
    listing = {"a": Obj('"1"', 1), "b": Obj('"2"', 2)}
    work = plan(listing, {"eu": {"a": '"1"', "b": '"2"'}}, ("eu",), max_deletes=0)
    assert (work.regions["eu"].purge, work.regions["eu"].fetch) == ((), ())


keys = st.sampled_from([f"k{i}" for i in range(8)])
etags = st.sampled_from(['"1"', '"2"', '"3"'])
listings = st.dictionaries(keys, st.builds(Obj, etags, st.integers(0, 100)))
holdings = st.dictionaries(st.sampled_from(REGIONS), st.dictionaries(keys, etags))


@given(listings, holdings)
def test_doing_the_plan_makes_every_region_hold_exactly_the_listing(listing, held) -> None:
    work = plan(listing, held, REGIONS, max_deletes=1000)
    for region, todo in work.regions.items():
        now = dict(held.get(region, {}))
        for key in todo.purge:
            now.pop(key)
        for key, obj in todo.fetch:
            now[key] = obj.etag
        assert now == {key: obj.etag for key, obj in listing.items()}


@given(listings, holdings)
def test_nothing_already_held_at_the_listed_version_is_touched(listing, held) -> None:
    work = plan(listing, held, REGIONS, max_deletes=1000)
    for region, todo in work.regions.items():
        current = {
            k for k, e in held.get(region, {}).items() if k in listing and listing[k].etag == e
        }
        touched = set(todo.purge) | {key for key, _ in todo.fetch}
        assert not current & touched


@given(listings, holdings, st.integers(0, 10))
def test_the_delete_guard_never_lets_more_deletes_through_than_allowed(
    listing, held, limit
) -> None:
    work = plan(listing, held, REGIONS, max_deletes=limit)
    deletes = sum(1 for todo in work.regions.values() for key in todo.purge if key not in listing)
    assert deletes <= limit or not work.deletes_held
    if work.deletes_held:
        assert deletes == 0
