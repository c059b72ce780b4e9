"""A response's deadline: how long the next wait may last, which limit ends it, told once."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from delivery.deadlines import Deadline, DeadlineExpired


@pytest.mark.parametrize(
    ("send_timeout", "response_timeout", "now", "since", "wait", "which"),
    [
        # No cap: send_timeout from the last progress.
        (60, None, 100, 100, 60, "send_timeout"),
        (60, None, 130, 100, 30, "send_timeout"),
        (60, None, 170, 100, -10, "send_timeout"),
        # A cap further off than the stall: the stall ends the wait.
        (60, 3600, 100, 100, 60, "send_timeout"),
        # A cap nearer than the stall: the cap does (started at 0).
        (60, 120, 100, 100, 20, "response_timeout"),
        (60, 120, 130, 125, -10, "response_timeout"),
    ],
)
def test_the_nearer_limit_ends_a_wait(
    send_timeout: float,
    response_timeout: float | None,
    now: float,
    since: float,
    wait: float,
    which: str,
) -> None:
    deadline = Deadline(send_timeout, response_timeout, started=0.0)
    assert deadline.wait(now, since) == (wait, which)


@given(
    send_timeout=st.floats(0.001, 1e6),
    response_timeout=st.none() | st.floats(0.001, 1e6),
    started=st.floats(0, 1e6),
    elapsed=st.floats(0, 1e6),
    stalled=st.floats(0, 1e6),
)
def test_a_wait_never_outlasts_either_limit(
    send_timeout: float,
    response_timeout: float | None,
    started: float,
    elapsed: float,
    stalled: float,
) -> None:
    deadline = Deadline(send_timeout, response_timeout, started=started)
    now = started + elapsed
    wait, which = deadline.wait(now, now - stalled)
    assert wait <= send_timeout - stalled + 1e-6
    if response_timeout is not None:
        assert wait <= started + response_timeout - now + 1e-6
    assert which in ("send_timeout", "response_timeout")


def test_expiry_is_told_once_and_names_its_limit_and_seconds() -> None:
    heard: list[str] = []
    deadline = Deadline(60, 3600, started=0.0, on_expired=heard.append)
    first = deadline.expire("response_timeout")
    again = deadline.expire("send_timeout")
    assert heard == ["response_timeout"]
    assert deadline.expired == "response_timeout"
    assert isinstance(first, DeadlineExpired)
    # Every writer already handles a client that went away; this is handled alike.
    assert isinstance(first, ConnectionResetError)
    assert (first.timeout, first.seconds) == ("response_timeout", 3600)
    assert str(first) == "response_timeout: still sending after 3600 s"
    assert str(again) == "send_timeout: no progress for 60 s"
