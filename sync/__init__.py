"""Replication: upload once to the main bucket, and every region comes to hold it.

The daemon (``Daemon``) lists the bucket, plans what each region lacks or holds too
much of (``plan``, pure), and has each region's edge prefetch or purge through its
admin API (``RegionClient``), or for a region of several edges behind a balancer
through it and its members (``BalancedRegion``); it remembers who holds which
version (``StateFile``) and carries the fleet's revocation list. ``create_app`` and
``admin_part`` make it a role of a node: ``castedge serve`` with a ``sync`` section,
or ``castedge sync``.
"""

from .app import SYNC, admin_part, create_app, sync_settings
from .balanced import BalancedRegion
from .bucket import RESERVED_PREFIX, REVOCATIONS_KEY, Bucket
from .daemon import Daemon
from .errors import ListingFailed, RegionFailed, StateFileError, SyncError
from .plan import Obj, Plan, RegionPlan, plan
from .regions import RegionClient
from .state import StateFile, SyncState

__all__ = [
    "RESERVED_PREFIX",
    "REVOCATIONS_KEY",
    "SYNC",
    "BalancedRegion",
    "Bucket",
    "Daemon",
    "ListingFailed",
    "Obj",
    "Plan",
    "RegionClient",
    "RegionFailed",
    "RegionPlan",
    "StateFile",
    "StateFileError",
    "SyncError",
    "SyncState",
    "admin_part",
    "create_app",
    "plan",
    "sync_settings",
]
