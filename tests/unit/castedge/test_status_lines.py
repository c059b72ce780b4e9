"""``castedge status`` as text: what each role's part of /healthz becomes in the table."""

from __future__ import annotations

from typing import Any

from castedge.status_cli import status_lines
from config import Settings, settings_from_mapping


def settings() -> Settings:
    doc: dict[str, Any] = {
        "storage": {"s3": {"bucket": "media"}},
        "cache": {"dir": "/var/cache/castedge", "max_size": "100GB"},
        "origin": {"listen": "0.0.0.0:8080", "prefixes": ["podcast/"]},
        "admin": {"listen": "127.0.0.1:9090"},
    }
    return settings_from_mapping(doc, source="castedge.yaml", environ={})


def origin(**changes: Any) -> dict[str, Any]:
    part: dict[str, Any] = {
        "healthy": True,
        "status": "ok",
        "store": {"healthy": True, "reason": None, "objects": 1, "bytes": 5_000_000,
                  "max_bytes": 100_000_000_000},
        "fallback": {"on": False, "since": None, "by": None, "auto": False},
        "maintenance": {"on": False, "since": None, "by": None},
    }  # fmt: skip
    return part | changes


def row(lines: list[str], role: str) -> str:
    return next(line for line in lines if line.startswith(f"{role} "))


def test_a_healthy_origin() -> None:
    lines = status_lines(settings(), "http://127.0.0.1:9090", {"status": "ok", "roles": {
        "origin": origin()}})  # fmt: skip
    assert lines[0] == "node http://127.0.0.1:9090 (castedge.yaml): ok"
    assert row(lines, "origin").split() == [
        "origin", "http://0.0.0.0:8080", "ok", "1", "object,", "5.0", "MB", "of", "100", "GB",
        "(0%)", "off", "off", "-",
    ]  # fmt: skip
    # No locator and no sync daemon: no region table.
    assert not any(line.startswith("REGION") for line in lines)


def test_a_tls_listener_shows_its_certificate_and_its_redirect() -> None:
    doc: dict[str, Any] = {
        "storage": {"s3": {"bucket": "media"}},
        "cache": {"dir": "/var/cache/castedge", "max_size": "100GB"},
        "origin": {
            "listen": "0.0.0.0:443",
            "tls": {"cert": "/etc/castedge/certs/fullchain.pem",
                    "key": "/etc/castedge/certs/privkey.pem", "redirect_http": "0.0.0.0:80"},
        },
    }  # fmt: skip
    tls_settings = settings_from_mapping(doc, source="castedge.yaml", environ={})
    health = {"status": "ok", "roles": {"origin": origin()},
              "tls": {"listeners": {"origin": {"expires_in_days": 61.6}}}}  # fmt: skip
    shown = row(status_lines(tls_settings, "http://127.0.0.1:9090", health), "origin")
    assert "https://0.0.0.0:443 (certificate: 62 days left), http://0.0.0.0:80 redirects" in shown


def test_a_degraded_store_and_the_switches_on_are_shown() -> None:
    part = origin(
        healthy=False,
        status="degraded",
        store={"healthy": False, "reason": "disk full", "objects": 3, "bytes": 10,
               "max_bytes": 100},
        fallback={"on": False, "auto": True},
        maintenance={"on": True, "since": "2026-12-01T03:12:00Z", "by": "ops@host"},
    )  # fmt: skip
    health = {"status": "unhealthy", "unhealthy": ["origin"], "roles": {"origin": part}}
    lines = status_lines(settings(), "http://127.0.0.1:9090", health)
    assert lines[0] == "node http://127.0.0.1:9090 (castedge.yaml): UNHEALTHY: origin"
    shown = row(lines, "origin")
    assert "UNHEALTHY (disk full)" in shown
    assert "3 objects, 10 B of 100 B (10%) DEGRADED" in shown
    assert "ON (automatic: the disk fails, misses go to S3)" in shown
    assert "ON since 2026-12-01T03:12:00Z by ops@host" in shown


def test_the_node_says_where_it_listens() -> None:
    # The file says 0.0.0.0:8080; the node, asked, says where it really is.
    health = {"status": "ok", "roles": {"origin": origin(listen="http://127.0.0.1:41234")}}
    lines = status_lines(settings(), "http://10.0.0.7:9090", health, own=False)
    assert lines[0] == "node http://10.0.0.7:9090: ok"
    assert row(lines, "origin").split()[1] == "http://127.0.0.1:41234"
