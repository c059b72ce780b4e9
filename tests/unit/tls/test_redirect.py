"""The HTTPS URL a plain-HTTP request is redirected to, from its Host header."""

from __future__ import annotations

import pytest

from tls.redirect import https_url


@pytest.mark.parametrize(
    ("host", "port", "path_qs", "expected"),
    [
        ("podcasts.example.com", 443, "/feed.xml", "https://podcasts.example.com/feed.xml"),
        (
            "podcasts.example.com",
            8443,
            "/ep/1.mp3?ref=rss",
            "https://podcasts.example.com:8443/ep/1.mp3?ref=rss",
        ),
        # The client's port is the plain listener's, never the HTTPS one.
        ("podcasts.example.com:80", 443, "/a", "https://podcasts.example.com/a"),
        ("podcasts.example.com:8080", 8443, "/a", "https://podcasts.example.com:8443/a"),
        ("127.0.0.1:80", 8443, "/", "https://127.0.0.1:8443/"),
        ("[2001:db8::1]:80", 443, "/", "https://[2001:db8::1]/"),
        ("[::1]", 8443, "/x", "https://[::1]:8443/x"),
        ("localhost", 443, "/", "https://localhost/"),
        ("a", 443, "/", "https://a/"),
        ("  podcasts.example.com  ", 443, "/", "https://podcasts.example.com/"),
        # The path and query are kept byte for byte, percent-escapes included.
        ("h.example", 443, "/a%20b/c?q=%2F&x", "https://h.example/a%20b/c?q=%2F&x"),
        # A path that looks like another host stays a path on this one.
        ("h.example", 443, "//evil.example/x", "https://h.example//evil.example/x"),
        # No usable Host: nothing to redirect to.
        (None, 443, "/", None),
        ("", 443, "/", None),
        ("   ", 443, "/", None),
        # A Host that would put what an attacker chose into the Location header.
        ("evil.example/x", 443, "/", None),
        ("user@evil.example", 443, "/", None),
        ("evil.example\r\nSet-Cookie: a=b", 443, "/", None),
        ("evil.example:80:80", 443, "/", None),
        ("evil.example:", 443, "/", None),
        ("evil.example:port", 443, "/", None),
        ("evil.example:123456", 443, "/", None),
        ("a b", 443, "/", None),
        ("-lead.example", 443, "/", None),
        ("trail.example-", 443, "/", None),
        ("under_score.example", 443, "/", None),
        ("[::1", 443, "/", None),
        ("[not:hex:zz]", 443, "/", None),
        ("x" * 254, 443, "/", None),
    ],
)
def test_https_url(host: str | None, port: int, path_qs: str, expected: str | None) -> None:
    assert https_url(host, port, path_qs) == expected


def test_the_longest_host_a_client_may_send_is_kept() -> None:
    host = "x" * 253
    assert https_url(host, 443, "/") == f"https://{host}/"
