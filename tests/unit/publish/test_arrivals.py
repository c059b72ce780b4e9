"""What --wait waits for: the published ETag of each key in every region that is healthy."""

from __future__ import annotations

from publish.answers import Holding, Holdings, RegionStatus, SyncStatus
from publish.arrivals import Arrival, Published, RegionBack, RegionDown, Watch

A = '"0cc175b9c0f1b6a831c399e269772661"'
OLD = '"92eb5ffee6ae2fec3ad71c777531578f"'


def region(name: str, healthy: bool = True, error: str | None = None) -> RegionStatus:
    return RegionStatus(name, healthy, 0, 0, 0, None, error, None)


def status(*regions: RegionStatus) -> SyncStatus:
    return SyncStatus(None, 0, regions)


def holdings(**held: tuple[str, list[str]]) -> Holdings:
    objects = {
        key.replace("_", "."): Holding(etag, 1, frozenset(r)) for key, (etag, r) in held.items()
    }
    return Holdings((), objects)


def watch() -> Watch:
    return Watch({"a.mp4": Published(A, at=100.0), "b.mp4": Published(A, at=101.0)})


def test_each_region_is_reported_once_as_it_gets_each_key() -> None:
    w = watch()
    look = status(region("eu"), region("us"))
    first = w.observe(look, holdings(a_mp4=(A, ["eu"])), now=102.0)
    assert first == [Arrival("eu", "a.mp4", 2.0)]
    assert not w.done
    second = w.observe(look, holdings(a_mp4=(A, ["eu", "us"]), b_mp4=(A, ["eu", "us"])), 103.5)
    assert second == [
        Arrival("eu", "b.mp4", 2.5),
        Arrival("us", "a.mp4", 3.5),
        Arrival("us", "b.mp4", 2.5),
    ]
    assert w.done
    assert w.observe(look, holdings(a_mp4=(A, ["eu", "us"]), b_mp4=(A, ["eu", "us"])), 104) == []


def test_an_older_version_in_a_region_is_not_an_arrival() -> None:
    w = watch()
    assert w.observe(status(region("eu")), holdings(a_mp4=(OLD, ["eu"])), 102.0) == []
    assert w.missing() == {"eu": ["a.mp4", "b.mp4"]}


def test_an_unhealthy_region_is_not_waited_for_until_it_is_back() -> None:
    w = watch()
    everywhere = holdings(a_mp4=(A, ["eu"]), b_mp4=(A, ["eu"]))
    events = w.observe(status(region("eu"), region("ap", False, "timeout")), everywhere, 102.0)
    assert RegionDown("ap", "timeout") in events
    assert w.done
    assert w.healthy == ("eu",)
    back = w.observe(status(region("eu"), region("ap")), everywhere, 103.0)
    assert back == [RegionBack("ap")]
    assert not w.done
    assert w.missing() == {"ap": ["a.mp4", "b.mp4"]}


def test_nothing_is_done_before_the_first_look() -> None:
    assert not watch().done


def test_a_daemon_with_no_region_leaves_nothing_to_wait_for() -> None:
    w = watch()
    w.observe(status(), holdings(), 102.0)
    assert w.done
    assert w.healthy == ()
