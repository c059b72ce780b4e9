"""Which requests cannot be part of a download, and why (IAB v2.2, Step 1 "Filtering").

Each request is either kept, to be added up into its listener's bytes, or filtered
with one reason. The reasons, in the order they are tried:

- ``method``: not a GET; a HEAD carries no audio (Step 1.3, item 1).
- ``not_modified``: a 304; the client already has the file (Step 1.3, item 2c).
- ``redirect``: another 3xx; S3 sent the bytes (fallback, maintenance), not us.
- ``error``: 4xx, 5xx, and anything else but 200 and 206 (Step 1.3).
- ``probe``: a range of at most 2 bytes (``bytes=0-1``), a check for range support
  (Step 1.2, item 6).
- ``no_user_agent``: no User-Agent at all, so nothing tells listeners apart
  (Step 1.2, item 4: malformed user agents).
- ``apple_watch``: an Apple Watch copy of what its paired phone downloads
  (Step 1.2, item 7).
- ``bot``: a User-Agent the list marks as a bot or a service (Step 1.2, items 2, 5).

Two more reasons are decided once a listener's requests are added up (``count``):
``short`` (less than a minute of audio delivered: pre-loads, probes, abandoned
plays; Step 1.1 and Step 2) and ``anomalous_address`` (an address with more
downloads of one episode in a day than ``analytics.address_limit``; Step 1.2, item 1).

Pure.
"""

from __future__ import annotations

from enum import StrEnum

from .agents import AgentList
from .row import Row

__all__ = ["WHY", "Reason", "is_apple_watch", "request_reason"]

#: The longest range that is a probe, not a listen: "Disregard any 2 byte (0-1 byte)
#: range requests" (IAB v2.2, Step 1.2, item 6).
PROBE_BYTES = 2


class Reason(StrEnum):
    """Why a request does not count."""

    METHOD = "method"
    NOT_MODIFIED = "not_modified"
    REDIRECT = "redirect"
    ERROR = "error"
    PROBE = "probe"
    NO_USER_AGENT = "no_user_agent"
    APPLE_WATCH = "apple_watch"
    BOT = "bot"
    SHORT = "short"
    ANOMALOUS_ADDRESS = "anomalous_address"


#: One line for each reason, as the report prints it.
WHY: dict[str, str] = {
    Reason.METHOD: "not a GET (HEAD carries no audio)",
    Reason.NOT_MODIFIED: "304: the client already had the file",
    Reason.REDIRECT: "sent to S3 instead (fallback or maintenance): not ours to count",
    Reason.ERROR: "an error answer (4xx, 5xx)",
    Reason.PROBE: "a range of 2 bytes or less (bytes=0-1): a probe",
    Reason.NO_USER_AGENT: "no User-Agent",
    Reason.APPLE_WATCH: "Apple Watch copy of the paired phone's download",
    Reason.BOT: "a bot or service, by the user-agent list",
    Reason.SHORT: "less than one minute of audio delivered to the listener that day",
    Reason.ANOMALOUS_ADDRESS: "an address with more downloads than analytics.address_limit",
}


def is_apple_watch(user_agent: str) -> bool:
    """IAB v2.2 Step 1.2, item 7: "UA's that begin with atc/ and include watchOS
    ... or UA's that contain (null)/(null) watchOS"."""
    return (user_agent.startswith("atc/") and "watchOS" in user_agent) or (
        "(null)/(null) watchOS" in user_agent
    )


def request_reason(row: Row, agents: AgentList) -> Reason | None:
    """Why ``row`` cannot be part of a download, or None when it may."""
    if row.method != "GET":
        return Reason.METHOD
    if row.status == 304:
        return Reason.NOT_MODIFIED
    if 300 <= row.status < 400:
        return Reason.REDIRECT
    if row.status not in (200, 206):
        return Reason.ERROR
    if row.start is not None and row.end is not None and row.end - row.start + 1 <= PROBE_BYTES:
        return Reason.PROBE
    agent = row.agent.strip()
    if not agent or agent == "-":
        return Reason.NO_USER_AGENT
    if is_apple_watch(agent):
        return Reason.APPLE_WATCH
    found = agents.classify(agent)
    if found is not None and found.bot:
        return Reason.BOT
    return None
