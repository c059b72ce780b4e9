"""Podcast download counts by the IAB Tech Lab's Podcast Measurement Technical Guidelines v2.2.

The pure core: ``Row`` is one response as the origin's download log records it;
``request_reason`` filters requests (Step 1); ``covered`` adds up a listener's byte
ranges, each byte once; ``id3v2_size`` and ``audio_info`` read where an episode's audio
starts and its bitrate; ``AgentList`` classifies User-Agents from a list in OPAWG's
format; ``private_address`` hashes or truncates addresses; ``count`` turns the rows of
a period into a ``Report`` of downloads, listeners and bytes per episode; ``to_table``,
``to_json`` and ``to_csv`` show it; ``emit_row`` makes a row for ClickHouse.

Importing this package does no I/O and needs neither aiohttp, boto3 nor geoip2. The
I/O around it is in modules imported by name: ``analytics.logfiles`` (reading plain and
gzipped logs), ``analytics.store`` (the SQLite store), ``analytics.salts`` (daily salts),
``analytics.sources`` (an episode's first bytes from the cache, the storage, or the
operator), ``analytics.countries`` (GeoIP2) and ``analytics.stats`` (the command's and
the admin endpoint's whole run). See docs/analytics.md.
"""

from .agents import Agent, AgentList
from .count import UNKNOWN, Episode, Group, count
from .emit import emit_row
from .errors import AnalyticsError, BadAgentList, BadPeriod, BadRow, NotAudio, StoreUnusable
from .filters import WHY, Reason, is_apple_watch, request_reason
from .intervals import Span, covered
from .mp3 import PROBE_BYTES, AudioInfo, FrameHeader, audio_info, frame_header, id3v2_size
from .period import Period, parse_day, utc_day
from .privacy import (
    HASH_PREFIX,
    MODES,
    coarse_network,
    listener_address,
    listener_network,
    locating_address,
    private_address,
)
from .report import Flag, Report, Threshold, Totals, to_csv, to_json, to_table
from .row import MAX_TEXT, ROW_VERSION, Row, served_span

__all__ = [
    "HASH_PREFIX",
    "MAX_TEXT",
    "MODES",
    "PROBE_BYTES",
    "ROW_VERSION",
    "UNKNOWN",
    "WHY",
    "Agent",
    "AgentList",
    "AnalyticsError",
    "AudioInfo",
    "BadAgentList",
    "BadPeriod",
    "BadRow",
    "Episode",
    "Flag",
    "FrameHeader",
    "Group",
    "NotAudio",
    "Period",
    "Reason",
    "Report",
    "Row",
    "Span",
    "StoreUnusable",
    "Threshold",
    "Totals",
    "audio_info",
    "coarse_network",
    "count",
    "covered",
    "emit_row",
    "frame_header",
    "id3v2_size",
    "is_apple_watch",
    "listener_address",
    "listener_network",
    "locating_address",
    "parse_day",
    "private_address",
    "request_reason",
    "served_span",
    "to_csv",
    "to_json",
    "to_table",
    "utc_day",
]
