"""User-Agents to apps and bots, from the shipped list in OPAWG's format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import analytics
from analytics import AgentList, BadAgentList

SHIPPED = Path(analytics.__file__).parent / "data" / "user-agents.json"


@pytest.fixture(scope="module")
def agents() -> AgentList:
    return AgentList.from_document(json.loads(SHIPPED.read_text()))


@pytest.mark.parametrize(
    ("user_agent", "app", "bot"),
    [
        ("Podcasts/1650.20 CFNetwork/1408.0.4 Darwin/22.5.0", "Apple Podcasts", False),
        ("Spotify/8.9.10 Android/34 (Pixel 8)", "Spotify", False),
        ("Spotify/8.9.10 iOS/17.5 (iPhone15,2)", "Spotify", False),
        ("Spotify/1.0", "Spotify cache service", True),
        ("Overcast/3.0 (+http://overcast.fm/; iOS podcast app)", "Overcast", False),
        ("Overcast/1.0 Podcast Sync (3 subscribers; feed-id=1; +http://overcast.fm/)", None, True),
        ("Pocket Casts", "Pocket Casts", False),
        ("AntennaPod/3.4.0", "AntennaPod", False),
        ("Castro 2024.11/1234", "Castro", False),
        (
            "PodcastAddict/v5 (+https://podcastaddict.com/; Android podcast app)",
            "Podcast Addict",
            False,
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36",
            "Google Chrome",
            False,
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) Version/17.5 Safari/605.1.15",
            "Safari",
            False,
        ),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", None, True),
        ("curl/8.5.0", None, True),
        ("python-requests/2.32.3", None, True),
    ],
)
def test_the_shipped_list_knows_the_common_apps_and_bots(
    agents: AgentList, user_agent: str, app: str | None, bot: bool
) -> None:
    found = agents.classify(user_agent)
    assert found is not None, user_agent
    assert found.bot is bot
    if app is not None:
        assert found.app == app


def test_an_unknown_agent_is_no_entry(agents: AgentList) -> None:
    assert agents.classify("SomeNewPlayer/1.0") is None


def test_the_shipped_list_says_where_it_comes_from_and_that_it_is_partial() -> None:
    document = json.loads(SHIPPED.read_text())
    assert document["source"].startswith("https://github.com/opawg/user-agents")
    assert len(document["date"]) == 10
    assert document["partial"] is True
    assert AgentList.from_document(document).partial


def test_the_first_matching_entry_wins() -> None:
    agents = AgentList.from_document(
        [
            {"user_agents": ["^Overcast/1.0 Podcast Sync"], "bot": True},
            {"user_agents": ["^Overcast/"], "app": "Overcast"},
        ]
    )
    sync = agents.classify("Overcast/1.0 Podcast Sync (…)")
    assert sync is not None and sync.bot
    app = agents.classify("Overcast/3.0 (+http://overcast.fm/; iOS podcast app)")
    assert app is not None and app.app == "Overcast"


def test_opawgs_bare_array_is_read_with_unknown_origin() -> None:
    agents = AgentList.from_document([{"user_agents": ["^AntennaPod/"], "app": "AntennaPod"}])
    assert (agents.source, agents.date, len(agents)) == ("unknown", "unknown", 1)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"entries": "nope"}, "expected a list of entries"),
        ([{"app": "x"}], "entry 0: expected user_agents"),
        ([{"user_agents": ["ok"]}, {"user_agents": ["(unclosed"]}], "entry 1: user_agents pattern"),
        ([{"user_agents": ["x"], "bot": "yes"}], "entry 0: expected bot"),
        ([{"user_agents": ["x"], "app": 3}], "entry 0: expected app"),
    ],
)
def test_an_unusable_list_names_the_entry(document: object, message: str) -> None:
    with pytest.raises(BadAgentList, match=message.replace("(", r"\(")):
        AgentList.from_document(document)
