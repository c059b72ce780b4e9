"""Which requests cannot be part of a download (IAB v2.2 Step 1), and the reason given."""

from __future__ import annotations

from dataclasses import replace

import pytest

from analytics import Reason, Row, request_reason

from .rows import APPLE, GOOGLEBOT, WATCH, agents, get, head

AGENTS = agents()


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (get(), None),
        (get(0, 10_485_759), None),
        (head(), Reason.METHOD),
        (get(status=304, sent=0), Reason.NOT_MODIFIED),
        (get(status=302, sent=0), Reason.REDIRECT),
        (get(status=404, sent=0), Reason.ERROR),
        (get(status=503, sent=0), Reason.ERROR),
        (get(0, 1), Reason.PROBE),
        (get(500, 501), Reason.PROBE),
        (get(0, 0), Reason.PROBE),
        (get(0, 2), None),
        (get(agent=""), Reason.NO_USER_AGENT),
        (get(agent="-"), Reason.NO_USER_AGENT),
        (get(agent=WATCH), Reason.APPLE_WATCH),
        (get(agent="Podcasts/1.0 (null)/(null) watchOS/9.1"), Reason.APPLE_WATCH),
        (get(agent=GOOGLEBOT), Reason.BOT),
        (get(agent="curl/8.5.0"), Reason.BOT),
        (get(agent=APPLE), None),
    ],
)
def test_request_reason(row: Row, reason: Reason | None) -> None:
    assert request_reason(row, AGENTS) == reason


def test_a_head_probe_is_a_head() -> None:
    assert request_reason(replace(get(0, 1), method="HEAD"), AGENTS) is Reason.METHOD
