"""${NAME} substitution from the environment."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import ConfigError, settings_from_mapping

from .documents import SIGNING_KEY, minimal, settings, varied


@pytest.mark.parametrize(
    ("written", "environ", "result"),
    [
        ("${BUCKET}", {"BUCKET": "media"}, "media"),
        ("pre-${A}-${B}-post", {"A": "x", "B": "y"}, "pre-x-y-post"),
        ("${A}${A}", {"A": "ab"}, "abab"),
        ("$${BUCKET}", {}, "${BUCKET}"),
        ("cost-$${A}-${A}", {"A": "x"}, "cost-${A}-x"),
        ("$BUCKET", {"BUCKET": "media"}, "$BUCKET"),
        ("$$", {}, "$$"),
        ("{BUCKET}", {"BUCKET": "media"}, "{BUCKET}"),
        ("${_Under_1}", {"_Under_1": "ok"}, "ok"),
        ("${A}", {"A": "${B}", "B": "no"}, "${B}"),
    ],
)
def test_substitution(written: str, environ: dict[str, str], result: str) -> None:
    got = settings(varied({"storage.s3.bucket": written}), environ=environ)
    assert got.storage.s3 is not None
    assert got.storage.s3.bucket == result


def test_substituted_values_are_validated_like_written_ones() -> None:
    environ = {"SIZE": "512MiB", "PORT": "8181", "TTL": "5m"}
    document = varied(
        {
            "cache.max_size": "${SIZE}",
            "origin.listen": "127.0.0.1:${PORT}",
            "upstream.negative_ttl": "${TTL}",
        }
    )
    got = settings(document, environ=environ)
    assert got.cache.max_size == 512 * 1024**2
    assert str(got.origin.listen) == "127.0.0.1:8181"
    assert got.upstream.negative_ttl == 300.0


def test_a_bad_substituted_value_is_shown_as_substituted() -> None:
    with pytest.raises(ConfigError) as caught:
        settings(varied({"cache.max_size": "${SIZE}"}), environ={"SIZE": "lots"})
    assert str(caught.value) == (
        "castedge.yaml: cache.max_size: expected a size such as '200GB', got 'lots'"
    )


def test_secrets_come_from_the_environment() -> None:
    environ = {"TOKEN": "from-env", "KEY": SIGNING_KEY}
    document = varied(
        {"admin.token": "${TOKEN}", "signing": {"keys": {"k1": "${KEY}"}, "active": "k1"}}
    )
    got = settings(document, environ=environ)
    assert got.admin.token is not None
    assert got.admin.token.reveal() == "from-env"
    assert got.signing is not None
    assert got.signing.keys["k1"].reveal() == SIGNING_KEY


def test_a_missing_variable_names_the_key_and_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        settings(varied({"admin.token": "${CASTEDGE_ADMIN_TOKEN}"}), environ={"OTHER": "x"})
    assert str(caught.value) == (
        "castedge.yaml: admin.token: environment variable CASTEDGE_ADMIN_TOKEN is not set"
    )
    assert caught.value.key == "admin.token"


def test_a_missing_variable_deep_down() -> None:
    document = varied({"signing": {"keys": {"k1": "${KEY_K1}"}, "active": "k1"}})
    with pytest.raises(ConfigError) as caught:
        settings(document)
    assert str(caught.value) == (
        "castedge.yaml: signing.keys.k1: environment variable KEY_K1 is not set"
    )


def test_every_missing_variable_is_named_at_once() -> None:
    document = varied({
        "admin.token": "${TOKEN}",
        "signing": {"keys": {"a": "${KEY_A}", "b": "${KEY_B}", "c": "$${KEY_C}"}, "active": "a"},
    })  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        settings(document, environ={"KEY_A": SIGNING_KEY})
    assert str(caught.value) == (
        "castedge.yaml: admin.token: environment variable TOKEN is not set;"
        " also not set: KEY_B (signing.keys.b)"
    )


def test_unset_variables_are_named_before_a_malformed_reference() -> None:
    document = varied({"storage.s3.bucket": "${", "admin.token": "${TOKEN}"})
    with pytest.raises(ConfigError) as caught:
        settings(document, environ={})
    assert str(caught.value) == "castedge.yaml: admin.token: environment variable TOKEN is not set"
    with pytest.raises(ConfigError) as caught:
        settings(document, environ={"TOKEN": "t" * 32})
    assert caught.value.key == "storage.s3.bucket"
    assert caught.value.message.startswith("malformed ${...}")


def test_a_variable_set_to_nothing_substitutes_nothing() -> None:
    got = settings(varied({"storage.s3.region": "eu-${SUFFIX}central-1"}), environ={"SUFFIX": ""})
    assert got.storage.s3 is not None
    assert got.storage.s3.region == "eu-central-1"


def test_an_empty_token_from_the_environment_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        settings(varied({"admin.token": "${TOKEN}"}), environ={"TOKEN": ""})
    assert caught.value.key == "admin.token"
    assert "got 0 characters" in caught.value.message


@pytest.mark.parametrize("written", ["${", "x${", "${1ABC}", "${A-B}", "${}", "${ A }", "${A"])
def test_malformed_references_are_errors(written: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(varied({"storage.s3.bucket": written}), environ={"A": "a", "A-B": "x"})
    assert caught.value.key == "storage.s3.bucket"
    assert caught.value.message.startswith("malformed ${...}: write ${NAME}")


def test_keys_and_non_strings_are_left_alone() -> None:
    document = varied({"upstream.retries": 3, "cache.high_watermark": 0.99})
    document["${SECTION}"] = {}
    with pytest.raises(ConfigError) as caught:
        settings(document, environ={"SECTION": "origin"})
    assert caught.value.key == "${SECTION}"
    del document["${SECTION}"]
    got = settings(document)
    assert (got.upstream.retries, got.cache.high_watermark) == (3, 0.99)


def test_list_items_are_named_by_index() -> None:
    document = minimal()
    document["later"] = ["ok", "${MISSING}"]
    with pytest.raises(ConfigError) as caught:
        settings(document)
    assert caught.value.key == "later[1]"


def test_the_process_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASTEDGE_TEST_BUCKET", "from-process")
    got = settings_from_mapping(
        varied({"storage.s3.bucket": "${CASTEDGE_TEST_BUCKET}"}), source="x"
    )
    assert got.storage.s3 is not None
    assert got.storage.s3.bucket == "from-process"


@given(st.text(min_size=1).filter(lambda t: "${" not in t and t.strip()))
def test_text_without_references_is_unchanged(region: str) -> None:
    got = settings(varied({"storage.s3.region": region}), environ={"A": "x"})
    assert got.storage.s3 is not None
    assert got.storage.s3.region == region
