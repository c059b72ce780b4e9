"""The http section: nginx's defaults, a role's own section inheriting the rest, errors."""

from __future__ import annotations

import pytest

from config import ConfigError, HttpSettings, role_http

from .documents import full, minimal, settings, varied


def test_every_listener_takes_nginx_defaults() -> None:
    got = settings(full())
    expected = HttpSettings(
        header_timeout=60.0,
        keepalive_timeout=75.0,
        send_timeout=60.0,
        response_timeout=None,
        max_connections=10000,
    )
    assert got.http == expected
    assert [role_http(got, role) for role in ("origin", "edge", "locator", "admin")] == [
        expected
    ] * 4


def test_the_top_level_section_applies_to_every_role() -> None:
    got = settings(varied({"http": {"header_timeout": "10s", "max_connections": 500}}, full()))
    for role in ("origin", "edge", "locator", "admin"):
        assert role_http(got, role).header_timeout == 10.0
        assert role_http(got, role).max_connections == 500


def test_a_role_overrides_key_by_key_and_inherits_the_rest() -> None:
    document = varied(
        {
            "http": {"header_timeout": "10s", "response_timeout": "1h"},
            "edge.http": {"send_timeout": "2m"},
        },
        full(),
    )
    got = settings(document)
    assert role_http(got, "edge") == HttpSettings(
        header_timeout=10.0, send_timeout=120.0, response_timeout=3600.0
    )
    # The others, admin among them, keep the top-level section.
    assert role_http(got, "origin") == role_http(got, "admin") == got.http
    assert got.http.send_timeout == 60.0


def test_a_role_may_lift_the_top_level_cap() -> None:
    document = varied(
        {"http": {"response_timeout": "1h"}, "origin.http": {"response_timeout": None}}
    )
    got = settings(document)
    assert role_http(got, "origin").response_timeout is None
    assert role_http(got, "admin").response_timeout == 3600.0


def test_an_empty_role_section_is_the_top_level_one() -> None:
    got = settings(varied({"http": {"send_timeout": "5s"}, "origin.http": {}}))
    assert role_http(got, "origin") == got.http


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"http.header_timeout": 0},
            "castedge.yaml: http.header_timeout: expected a duration greater than 0, got 0",
        ),
        (
            {"http.keepalive_timeout": "soon"},
            "castedge.yaml: http.keepalive_timeout: expected a duration such as '30s', got 'soon'",
        ),
        (
            {"origin.http.max_connections": 0},
            "castedge.yaml: origin.http.max_connections: "
            "expected an integer from 1 to 1000000, got 0",
        ),
        (
            {"origin.http.send_timout": "5s"},
            "castedge.yaml: origin.http.send_timout: unknown key; did you mean 'send_timeout'?",
        ),
        # A mistake in the top-level section is reported there, not in a role's copy.
        (
            {"http.response_timeout": "-1s", "origin.http": {"send_timeout": "5s"}},
            "castedge.yaml: http.response_timeout: expected a duration such as '30s', got '-1s'",
        ),
        (
            {"http": "fast"},
            "castedge.yaml: http: expected a mapping, got 'fast'",
        ),
    ],
)
def test_errors_name_the_key(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(varied(changes, minimal()))
    assert str(caught.value) == message
