"""Who gets bytes from a live edge: valid tokens do; every bad one gets the same 403.

A real edge (aiohttp on loopback) in front of the S3 server on loopback; the edge's
clock is a hand-moved one, so expiry is tested without sleeping. Hostile paths go out
through curl --path-as-is, which sends them byte for byte. Every test runs through
aiohttp and on the fast path for hits (``media_server``).
"""

from __future__ import annotations

import asyncio
import base64
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from edge.app import FORBIDDEN_BODY
from signer import Signer
from tests.conftest import Bucket, payload
from tests.support.edge import (
    KEY_ID,
    OLD_KEY_ID,
    OLD_SECRET,
    REGION,
    SECRET,
    Clock,
    RunningEdge,
    edge_settings,
    metric,
    start_edge,
)
from tests.support.origin import fetch, sha256
from tests.support.tokens import tamper

LESSON = "courses/py/ch01/intro.mp4"
OTHER_LESSON = "courses/py/ch02/intro.mp4"
TRAILER = "marketing/trailer.mp4"
SECRET_KEY = "secret/answers.txt"
SIZE = 1_500_000


@pytest.fixture
def clock() -> Clock:
    # Whole seconds, so expires_at = now + ttl exactly.
    return Clock(float(int(Clock().now)))


@pytest.fixture
async def edge(media_server, bucket: Bucket, tmp_path: Path, clock: Clock) -> RunningEdge:
    for key in (LESSON, OTHER_LESSON, TRAILER):
        bucket.put(key, payload(SIZE, key))
    bucket.put(SECRET_KEY, b"the answers: this must never be served\n")
    settings = edge_settings(bucket=bucket.name, endpoint=bucket.server.url, cache_dir=tmp_path)
    return await start_edge(media_server, settings, clock)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        yield s


async def metrics_text(edge: RunningEdge, session: aiohttp.ClientSession) -> str:
    _, _, body = await fetch(session, edge.admin_url("/metrics"))
    return body.decode()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def swap_token(url: str, change: Callable[[str], str]) -> str:
    """The same URL with its token changed by ``change``."""
    head, _, rest = url.partition("/s/")
    token, _, path = rest.partition("/")
    return f"{head}/s/{change(token)}/{path}"


def widen_scope(token: str) -> str:
    """The token's payload rewritten to grant every course, with the old signature."""
    key_id, body, signature = token.split(".")
    claims = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    widened = claims.replace(LESSON.encode(), b"courses/")
    assert widened != claims
    return f"{key_id}.{b64(widened)}.{signature}"


def curl(url: str) -> tuple[int, bytes]:
    done = subprocess.run(
        ["curl", "--path-as-is", "-s", "-g", "-o", "-", "-w", "\n%{http_code}", url],
        capture_output=True,
        timeout=30,
        check=True,
    )
    body, _, code = done.stdout.rpartition(b"\n")
    return int(code), body


async def test_a_signed_url_serves_the_lesson_privately(edge, bucket, session) -> None:
    url = edge.url(LESSON)
    for attempt in ("miss", "hit"):
        status, headers, body = await fetch(session, url)
        assert status == 200, attempt
        assert sha256(body) == sha256(payload(SIZE, LESSON))
        assert headers["Cache-Control"] == "private, max-age=3600"
        assert headers["Content-Type"] == "video/mp4"
    assert bucket.gets(LESSON) == 1


async def test_seeking_is_ranges_through_the_signed_url(edge, session) -> None:
    body = payload(SIZE, LESSON)
    url = edge.url(LESSON)
    for start, end in ((0, 1), (SIZE - 8000, SIZE - 1), (700_000, 899_999)):
        status, headers, got = await fetch(session, url, headers={"Range": f"bytes={start}-{end}"})
        assert status == 206
        assert got == body[start : end + 1]
        assert headers["Content-Range"] == f"bytes {start}-{end}/{SIZE}"
        assert headers["Cache-Control"] == "private, max-age=3600"


async def test_a_directory_token_opens_everything_below_it(edge, session) -> None:
    url = edge.url(LESSON, scope="courses/py/")
    status, _, _ = await fetch(session, url)
    assert status == 200
    sibling = url.replace(LESSON, OTHER_LESSON)
    status, _, _ = await fetch(session, sibling)
    assert status == 200


REFUSALS: dict[str, tuple[str, Callable[[RunningEdge], str]]] = {
    "tampered signature": (
        "bad_signature",
        lambda e: swap_token(e.url(LESSON), tamper),
    ),
    "tampered scope": ("bad_signature", lambda e: swap_token(e.url(LESSON), widen_scope)),
    "unknown key id": (
        "unknown_key",
        lambda e: Signer({"k1999": SECRET}, "k1999").url(LESSON, now=e.clock(), base=e.base),
    ),
    "malformed": ("malformed", lambda e: f"{e.base}/s/not-a-token/{LESSON}"),
    "expired": (
        "expired",
        lambda e: e.signer.url(LESSON, now=e.clock() - 7200, ttl=3600, base=e.base),
    ),
    "another lesson": ("out_of_scope", lambda e: e.url(LESSON).replace(LESSON, OTHER_LESSON)),
    "another chapter": (
        "out_of_scope",
        lambda e: e.url(LESSON, scope="courses/py/ch01/").replace(LESSON, OTHER_LESSON),
    ),
    "a longer name": ("out_of_scope", lambda e: e.url(LESSON) + "x"),
    "no path": ("out_of_scope", lambda e: e.url(LESSON).removesuffix(LESSON)),
    "another address": ("ip_mismatch", lambda e: e.url(LESSON, ip="203.0.113.0/24")),
    "no token": ("no_token", lambda e: e.public(LESSON)),
}


@pytest.mark.parametrize("case", list(REFUSALS))
async def test_every_refusal_is_the_same_403_counted_by_reason(edge, bucket, session, case) -> None:
    reason, make = REFUSALS[case]
    url = make(edge)
    status, headers, body = await fetch(session, url)
    assert status == 403
    assert body == FORBIDDEN_BODY.encode()
    assert headers["Cache-Control"] == "no-store"
    # Nothing was fetched on behalf of a refused request.
    assert bucket.gets(LESSON) == bucket.gets(OTHER_LESSON) == 0
    text = await metrics_text(edge, session)
    assert metric(text, "castedge_token_rejections_total", reason=reason, region=REGION) == 1
    assert metric(text, "castedge_edge_requests_total", region=REGION, status="403") == 1


async def test_refusals_cannot_be_told_apart(edge, session) -> None:
    answers = set()
    for _, make in REFUSALS.values():
        status, headers, body = await fetch(
            session, make(edge), headers={"Origin": "https://learn.example.com"}
        )
        shown = tuple(sorted((k, v) for k, v in headers.items() if k not in ("Date",)))
        answers.add((status, shown, body))
    assert len(answers) == 1, answers


async def test_head_is_checked_like_get(edge, session) -> None:
    status, headers, body = await fetch(session, edge.url(LESSON), method="HEAD")
    assert (status, headers["Content-Length"], body) == (200, str(SIZE), b"")
    bad = swap_token(edge.url(LESSON), tamper)
    status, _, _ = await fetch(session, bad, method="HEAD")
    assert status == 403


async def test_expiry_allows_the_clock_skew_leeway_and_no_more(edge, session) -> None:
    url = edge.url(LESSON, ttl=60)
    minted = edge.clock.now
    edge.clock.now = minted + 60 + 29
    assert (await fetch(session, url))[0] == 200
    edge.clock.now = minted + 60 + 31
    assert (await fetch(session, url))[0] == 403
    text = await metrics_text(edge, session)
    assert metric(text, "castedge_token_rejections_total", reason="expired", region=REGION) == 1


@pytest.mark.parametrize("ip", ["127.0.0.1", "127.0.0.0/8", "::ffff:127.0.0.1"])
async def test_a_token_bound_to_the_client_address_works_from_it(edge, session, ip) -> None:
    status, _, _ = await fetch(session, edge.url(LESSON, ip=ip))
    assert status == 200


async def test_tokens_of_a_retiring_key_verify_until_it_is_removed(
    media_server, edge, bucket, session, tmp_path
) -> None:
    old = Signer({OLD_KEY_ID: OLD_SECRET}, OLD_KEY_ID).url(LESSON, now=edge.clock(), base=edge.base)
    assert (await fetch(session, old))[0] == 200

    retired = edge_settings(
        bucket=bucket.name,
        endpoint=bucket.server.url,
        cache_dir=tmp_path / "after",
        signing={"keys": {KEY_ID: SECRET}, "active": KEY_ID},
    )
    after = await start_edge(media_server, retired, edge.clock)
    old_there = old.replace(edge.base, after.base)
    assert (await fetch(session, old_there))[0] == 403
    assert (await fetch(session, after.url(LESSON)))[0] == 200


async def test_public_folders_need_no_token_and_may_be_cached(edge, session) -> None:
    status, headers, body = await fetch(session, edge.public(TRAILER))
    assert status == 200
    assert body == payload(SIZE, TRAILER)
    assert headers["Cache-Control"] == "public, max-age=86400"
    status, _, got = await fetch(session, edge.public(TRAILER), headers={"Range": "bytes=5-9"})
    assert (status, got) == (206, payload(SIZE, TRAILER)[5:10])


HOSTILE = [
    "courses/py/../../secret/answers.txt",
    "courses/py/ch01/../../../secret/answers.txt",
    "courses/py/%2e%2e/%2e%2e/secret/answers.txt",
    "courses/py/.%2E/.%2e/secret/answers.txt",
    "courses/py/%2E%2E%2F%2E%2E%2Fsecret/answers.txt",
    "courses/py/..%2f..%2fsecret/answers.txt",
    "courses/py/..%5c..%5csecret/answers.txt",
    "courses/py/..\\..\\secret/answers.txt",
    "courses/py//../../secret/answers.txt",
    "courses/py/%252e%252e/%252e%252e/secret/answers.txt",
    "courses/py/ch01/intro.mp4%00/../../../../secret/answers.txt",
    "courses/py/./../../secret/answers.txt",
]


@pytest.mark.parametrize("rest", HOSTILE)
async def test_paths_after_a_token_never_escape_its_scope(edge, bucket, rest) -> None:
    signed = edge.url(LESSON, scope="courses/py/")
    prefix = signed.removesuffix(LESSON)
    code, body = await asyncio.to_thread(curl, prefix + rest)
    assert (code, body) == (403, FORBIDDEN_BODY.encode()), rest
    assert bucket.gets(SECRET_KEY) == 0


@pytest.mark.parametrize(
    "path",
    [
        "/marketing/../secret/answers.txt",
        "/marketing/%2e%2e/secret/answers.txt",
        "/marketing%2f..%2fsecret/answers.txt",
        "/s/../secret/answers.txt",
        "/s/%2e%2e/secret/answers.txt",
        "/./s/x/secret/answers.txt",
        "/secret/answers.txt",
    ],
)
async def test_paths_without_a_token_never_escape_the_public_folders(edge, bucket, path) -> None:
    code, body = await asyncio.to_thread(curl, edge.base + path)
    assert code in (400, 403), path
    assert b"answers" not in body
    assert bucket.gets(SECRET_KEY) == 0


async def test_a_missing_object_under_a_valid_token_is_404_a_player_can_read(edge, session) -> None:
    status, headers, _ = await fetch(
        session,
        edge.url("courses/py/ch09/none.mp4"),
        headers={"Origin": "https://learn.example.com"},
    )
    assert status == 404
    assert headers["Access-Control-Allow-Origin"] == "https://learn.example.com"


async def test_requests_and_bytes_are_counted_by_region_and_status(edge, session) -> None:
    await fetch(session, edge.url(LESSON))
    await fetch(session, edge.url(LESSON), headers={"Range": "bytes=0-99"})
    text = await metrics_text(edge, session)
    assert f'castedge_edge_requests_total{{region="{REGION}",status="200"}} 1.0' in text
    assert f'castedge_edge_requests_total{{region="{REGION}",status="206"}} 1.0' in text
    sent = "castedge_edge_sent_bytes_total"
    assert metric(text, sent, region=REGION, status="200") == SIZE
    assert metric(text, sent, region=REGION, status="206") == 100
    assert 'castedge_requests_total{service="edge",status="206"} 1.0' in text
