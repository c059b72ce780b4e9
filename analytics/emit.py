"""Rows for an analytics engine: one JSON object a request, for ClickHouse's JSONEachRow.

Past what one SQLite file serves, the same rows load into ClickHouse (the table is
``analytics/clickhouse.sql``) and the counting becomes a query (docs/analytics.md).
Each row carries what the rules need, worked out here so the query stays simple:

- ``listener``: the address part of the listener key (IPv4, the IPv6 /64, or its
  hash) and the User-Agent, joined by a space;
- ``filtered``: the request's reason from Step 1 (``filters``), or "";
- ``audio_from``/``audio_to``: the bytes of audio (after the ID3 tag) it delivered,
  ``[audio_from, audio_to)``, empty when none;
- ``needed`` and ``rule``: what a listener must receive of the episode on a day,
  as ``count.Episode.threshold`` says ("one minute" of audio, or the "complete file",
  whose spans then start at byte 0).

Pure.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from .agents import AgentList
from .count import UNKNOWN, Episode
from .filters import request_reason
from .period import utc_day
from .privacy import listener_address, locating_address
from .row import Row

__all__ = ["emit_row"]


def emit_row(
    row: Row,
    line_id: str,
    episode: Episode | None,
    agents: AgentList,
    countries: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ClickHouse row of one request (columns as in ``analytics/clickhouse.sql``)."""
    known = episode or Episode(row.key, row.size or 0)
    threshold = known.threshold
    start = row.start or 0
    low = known.audio_start if threshold.rule == "one minute" else 0
    audio_from = max(start, low)
    audio_to = max(audio_from, min(start + row.sent, known.size or start + row.sent))
    agent = agents.classify(row.agent)
    where = locating_address(row.ip, row.net)
    stamp = datetime.datetime.fromtimestamp(row.time, datetime.UTC)
    reason = request_reason(row, agents)
    return {
        "id": line_id,
        "time": stamp.strftime("%Y-%m-%d %H:%M:%S.") + f"{stamp.microsecond // 1000:03d}",
        "day": utc_day(row.time),
        "node": row.node,
        "episode": row.key,
        "method": row.method,
        "status": row.status,
        "size": row.size or 0,
        "start": start,
        "sent": row.sent,
        "listener": f"{listener_address(row.ip)} {row.agent}",
        "agent": row.agent,
        "app": (agent.app if agent is not None else None) or UNKNOWN,
        "device": (agent.device if agent is not None else None) or UNKNOWN,
        "country": (countries or {}).get(where, UNKNOWN) if where else UNKNOWN,
        "filtered": "" if reason is None else str(reason),
        "audio_from": audio_from,
        "audio_to": audio_to,
        "needed": threshold.needed,
        "rule": threshold.rule,
    }
