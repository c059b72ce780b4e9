"""Where the client commands find the sync daemon: --sync, else the node's own admin listener."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from castedge.common import admin_url
from castedge.publish_cli import _sync_url
from config import AdminSettings, Listen, TlsSettings, settings_from_mapping


@pytest.mark.parametrize(
    ("listen", "url"),
    [
        ("0.0.0.0:9090", "http://127.0.0.1:9090"),
        ("[::]:9090", "http://[::1]:9090"),
        ("10.0.0.5:9091", "http://10.0.0.5:9091"),
        ("[2001:db8::5]:9090", "http://[2001:db8::5]:9090"),
    ],
)
def test_a_wildcard_admin_address_is_reached_on_loopback(listen: str, url: str) -> None:
    assert admin_url(AdminSettings(Listen.parse(listen), None)) == url


def test_an_admin_listener_with_tls_is_reached_over_https() -> None:
    tls = TlsSettings(cert=Path("/etc/castedge/certs/admin.pem"), key=Path("/k.pem"))
    assert admin_url(AdminSettings(Listen.parse("0.0.0.0:9090"), None, tls)) == (
        "https://127.0.0.1:9090"
    )


def node(sync: object) -> SimpleNamespace:
    # A settings object of a version with a sync section; only what is read is here.
    return SimpleNamespace(sync=sync, admin=AdminSettings(Listen.parse("0.0.0.0:9090"), None))


def test_a_node_with_a_sync_section_is_nudged_on_its_own_admin_listener() -> None:
    assert _sync_url(None, node(sync=object())) == "http://127.0.0.1:9090"


def test_sync_wins_over_the_file() -> None:
    given = "http://sync.internal:9090"
    assert _sync_url(given, node(sync=object())) == given


def test_a_node_without_a_sync_daemon_has_none_to_nudge() -> None:
    assert _sync_url(None, node(sync=None)) is None
    today = settings_from_mapping({"storage": {"dir": "/srv"}}, source="n.yaml", environ={})
    assert _sync_url(None, today) is None
