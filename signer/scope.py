"""Which request paths a token's path-prefix scope grants, and which paths are safe at all.

Two forms of a path appear here:

* the **raw** form is what the edge finds after ``/s/<token>/`` in the request-target:
  still percent-encoded, without the query string. :func:`normalise_path` turns it into
* the **decoded** form: percent-decoded exactly once, UTF-8, relative (no leading "/"),
  with no "", "." or ".." segment, no backslash, no control character and no escape
  left over from double encoding. ``Signer.verify``, ``Signer.url`` and every scope take
  this form, and verify checks it again, so a caller that skips normalise_path is refused
  rather than trusted.

A scope is a decoded path naming one file (``courses/py/ch03/intro.mp4``, matching only
that path) or a directory ending in "/" (``courses/py/ch03/``, matching every path below
it at any depth, but neither ``courses/py/ch03`` itself nor ``courses/py/ch03x/…``).
Comparison is exact, code point by code point: no case folding and no Unicode
normalisation, so the web app must spell scopes the way files are named on disk.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from signer.errors import PathRejected

__all__ = [
    "MAX_PATH_LENGTH",
    "in_scope",
    "normalise_path",
    "path_problem",
    "scope_problem",
    "shown_path",
]

#: Longest decoded path or scope accepted, in characters. Far above any media path the
#: business uses, far below the 8000-octet request line RFC 9112 asks servers to handle,
#: and it keeps a token in the few hundred characters players and CDNs pass unharmed.
#: https://www.rfc-editor.org/rfc/rfc9112#section-3
MAX_PATH_LENGTH = 1024

# Characters no decoded path may hold: C0 and C1 controls (NUL among them) and DEL, which
# corrupt logs and some filesystems; the backslash, a separator on Windows and in some
# URL parsers; lone surrogates, which have no UTF-8 form. A "%XX" still present after one
# decoding means the client encoded twice: a later layer that decodes again would open a
# different file from the one checked here.
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\\\ud800-\udfff]|%[0-9A-Fa-f]{2}")

# In the raw form only printable ASCII may appear; "?" and "#" mean the caller handed over
# the query or fragment as well; "%" must introduce two hex digits.
_RAW_FORBIDDEN = re.compile(r"[^\x21-\x7e]|[?#]|%(?![0-9A-Fa-f]{2})")

# "/" and "." sent as escapes: "a%2Fb" is one segment to a router and two on disk, and
# "%2e%2e" is ".." to anything that decodes. RFC 3986 never needs either escaped.
# https://www.rfc-editor.org/rfc/rfc3986#section-2.3
_RAW_ENCODED_SEPARATOR = re.compile(r"%2[EeFf]")


def shown_path(text: str) -> str:
    """Renders a path for an error detail, cut short so a hostile path cannot flood a log."""
    return repr(text if len(text) <= 80 else text[:77] + "...")


def path_problem(path: str) -> str | None:
    """Says what makes ``path`` unacceptable as a decoded path, or None when it is fine."""
    if not path:
        return "is empty"
    if len(path) > MAX_PATH_LENGTH:
        return f"is {len(path)} characters long, over the limit of {MAX_PATH_LENGTH}"
    found = _FORBIDDEN.search(path)
    if found is not None:
        if found.group().startswith("%"):
            return f"still holds the escape {found.group()!r} after decoding (double encoding)"
        return f"holds the forbidden character {found.group()!r} at offset {found.start()}"
    framed = f"/{path}/"
    if "//" in framed:
        return "has an empty segment (leading, trailing or doubled '/')"
    if "/./" in framed:
        return "has a '.' segment"
    if "/../" in framed:
        return "has a '..' segment"
    return None


def scope_problem(scope: str) -> str | None:
    """Says what makes ``scope`` unusable as a token scope, or None when it is fine."""
    problem = path_problem(scope[:-1] if scope.endswith("/") else scope)
    if problem is not None and scope == "/":
        return "is the whole site ('/'); grant a directory such as 'courses/py/' instead"
    return problem


def in_scope(scope: str, path: str) -> bool:
    """Says whether the decoded ``path`` lies within ``scope`` (a file, or a dir ending "/")."""
    if scope.endswith("/"):
        return len(path) > len(scope) and path.startswith(scope)
    return path == scope


def normalise_path(raw: str) -> str:
    """Turns the raw path after ``/s/<token>/`` into the decoded form verify expects.

    Decodes percent-escapes exactly once as UTF-8 and refuses, with :class:`PathRejected`
    (reason OUT_OF_SCOPE), anything that could name a file other than the one a plain
    reading suggests: ".." or "." segments (also as ``%2e``), empty segments, an escaped
    "/" (``%2F``), a backslash, NUL or another control character, a double-encoded escape,
    invalid UTF-8, and a query string or fragment left attached.
    """
    found = _RAW_FORBIDDEN.search(raw)
    if found is not None:
        raise _rejected(raw, f"holds {found.group()!r} at offset {found.start()} before decoding")
    found = _RAW_ENCODED_SEPARATOR.search(raw)
    if found is not None:
        raise _rejected(raw, f"escapes '/' or '.' as {found.group()!r} at offset {found.start()}")
    try:
        path = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _rejected(raw, f"escapes do not decode as UTF-8 (decoded byte {exc.start})") from None
    problem = path_problem(path)
    if problem is not None:
        raise _rejected(raw, f"decodes to a path that {problem}")
    return path


def _rejected(raw: str, problem: str) -> PathRejected:
    return PathRejected(raw, f"request path {shown_path(raw)} {problem}")
