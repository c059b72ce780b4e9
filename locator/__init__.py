"""The locator: send each player to the nearest healthy region, with a signed URL there.

The redirect service around the pure `geo` core. `locator_settings` and
`catalogue_from` read what it needs from the settings; `create_app` and
`create_admin_app` build the listener players ask and the admin listener over one
`LocatorState`, whose handlers (`locator.handlers`) are adapters over geo's
decisions. The I/O around them: the GeoIP reader kept current in the background, the
health checks (`Prober`), the S3 fallback (`S3Fallback`), Prometheus metrics
(`LocatorMetrics`), the revocation list, and access logs without grants
(`LocatorLogFormat`). `admin_part` is its share of the node's admin listener; the
`runtime` package runs it.
"""

from locator.app import admin_part, create_admin_app, create_app
from locator.fallback import S3Fallback
from locator.logs import GrantRedactor, LocatorLogFormat, redact_grants
from locator.metrics import PROBE_RESULTS, S3, LocatorMetrics
from locator.prober import Prober, probe
from locator.settings import Catalogue, catalogue_from, locator_settings
from locator.state import LOCATOR, LocatorState

__all__ = [
    "LOCATOR",
    "PROBE_RESULTS",
    "S3",
    "Catalogue",
    "GrantRedactor",
    "LocatorLogFormat",
    "LocatorMetrics",
    "LocatorState",
    "Prober",
    "S3Fallback",
    "admin_part",
    "catalogue_from",
    "create_admin_app",
    "create_app",
    "locator_settings",
    "probe",
    "redact_grants",
]
