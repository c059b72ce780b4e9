"""castedge: self-hosted edge media delivery and caching (the ``castedge`` command)."""

from importlib import metadata

__all__ = ["__version__"]

try:
    # pyproject.toml's [project] version is the one place it is written.
    __version__ = metadata.version("castedge")
except metadata.PackageNotFoundError:  # pragma: no cover - run from a tree never installed
    __version__ = "0+unknown"
