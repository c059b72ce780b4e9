"""The edge section: defaults, and what each key refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError, EdgeSettings, Listen, load_settings, settings_from_mapping

from .documents import SOURCE, settings, varied


def test_absent_means_no_edge() -> None:
    assert settings(varied({})).edge is None
    assert settings(varied({"edge": None})).edge is None


def test_only_the_region_is_required_and_everything_else_has_a_default() -> None:
    assert settings(varied({"edge": {"region": "eu-central"}})).edge == EdgeSettings(
        listen=Listen("0.0.0.0", 8081),
        region="eu-central",
        public_url=None,
        public_prefixes=(),
        cors_origins=(),
        cache_control="private, max-age=3600",
        public_cache_control="public, max-age=86400",
        access_log="-",
        revocation_file=None,
        revocation_interval=5.0,
    )


def test_every_key_given() -> None:
    edge = {
        "listen": "127.0.0.1:8443",
        "region": "ap-southeast",
        "public_url": "https://edge-syd.example.com/",
        "public_prefixes": ["marketing/", "press/kits/"],
        "cors_origins": ["https://Learn.Example.com/", "http://[::1]:8000"],
        "cache_control": "private, max-age=600",
        "public_cache_control": "public, max-age=60",
        "access_log": None,
        "revocation_file": "/var/lib/castedge/revoked.json",
        "revocation_interval": "500ms",
    }
    assert settings(varied({"edge": edge})).edge == EdgeSettings(
        listen=Listen("127.0.0.1", 8443),
        region="ap-southeast",
        public_url="https://edge-syd.example.com",
        public_prefixes=("marketing/", "press/kits/"),
        cors_origins=("https://learn.example.com", "http://[::1]:8000"),
        cache_control="private, max-age=600",
        public_cache_control="public, max-age=60",
        access_log=None,
        revocation_file=Path("/var/lib/castedge/revoked.json"),
        revocation_interval=0.5,
    )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("region", None, "edge.region: expected a region name such as 'eu-central', got null"),
        ("region", "eu central", "edge.region: expected a region name of up to 64 letters"),
        ("public_prefixes", "marketing/", "edge.public_prefixes: expected a list of folders"),
        ("public_prefixes", ["marketing"], "edge.public_prefixes[0]: expected a folder such as "
                                           "'marketing/', got 'marketing' (end it with '/')"),
        ("public_prefixes", ["ok/", "/abs/"], "edge.public_prefixes[1]: expected a folder"),
        ("public_prefixes", ["a/../b/"], "no empty, '.' or '..' segments"),
        ("public_prefixes", ["a//b/"], "no empty, '.' or '..' segments"),
        ("public_prefixes", ["s/"], "edge.public_prefixes[0]: expected a folder other than 's/'"),
        ("public_prefixes", ["s/videos/"], "expected a folder other than 's/'"),
        ("cors_origins", ["learn.example.com"], "edge.cors_origins[0]: expected an origin"),
        ("cors_origins", ["https://learn.example.com/app"], "an origin has no path"),
        ("cors_origins", ["*", "https://a.example"], "edge.cors_origins: expected either '*'"),
        ("cache_control", "private\r\nX: y", "control characters are not allowed"),
        ("revocation_interval", "0s", "edge.revocation_interval: expected a duration greater"),
        ("surprise", 1, "edge.surprise: unknown key"),
    ],
)  # fmt: skip
def test_wrong_values_name_the_key(key: str, value: object, message: str) -> None:
    document = varied({"edge": {"region": "eu-central", key: value}})
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(document, source=SOURCE, environ={})
    assert message in str(caught.value)


def test_the_example_configures_an_edge() -> None:
    example = Path(__file__).resolve().parents[3] / "config" / "example.yaml"
    edge = load_settings(example, environ={"CASTEDGE_ADMIN_TOKEN": "t"}).edge
    assert edge is not None
    assert edge.region == "eu-central"
    assert edge.public_prefixes == ("marketing/",)
    assert edge.cors_origins == ("https://learn.example.com",)
    assert edge.revocation_file == Path("/var/lib/castedge/revoked.json")
