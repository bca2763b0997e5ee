"""One handler per event type; an activation returns its failure instead of raising."""

from __future__ import annotations

import pytest

from plait import workflow
from plait.errors import NonDeterminismError
from plait.protocol.events import EventType
from plait.runtime.definitions import workflow_defn_of
from plait.runtime.events_in import HANDLERS
from plait.runtime.instance import ActivationResult, WorkflowInstance, new_instance
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
    assert outcome.commands == [{"kind": "complete_workflow",
                                 "result": {"encoding": "json", "data": ["ada", "bo"]}}]


def test_an_unknown_event_type_fails_the_task_naming_it() -> None:
    history = HistoryBuilder("Greets").add("WORKFLOW_EXECUTION_TELEPORTED").pending_task()
    inst = instance(Greets)
    outcome = inst.replay_then_activate(history.events, T0 + 3)
    inst.evict()  # as the worker does: the run that never started is unwound, not leaked
    assert outcome.commands == [] and outcome.failure is not None
    assert outcome.failure.kind == "unknown_event"
    assert "event 2" in outcome.failure.message
    assert "WORKFLOW_EXECUTION_TELEPORTED" in outcome.failure.message


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
