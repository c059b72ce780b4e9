"""The plain-HTTP fast path for hits, below aiohttp's web layer (``http.fast_path``).

A listener's connections start in ``protocol.FastConnection``, which answers plain
GET/HEAD hits from the open-file cache itself and hands anything else, with the
connection, to the aiohttp application. A role takes part by giving its app a
``FAST_ROUTE``: which requests are its plain hits (``request.FastRoute``).
"""

from aiohttp import web

from .protocol import Adopter, FastConnection, FastPath
from .request import FastHit, FastRequest, FastRoute, FastRouteFactory, HeadReader

__all__ = [
    "FAST_ROUTE",
    "Adopter",
    "FastConnection",
    "FastHit",
    "FastPath",
    "FastRequest",
    "FastRoute",
    "FastRouteFactory",
    "HeadReader",
]

#: The role's route, built from its started app by the listener (see ``FastRoute``).
FAST_ROUTE: web.AppKey[FastRouteFactory] = web.AppKey("fast_route")
