"""The waits tests use instead of sleeps: they return what they waited for, keep asking until
it comes, and fail on time with a message that says what never came and what was seen."""

from __future__ import annotations

import time
from typing import Any, cast

import pytest

from plait.client import PendingActivity, WorkflowExecutionDescription, WorkflowHandle
from tests.waiting import NotYet, activity_started, eventually, eventually_sync, status_is


class Answers:
    """A check that answers from a script, one answer per call, then repeats the last one."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        return self.answers[min(self.calls, len(self.answers)) - 1]

    async def a(self) -> Any:
        return self()


async def test_returns_the_first_truthy_answer() -> None:
    check = Answers(None, False, NotYet("nearly"), {"id": 7}, "later")
    assert await eventually(check.a, what="the value", interval=0.001) == {"id": 7}
    assert check.calls == 4


def test_the_sync_twin_returns_the_first_truthy_answer() -> None:
    check = Answers(None, 0, "done")
    assert eventually_sync(check, what="the value", interval=0.001) == "done"
    assert check.calls == 3


async def test_an_answer_at_once_costs_no_wait() -> None:
    began = time.monotonic()
    assert await eventually(Answers(True).a, what="x", interval=5) is True
    assert time.monotonic() - began < 1


async def test_fails_on_time_naming_what_and_the_last_answer() -> None:
    check = Answers(NotYet(["scheduled"]), NotYet(["backing_off"]))
    began = time.monotonic()
    with pytest.raises(AssertionError) as info:
        await eventually(check.a, what="the activity started", timeout=0.3, interval=0.01)
    took = time.monotonic() - began
    assert str(info.value) == ("the activity started did not happen within 0.3 s; "
                               "last seen: ['backing_off']")
    assert 0.3 <= took < 1.0  # it waited its timeout, and not much more
    assert check.calls > 5  # asked again and again, not once


def test_the_sync_twin_fails_on_time_too() -> None:
    began = time.monotonic()
    with pytest.raises(AssertionError, match=r"^the file did not happen within 0.2 s; "
                                             r"last seen: False$"):
        eventually_sync(Answers(False), what="the file", timeout=0.2, interval=0.01)
    assert 0.2 <= time.monotonic() - began < 1.0


async def test_a_late_answer_within_the_timeout_counts() -> None:
    """The last try is at the deadline: an interval longer than the time left is cut short."""
    began = time.monotonic()

    async def check() -> bool:
        return time.monotonic() - began >= 0.25

    assert await eventually(check, what="late", timeout=0.3, interval=10) is True
    assert time.monotonic() - began < 1.0


class FakeHandle:
    """describe() of a run whose activity is taken by a worker at its third look."""

    id = "wf-1"

    def __init__(self, states: list[str]) -> None:
        self.states = states
        self.looks = 0

    async def describe(self) -> WorkflowExecutionDescription:
        state = self.states[min(self.looks, len(self.states) - 1)]
        self.looks += 1
        pending = [PendingActivity("1", "charge", 1, state, None, None, None)]
        return cast(WorkflowExecutionDescription,
                    type("D", (), {"pending_activities": pending, "status": "RUNNING"})())


async def test_activity_started_returns_the_started_activity() -> None:
    handle = cast(WorkflowHandle[Any], FakeHandle(["scheduled", "scheduled", "started"]))
    started = await activity_started(handle, "charge")
    assert (started.activity_type, started.state) == ("charge", "started")


async def test_domain_waits_say_what_they_saw() -> None:
    handle = cast(WorkflowHandle[Any], FakeHandle(["backing_off"]))
    with pytest.raises(AssertionError) as info:
        await activity_started(handle, "charge", timeout=0.1)
    assert str(info.value) == ("charge started in wf-1 did not happen within 0.1 s; "
                               "last seen: [('charge', 'backing_off', 1)]")
    with pytest.raises(AssertionError) as info:
        await status_is(handle, "COMPLETED", timeout=0.1)
    assert str(info.value) == "wf-1 COMPLETED did not happen within 0.1 s; last seen: 'RUNNING'"


async def test_a_plain_function_will_do_for_a_check() -> None:
    seen: list[str] = []
    check = Answers(None, "x")

    def appended() -> list[str] | NotYet:
        seen.extend(check() or [])
        return seen or NotYet(seen)

    assert await eventually(appended, what="x appended", interval=0.001) == ["x"]
