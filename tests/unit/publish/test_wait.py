"""The --wait loop on a fake clock: polls slow down, a silent daemon is asked again."""

from __future__ import annotations

import pytest

from publish.answers import Holding, Holdings, RegionStatus, SyncStatus
from publish.arrivals import Arrival, Published, Watch
from publish.errors import DaemonRefused, DaemonUnreachable
from publish.wait import NoAnswer, wait_for_regions

A = '"0cc175b9c0f1b6a831c399e269772661"'
STATUS = SyncStatus(None, 1, (RegionStatus("eu", True, 0, 1, 1, None, None, None),))
NOT_YET = Holdings(("eu",), {})
THERE = Holdings(("eu",), {"a.mp4": Holding(A, 1, frozenset({"eu"}))})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


class Daemon:
    """Answers from a script: a Holdings, or an exception to raise."""

    def __init__(self, *answers: Holdings | Exception) -> None:
        self.answers = list(answers)

    def status(self) -> SyncStatus:
        return STATUS

    def holdings(self) -> Holdings:
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def run(daemon: Daemon, timeout: float = 60.0) -> tuple[object, list[object], Clock]:
    clock, seen = Clock(), []
    outcome = wait_for_regions(
        daemon,
        Watch({"a.mp4": Published(A, 0.0)}),
        timeout=timeout,
        report=seen.append,
        clock=clock,
        sleep=clock.sleep,
    )
    return outcome, seen, clock


def test_the_polls_start_quick_and_slow_down() -> None:
    outcome, seen, clock = run(Daemon(NOT_YET, NOT_YET, NOT_YET, NOT_YET, THERE))
    assert outcome.done
    assert clock.sleeps == [0.2, 0.3, 0.45, 0.675]
    assert seen == [Arrival("eu", "a.mp4", 1.625)]


def test_the_polls_never_slow_past_five_seconds() -> None:
    _, _, clock = run(Daemon(NOT_YET), timeout=60.0)
    assert max(clock.sleeps) == 5.0
    assert sum(clock.sleeps) == pytest.approx(60.0)


def test_time_running_out_names_what_is_missing() -> None:
    outcome, _, clock = run(Daemon(NOT_YET), timeout=1.0)
    assert not outcome.done
    assert outcome.missing == {"eu": ["a.mp4"]}
    assert clock.now == pytest.approx(1.0)


def test_a_silent_daemon_is_asked_again_and_reported_once() -> None:
    silent = DaemonUnreachable("http://127.0.0.1:9090/admin/sync/holdings", "unreachable: refused")
    outcome, seen, _ = run(Daemon(silent, silent, silent, THERE))
    assert outcome.done
    assert seen == [NoAnswer(str(silent)), Arrival("eu", "a.mp4", pytest.approx(0.95))]


def test_a_daemon_that_never_answers_is_the_reason_given() -> None:
    silent = DaemonUnreachable("http://127.0.0.1:9090/admin/sync/holdings", "unreachable: refused")
    outcome, _, _ = run(Daemon(silent), timeout=2.0)
    assert not outcome.done
    assert outcome.missing == {}
    assert outcome.trouble == str(silent)


def test_a_refused_token_ends_the_wait_at_once() -> None:
    refused = DaemonRefused("http://127.0.0.1:9090/admin/sync/holdings", "refused")
    with pytest.raises(DaemonRefused):
        run(Daemon(refused))
