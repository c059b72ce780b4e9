"""Per-student revocation on a live edge: the file changes, the edge notices, tokens stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from edge import RevocationFile, RevocationFileError
from signer import RevocationList, fingerprint
from tests.conftest import Bucket, payload
from tests.support.edge import REGION, Clock, RunningEdge, edge_settings, metric, start_edge
from tests.support.origin import fetch

LESSON = "courses/py/ch01/intro.mp4"
#: The edge checks the file this often; every wait below is bounded by a few of these.
INTERVAL = 0.1


@pytest.fixture
def revoked_path(tmp_path: Path) -> Path:
    return tmp_path / "revoked.json"


@pytest.fixture
def clock() -> Clock:
    return Clock(float(int(Clock().now)))


@pytest.fixture
async def edge(aiohttp_server, bucket: Bucket, tmp_path, revoked_path, clock) -> RunningEdge:
    bucket.put(LESSON, payload(10_000, LESSON))
    settings = edge_settings(
        bucket=bucket.name,
        endpoint=bucket.server.url,
        cache_dir=tmp_path / "cache",
        signing={"revocation_file": str(revoked_path), "revocation_interval": INTERVAL},
    )
    return await start_edge(aiohttp_server, settings, clock)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def status_of(session: aiohttp.ClientSession, url: str) -> int:
    return (await fetch(session, url))[0]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    """Await ``check()`` until it is true, for at most ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true after {timeout} s")
        await asyncio.sleep(INTERVAL / 2)


async def metrics_text(edge: RunningEdge, session: aiohttp.ClientSession) -> str:
    return (await fetch(session, edge.admin_url("/metrics")))[2].decode()


async def test_revoking_a_student_stops_their_urls_and_no_one_elses(
    edge, session, revoked_path
) -> None:
    theirs = edge.url(LESSON, subject="student-7")
    scoped = edge.url(LESSON, scope="courses/py/", subject="student-7")
    others = edge.url(LESSON, subject="student-8")
    assert await status_of(session, theirs) == 200

    file = RevocationFile(revoked_path)
    file.update(
        lambda rl: rl.with_subject("student-7", now=edge.clock(), max_ttl=86400), now=edge.clock()
    )

    async def refused() -> bool:
        return await status_of(session, theirs) == 403

    await eventually(refused)
    assert await status_of(session, scoped) == 403
    assert await status_of(session, others) == 200
    # The web app minting for the student again, later, is honoured.
    edge.clock.now += 1
    assert await status_of(session, edge.url(LESSON, subject="student-7")) == 200
    text = await metrics_text(edge, session)
    assert metric(text, "castedge_token_rejections_total", reason="revoked", region=REGION) == 2
    assert metric(text, "castedge_revocation_entries", region=REGION) == 1


async def test_revoking_one_token_leaves_the_students_other_urls(
    edge, session, revoked_path
) -> None:
    leaked = edge.url(LESSON, subject="student-9")
    edge.clock.now += 1
    fresh = edge.url(LESSON, subject="student-9")
    token = leaked.split("/s/")[1].split("/")[0]
    RevocationFile(revoked_path).update(
        lambda rl: rl.with_token(fingerprint(token), now=edge.clock(), max_ttl=86400),
        now=edge.clock(),
    )

    async def refused() -> bool:
        return await status_of(session, leaked) == 403

    await eventually(refused)
    assert await status_of(session, fresh) == 200


async def test_a_broken_file_keeps_the_list_the_edge_had(edge, session, revoked_path) -> None:
    url = edge.url(LESSON, subject="student-1")
    RevocationFile(revoked_path).update(
        lambda rl: rl.with_subject("student-1", now=edge.clock(), max_ttl=86400), now=edge.clock()
    )

    async def refused() -> bool:
        return await status_of(session, url) == 403

    await eventually(refused)

    # An operator's bad hand edit: truncated JSON.
    revoked_path.write_text('{"version": 1, "subjects": [')

    async def failure_seen() -> bool:
        text = await metrics_text(edge, session)
        return metric(text, "castedge_revocation_loads_total", outcome="failed", region=REGION) > 0

    await eventually(failure_seen)
    assert await status_of(session, url) == 403, "the student stays revoked"

    revoked_path.write_text(RevocationList().to_json())

    async def served() -> bool:
        return await status_of(session, url) == 200

    await eventually(served)


async def test_a_file_created_after_start_is_picked_up(edge, session, revoked_path) -> None:
    assert not revoked_path.exists()
    url = edge.url(LESSON, subject="student-2")
    assert await status_of(session, url) == 200
    RevocationFile(revoked_path).update(
        lambda rl: rl.with_subject("student-2", now=edge.clock(), max_ttl=86400), now=edge.clock()
    )

    async def refused() -> bool:
        return await status_of(session, url) == 403

    await eventually(refused)


async def test_an_edge_does_not_start_on_a_broken_file(
    aiohttp_server, bucket, tmp_path, revoked_path
) -> None:
    revoked_path.write_text("not json")
    settings = edge_settings(
        bucket=bucket.name,
        endpoint=bucket.server.url,
        cache_dir=tmp_path / "cache",
        signing={"revocation_file": str(revoked_path)},
    )
    with pytest.raises(RevocationFileError, match="revoked.json: revocation list is not valid"):
        await start_edge(aiohttp_server, settings)


def test_updates_prune_expired_entries_and_keep_a_bad_file(revoked_path: Path) -> None:
    file = RevocationFile(revoked_path)
    file.update(lambda rl: rl.with_subject("old", now=1000, max_ttl=60, leeway=0), now=1000)
    kept = file.update(lambda rl: rl.with_subject("new", now=5000, max_ttl=60, leeway=0), now=5000)
    assert [entry.subject for entry in kept] == ["new"]  # type: ignore[union-attr]
    assert RevocationFile(revoked_path).read()[0] == kept

    revoked_path.write_text("{broken")
    with pytest.raises(RevocationFileError):
        file.update(lambda rl: rl.with_subject("x", now=5000, max_ttl=60), now=5000)
    assert revoked_path.read_text() == "{broken", "a file that cannot be read is not overwritten"
    assert [p.name for p in revoked_path.parent.iterdir() if p.name.endswith(".tmp")] == []
