"""Errors the edge raises outside a request: at start, in the background, in its commands.

The tree::

    EdgeError                   base of everything this package raises
    ├── CommandError            ``castedge sign`` or ``revoke`` got arguments it cannot use
    └── RevocationFileError     the revocation file cannot be read, parsed or written;
                                names the file and what is wrong

A request is never answered with one of these: every refused token gets the uniform 403
(see ``edge.app``). Settings the edge cannot run with (no ``edge`` or ``signing``
section) are a ``config.ConfigError``, which names the file and the key. The CLI prints
``str(error)`` and exits 2, without a traceback.
"""

from __future__ import annotations

__all__ = ["CommandError", "EdgeError", "RevocationFileError"]


class EdgeError(Exception):
    """Base class for every error the edge package raises."""


class CommandError(EdgeError):
    """Signals command-line arguments that cannot work together with the settings."""


class RevocationFileError(EdgeError):
    """Signals a revocation file that cannot be used; names the file and what is wrong."""
