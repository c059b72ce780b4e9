"""Any document an operator could write is either valid settings or one ConfigError."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from config import ConfigError, Settings, settings_from_mapping
from config.schema import SETTINGS
from config.spec import Section

from .documents import full

# What YAML produces: scalars, lists and mappings of them.
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def key_paths(spec: Section[Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for field in spec.fields:
        path = (*prefix, field.name)
        paths.append(path)
        if field.kind.section is not None:
            paths += key_paths(field.kind.section, path)
    return paths


PATHS = key_paths(SETTINGS)


def check(document: object) -> None:
    try:
        got = settings_from_mapping(document, source="fuzz.yaml", environ={})  # type: ignore[arg-type]
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.yaml")
        return
    assert isinstance(got, Settings)


@settings(max_examples=300)
@given(st.sampled_from(PATHS), VALUES)
def test_any_value_at_any_key_is_valid_or_a_config_error(
    path: tuple[str, ...], value: object
) -> None:
    document = copy.deepcopy(full())
    node: Any = document
    for part in path[:-1]:
        child = node.get(part) if isinstance(node, dict) else None
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value
    check(document)


@settings(max_examples=200)
@given(VALUES)
def test_any_document_is_valid_or_a_config_error(document: object) -> None:
    check(document)
