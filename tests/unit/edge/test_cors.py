"""CORS answers from the configured origins: actual responses and preflights."""

from __future__ import annotations

import pytest

from edge.cors import EXPOSED_HEADERS, CorsPolicy

SITE = "https://learn.example.com"
POLICY = CorsPolicy([SITE, "http://127.0.0.1:8000"])


def test_no_origins_means_no_cors_headers_at_all() -> None:
    policy = CorsPolicy([])
    assert not policy.enabled
    assert policy.headers(SITE) == {}
    assert policy.preflight({"Origin": SITE, "Access-Control-Request-Method": "GET"}) == {
        "Allow": "GET, HEAD, OPTIONS"
    }


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        (SITE, {"Vary": "Origin", "Access-Control-Allow-Origin": SITE,
                "Access-Control-Expose-Headers": EXPOSED_HEADERS}),
        ("http://127.0.0.1:8000", {"Vary": "Origin",
                                   "Access-Control-Allow-Origin": "http://127.0.0.1:8000",
                                   "Access-Control-Expose-Headers": EXPOSED_HEADERS}),
        ("https://learn.example.com.evil.example", {"Vary": "Origin"}),
        ("https://LEARN.example.com", {"Vary": "Origin"}),
        ("null", {"Vary": "Origin"}),
        (None, {"Vary": "Origin"}),
    ],
)  # fmt: skip
def test_listed_origins_only(origin: str | None, expected: dict[str, str]) -> None:
    assert POLICY.headers(origin) == expected


def test_a_star_allows_every_origin_without_vary() -> None:
    policy = CorsPolicy(["*"])
    assert policy.headers("https://any.example") == {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Expose-Headers": EXPOSED_HEADERS,
    }
    assert policy.headers(None) == {}


def test_a_granted_preflight() -> None:
    answer = POLICY.preflight(
        {
            "Origin": SITE,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Range, If-None-Match",
        }
    )
    assert answer["Access-Control-Allow-Origin"] == SITE
    assert answer["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"
    assert answer["Access-Control-Allow-Headers"] == "range, if-none-match"
    assert answer["Access-Control-Max-Age"] == "7200"


@pytest.mark.parametrize(
    "request_headers",
    [
        {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        {"Origin": SITE, "Access-Control-Request-Method": "POST"},
        {"Origin": SITE, "Access-Control-Request-Method": "GET",
         "Access-Control-Request-Headers": "range, authorization"},
        {"Origin": SITE},
        {},
    ],
    ids=["other origin", "post", "authorization header", "not a preflight", "bare options"],
)  # fmt: skip
def test_refused_preflights_carry_no_grant(request_headers: dict[str, str]) -> None:
    answer = POLICY.preflight(request_headers)
    assert answer["Allow"] == "GET, HEAD, OPTIONS"
    assert not any(name.startswith("Access-Control-") for name in answer)
