"""The edge section: defaults, and what each key refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError, EdgeSettings, Listen, load_settings, settings_from_mapping

from .documents import SIGNING_KEY, SOURCE, settings, varied

#: What an edge cannot run without besides its own section.
SIGNING = {"keys": {"k1": SIGNING_KEY}, "active": "k1"}


def test_absent_means_no_edge() -> None:
    assert settings(varied({})).edge is None
    assert settings(varied({"edge": None})).edge is None


def test_only_the_region_is_required_and_everything_else_has_a_default() -> None:
    document = varied({"edge": {"region": "eu-central"}, "signing": SIGNING})
    assert settings(document).edge == EdgeSettings(
        listen=Listen("0.0.0.0", 8081),
        region="eu-central",
        public_url=None,
        public_prefixes=(),
        cors_origins=(),
        cache_control="private, max-age=3600",
        public_cache_control="public, max-age=86400",
        access_log="-",
        workers=1,
        drain_timeout=30.0,
        prefixes=(),
        cache_dir=None,
        cache_max_size=None,
    )


def test_an_edge_needs_the_signing_keys() -> None:
    with pytest.raises(ConfigError) as caught:
        settings(varied({"edge": {"region": "eu-central"}}))
    assert str(caught.value) == (
        "castedge.yaml: signing: missing, and the edge section needs it: "
        "the edge checks tokens with its keys"
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
        "workers": "auto",
        "drain_timeout": "10s",
        "prefixes": ["courses/", "marketing/", "press/"],
        "cache_dir": "/srv/cache/edge",
        "cache_max_size": "50GB",
    }
    assert settings(varied({"edge": edge, "signing": SIGNING})).edge == EdgeSettings(
        listen=Listen("127.0.0.1", 8443),
        region="ap-southeast",
        public_url="https://edge-syd.example.com",
        public_prefixes=("marketing/", "press/kits/"),
        cors_origins=("https://learn.example.com", "http://[::1]:8000"),
        cache_control="private, max-age=600",
        public_cache_control="public, max-age=60",
        access_log=None,
        workers=None,
        drain_timeout=10.0,
        prefixes=("courses/", "marketing/", "press/"),
        cache_dir=Path("/srv/cache/edge"),
        cache_max_size=50 * 1000**3,
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
        ("prefixes", ["courses"], "edge.prefixes[0]: expected a folder such as"),
        ("cache_max_size", "0", "edge.cache_max_size: expected a size greater than 0"),
        ("revocation_file", "/x", "edge.revocation_file: unknown key"),
        ("surprise", 1, "edge.surprise: unknown key"),
    ],
)  # fmt: skip
def test_wrong_values_name_the_key(key: str, value: object, message: str) -> None:
    document = varied({"edge": {"region": "eu-central", key: value}, "signing": SIGNING})
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(document, source=SOURCE, environ={})
    assert message in str(caught.value)


def test_the_example_configures_an_edge() -> None:
    example = Path(__file__).resolve().parents[3] / "config" / "example.yaml"
    environ = {
        "CASTEDGE_ADMIN_TOKEN": "t",
        "CASTEDGE_SIGNING_KEY_2025A": "a" * 32,
        "CASTEDGE_SIGNING_KEY_2025B": "b" * 32,
    }
    got = load_settings(example, environ=environ)
    edge = got.edge
    assert edge is not None
    assert edge.region == "eu-central"
    assert edge.public_prefixes == ("marketing/",)
    assert edge.prefixes == ("courses/", "marketing/")
    assert edge.cors_origins == ("https://learn.example.com",)
    assert got.signing is not None
    assert got.signing.revocation_file == Path("/var/lib/castedge/revoked.json")
