"""The analytics section and the origin's trusted proxies, as an operator writes them."""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path

import pytest

from config import AnalyticsSettings, ConfigError, load_settings

from .documents import SOURCE, minimal, settings, varied
from .test_load import EXAMPLE, EXAMPLE_ENVIRON


def test_without_a_section_nothing_is_recorded_and_addresses_are_hashed() -> None:
    got = settings(minimal())
    assert got.analytics == AnalyticsSettings(
        log=None, db=None, ip="hash", address_limit=50, agents=None
    )
    assert got.origin is not None
    assert (got.origin.trusted_proxies, got.origin.client_ip_header) == ((), "x-forwarded-for")


def test_every_key_given() -> None:
    got = settings(
        varied(
            {
                "analytics": {
                    "log": "/var/log/castedge/downloads.log",
                    "db": "/var/lib/castedge/analytics.db",
                    "ip": "Keep",
                    "address_limit": 12,
                    "agents": "/var/lib/castedge/user-agents.json",
                },
                "origin.trusted_proxies": ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"],
                "origin.client_ip_header": "forwarded",
            }
        )
    )
    assert got.analytics == AnalyticsSettings(
        log=Path("/var/log/castedge/downloads.log"),
        db=Path("/var/lib/castedge/analytics.db"),
        ip="keep",
        address_limit=12,
        agents=Path("/var/lib/castedge/user-agents.json"),
    )
    assert got.origin is not None
    assert got.origin.trusted_proxies == (
        ip_network("10.0.0.0/8"),
        ip_network("2001:db8::/32"),
        ip_network("192.0.2.7/32"),
    )
    assert got.origin.client_ip_header == "forwarded"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"analytics.ip": "md5"}, "analytics.ip: expected one of hash, truncate, keep, got 'md5'"),
        (
            {"analytics.address_limit": 0},
            "analytics.address_limit: expected an integer from 1 to 1000000, got 0",
        ),
        ({"analytics.log": ""}, "analytics.log: expected a file path, got ''"),
        ({"analytics.logs": "/x"}, "analytics.logs: unknown key; did you mean 'log'?"),
        (
            {"analytics": {"log": "/var/log/d.log", "db": "/var/log/d.log"}},
            "analytics.db: expected a file other than analytics.log, got '/var/log/d.log'",
        ),
        (
            {"origin.trusted_proxies": ["10.0.0.1/8"]},
            "origin.trusted_proxies[0]: expected an address or network such as '10.0.0.0/8' "
            "or '2001:db8::/32', got '10.0.0.1/8' (host bits are set)",
        ),
        (
            {"origin.client_ip_header": "x-real-ip"},
            "origin.client_ip_header: expected one of x-forwarded-for, forwarded, got 'x-real-ip'",
        ),
    ],
)
def test_errors_name_the_file_and_the_key(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(varied(changes))
    assert str(caught.value) == f"{SOURCE}: {message}"


def test_the_example_records_downloads_with_hashed_addresses() -> None:
    got = load_settings(EXAMPLE, environ=EXAMPLE_ENVIRON)
    assert got.analytics.log == Path("/var/log/castedge/downloads.log")
    assert got.analytics.ip == "hash"
