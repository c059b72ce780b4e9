"""The delivery engine shared by the origin and the edge.

RFC 9110 GET/HEAD with ranges and conditionals (``conditional.decide``), zero-copy
sendfile (``sendfile``), the disk store (``store``), single-flight fills that stream
while they fill (``fill``), the upstream (``upstream``: S3 or a directory), and the
aiohttp adapter that ties them together (``serve.Delivery``). A service builds it
with ``engine.delivery_context``; ``admin`` holds the cache's admin endpoints, which
the node's admin listener (``runtime.admin``) mounts.
"""

from .admin import DELIVERY
from .byte_range import ByteRange, parse_range
from .conditional import Decision, Serve, Validators, decide
from .engine import delivery_context, make_upstream
from .errors import DeliveryError
from .keys import object_key
from .metrics import DeliveryMetrics
from .serve import Delivery, MediaResponse

__all__ = [
    "DELIVERY",
    "ByteRange",
    "Decision",
    "Delivery",
    "DeliveryError",
    "DeliveryMetrics",
    "MediaResponse",
    "Serve",
    "Validators",
    "decide",
    "delivery_context",
    "make_upstream",
    "object_key",
    "parse_range",
]
