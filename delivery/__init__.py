"""The delivery engine shared by the origin and the edge.

RFC 9110 GET/HEAD with ranges and conditionals (``conditional.decide``), zero-copy
sendfile (``sendfile``), the disk store (``store``), single-flight fills that stream
while they fill (``fill``), the upstream (``upstream``: S3 or a directory), and the
aiohttp adapter that ties them together (``serve.Delivery``). A service builds it
with ``engine.delivery_context`` and exposes the admin routes with
``admin.create_admin_app``.
"""

from .admin import DELIVERY, create_admin_app
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
    "create_admin_app",
    "decide",
    "delivery_context",
    "make_upstream",
    "object_key",
    "parse_range",
]
