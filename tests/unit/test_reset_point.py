"""Where a reset goes and what the run waited for there: pure functions of a history
(:mod:`plait.server.resetting`, :mod:`plait.server.rebuild`)."""

from __future__ import annotations

import pytest

from plait.protocol.history import Event
from plait.server.errors import BadRequest
from plait.server.rebuild import rebuild
from plait.server.resetting import reset_event_id
from tests.unit.histories import T0, event


def _task(first_id: int) -> list[Event]:
    """A workflow task from its scheduling to its completion (three events)."""
    return [
        event(first_id, "WORKFLOW_TASK_SCHEDULED"),
        event(first_id + 1, "WORKFLOW_TASK_STARTED", scheduled_event_id=first_id),
        event(
            first_id + 2,
            "WORKFLOW_TASK_COMPLETED",
            scheduled_event_id=first_id,
            started_event_id=first_id + 1,
        ),
    ]


def _failed_run() -> list[Event]:
    """Start; task 2-4 schedules a (5); a completes (6-7); task 8-10 schedules b (11);
    b fails (12-13); task 14-16 fails the workflow (17)."""
    return [
        event(1, "WORKFLOW_EXECUTION_STARTED", search_attributes={"Tier": "gold"}),
        *_task(2),
        event(5, "ACTIVITY_TASK_SCHEDULED", activity_id="1", activity_type="a"),
        event(6, "ACTIVITY_TASK_STARTED", activity_id="1", scheduled_event_id=5),
        event(7, "ACTIVITY_TASK_COMPLETED", activity_id="1", scheduled_event_id=5),
        *_task(8),
        event(11, "ACTIVITY_TASK_SCHEDULED", activity_id="2", activity_type="b"),
        event(12, "ACTIVITY_TASK_STARTED", activity_id="2", scheduled_event_id=11),
        event(
            13,
            "ACTIVITY_TASK_FAILED",
            activity_id="2",
            scheduled_event_id=11,
            failure={"message": "no"},
        ),
        *_task(14),
        event(17, "WORKFLOW_EXECUTION_FAILED", failure={"message": "b"}),
    ]


def test_the_named_points() -> None:
    events = _failed_run()
    assert reset_event_id(events, "first_workflow_task") == 2
    # The last task failed the workflow: "last" is the task that scheduled the failed step.
    assert reset_event_id(events, "last_workflow_task") == 10
    assert reset_event_id(events[:13], "last_workflow_task") == 10
    assert reset_event_id(events[:3], "last_workflow_task") == 2  # no task completed yet


@pytest.mark.parametrize("good", [2, 4, 10, 16])
def test_completed_tasks_and_the_first_scheduled_one_are_reset_points(good: int) -> None:
    assert reset_event_id(_failed_run(), good) == good


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        (1, "WORKFLOW_EXECUTION_STARTED"),
        (3, "WORKFLOW_TASK_STARTED"),
        (5, "ACTIVITY_TASK_SCHEDULED"),
        (8, "WORKFLOW_TASK_SCHEDULED"),
        (18, "events 1..17"),
        (0, "events 1..17"),
    ],
)
def test_other_events_are_refused_by_name(bad: int, named: str) -> None:
    with pytest.raises(BadRequest, match=named):
        reset_event_id(_failed_run(), bad)


def test_a_run_with_no_workflow_task_has_no_reset_point() -> None:
    with pytest.raises(BadRequest, match="no workflow task"):
        reset_event_id([event(1, "WORKFLOW_EXECUTION_STARTED")], "first_workflow_task")


def test_rebuild_finds_what_was_open_at_the_point() -> None:
    events = [
        event(1, "WORKFLOW_EXECUTION_STARTED", search_attributes={"Tier": "gold"}),
        *_task(2),
        event(5, "ACTIVITY_TASK_SCHEDULED", activity_id="1", activity_type="a"),
        event(6, "ACTIVITY_TASK_SCHEDULED", activity_id="2", activity_type="b"),
        event(7, "ACTIVITY_TASK_SCHEDULED", activity_id="3", activity_type="c"),
        event(8, "TIMER_STARTED", T0 + 1, timer_id="t1", duration=30.0),
        event(9, "TIMER_STARTED", timer_id="t2", duration=5.0),
        event(10, "START_CHILD_WORKFLOW_EXECUTION_INITIATED", seq="c1", workflow_id="kid"),
        event(11, "UPSERT_SEARCH_ATTRIBUTES", search_attributes={"Stage": "paying"}),
        event(12, "ACTIVITY_TASK_COMPLETED", activity_id="1", scheduled_event_id=5),
        event(13, "TIMER_FIRED", timer_id="t2"),
        *_task(14),
        event(17, "ACTIVITY_TASK_CANCEL_REQUESTED", activity_id="3"),
        event(18, "WORKFLOW_EXECUTION_UPDATE_ACCEPTED", update_id="u1", update_name="bump"),
        event(19, "CHILD_WORKFLOW_EXECUTION_COMPLETED", seq="c1", workflow_id="kid"),
    ]
    at_16 = rebuild(events[:16])
    assert sorted(at_16.activities) == ["2", "3"] and not at_16.cancel_requested
    assert list(at_16.timers) == ["t1"] and at_16.timers["t1"].fire_at == T0 + 31
    assert at_16.timers["t1"].started_event_id == 8
    assert at_16.children == {"c1": "kid"}
    assert at_16.search_attributes == {"Tier": "gold", "Stage": "paying"}
    after = rebuild(events)
    assert after.cancel_requested == {"3"} and not after.children
    assert after.updates["u1"].status == "accepted" and after.updates["u1"].name == "bump"
