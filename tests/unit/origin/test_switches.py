"""The operator's switches as plain values: the decision table and the state file's form."""

from __future__ import annotations

import pytest

from origin.state import NodeState, StateError
from origin.switches import Action, choose, maintenance_page, wants_html

ON = NodeState(fallback=True)
MAINT = NodeState(maintenance=True)
BOTH = NodeState(fallback=True, maintenance=True)


@pytest.mark.parametrize(
    ("state", "html", "s3", "expected"),
    [
        (NodeState(), False, True, Action.SERVE),
        (NodeState(), True, True, Action.SERVE),
        (ON, False, True, Action.REDIRECT),
        (ON, True, True, Action.REDIRECT),
        (ON, False, False, Action.SERVE),
        (MAINT, True, True, Action.MAINTENANCE_PAGE),
        (MAINT, True, False, Action.MAINTENANCE_PAGE),
        (MAINT, False, True, Action.REDIRECT),
        (MAINT, False, False, Action.UNAVAILABLE),
        (BOTH, True, True, Action.MAINTENANCE_PAGE),
        (BOTH, False, True, Action.REDIRECT),
    ],
)
def test_choose(state: NodeState, html: bool, s3: bool, expected: Action) -> None:
    assert choose(state, wants_html=html, can_redirect=s3) is expected


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),
        ("TEXT/HTML", True),
        ("*/*", False),
        ("audio/mpeg", False),
        (None, False),
        ("", False),
    ],
)
def test_wants_html(accept: str | None, expected: bool) -> None:
    assert wants_html(accept) is expected


def test_state_round_trips_and_records_who_and_when() -> None:
    state = NodeState().with_fallback(True, now=100.0, by="alice@ops")
    state = state.with_maintenance(True, now=200.0, by="bob", message="Patching", retry_after=5)
    again = NodeState.from_json(state.to_json())
    assert again == state
    assert (again.fallback_since, again.fallback_by) == (100.0, "alice@ops")
    assert again.maintenance_retry_after == 5
    assert state.with_fallback(True, now=300.0, by="carol") is state, "no change, no new time"


@pytest.mark.parametrize(
    "text",
    ["", "[]", "{", '{"fallback": "yes"}', '{"fallback": 1}', '{"nonsense": ['],
)
def test_unreadable_state_is_refused(text: str) -> None:
    with pytest.raises(StateError):
        NodeState.from_json(text)


@pytest.mark.parametrize(
    ("message", "retry_after"),
    [("x" * 501, None), ("two\nlines", None), (None, 0), (None, 3601)],
)
def test_bad_maintenance_settings_are_refused(message, retry_after) -> None:
    with pytest.raises(StateError):
        NodeState().with_maintenance(True, now=1, by="x", message=message, retry_after=retry_after)


def test_maintenance_page_escapes_the_message_and_reloads_itself() -> None:
    page = maintenance_page('<script>alert("x")</script>', 12)
    assert "<script>" not in page
    assert '<meta http-equiv="refresh" content="12">' in page
