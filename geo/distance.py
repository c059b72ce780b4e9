"""Great-circle distance between two points on the Earth, for ranking regions."""

from __future__ import annotations

import math

# The IUGG mean Earth radius R1 (Moritz, "Geodetic Reference System 1980"). A sphere
# is within 0.5% of the ellipsoid everywhere, far finer than the choice between
# regions thousands of kilometres apart needs.
EARTH_RADIUS_KM = 6371.0088


def great_circle_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Kilometres along the Earth's surface between two (latitude, longitude) points.

    The haversine form stays accurate for nearby points, where the spherical law of
    cosines loses precision to rounding.
    """
    lat1, lon1 = math.radians(a[0]), math.radians(a[1])
    lat2, lon2 = math.radians(b[0]), math.radians(b[1])
    h = (
        math.sin((lat2 - lat1) / 2.0) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2.0) ** 2
    )
    # Rounding can push h a hair above 1 for antipodal points, outside asin's domain.
    return 2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
