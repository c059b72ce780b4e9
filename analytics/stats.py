"""One run of the counter, as ``castedge stats`` and ``/admin/stats`` make it.

Read what is new in the logs into the store, find each episode's threshold (its
bitrate from the cache, the storage or the operator, see ``sources``), then count
the period's rows (``count``). Blocking: the admin listener runs it in a thread.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config import Settings

from .agents import AgentList
from .count import Episode, Group, count
from .emit import emit_row
from .errors import AnalyticsError, BadAgentList
from .logfiles import rotated
from .period import Period
from .privacy import locating_address
from .report import Report
from .row import Row
from .sources import EpisodeSources
from .store import Ingested, Store

__all__ = [
    "CLICKHOUSE_TABLE",
    "SHIPPED_AGENTS",
    "Query",
    "Stats",
    "agent_list",
    "agents_path",
    "default_db",
    "default_logs",
]

SHIPPED_AGENTS = Path(__file__).parent / "data" / "user-agents.json"
#: The ClickHouse table the emitted rows load into.
CLICKHOUSE_TABLE = Path(__file__).parent / "clickhouse.sql"


@dataclass(frozen=True)
class Query:
    """What to count: a period, maybe one episode, maybe broken down by a group."""

    period: Period
    episode: str | None = None
    group: Group | None = None


def agents_path(settings: Settings | None) -> Path:
    """The user-agent list in use: ``analytics.agents``, or the one shipped with castedge."""
    if settings is not None and settings.analytics.agents is not None:
        return settings.analytics.agents
    return SHIPPED_AGENTS


def agent_list(settings: Settings | None) -> AgentList:
    """Read the user-agent list in use; AnalyticsError naming the file when it cannot be."""
    path = agents_path(settings)
    try:
        return AgentList.from_document(json.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise AnalyticsError(f"{path}: cannot read the user-agent list: {exc}") from None
    except ValueError as exc:
        if isinstance(exc, BadAgentList):
            raise AnalyticsError(f"{path}: {exc}") from None
        raise AnalyticsError(f"{path}: not JSON: {exc}") from None


def default_logs(settings: Settings | None) -> list[Path]:
    """``analytics.log`` and the copies logrotate made of it."""
    if settings is None or settings.analytics.log is None:
        return []
    return rotated(settings.analytics.log)


def default_db(settings: Settings | None) -> Path:
    """``analytics.db``, else ``analytics.db`` beside the log, else in the working directory."""
    if settings is not None:
        if settings.analytics.db is not None:
            return settings.analytics.db
        if settings.analytics.log is not None:
            return settings.analytics.log.parent / "analytics.db"
    return Path("analytics.db")


class Stats:
    """The store, the episodes' thresholds and the user-agent list, for one or more counts."""

    def __init__(
        self,
        settings: Settings | None,
        db: Path,
        *,
        given: Mapping[str, float] | None = None,
        geoip: Path | None = None,
    ) -> None:
        self.settings = settings
        self.agents = agent_list(settings)
        self.store = Store(db)
        self.sources = EpisodeSources(settings, self.store, given=given)
        self.geoip = geoip
        self.address_limit = settings.analytics.address_limit if settings else 50

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Stats:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ingest(self, logs: Iterable[Path]) -> Ingested:
        return self.store.ingest(logs)

    def report(self, query: Query) -> Report:
        rows = [row for _, row in self.store.rows(query.period, query.episode)]
        return count(
            rows,
            self._episodes(rows),
            self.agents,
            period=query.period,
            address_limit=self.address_limit,
            group=query.group,
            countries=self._countries(rows) if query.group is Group.COUNTRY else None,
        )

    def emit(self, query: Query) -> Iterator[dict[str, Any]]:
        """The period's rows for ClickHouse (``emit.emit_row``)."""
        found = list(self.store.rows(query.period, query.episode))
        rows = [row for _, row in found]
        episodes = self._episodes(rows)
        countries = self._countries(rows) if self._database() is not None else {}
        for line_id, row in found:
            yield emit_row(row, line_id, episodes.get(row.key), self.agents, countries)

    def _episodes(self, rows: list[Row]) -> dict[str, Episode]:
        sizes: dict[str, int] = {}
        for row in rows:
            # Only episodes someone was sent: a scanner's 404s are nobody's bitrate.
            if row.method == "GET" and row.status in (200, 206):
                sizes[row.key] = max(sizes.get(row.key, 0), row.size or 0)
        return {key: self.sources.episode(key, size) for key, size in sorted(sizes.items())}

    def _database(self) -> Path | None:
        if self.geoip is not None:
            return self.geoip
        if self.settings is not None and self.settings.geo is not None:
            return self.settings.geo.database
        return None

    def _countries(self, rows: list[Row]) -> dict[str, str]:
        from .countries import countries

        database = self._database()
        if database is None:
            raise AnalyticsError(
                "--by country needs a GeoIP2 City or Country database: "
                "give --geoip FILE, or geo.database in the settings"
            )
        addresses = (locating_address(row.ip, row.net) for row in rows)
        return countries(database, (a for a in addresses if a is not None))
