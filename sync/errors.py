"""What can go wrong while replicating; every error names the region or the bucket.

::

    SyncError
     ├── ListingFailed       the main bucket could not be listed (S3 down, no access)
     ├── StateFileError      the state file cannot be read or written
     └── RegionFailed        a region's admin listener refused or failed a request
"""

from __future__ import annotations

__all__ = ["ListingFailed", "RegionFailed", "StateFileError", "SyncError"]


class SyncError(Exception):
    """Base of the replication daemon's errors."""


class ListingFailed(SyncError):
    """The bucket listing failed; the pass is skipped and the holdings stay as they were."""


class StateFileError(SyncError):
    """The state file is unreadable or cannot be replaced."""


class RegionFailed(SyncError):
    """One request to a region's admin listener failed; ``region`` says whose."""

    def __init__(self, region: str, message: str) -> None:
        super().__init__(f"{region}: {message}")
        self.region = region
        self.message = message
