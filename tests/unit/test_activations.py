"""Histories split into activations; failed workflow tasks fold into the next one."""

from __future__ import annotations

from typing import Any

from plait.protocol.history import Event
from plait.runtime.activations import split
from tests.unit.histories import T0, event


def ev(i: int, t: str, **attrs: Any) -> Event:
    return event(i, t, T0 + i % 10, **attrs)


def test_split_with_a_failed_task() -> None:
    events = [
        ev(1, "WORKFLOW_EXECUTION_STARTED"), ev(2, "WORKFLOW_TASK_SCHEDULED"),
        ev(3, "WORKFLOW_TASK_STARTED"), ev(4, "WORKFLOW_TASK_COMPLETED"),
        ev(5, "ACTIVITY_TASK_SCHEDULED", activity_id="1"),
        ev(6, "ACTIVITY_TASK_STARTED"), ev(7, "ACTIVITY_TASK_COMPLETED", activity_id="1"),
        ev(8, "WORKFLOW_TASK_SCHEDULED"), ev(9, "WORKFLOW_TASK_STARTED"),
        ev(10, "WORKFLOW_TASK_FAILED"), ev(11, "TIMER_FIRED", timer_id="9"),
        ev(12, "WORKFLOW_TASK_SCHEDULED"),
    ]
    acts = split(events, live_time=100.0)
    assert len(acts) == 2
    first, live = acts
    assert [e.event_id for e in first.inputs] == [1]
    assert [e.event_id for e in first.commands or []] == [5]
    assert first.last_event_id == 5
    # The failed task produced nothing: its inputs and the later ones form one activation.
    assert [e.event_id for e in live.inputs] == [6, 7, 11]
    assert live.commands is None and live.time == 100.0


def test_replay_only_has_no_live_activation() -> None:
    events = [ev(1, "WORKFLOW_EXECUTION_STARTED"), ev(2, "WORKFLOW_TASK_SCHEDULED"),
              ev(3, "WORKFLOW_TASK_STARTED"), ev(4, "WORKFLOW_TASK_COMPLETED"),
              ev(5, "WORKFLOW_EXECUTION_COMPLETED")]
    acts = split(events, live_time=None)
    assert len(acts) == 1 and [e.event_id for e in acts[0].commands or []] == [5]
