"""Listen addresses as operators write them."""

from __future__ import annotations

import pytest

from config import Listen


@pytest.mark.parametrize(
    ("text", "host", "port", "shown"),
    [
        ("0.0.0.0:8080", "0.0.0.0", 8080, "0.0.0.0:8080"),
        ("127.0.0.1:9090", "127.0.0.1", 9090, "127.0.0.1:9090"),
        (":8080", "0.0.0.0", 8080, "0.0.0.0:8080"),
        ("localhost:80", "localhost", 80, "localhost:80"),
        ("edge-1.example.net:443", "edge-1.example.net", 443, "edge-1.example.net:443"),
        ("[::1]:8080", "::1", 8080, "[::1]:8080"),
        ("[::]:8080", "::", 8080, "[::]:8080"),
        ("[2001:db8::7]:65535", "2001:db8::7", 65535, "[2001:db8::7]:65535"),
        ("[fe80::1%eth0]:80", "fe80::1%eth0", 80, "[fe80::1%eth0]:80"),
        ("127.0.0.1:0", "127.0.0.1", 0, "127.0.0.1:0"),
        (" 127.0.0.1:80 ", "127.0.0.1", 80, "127.0.0.1:80"),
    ],
)
def test_parse(text: str, host: str, port: int, shown: str) -> None:
    listen = Listen.parse(text)
    assert listen == Listen(host, port)
    assert str(listen) == shown
    assert Listen.parse(str(listen)) == listen


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("8080", ""),
        ("127.0.0.1", ""),
        ("127.0.0.1:", "the port must be 0 to 65535"),
        ("127.0.0.1:65536", "the port must be 0 to 65535"),
        ("127.0.0.1:-1", "the port must be 0 to 65535"),
        ("127.0.0.1:http", "the port must be 0 to 65535"),
        ("127.0.0.1:080080", "the port must be 0 to 65535"),
        ("::1:8080", ""),
        ("[::1]", ""),
        ("[::1]8080", ""),
        ("[localhost]:80", "'localhost' is not an IPv6 address"),
        ("[127.0.0.1]:80", "'127.0.0.1' is not an IPv6 address"),
        ("my host:80", "'my host' is not a host name or address"),
        ("*:80", "'*' is not a host name or address"),
        ("", ""),
    ],
)
def test_parse_rejects(text: str, why: str) -> None:
    with pytest.raises(ValueError) as caught:
        Listen.parse(text)
    message = str(caught.value)
    assert message.startswith(
        f"expected an address such as '0.0.0.0:8080' or '[::1]:8080', got {text!r}"
    )
    assert why in message
