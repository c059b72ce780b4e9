"""Which app or bot a User-Agent is, from a list in the format of OPAWG's user-agent list.

The list (https://github.com/opawg/user-agents, ``src/user-agents.json``) is an array
of entries, each with ``user_agents``, a list of regular expressions, and any of
``app`` (a name such as "Overcast"), ``bot`` (true: not a listener), ``device`` and
``os``. A User-Agent is the first entry with a pattern that matches it; a UA no entry
matches is an unknown app, and counts.

castedge ships a small curated list in this format (``analytics/data/user-agents.json``),
wrapped with where it comes from and when::

    {"source": "https://github.com/opawg/user-agents", "date": "2026-12-01",
     "partial": true, "entries": [{"user_agents": ["^Overcast/"], "app": "Overcast"}, …]}

``castedge stats --refresh-agents FILE`` replaces it with a full copy.

Pure: a parsed JSON document in, classifications out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .errors import BadAgentList

__all__ = ["Agent", "AgentList"]

#: Distinct User-Agents whose classification is remembered; browsers alone make many.
CACHE_SIZE = 65536


@dataclass(frozen=True, slots=True)
class Agent:
    """What a list entry says about a User-Agent."""

    app: str | None
    bot: bool
    device: str | None
    os: str | None


@dataclass(frozen=True)
class _Entry:
    patterns: tuple[re.Pattern[str], ...]
    agent: Agent


@dataclass(frozen=True)
class AgentList:
    """A user-agent list, ready to classify, with where it came from."""

    entries: tuple[_Entry, ...]
    source: str
    date: str
    partial: bool
    _seen: dict[str, Agent | None] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_document(cls, document: object) -> AgentList:
        """Read castedge's wrapped form, or OPAWG's bare array (source and date then unknown).

        Raises BadAgentList naming the first entry that cannot be used, such as a
        pattern that is not a regular expression.
        """
        if isinstance(document, Mapping):
            entries = document.get("entries")
            source = str(document.get("source") or "unknown")
            date = str(document.get("date") or "unknown")
            partial = bool(document.get("partial", False))
        else:
            entries, source, date, partial = document, "unknown", "unknown", False
        if not isinstance(entries, Sequence) or isinstance(entries, str):
            raise BadAgentList("expected a list of entries with user_agents")
        return cls(tuple(_entry(raw, i) for i, raw in enumerate(entries)), source, date, partial)

    def classify(self, user_agent: str) -> Agent | None:
        """The first entry matching ``user_agent``, or None for an unknown agent."""
        try:
            return self._seen[user_agent]
        except KeyError:
            pass
        # Newlines never come from a real app; the list's patterns expect one line.
        text = user_agent.replace("\r", "").replace("\n", "")
        found = next(
            (e.agent for e in self.entries if any(p.search(text) for p in e.patterns)), None
        )
        if len(self._seen) >= CACHE_SIZE:
            self._seen.clear()
        self._seen[user_agent] = found
        return found

    def __len__(self) -> int:
        return len(self.entries)


def _entry(raw: object, index: int) -> _Entry:
    if not isinstance(raw, Mapping):
        raise BadAgentList("expected an object with user_agents", index)
    patterns = raw.get("user_agents")
    if (
        not isinstance(patterns, Sequence)
        or isinstance(patterns, str)
        or not patterns
        or not all(isinstance(p, str) for p in patterns)
    ):
        raise BadAgentList("expected user_agents to be a list of regular expressions", index)
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise BadAgentList(
                f"user_agents pattern {pattern!r} does not compile: {exc}", index
            ) from None
    texts = {name: raw.get(name) for name in ("app", "device", "os")}
    for name, value in texts.items():
        if value is not None and not isinstance(value, str):
            raise BadAgentList(f"expected {name} to be a string", index)
    bot = raw.get("bot", False)
    if not isinstance(bot, bool):
        raise BadAgentList("expected bot to be true or false", index)
    agent = Agent(texts["app"], bot, texts["device"], texts["os"])
    return _Entry(tuple(compiled), agent)
