"""The daemon's memory survives restarts: the state round-trips and is replaced whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.errors import StateFileError
from sync.plan import Obj
from sync.state import Listing, StateFile, SyncState, read_listing


def sample() -> SyncState:
    return SyncState(
        listing={"courses/a.mp4": Obj('"abc"', 123), "courses/b.m3u8": Obj('"d-2"', 9)},
        listed_at=1767225600.5,
        prefixes=("courses/",),
        changed_at={"courses/a.mp4": 1767225600.0},
        holdings={"eu": {"courses/a.mp4": '"abc"'}, "us": {}},
        revocations_etag='"r1"',
    )


def test_the_state_round_trips(tmp_path: Path) -> None:
    file = StateFile(tmp_path / "state.json")
    file.save(sample())
    assert file.load() == sample()
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"], "no temporary file is left"


def test_no_file_is_an_empty_state(tmp_path: Path) -> None:
    assert StateFile(tmp_path / "absent.json").load() == SyncState()


def test_a_broken_file_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"version": 1, "listing": ')
    with pytest.raises(StateFileError, match=r"state\.json: not a sync state file .*move it away"):
        StateFile(path).load()


def test_one_daemon_at_a_time_holds_the_state(tmp_path: Path) -> None:
    first = StateFile(tmp_path / "state.json").lock()
    assert first is not None
    assert StateFile(tmp_path / "state.json").lock() is None, "a second one waits"
    first.close()
    again = StateFile(tmp_path / "state.json").lock()
    assert again is not None
    again.close()


def test_a_node_reads_the_listing_and_the_folders_it_covers() -> None:
    assert read_listing(sample().to_json()) == Listing(
        frozenset({"courses/a.mp4", "courses/b.m3u8"}), 1767225600.5, ("courses/",)
    )


def test_a_state_written_before_folders_were_recorded_covers_none() -> None:
    text = sample().to_json().replace(',"prefixes":["courses/"]', "")
    assert read_listing(text).prefixes == ()
