"""The wire structs cover every command kind and event type, read what clients and workers
send today (old bodies included), and write nothing a reader did not get before."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest

from plait.protocol import commands, completions, history, requests, tasks
from plait.protocol.events import CommandKind, EventType
from plait.protocol.failure import from_exception
from plait.protocol.payload import encode


def tags(union: Any) -> set[str]:
    return {cls.__struct_config__.tag for cls in union.__args__}


def test_one_struct_per_command_kind_and_event_type() -> None:
    assert tags(commands.Command) == {k.value for k in CommandKind}
    assert set(history.EVENT_STRUCTS) == set(EventType)
    assert tags(completions.TaskCompletion) == {
        "workflow_complete", "workflow_fail", "activity_complete", "activity_fail"}


def test_a_completion_as_the_worker_sends_it() -> None:
    failure = from_exception(ValueError("no"))
    raw = msgspec.json.encode({
        "token": "7.1", "eager_activities": 2, "unknown_field": "ignored",
        "commands": [
            {"kind": "schedule_activity", "activity_id": "1", "activity_type": "charge",
             "task_queue": "q", "input": [encode(500)], "start_to_close_timeout": 10,
             "retry_policy": {"maximum_attempts": 3}, "header": {"trace": "x"}},
            {"kind": "start_timer", "timer_id": "2", "duration": 0.5},
            {"kind": "complete_update", "update_id": "u", "failure": failure},
            {"kind": "complete_workflow", "result": encode({"ok": True})}]})
    done = msgspec.json.decode(raw, type=completions.CompleteWorkflowTaskRequest)
    schedule, timer, update, close = done.commands
    assert isinstance(schedule, commands.ScheduleActivityCommand)
    assert schedule.input == [{"encoding": "json", "data": 500}]
    assert isinstance(timer, commands.StartTimerCommand) and timer.duration == 0.5
    assert isinstance(update, commands.CompleteUpdateCommand) and update.failure is not None
    assert msgspec.to_builtins(update.failure) == failure  # nothing lost, nothing added
    assert isinstance(close, commands.CompleteWorkflowCommand)


def test_envelopes_keep_keys_a_codec_adds() -> None:
    sent = {"encoding": "binary/encrypted", "data": "AAAA", "key_id": "k2"}
    got = msgspec.json.decode(msgspec.json.encode({"signal_name": "s", "input": [sent]}),
                              type=requests.SignalRequest)
    assert got.input == [sent]


def test_optional_fields_may_be_null_or_absent() -> None:
    """Old clients send null for what they do not set; the server reads both as absent."""
    for body in ({"workflow_id": "w", "workflow_type": "T", "task_queue": "q"},
                 {"workflow_id": "w", "workflow_type": "T", "task_queue": "q", "input": None,
                  "retry_policy": None, "request_id": None, "execution_timeout": None}):
        start = msgspec.json.decode(msgspec.json.encode(body),
                                    type=requests.StartWorkflowRequest)
        assert start.input is None and start.retry_policy is None
        assert msgspec.json.decode(msgspec.json.encode(start)) == {
            "workflow_id": "w", "workflow_type": "T", "task_queue": "q"}


@pytest.mark.parametrize(("body", "where"), [
    ({"token": "1.1", "commands": [{"kind": "nope"}]}, "$.commands[0].kind"),
    ({"token": "1.1", "commands": [{"kind": "start_timer", "timer_id": "1"}]},
     "$.commands[0]"),
    ({"token": "1.1", "commands": [{"kind": "schedule_activity", "activity_id": "1",
                                     "activity_type": "a", "start_to_close_timeout": "x"}]},
     "$.commands[0].start_to_close_timeout"),
    ({"token": "x", "commands": []}, "$.token"),
])
def test_errors_name_the_field(body: dict[str, Any], where: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=re.escape(where)):
        msgspec.json.decode(msgspec.json.encode(body),
                            type=completions.CompleteWorkflowTaskRequest)


def test_a_workflow_task_as_the_server_sends_it() -> None:
    task = {"kind": "workflow", "token": "3.1", "namespace": "default", "workflow_id": "w",
            "run_id": "r", "workflow_type": "T", "task_queue": "q", "attempt": 1,
            "previous_upto": 0, "started_event_id": 3, "started_time": 1.5, "updates": [],
            "events": [
                {"event_id": 1, "event_type": "WORKFLOW_EXECUTION_STARTED",
                 "timestamp": "2025-01-31T12:00:00Z",
                 "attributes": {"workflow_type": "T", "task_queue": "q", "input": [],
                                "header": {}, "attempt": 1, "first_run_id": "r"}},
                {"event_id": 2, "event_type": "WORKFLOW_TASK_SCHEDULED",
                 "timestamp": "2025-01-31T12:00:00Z",
                 "attributes": {"task_queue": "q", "attempt": 1}}]}
    got = msgspec.json.decode(msgspec.json.encode({"tasks": [task]}),
                              type=dict[str, list[tasks.Task]])["tasks"][0]
    assert isinstance(got, tasks.WorkflowTask)
    assert [type(e).__name__ for e in got.events] == [
        "WorkflowExecutionStartedEvent", "WorkflowTaskScheduledEvent"]
    assert msgspec.json.decode(msgspec.json.encode(got)) == task
