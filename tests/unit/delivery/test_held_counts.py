"""HeldCounts: the fast path's counter increments, made once per counter at the turn's end."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Counter

from delivery.metrics import DeliveryMetrics, HeldCounts


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    got = registry.get_sample_value(name, labels)
    return 0.0 if got is None else got


def test_outside_a_loop_an_add_is_made_at_once() -> None:
    registry = CollectorRegistry()
    counter = Counter("things", "Things.", registry=registry)
    HeldCounts().add(counter, 3)
    assert value(registry, "things_total") == 3


async def test_adds_of_one_turn_are_summed_and_made_when_the_turn_ends() -> None:
    registry = CollectorRegistry()
    metrics = DeliveryMetrics(registry, service="origin")
    held = HeldCounts()
    for _ in range(3):
        metrics.lookup("hit", held)
        metrics.request_done(206, 2, held)
    metrics.request_done(304, 0, held)
    labels = {"service": "origin"}
    # Still held in this turn...
    assert value(registry, "castedge_cache_lookups_total", **labels, result="hit") == 0
    await asyncio.sleep(0)  # ...and made once it ends
    assert value(registry, "castedge_cache_lookups_total", **labels, result="hit") == 3
    assert value(registry, "castedge_requests_total", **labels, status="206") == 3
    assert value(registry, "castedge_requests_total", **labels, status="304") == 1
    assert value(registry, "castedge_sent_bytes_total", **labels) == 6
    # A later turn starts afresh.
    metrics.request_done(206, 2, held)
    held.flush()  # what FastPath.flush does before handing the turn's answers over
    assert value(registry, "castedge_requests_total", **labels, status="206") == 4
    await asyncio.sleep(0)
    assert value(registry, "castedge_requests_total", **labels, status="206") == 4


async def test_without_held_counts_the_aiohttp_path_counts_at_once() -> None:
    registry = CollectorRegistry()
    metrics = DeliveryMetrics(registry, service="edge")
    metrics.request_done(200, 10)
    metrics.lookup("miss")
    assert value(registry, "castedge_requests_total", service="edge", status="200") == 1
    assert value(registry, "castedge_sent_bytes_total", service="edge") == 10
    assert value(registry, "castedge_cache_lookups_total", service="edge", result="miss") == 1
