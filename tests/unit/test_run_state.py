"""The run state document: a round trip is exact, and rows written by older versions load."""

from __future__ import annotations

from plait.protocol.common import RetryPolicy
from plait.protocol.responses import TaskFailureInfo
from plait.store.history import BufferedEvent
from plait.store.run_state import ChildLink, ParentLink, RunState, UpdateEntry, WorkflowTaskRef


def test_a_round_trip_through_json_is_exact() -> None:
    state = RunState(
        wt=WorkflowTaskRef(7, 5, 2), upto=4, sticky="s-1", deadline=99.5,
        parent=ParentLink("default", "p", "pr", "3", 12),
        children={"1": ChildLink("c", "cr", "abandon")}, first_run_id="r0", attempt=2,
        retry_policy=RetryPolicy(maximum_attempts=3), input=[{"encoding": "json", "data": 1}],
        header={"trace": "t-1"}, buffered=2,
        buffer=[BufferedEvent("TIMER_FIRED", {"timer_id": "1"}, 3.5)],
        last_wt_scheduled_event_id=6,
        last_task_failure=TaskFailureInfo(message="boom", type="KeyError", attempts=2),
        updates={"u": UpdateEntry("set", "completed", None, {}, {"encoding": "json",
                                                                  "data": 5})},
        cancel_requested=True, pending_activities=2, activities_counted=True)
    assert RunState.decode(state.encode()) == state


def test_a_row_of_an_older_version_loads() -> None:
    old = {"wt": {"task_id": 3, "scheduled_event_id": 2, "attempt": 1}, "upto": 0,
           "task_timeout": 10, "deadline": None, "parent": None, "first_run_id": "r1",
           "attempt": 1, "buffer": [{"event_type": "TIMER_FIRED", "attributes": {},
                                     "ts": 1.0}],
           "children": {"1": {"workflow_id": "c", "run_id": "cr", "policy": "terminate"}},
           "updates": {"u1": {"name": "n", "input": [], "status": "requested"},
                       "u2": {"name": "n", "status": "rejected", "failure": None},
                       "u3": {"name": "", "status": "completed", "result": None}}}
    state = RunState.from_json(old)
    assert state.wt == WorkflowTaskRef(3, 2, 1) and state.task_timeout == 10.0
    assert state.buffer == [BufferedEvent("TIMER_FIRED", {}, 1.0)]
    assert state.buffered == 0 and not state.cancel_requested
    assert state.children == {"1": ChildLink("c", "cr", "terminate")}
    # It kept no count of its activities: closing it looks for attempts that were out.
    assert not state.activities_counted and state.pending_activities == 0
    assert state.updates["u1"] == UpdateEntry("n", "requested", [], {})
    assert state.updates["u3"].status == "completed" and state.updates["u3"].result is None
    assert RunState.from_json({}) == RunState()


def test_a_row_written_with_every_field_spelled_out_loads() -> None:
    """The previous version wrote every field, nulls included."""
    state = RunState.decode(
        '{"wt": null, "upto": 3, "sticky": null, "task_timeout": 10, "deadline": null,'
        ' "parent": null, "children": {}, "first_run_id": "r", "attempt": 1,'
        ' "retry_policy": null, "input": [], "header": {}, "buffered": 0, "buffer": [],'
        ' "last_wt_scheduled_event_id": 2, "last_task_failure": null, "cancel_requested": false,'
        ' "updates": {"u": {"name": "n", "status": "completed", "input": null, "header": {},'
        ' "result": null, "failure": null}}}')
    assert state.upto == 3 and state.task_timeout == 10.0 and state.wt is None
    assert state.updates["u"] == UpdateEntry("n", "completed")
    assert RunState.decode(state.encode()) == state
    assert len(RunState().encode()) == 2  # defaults are not written: "{}"
