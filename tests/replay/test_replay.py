"""Replay recorded histories: current code must reproduce them; changed code must not.

The histories are recorded from real runs by ``python -m tests.replay.record``; the
``diverged_*`` ones are recorded histories with one edit each, which must fail replay with a
``NonDeterminismError`` naming the edited event.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plait import History
from plait.errors import NonDeterminismError
from plait.protocol.events import EventType
from plait.testing import Replayer
from tests.replay import workflows as w
from tests.replay.record import DIVERGED
from tests.replay.workflows import Onboarding, OnboardingNewArguments, OnboardingReordered

HISTORIES = Path(__file__).with_name("histories")
WORKFLOWS = [w.Onboarding, w.ActivityOutcomes, w.Approval, w.Counter, w.Child, w.Family,
             w.Rollover, w.Versioned, w.Recovers, w.LocalSteps, w.Compensates]

REPLAYS = {
    "onboarding.json": "activities completed and retried, a timer",
    "activity_outcomes.json": "activities failed, timed out, cancelled",
    "signals_and_timers.json": "signals; a timer fired, one cancelled",
    "updates.json": "updates accepted and completed (a rejected one leaves no event)",
    "family.json": "children of every outcome; a signal to and a cancel of another workflow",
    "child_failed.json": "a run that failed",
    "child_timed_out.json": "a run that timed out",
    "child_canceled.json": "a run asked to cancel, cancelled",
    "child_terminated.json": "a signalled run, terminated",
    "continued_as_new.json": "a run that continued as new",
    "patches_and_search_attributes.json": "patch markers, search attribute upserts",
    "task_failed.json": "a workflow task failed on a bug, its retry completed",
    "task_timed_out.json": "a workflow task lost by its worker timed out, then completed",
    "local_activities.json": "local activities: markers, a retry after a durable timer",
    "cancelled_before_first_task.json": "cancelled before its first task: compensated",
    "cancelled_before_first_task_legacy.json":
        "the same, as recorded before the cancel reached such code (closed at once)",
}
DIVERGES = {  # file: the edited event's type, where the replay must say it diverged
    "diverged_activity_became_timer.json": "TIMER_STARTED",
    "diverged_child_type.json": "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
    "diverged_patch.json": "MARKER_RECORDED",
    "diverged_local_activity.json": "MARKER_RECORDED",
}


def load(name: str) -> History:
    return History.from_json((HISTORIES / name).read_text())


@pytest.mark.parametrize("name", sorted(REPLAYS))
async def test_recorded_histories_replay(name: str) -> None:
    await Replayer(workflows=WORKFLOWS).replay(load(name))


@pytest.mark.parametrize("name", sorted(DIVERGES))
async def test_diverged_histories_fail_naming_the_event(name: str) -> None:
    event_type = DIVERGES[name]
    original = {e.event_id: e.to_dict() for e in load(DIVERGED[name][0]).events}
    edited = next(e for e in load(name).events if e.event_type == event_type
                  and e.to_dict() != original.get(e.event_id))
    with pytest.raises(NonDeterminismError) as info:
        await Replayer(workflows=WORKFLOWS).replay(load(name))
    assert f"history event {edited.event_id} {event_type}" in str(info.value)
    assert "workflows.py:" in str(info.value)  # where the code diverged


def test_the_histories_make_every_event_type() -> None:
    seen = {e.event_type for name in REPLAYS for e in load(name).events}
    assert seen == {t.value for t in EventType}


def test_every_history_file_has_an_expected_outcome() -> None:
    assert {p.name for p in HISTORIES.glob("*.json")} == set(REPLAYS) | set(DIVERGES)
    assert set(DIVERGES) == set(DIVERGED)


def test_recorded_histories_name_no_machine() -> None:
    for name in [*REPLAYS, *DIVERGES]:
        data = json.loads((HISTORIES / name).read_text())
        identities = {e["attributes"].get("identity") for e in data["events"]} - {None}
        assert identities <= {"recorder"}, name
        text = json.dumps(data)
        assert str(Path.home()) not in text and str(HISTORIES.parents[2]) not in text, name


def onboarding() -> History:
    return History.from_json((HISTORIES / "onboarding.json").read_text())


async def test_recorded_history_replays() -> None:
    await Replayer(workflows=[Onboarding]).replay(onboarding())


async def test_changed_arguments_still_replay() -> None:
    await Replayer(workflows=[OnboardingNewArguments]).replay(onboarding())


async def test_reordered_steps_fail_naming_the_event() -> None:
    with pytest.raises(NonDeterminismError) as info:
        await Replayer(workflows=[OnboardingReordered]).replay(onboarding())
    message = str(info.value)
    assert "event 5 ACTIVITY_TASK_SCHEDULED" in message
    assert "start timer" in message and "workflows.py" in message


async def test_truncated_code_fails() -> None:
    """Code that stops early leaves recorded commands unproduced."""
    text = (HISTORIES / "onboarding.json").read_text().replace('"register"', '"renamed"', 1)
    with pytest.raises(NonDeterminismError, match="renamed"):
        await Replayer(workflows=[Onboarding]).replay(History.from_json(text))


async def test_newer_history_format_is_refused() -> None:
    text = (HISTORIES / "onboarding.json").read_text().replace('"format":1', '"format":99')
    with pytest.raises(ValueError, match="newer"):
        History.from_json(text)
