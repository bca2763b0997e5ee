"""One handler per event type; an activation returns its failure instead of raising."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from plait import workflow
from plait.errors import NonDeterminismError
from plait.protocol.commands import CompleteWorkflowCommand
from plait.protocol.events import EventType
from plait.protocol.tasks import WorkflowTask
from plait.runtime.definitions import workflow_defn_of
from plait.runtime.events_in import HANDLERS
from plait.runtime.instance import ActivationResult, WorkflowInstance, new_instance
from plait.runtime.wire import UnknownEventError, UnreadableTask, decode_events, decode_tasks
from tests.unit.histories import T0, HistoryBuilder, task_of


@workflow.defn
class Greets:
    def __init__(self) -> None:
        self.names: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: len(self.names) == 2)
        return self.names

    @workflow.signal
    def greet(self, name: str) -> None:
        self.names.append(name)


@workflow.defn
class Buggy:
    @workflow.run
    async def run(self) -> None:
        await workflow.sleep(1)
        {}["missing"]  # the bug under test


def instance(wf: type) -> WorkflowInstance:
    return new_instance(workflow_defn_of(wf), task_of(workflow_defn_of(wf).name))


def test_every_event_type_has_a_handler() -> None:
    assert set(HANDLERS) == set(EventType)


def test_signals_reach_their_handler_and_the_run_completes() -> None:
    history = HistoryBuilder("Greets").add(
        "WORKFLOW_EXECUTION_SIGNALED", signal_name="greet",
        input=[{"encoding": "json", "data": "ada"}]).add(
        "WORKFLOW_EXECUTION_SIGNALED", signal_name="greet",
        input=[{"encoding": "json", "data": "bo"}]).pending_task()
    outcome = instance(Greets).replay_then_activate(history.events, T0 + 4)
    assert outcome.failure is None
    assert outcome.commands == [CompleteWorkflowCommand(
        result={"encoding": "json", "data": ["ada", "bo"]})]


def _workflow_task(token: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": "workflow", "token": token, "namespace": "default", "workflow_id": "w",
            "run_id": "r", "workflow_type": "Greets", "task_queue": "q", "attempt": 2,
            "previous_upto": 0, "started_event_id": len(events) + 1, "started_time": T0,
            "events": events, "updates": []}


def test_an_unknown_event_type_makes_the_task_unreadable_naming_it() -> None:
    """A newer server's event type cannot be decoded: the task comes out of the poll as
    unreadable, saying which event, for the worker to fail as ``unknown_event``; the other
    tasks of the same poll are read as usual."""
    known = [msgspec.to_builtins(e) for e in HistoryBuilder("Greets").pending_task().events]
    teleported = {"event_id": 2, "event_type": "WORKFLOW_EXECUTION_TELEPORTED",
                  "timestamp": "2026-01-01T00:00:01Z", "attributes": {"to": "mars"}}
    body = msgspec.json.encode({"tasks": [_workflow_task("1.1", known),
                                          _workflow_task("2.1", [known[0], teleported])]})
    good, bad = decode_tasks(body)
    assert isinstance(good, WorkflowTask) and good.token == "1.1"
    assert isinstance(bad, UnreadableTask) and bad.unknown_event
    assert (bad.token, bad.run_id, bad.attempt) == ("2.1", "r", 2)
    assert "event 2" in bad.problem and "WORKFLOW_EXECUTION_TELEPORTED" in bad.problem
    with pytest.raises(UnknownEventError, match="event 2 has type 'WORKFLOW_EXECUTION_TEL"):
        decode_events(msgspec.json.encode([known[0], teleported]))


def test_a_bug_in_workflow_code_is_returned_with_its_traceback() -> None:
    history = (HistoryBuilder("Buggy").task()
               .add("TIMER_STARTED", timer_id="1", duration=1.0)
               .add("TIMER_FIRED", timer_id="1").pending_task())
    outcome = instance(Buggy).replay_then_activate(history.events, T0 + 8)
    assert outcome.commands == [] and outcome.failure is not None
    assert outcome.failure.kind == "workflow_error"
    assert isinstance(outcome.failure.cause, KeyError)
    assert "missing" in outcome.failure.message
    assert 'in run\n    {}["missing"]' in outcome.failure.traceback


def test_non_determinism_is_returned_naming_the_event() -> None:
    history = (HistoryBuilder("Buggy").task()
               .add("ACTIVITY_TASK_SCHEDULED", activity_id="1", activity_type="charge"))
    outcome = instance(Buggy).replay_then_activate(history.events, None)
    assert outcome.failure is not None and outcome.failure.kind == "non_determinism"
    assert isinstance(outcome.failure.cause, NonDeterminismError)
    assert "event 5 ACTIVITY_TASK_SCHEDULED" in outcome.failure.message


@pytest.mark.parametrize("event_type", ["ACTIVITY_TASK_STARTED", "WORKFLOW_EXECUTION_TERMINATED"])
def test_bookkeeping_events_change_nothing(event_type: str) -> None:
    history = HistoryBuilder("Greets").add(event_type).pending_task()
    inst = instance(Greets)
    assert inst.replay_then_activate(history.events, T0 + 3) == ActivationResult([])
    inst.evict()
