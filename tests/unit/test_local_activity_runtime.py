"""The runtime side of local activities, without a worker: what an activation asks the
worker to run, how an outcome fed back becomes a marker command, and what stays of the task."""

from __future__ import annotations

from datetime import timedelta

from plait import activity, workflow
from plait.protocol import commands as c
from plait.protocol.tasks import UpdateRequested
from plait.runtime.definitions import workflow_defn_of
from plait.runtime.instance import WorkflowInstance, new_instance
from tests.unit.histories import T0, HistoryBuilder, task_of


@activity.defn
async def lookup(key: str) -> str:
    return key


@workflow.defn
class Looks:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_local_activity(
            lookup, "k", start_to_close_timeout=timedelta(seconds=1))

    @workflow.update
    def ping(self) -> None: ...

    @ping.validator
    def never(self) -> None:
        raise ValueError("no")


def _started() -> tuple[WorkflowInstance, list[c.Command]]:
    inst = new_instance(workflow_defn_of(Looks), task_of("Looks"))
    result = inst.replay_then_activate(
        HistoryBuilder("Looks").pending_task().events, T0 + 1,
        [UpdateRequested(update_id="u1", update_name="ping", input=[])])
    return inst, result.commands


def test_a_started_local_activity_issues_no_command_and_waits_for_the_worker() -> None:
    inst, commands = _started()
    assert commands == []
    (entry,) = inst.locals_to_run()
    assert (entry.activity_type, entry.activity_id, entry.attempt) == ("lookup", "1", 1)


def test_an_outcome_fed_back_is_a_marker_then_what_the_code_does_next() -> None:
    inst, _ = _started()
    result = inst.resolve_local(
        {"activity_id": "1", "activity_type": "lookup", "attempt": 1,
         "result": {"encoding": "json", "data": "found"}}, T0 + 1)
    marker, done = result.commands
    assert isinstance(marker, c.RecordMarkerCommand) and marker.marker_name == "local_activity"
    assert isinstance(done, c.CompleteWorkflowCommand)
    assert done.result == {"encoding": "json", "data": "found"}


def test_the_tasks_update_rejections_outlive_the_local_activity_outcomes() -> None:
    inst, _ = _started()
    assert [r.update_id for r in inst.rejections] == ["u1"]
    inst.resolve_local(
        {"activity_id": "1", "activity_type": "lookup", "attempt": 1,
         "result": {"encoding": "json", "data": "found"}}, T0 + 1)
    assert [r.update_id for r in inst.rejections] == ["u1"]


def test_a_failed_attempt_with_backoff_starts_a_timer_then_runs_again() -> None:
    inst, _ = _started()
    result = inst.resolve_local(
        {"activity_id": "1", "activity_type": "lookup", "attempt": 1,
         "failure": {"message": "boom", "type": "RuntimeError"}, "backoff": 30.0}, T0 + 1)
    marker, timer = result.commands
    assert isinstance(marker, c.RecordMarkerCommand)
    assert isinstance(timer, c.StartTimerCommand) and timer.duration == 30.0
    assert inst.locals_to_run() == []
