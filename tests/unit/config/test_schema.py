"""Validation of a parsed document: defaults, types, unknown keys and cross-field rules."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import (
    AdminSettings,
    CacheSettings,
    ConfigError,
    Listen,
    OriginSettings,
    S3Settings,
    Secret,
    Settings,
    SigningSettings,
    StorageSettings,
    UpstreamSettings,
    settings_from_mapping,
)
from config.schema import SETTINGS
from config.spec import Section

from .documents import REMOVE, SIGNING_KEY, SOURCE, full, minimal, settings, varied


def error_for(document: object, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(document, source=SOURCE, environ=environ or {})  # type: ignore[arg-type]
    return caught.value


def test_minimal_document_takes_every_default() -> None:
    assert settings(minimal()) == Settings(
        source="castedge.yaml",
        storage=StorageSettings(
            s3=S3Settings(
                bucket="media",
                endpoint_url=None,
                region="us-east-1",
                public_url=None,
                presign_ttl=3600.0,
            ),
            dir=None,
        ),
        upstream=UpstreamSettings(
            connect_timeout=5.0,
            read_timeout=30.0,
            retries=4,
            backoff=0.2,
            negative_ttl=10.0,
            fill_deadline=60.0,
        ),
        cache=CacheSettings(
            dir=Path("/var/cache/castedge"),
            max_size=200_000_000_000,
            high_watermark=0.95,
            low_watermark=0.90,
        ),
        origin=OriginSettings(
            listen=Listen("0.0.0.0", 8080),
            cache_control="public, max-age=86400",
            access_log="-",
            fallback="auto",
            workers=1,
            drain_timeout=30.0,
        ),
        admin=AdminSettings(listen=Listen("127.0.0.1", 9090), token=None),
        signing=None,
        log_level="info",
    )


def test_every_key_given() -> None:
    document = {
        "log_level": "DEBUG",
        "storage": {
            "s3": {
                "bucket": "media",
                "endpoint_url": "http://127.0.0.1:9000",
                "region": "eu-central-1",
                "public_url": "https://media.example.com/podcast//",
                "presign_ttl": "7d",
            }
        },
        "upstream": {
            "connect_timeout": "500ms",
            "read_timeout": 12,
            "retries": 0,
            "backoff": 0,
            "negative_ttl": "1m",
            "fill_deadline": "12s",
        },
        "cache": {"dir": "cache", "max_size": 1, "high_watermark": 1, "low_watermark": 0.5},
        "origin": {
            "listen": ":0",
            "cache_control": "no-store",
            "access_log": None,
            "fallback": "STREAM",
            "workers": "auto",
            "drain_timeout": "2m",
        },
        "admin": {"listen": "[::1]:9999", "token": "t0ken"},
        "signing": {
            "keys": {"2025a": SIGNING_KEY, "2025-b_": SIGNING_KEY + "2"},
            "active": "2025-b_",
            "leeway": "0s",
            "default_ttl": "15m",
        },
    }
    got = settings(document)
    assert got.log_level == "debug"
    assert got.storage.s3 == S3Settings(
        bucket="media",
        endpoint_url="http://127.0.0.1:9000",
        region="eu-central-1",
        public_url="https://media.example.com/podcast",
        presign_ttl=604800.0,
    )
    assert got.upstream == UpstreamSettings(
        connect_timeout=0.5,
        read_timeout=12.0,
        retries=0,
        backoff=0.0,
        negative_ttl=60.0,
        fill_deadline=12.0,
    )
    assert got.cache == CacheSettings(Path("cache"), 1, 1.0, 0.5)
    assert got.origin == OriginSettings(
        Listen("0.0.0.0", 0), "no-store", None, "stream", None, 120.0
    )
    assert got.admin == AdminSettings(Listen("::1", 9999), Secret("t0ken"))
    assert got.signing == SigningSettings(
        keys={"2025a": Secret(SIGNING_KEY), "2025-b_": Secret(SIGNING_KEY + "2")},
        active="2025-b_",
        leeway=0.0,
        default_ttl=900.0,
    )


def test_local_directory_storage() -> None:
    got = settings(varied({"storage": {"dir": "/srv/media"}}))
    assert got.storage == StorageSettings(s3=None, dir=Path("/srv/media"))


@pytest.mark.parametrize("section", ["upstream", "admin"])
def test_an_empty_section_is_the_same_as_none(section: str) -> None:
    assert settings(varied({section: None})) == settings(minimal())
    assert settings(varied({section: {}})) == settings(minimal())


def test_an_empty_role_section_runs_the_role_with_its_defaults() -> None:
    assert settings(varied({"origin": {}})).origin == OriginSettings(
        listen=Listen("0.0.0.0", 8080),
        cache_control="public, max-age=86400",
        access_log="-",
        fallback="auto",
        workers=1,
        drain_timeout=30.0,
    )
    # A role left out (or null) is a role this node does not run.
    assert settings(varied({"origin": None})).origin is None
    assert settings(varied({"origin": REMOVE})).origin is None


def test_null_signing_is_no_signing() -> None:
    assert settings(varied({"signing": None})).signing is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"cache.max_size": "lots"},
            "castedge.yaml: cache.max_size: expected a size such as '200GB', got 'lots'",
        ),
        (
            {"cache.max_sise": "1GB"},
            "castedge.yaml: cache.max_sise: unknown key; did you mean 'max_size'?",
        ),
        (
            {"cache.max_size": REMOVE},
            "castedge.yaml: cache.max_size: missing; expected a size such as '200GB'",
        ),
        (
            {"cache": REMOVE},
            "castedge.yaml: cache: missing, and the origin section needs it: "
            "the origin keeps episodes there (give cache.dir and cache.max_size)",
        ),
        (
            {"storage": {}},
            "castedge.yaml: storage: expected exactly one of s3 or dir, got neither",
        ),
        (
            {"storage.dir": "/srv/media"},
            "castedge.yaml: storage: expected exactly one of s3 or dir, got both",
        ),
        (
            {"cache.low_watermark": 0.97},
            "castedge.yaml: cache.low_watermark: "
            "expected a number below high_watermark (0.95), got 0.97",
        ),
        (
            {"upstream.retries": "4"},
            "castedge.yaml: upstream.retries: expected an integer from 0 to 20, got '4'",
        ),
        (
            {"storage.s3.presign_ttl": "8d"},
            "castedge.yaml: storage.s3.presign_ttl: "
            "expected a duration greater than 0 and at most 7d, got '8d'",
        ),
        (
            {"signing": {"keys": {"k1": "short-secret"}, "active": "k1"}},
            "castedge.yaml: signing.keys.k1: "
            "expected a secret of at least 16 characters, got 12 characters",
        ),
        (
            {"signing": {"keys": {"k1": SIGNING_KEY}, "active": "k2"}},
            "castedge.yaml: signing.active: "
            "expected one of the key ids in signing.keys ('k1'), got 'k2'",
        ),
        (
            {"log_level": "verbose"},
            "castedge.yaml: log_level: expected one of debug, info, warning, error, got 'verbose'",
        ),
        (
            {"bogus": 1},
            "castedge.yaml: bogus: unknown key; "
            "expected one of storage, upstream, http, cache, origin, edge, admin, signing, "
            "log_level, geo, regions, locator, sync, analytics, ca_bundle",
        ),
    ],
)
def test_exact_messages(changes: dict[str, object], message: str) -> None:
    assert str(error_for(varied(changes))) == message


def test_error_carries_its_parts() -> None:
    error = error_for(varied({"cache.max_size": "lots"}))
    assert (error.source, error.key) == ("castedge.yaml", "cache.max_size")
    assert error.message == "expected a size such as '200GB', got 'lots'"
    assert (error.line, error.column) == (None, None)


@pytest.mark.parametrize("document", [[], "storage: x", 42, None])
def test_top_level_must_be_a_mapping(document: object) -> None:
    error = error_for(document)
    assert error.key is None
    assert str(error).startswith("castedge.yaml: expected a mapping of settings at the top level")


def section_paths(spec: Section[Any], prefix: str = "") -> Iterator[str]:
    """Every section reachable from ``spec``, as dotted paths (the root as "")."""
    yield prefix
    for field in spec.fields:
        if field.kind.section is not None:
            yield from section_paths(field.kind.section, f"{prefix}{field.name}.")


ALL_SECTIONS = [path.rstrip(".") for path in section_paths(SETTINGS)]


def test_the_walk_finds_every_section() -> None:
    assert sorted(ALL_SECTIONS) == sorted(
        ["", "storage", "storage.s3", "upstream", "cache", "origin", "edge", "admin", "signing"]
        + ["geo", "geo.health", "locator", "sync", "analytics"]
        + ["origin.tls", "edge.tls", "locator.tls", "admin.tls"]
        + ["http", "origin.http", "edge.http", "locator.http"]
    )


@pytest.mark.parametrize("section", ALL_SECTIONS)
def test_unknown_keys_are_errors_at_every_level(section: str) -> None:
    key = f"{section}.surprise" if section else "surprise"
    error = error_for(varied({key: "x"}, base=full()))
    assert error.key == key
    assert error.message.startswith("unknown key; ")


def test_unknown_keys_that_are_not_strings() -> None:
    error = error_for(varied({"cache": {"dir": "/c", "max_size": 1, 7: "x"}}))
    assert str(error).startswith("castedge.yaml: cache.7: unknown key")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("storage.s3", "media", "expected a mapping, got 'media'"),
        ("storage.s3.bucket", "", "expected a bucket name, got ''"),
        ("storage.s3.bucket", 5, "expected a bucket name, got 5"),
        ("storage.s3.endpoint_url", "ftp://host", "expected an http(s) URL"),
        ("storage.s3.endpoint_url", "127.0.0.1:9000", "expected an http(s) URL"),
        ("storage.s3.endpoint_url", "http://", "expected an http(s) URL"),
        ("storage.s3.endpoint_url", "http://h:99999", "expected an http(s) URL"),
        ("storage.s3.endpoint_url", "http://[::1", "expected an http(s) URL"),
        ("storage.s3.endpoint_url", "http://a b", "expected an http(s) URL"),
        ("storage.s3.endpoint_url", "http://ak:sk@h", "got a URL with credentials in it"),
        ("storage.s3.public_url", True, "expected an http(s) URL"),
        ("storage.s3.region", None, "expected a region name"),
        ("storage.s3.presign_ttl", "0s", "expected a duration greater than 0 and at most 7d"),
        ("storage.s3.presign_ttl", "soon", "expected a duration such as '30s', got 'soon'"),
        ("upstream.connect_timeout", 0, "expected a duration greater than 0, got 0"),
        ("upstream.read_timeout", "-1s", "expected a duration such as '30s', got '-1s'"),
        ("upstream.retries", 21, "expected an integer from 0 to 20, got 21"),
        ("upstream.retries", -1, "expected an integer from 0 to 20, got -1"),
        ("upstream.retries", 2.0, "expected an integer from 0 to 20, got 2.0"),
        ("upstream.retries", True, "expected an integer from 0 to 20, got true"),
        ("upstream.backoff", [1], "expected a duration such as '30s', got a list"),
        ("upstream.negative_ttl", {"s": 1}, "expected a duration such as '30s', got a mapping"),
        ("upstream.fill_deadline", 0, "expected a duration greater than 0, got 0"),
        ("upstream.fill_deadline", "10s", "expected at least read_timeout (30 s), got 10 s"),
        ("cache.dir", "", "expected a directory path, got ''"),
        ("cache.dir", "/a\0b", "a path cannot contain a NUL character"),
        ("cache.dir", 5, "expected a directory path, got 5"),
        ("cache.max_size", 0, "expected a size greater than 0 bytes, got 0"),
        ("cache.max_size", "0GB", "expected a size greater than 0 bytes, got '0GB'"),
        ("cache.max_size", 1.5e9, "expected a size such as '200GB', got 1500000000.0"),
        ("cache.max_size", "10G", "unknown unit 'G'"),
        ("cache.high_watermark", 0, "expected a number greater than 0 and at most 1, got 0"),
        ("cache.high_watermark", 1.01, "expected a number greater than 0 and at most 1"),
        ("cache.high_watermark", "95%", "expected a number greater than 0 and at most 1"),
        ("cache.low_watermark", False, "expected a number greater than 0 and at most 1"),
        ("origin.listen", 8080, "expected an address such as '0.0.0.0:8080', got 8080"),
        ("origin.listen", "0.0.0.0:99999", "the port must be 0 to 65535"),
        ("origin.cache_control", "", "expected an HTTP header value, got ''"),
        ("origin.cache_control", "public\r\nSet-Cookie: a=b", "control characters"),
        ("origin.access_log", "", "expected a file path, or '-' for stderr, got ''"),
        ("origin.access_log", False, "expected a file path, or '-' for stderr, got false"),
        ("admin.listen", "[nope]:1", "'nope' is not an IPv6 address"),
        ("admin.token", "", "got 0 characters"),
        ("admin.token", "two words", "got one with spaces or control characters"),
        ("admin.token", "tab\tbed", "got one with spaces or control characters"),
        ("admin.token", 1234567890, "got a number (quote it)"),
        ("admin.token", ["a"], "got a list"),
        ("log_level", None, "expected one of debug, info, warning, error, got null"),
    ],
)
def test_wrong_values_name_the_key_and_what_was_expected(
    key: str, value: object, expected: str
) -> None:
    error = error_for(varied({key: value}))
    assert error.key == key
    assert str(error).startswith(f"castedge.yaml: {key}: expected ")
    assert expected in error.message


@pytest.mark.parametrize(
    ("signing", "key", "expected"),
    [
        ("yes", "signing", "expected a mapping, got 'yes'"),
        ({"active": "k1"}, "signing.keys", "missing; expected a mapping of at least one key id"),
        ({"keys": {}, "active": "k1"}, "signing.keys", "got an empty mapping"),
        ({"keys": ["k1"], "active": "k1"}, "signing.keys", "got a list"),
        ({"keys": {"k1": SIGNING_KEY}}, "signing.active", "missing; expected a key id"),
        ({"keys": {"k1": SIGNING_KEY}, "active": 1}, "signing.active", "got 1"),
        (
            {"keys": {"bad id": SIGNING_KEY}, "active": "bad id"},
            "signing.keys.bad id",
            "expected a key id of 1 to 16 letters, digits, '_' or '-', got 'bad id'",
        ),
        (
            {"keys": {"k" * 17: SIGNING_KEY}, "active": "k"},
            "signing.keys." + "k" * 17,
            "expected a key id of 1 to 16",
        ),
        (
            {"keys": {2025: SIGNING_KEY}, "active": "2025"},
            "signing.keys.2025",
            "got 2025 (quote it)",
        ),
        ({"keys": {"k1": None}, "active": "k1"}, "signing.keys.k1", "got null"),
        ({"keys": {"k1": "x" * 15}, "active": "k1"}, "signing.keys.k1", "got 15 characters"),
        ({"keys": {"k1": SIGNING_KEY}, "active": "k1", "leeway": "-1s"}, "signing.leeway", "-1s"),
        (
            {"keys": {"k1": SIGNING_KEY}, "active": "k1", "default_ttl": 0},
            "signing.default_ttl",
            "expected a duration greater than 0, got 0",
        ),
    ],
)
def test_signing_rules(signing: object, key: str, expected: str) -> None:
    error = error_for(varied({"signing": signing}))
    assert error.key == key
    assert expected in error.message


def test_a_secret_of_exactly_sixteen_characters_is_enough() -> None:
    got = settings(varied({"signing": {"keys": {"k": "x" * 16}, "active": "k"}}))
    assert got.signing is not None
    assert got.signing.keys["k"].reveal() == "x" * 16


@pytest.mark.parametrize(
    ("storage", "found"),
    [
        ({}, "neither"),
        ({"s3": None, "dir": None}, "neither"),
        ({"s3": {"bucket": "media"}, "dir": "/srv/media"}, "both"),
    ],
)
def test_storage_needs_exactly_one_location(storage: object, found: str) -> None:
    error = error_for(varied({"storage": storage}))
    assert str(error) == f"castedge.yaml: storage: expected exactly one of s3 or dir, got {found}"


@pytest.mark.parametrize("storage", [REMOVE, None])
def test_storage_missing_altogether(storage: object) -> None:
    error = error_for(varied({"storage": storage}))
    assert str(error) == (
        "castedge.yaml: storage: missing, and the origin section needs it: "
        "the origin fetches misses from it (give storage.s3 or storage.dir)"
    )


@pytest.mark.parametrize(
    ("high", "low", "ok"),
    [
        (0.95, 0.90, True),
        (1, 0.99, True),
        (0.5, 0.1, True),
        (0.9, 0.9, False),
        (0.9, 0.95, False),
        (0.5, 1.0, False),
    ],
)
def test_low_watermark_must_be_below_high(high: float, low: float, ok: bool) -> None:
    document = varied({"cache.high_watermark": high, "cache.low_watermark": low})
    if ok:
        assert settings(document).cache.low_watermark == low
    else:
        error = error_for(document)
        assert error.key == "cache.low_watermark"
        assert error.message == f"expected a number below high_watermark ({high}), got {low}"


def test_only_high_watermark_given_is_checked_against_the_default_low() -> None:
    error = error_for(varied({"cache.high_watermark": 0.8}))
    assert str(error) == (
        "castedge.yaml: cache.low_watermark: expected a number below high_watermark (0.8), got 0.9"
    )


def test_secrets_never_show_in_repr_or_str() -> None:
    document = varied(
        {
            "admin.token": "admin-token-value",
            "signing": {"keys": {"k1": "signing-key-value!"}, "active": "k1"},
        }
    )
    got = settings(document, environ={})
    for text in (repr(got), str(got), repr(dataclasses.asdict(got))):
        assert "admin-token-value" not in text
        assert "signing-key-value!" not in text
        assert "Secret('********')" in text
    assert got.admin.token is not None
    assert got.admin.token.reveal() == "admin-token-value"


def test_secrets_never_show_in_error_messages() -> None:
    secret = "correct horse battery staple"
    error = error_for(varied({"admin.token": secret}))
    assert secret not in str(error)
    error = error_for(varied({"signing": {"keys": {"k1": "tooshort"}, "active": "k1"}}))
    assert "tooshort" not in str(error)


def test_settings_cannot_be_changed() -> None:
    got = settings(full())
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.log_level = "debug"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.cache.max_size = 1  # type: ignore[misc]
    assert got.signing is not None
    with pytest.raises(TypeError):
        got.signing.keys["k2"] = Secret(SIGNING_KEY)  # type: ignore[index]
    assert list(got.signing.keys) == ["k1"]


def test_settings_can_be_varied_with_replace() -> None:
    got = settings(minimal())
    moved = dataclasses.replace(got, cache=dataclasses.replace(got.cache, max_size=5))
    assert moved.cache.max_size == 5
    assert got.cache.max_size == 200_000_000_000


def test_the_source_is_the_name_given() -> None:
    got = settings_from_mapping(minimal(), source="/etc/castedge/castedge.yaml", environ={})
    assert got.source == "/etc/castedge/castedge.yaml"


@pytest.mark.parametrize(
    ("written", "mode"),
    [
        ("auto", "auto"),
        ("on", "on"),
        ("off", "off"),
        ("'on'", "on"),
        ("OFF", "off"),
        ("true", "on"),
    ],
)
def test_tls_ktls_takes_yaml_s_bare_on_and_off(written: str, mode: str) -> None:
    # YAML 1.1 (PyYAML) reads a bare on/off as true/false: both mean what was written.
    tls = yaml.safe_load(f"{{cert: /c.pem, key: /k.pem, ktls: {written}}}")
    document = minimal()
    document["origin"]["tls"] = tls
    parsed = settings(document).origin
    assert parsed is not None and parsed.tls is not None
    assert parsed.tls.ktls == mode


def test_tls_ktls_refuses_anything_else_and_the_admin_listener_has_none() -> None:
    document = minimal()
    document["origin"]["tls"] = {"cert": "/c.pem", "key": "/k.pem", "ktls": "sometimes"}
    error = error_for(document)
    assert error.key == "origin.tls.ktls"
    assert "expected one of auto, on, off, got 'sometimes'" in str(error)
    document = full()
    document["admin"]["tls"] = {"cert": "/c.pem", "key": "/k.pem", "ktls": "on"}
    assert error_for(document).key == "admin.tls.ktls"


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        (
            {"s3": {"bucket": "media"}, "list_keys": True, "listing_file": "/var/lib/s.json"},
            "storage.list_keys: expected list_keys: false with listing_file: the node either "
            "lists the bucket itself or reads the sync daemon's listing, not both",
        ),
        (
            {"dir": "/srv/media", "listing_file": "/var/lib/s.json"},
            "storage.listing_file: expected no listing_file: only an S3 bucket is listed",
        ),
    ],
)
def test_a_listing_file_is_for_a_bucket_the_node_does_not_list_itself(
    storage: object, message: str
) -> None:
    error = error_for(varied({"storage": storage}))
    assert str(error) == f"castedge.yaml: {message}"


def test_a_listing_file_is_a_path() -> None:
    got = settings(varied({"storage": {"s3": {"bucket": "m"}, "listing_file": "/var/s.json"}}))
    assert got.storage is not None and got.storage.listing_file == Path("/var/s.json")
