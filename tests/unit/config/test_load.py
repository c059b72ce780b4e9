"""Reading the file: errors that name it, YAML problems by line, the example, the path."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import (
    DEFAULT_CONFIG_PATH,
    ConfigError,
    Secret,
    StorageSettings,
    config_path_from,
    exposure_warnings,
    load_settings,
    roles_in,
    settings_from_mapping,
)
from config.schema import SETTINGS
from config.spec import Section

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "config" / "example.yaml"
DOCS = REPO / "docs" / "configuration.md"

VALID = """\
storage:
  dir: /srv/media
cache:
  dir: /var/cache/castedge
  max_size: 10 GiB
origin: {}
"""


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in an empty directory, so files can be named as an operator would."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(text: str | bytes, name: str = "castedge.yaml") -> str:
    Path(name).write_bytes(text.encode() if isinstance(text, str) else text)
    return name


def load_error(path: str | Path, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=environ or {})
    return caught.value


def test_a_valid_file(in_tmp: Path) -> None:
    got = load_settings(write(VALID), environ={})
    assert got.source == "castedge.yaml"
    assert got.storage.dir == Path("/srv/media")
    assert got.cache.max_size == 10 * 1024**3


def test_the_source_is_the_path_as_given(in_tmp: Path) -> None:
    write(VALID)
    assert load_settings(in_tmp / "castedge.yaml", environ={}).source == str(
        in_tmp / "castedge.yaml"
    )
    assert load_settings("./castedge.yaml", environ={}).source == "./castedge.yaml"


def test_a_validation_error_names_the_file(in_tmp: Path) -> None:
    error = load_error(write(VALID.replace("10 GiB", "lots")))
    assert (
        str(error) == "castedge.yaml: cache.max_size: expected a size such as '200GB', got 'lots'"
    )


def test_a_missing_file(in_tmp: Path) -> None:
    assert str(load_error("castedge.yaml")) == (
        "castedge.yaml: cannot read: [Errno 2] No such file or directory"
    )


def test_a_directory(in_tmp: Path) -> None:
    Path("conf.d").mkdir()
    assert str(load_error("conf.d")) == "conf.d: cannot read: [Errno 21] Is a directory"


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        (
            "storage: {dir: /x}\ncache:\n  dir: /c\n  max_size: 1\n  key: value: x\n",
            "castedge.yaml: line 5, column 13: invalid YAML: mapping values are not allowed here",
            5,
        ),
        (
            "storage: {dir: /x}\ncache:\n  dir: /c\ncache:\n  max_size: 1\n",
            "castedge.yaml: line 4, column 1: invalid YAML: found duplicate key 'cache'",
            4,
        ),
        (
            "storage:\n  dir: /x\n  dir: /y\n",
            "castedge.yaml: line 3, column 3: invalid YAML: found duplicate key 'dir'",
            3,
        ),
        (
            "origin:\n  access_log: -\n",
            "castedge.yaml: line 2, column 15: invalid YAML: sequence entries are not allowed here",
            2,
        ),
        (
            "a: 1\n---\nb: 2\n",
            "castedge.yaml: line 2, column 1: invalid YAML: but found another document "
            "(expected a single document in the stream, line 1)",
            2,
        ),
        (
            'storage:\n  dir: "/x\x01"\n',
            "castedge.yaml: line 2, column 11: invalid YAML: character #x0001 is not allowed",
            2,
        ),
        (
            "cache: [1, 2\n",
            "castedge.yaml: line 2, column 1: invalid YAML: expected ',' or ']', "
            "but got '<stream end>' (while parsing a flow sequence, line 1)",
            2,
        ),
    ],
)
def test_yaml_problems_name_the_file_and_line(
    in_tmp: Path, text: str, message: str, line: int
) -> None:
    error = load_error(write(text))
    assert str(error) == message
    assert error.line == line
    assert error.key is None


def test_yaml_tags_that_build_objects_are_refused(in_tmp: Path) -> None:
    error = load_error(write("cache: !!python/object/apply:os.system ['true']\n"))
    assert str(error).startswith("castedge.yaml: line 1, column 8: invalid YAML: ")


def test_a_merge_key_may_be_overridden(in_tmp: Path) -> None:
    text = VALID.replace("origin: {}\n", "")
    text += "origin: &base\n  listen: ':1'\nadmin:\n  <<: *base\n  listen: ':2'\n"
    got = load_settings(write(text), environ={})
    assert got.origin is not None
    assert (got.origin.listen.port, got.admin.listen.port) == (1, 2)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_an_empty_file(in_tmp: Path, text: str) -> None:
    assert str(load_error(write(text))) == (
        "castedge.yaml: the file is empty; expected a mapping of settings"
    )


@pytest.mark.parametrize(
    ("text", "got"), [("- storage\n", "a list"), ("just words\n", "'just words'"), ("7\n", "7")]
)
def test_the_top_level_must_be_a_mapping(in_tmp: Path, text: str, got: str) -> None:
    assert str(load_error(write(text))) == (
        f"castedge.yaml: expected a mapping of settings at the top level, got {got}"
    )


def test_not_utf8(in_tmp: Path) -> None:
    assert str(load_error(write(b"storage:\n  dir: /caf\xe9\n"))) == (
        "castedge.yaml: line 2, column 12: not UTF-8 text (byte 0xe9)"
    )


def test_a_byte_order_mark_is_accepted(in_tmp: Path) -> None:
    assert load_settings(write(b"\xef\xbb\xbf" + VALID.encode()), environ={}).cache.max_size > 0


def test_yaml_types_are_kept(in_tmp: Path) -> None:
    error = load_error(write(VALID + "upstream:\n  retries: '4'\n"))
    assert str(error) == (
        "castedge.yaml: upstream.retries: expected an integer from 0 to 20, got '4'"
    )


def test_the_process_environment_is_the_default(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASTEDGE_TEST_TOKEN", "from-process")
    got = load_settings(write(VALID + "admin:\n  token: ${CASTEDGE_TEST_TOKEN}\n"))
    assert got.admin.token == Secret("from-process")


def test_the_example_is_valid() -> None:
    got = load_settings(EXAMPLE, environ=EXAMPLE_ENVIRON)
    assert got.storage is not None and got.cache is not None and got.origin is not None
    assert got.storage.s3 is not None
    assert got.storage.s3.endpoint_url == "http://127.0.0.1:9000"
    assert got.storage.s3.bucket == "media"
    assert got.cache.dir == Path("/var/cache/castedge")
    assert got.cache.max_size == 200 * 1000**3
    assert str(got.origin.listen) == "0.0.0.0:8080"
    assert str(got.admin.listen) == "127.0.0.1:9090"
    assert got.admin.token == Secret("example-token")


def test_the_example_needs_its_token_and_key_variables() -> None:
    error = load_error(EXAMPLE)
    assert str(error) == (
        f"{EXAMPLE}: admin.token: environment variable CASTEDGE_ADMIN_TOKEN is not set;"
        " also not set: CASTEDGE_SIGNING_KEY_2025A (signing.keys.2025a),"
        " CASTEDGE_SIGNING_KEY_2025B (signing.keys.2025b)"
    )


EXAMPLE_ENVIRON = {
    "CASTEDGE_ADMIN_TOKEN": "example-token",
    "CASTEDGE_SIGNING_KEY_2025A": "a" * 32,
    "CASTEDGE_SIGNING_KEY_2025B": "b" * 32,
}


def test_the_example_is_a_node_of_every_role() -> None:
    got = load_settings(EXAMPLE, environ=EXAMPLE_ENVIRON)
    assert roles_in(got) == ("origin", "edge", "locator")
    assert got.signing is not None
    assert sorted(got.signing.keys) == ["2025a", "2025b"]
    assert got.signing.active == "2025b"
    # Its origin and its edge serve folders apart: nothing paid is served unsigned.
    assert exposure_warnings(got) == []


def test_the_commented_out_storage_dir_of_the_example_is_valid() -> None:
    text = EXAMPLE.read_text()
    alternative = re.search(r"(?m)^  # (dir: .*)$", text)
    assert alternative is not None
    document = yaml.safe_load(text)
    document["storage"] = yaml.safe_load(alternative[1])
    got = settings_from_mapping(document, source=str(EXAMPLE), environ=EXAMPLE_ENVIRON)
    assert got.storage == StorageSettings(s3=None, dir=Path("/srv/media"))


def test_the_commented_out_sync_section_of_the_example_is_valid() -> None:
    text = EXAMPLE.read_text()
    block = re.search(r"(?m)^# (sync:\n(?:#   .*\n)+)", text)
    assert block is not None
    document = yaml.safe_load(text)
    document |= yaml.safe_load(re.sub(r"(?m)^# ", "", block[1]))
    for number, region in enumerate(document["regions"]):
        region["admin_url"] = f"https://10.0.0.{number + 1}:9090"
    got = settings_from_mapping(document, source=str(EXAMPLE), environ=EXAMPLE_ENVIRON)
    assert roles_in(got) == ("origin", "edge", "locator", "sync")
    assert got.sync is not None and got.sync.prefixes == ("courses/",)


def every_key(spec: Section[Any], prefix: str = "") -> Iterator[str]:
    for field in spec.fields:
        yield prefix + field.name
        if field.kind.section is not None:
            yield from every_key(field.kind.section, f"{prefix}{field.name}.")


def _documented_as(key: str) -> str:
    # Every listener's tls section has the same keys, documented once; so have the
    # roles' http sections, documented as the top-level one they override.
    key = re.sub(r"^(origin|edge|locator|admin)\.tls\.", "<listener>.tls.", key)
    return re.sub(r"^(origin|edge|locator)\.http\.", "http.", key)


def test_every_key_is_documented() -> None:
    docs = DOCS.read_text()
    top_level = {field.name for field in SETTINGS.fields}
    undocumented = [
        key
        for key in every_key(SETTINGS)
        if f"| `{_documented_as(key)}` |" not in docs
        and not (key in top_level and f"`{key}`" in docs)
    ]
    assert undocumented == []


@pytest.mark.parametrize(
    ("arg", "environ", "path"),
    [
        ("given.yaml", {"CASTEDGE_CONFIG": "env.yaml"}, "given.yaml"),
        (None, {"CASTEDGE_CONFIG": "env.yaml"}, "env.yaml"),
        (None, {"CASTEDGE_CONFIG": ""}, DEFAULT_CONFIG_PATH),
        (None, {}, DEFAULT_CONFIG_PATH),
        ("", {}, DEFAULT_CONFIG_PATH),
    ],
)
def test_config_path_from(arg: str | None, environ: dict[str, str], path: str) -> None:
    assert config_path_from(arg, environ) == path


def test_config_path_from_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASTEDGE_CONFIG", "/srv/castedge/from-env.yaml")
    assert config_path_from(None) == "/srv/castedge/from-env.yaml"


def test_the_default_path() -> None:
    assert DEFAULT_CONFIG_PATH == "/etc/castedge/castedge.yaml"
