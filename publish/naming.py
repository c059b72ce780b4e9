"""Object keys for the files being published: the prefix, then each file's path below it.

A file given by itself is published under its own name; a directory's files under
their paths relative to it, with ``/`` between the parts whatever the host uses, so
``castedge publish ch03/ --prefix courses/py/`` makes ``courses/py/index.m3u8`` and
``courses/py/seg/000.ts``. Whether the delivery rules accept a key is checked by the
caller (``delivery.admin.plain_key``); this module only builds them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .errors import BadPrefix, BadSource

__all__ = ["check_prefix", "is_hidden", "key_for", "unique_keys"]


def check_prefix(prefix: str) -> str:
    """Give ``prefix`` back if keys may start with it; raise BadPrefix saying why not.

    The empty prefix is the top of the bucket. Any other names a folder, so it ends
    in "/": ``courses/x`` would make ``courses/xa.mp4``, and a guess either way could
    publish where nobody looks.
    """
    if prefix == "":
        return prefix
    if prefix.startswith("/"):
        raise BadPrefix(prefix, "starts with '/': keys are relative to the bucket")
    if not prefix.endswith("/"):
        raise BadPrefix(
            prefix, f"must name a folder and end in '/' (did you mean {prefix + '/'!r}?)"
        )
    return prefix


def key_for(prefix: str, parts: Sequence[str]) -> str:
    """The key of a file whose path below what was given is ``parts``."""
    return prefix + "/".join(parts)


def is_hidden(name: str) -> bool:
    """Whether a directory walk leaves ``name`` out (.DS_Store, .git, editors' swap files)."""
    return name.startswith(".")


def unique_keys(named: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """``(path, key)`` pairs in their order, or BadSource when two paths make one key.

    Two arguments such as ``a/intro.mp4 b/intro.mp4`` would otherwise upload one over
    the other and report both as published.
    """
    seen: dict[str, str] = {}
    pairs: list[tuple[str, str]] = []
    for path, key in named:
        if key in seen:
            raise BadSource(path, f"would be published as {key!r}, as {seen[key]} is")
        seen[key] = path
        pairs.append((path, key))
    return pairs
