"""Reading castedge.yaml: the file, its YAML, ``${ENV}`` substitution, then the schema.

This is the only module that touches the filesystem or the environment; it hands a
plain document to the pure schema. Errors name the source as the operator gave it:
the path passed to ``load_settings`` (or the ``source`` passed to
``settings_from_mapping``), unchanged, so the message points at the file that was
actually read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Hashable, Mapping
from typing import Any

import yaml
from yaml.nodes import MappingNode

from .errors import ConfigError
from .schema import SETTINGS
from .settings import Settings
from .spec import Invalid, build, key_path, show

__all__ = [
    "CONFIG_PATH_VARIABLE",
    "DEFAULT_CONFIG_PATH",
    "config_path_from",
    "load_settings",
    "settings_from_mapping",
]

DEFAULT_CONFIG_PATH = "/etc/castedge/castedge.yaml"
CONFIG_PATH_VARIABLE = "CASTEDGE_CONFIG"

# '$${' is a literal '${'; '${NAME}' is a variable; any other '${' is a mistake.
_REFERENCE = re.compile(r"\$\$\{|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}|\$\{")


class _Found:
    """What a substitution met: each unset ``${NAME}`` with its key, and the first bad ``${``."""

    __slots__ = ("malformed", "unset")

    def __init__(self) -> None:
        self.unset: list[tuple[str, tuple[str, ...]]] = []
        self.malformed: Invalid | None = None


def config_path_from(arg: str | None, environ: Mapping[str, str] | None = None) -> str:
    """Pick the configuration file: ``--config``, else $CASTEDGE_CONFIG, else the default.

    An empty value counts as not given, so ``CASTEDGE_CONFIG=`` falls through.
    """
    env = os.environ if environ is None else environ
    return arg or env.get(CONFIG_PATH_VARIABLE) or DEFAULT_CONFIG_PATH


def load_settings(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read, substitute and validate a configuration file; raises ConfigError."""
    source = os.fspath(path)
    try:
        with open(source, "rb") as file:
            data = file.read()
    except OSError as error:
        raise ConfigError(source, None, f"cannot read: {_describe(error)}") from None
    try:
        # utf-8-sig: an editor on Windows may have left a byte-order mark.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        bad = data[error.start]
        raise ConfigError(
            source, None, f"not UTF-8 text (byte 0x{bad:02x})", line=line, column=column
        ) from None
    try:
        document = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 -- a SafeLoader subclass
    except yaml.YAMLError as error:
        raise _yaml_error(source, text, error) from None
    if document is None:
        raise ConfigError(source, None, "the file is empty; expected a mapping of settings")
    return _settings(document, source, environ)


def settings_from_mapping(
    data: Mapping[str, object], *, source: str, environ: Mapping[str, str] | None = None
) -> Settings:
    """Validate an already-parsed document, as a file's would be; raises ConfigError.

    For tests and tools that build a configuration in code. ``source`` is the name
    errors use.
    """
    return _settings(data, source, environ)


def _settings(document: object, source: str, environ: Mapping[str, str] | None) -> Settings:
    env = os.environ if environ is None else environ
    try:
        if not isinstance(document, Mapping):
            raise Invalid(f"expected a mapping of settings at the top level, got {show(document)}")
        found = _Found()
        substituted = _substitute(document, env, (), found)
        if found.unset:
            # Every one at once: an operator exporting them should not learn one a run.
            (name, at), rest = found.unset[0], found.unset[1:]
            more = ", ".join(f"{other} ({key_path(where)})" for other, where in rest)
            also = f"; also not set: {more}" if more else ""
            raise Invalid(f"environment variable {name} is not set{also}", at)
        if found.malformed is not None:
            raise found.malformed
        return build(SETTINGS, substituted, source=source)
    except Invalid as error:
        raise ConfigError(source, key_path(error.path) or None, error.message) from None


def _substitute(
    node: object,
    environ: Mapping[str, str],
    at: tuple[str, ...],
    found: _Found,
) -> object:
    """Copy a YAML document, replacing ``${NAME}`` in every string value.

    What is unset or malformed goes into ``found``, for the caller to report at once.
    """
    if isinstance(node, str):
        return _expand(node, environ, at, found)
    if isinstance(node, Mapping):
        return {
            key: _substitute(value, environ, (*at, str(key)), found) for key, value in node.items()
        }
    if isinstance(node, list):
        return [_substitute(item, environ, (*at, f"[{i}]"), found) for i, item in enumerate(node)]
    return node


def _expand(
    text: str,
    environ: Mapping[str, str],
    at: tuple[str, ...],
    found: _Found,
) -> str:
    def replace(match: re.Match[str]) -> str:
        whole, name = match[0], match["name"]
        if whole == "$${":
            return "${"
        if name is None:
            if found.malformed is None:
                found.malformed = Invalid(
                    "malformed ${...}: write ${NAME} with a name of letters, digits and '_', "
                    "or $${ for a literal '${'",
                    at,
                )
            return ""
        if name not in environ:
            found.unset.append((name, at))
            return ""
        return environ[name]

    return _REFERENCE.sub(replace, text)


def _yaml_error(source: str, text: str, error: yaml.YAMLError) -> ConfigError:
    """Turn PyYAML's multi-line report into one line that names the file and line."""
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or "unreadable"
        context = ""
        if error.problem and error.context and error.context_mark:
            context = f" ({error.context}, line {error.context_mark.line + 1})"
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        return ConfigError(
            source, None, f"invalid YAML: {problem}{context}", line=line, column=column
        )
    if isinstance(error, yaml.reader.ReaderError) and isinstance(error.character, int):
        # Raised for control characters, before PyYAML has lines to point at.
        line = text.count("\n", 0, error.position) + 1
        column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        message = f"invalid YAML: character #x{error.character:04x} is not allowed"
        return ConfigError(source, None, message, line=line, column=column)
    return ConfigError(source, None, f"invalid YAML: {error}")


def _describe(error: OSError) -> str:
    # str(OSError) appends the file name, which the message already starts with.
    if error.errno is not None and error.strerror:
        return f"[Errno {error.errno}] {error.strerror}"
    return str(error)


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in a mapping is an error.

    Plain PyYAML keeps the last of two ``cache:`` sections without a word, so half of
    an operator's settings would silently vanish; YAML itself requires unique keys.
    https://yaml.org/spec/1.2.2/#mapping
    """

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            # A '<<' merge key brings in defaults that keys written here may override.
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable):
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        problem=f"found duplicate key {key!r}", problem_mark=key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)
