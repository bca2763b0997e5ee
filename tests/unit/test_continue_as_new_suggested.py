"""``workflow.info().continue_as_new_suggested``: true past the thresholds, and the same at
every activation whether the instance ran on a sticky cache or was rebuilt by replay."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from plait import workflow
from plait.protocol.commands import ScheduleActivityCommand, StartTimerCommand
from plait.runtime import history_size
from plait.runtime.definitions import workflow_defn_of
from plait.runtime.history_size import HistorySize
from plait.runtime.instance import WorkflowInstance, new_instance
from tests.unit.histories import T0, HistoryBuilder, event, task_of, type_of

_EVENT_OF = {"start_timer": "TIMER_STARTED", "continue_as_new":
             "WORKFLOW_EXECUTION_CONTINUED_AS_NEW"}


@workflow.defn
class Rolls:
    @workflow.run
    async def run(self) -> None:
        while not workflow.info().continue_as_new_suggested:
            await workflow.sleep(1)
        workflow.continue_as_new()


def run_sticky(inst: WorkflowInstance, history: HistoryBuilder) -> None:
    """Play the server for a worker that keeps ``inst`` cached: each task hands it only the
    events after the last one it completed; its own command events it never sees."""
    while True:
        history.pending_task()
        new = [e for e in history.events if e.event_id > inst.upto]
        outcome = inst.replay_then_activate(new, T0 + len(history.events))
        assert outcome.failure is None
        history.add("WORKFLOW_TASK_STARTED").add("WORKFLOW_TASK_COMPLETED")
        for command in outcome.commands:
            fields = {k: v for k, v in msgspec.structs.asdict(command).items()
                      if v is not None}
            history.add(_EVENT_OF[str(command.__struct_config__.tag)], **fields)
        inst.upto = len(history.events)
        if inst.closed:
            return
        last = outcome.commands[-1]
        assert isinstance(last, StartTimerCommand)
        history.add("TIMER_FIRED", timer_id=last.timer_id)


def test_suggested_past_the_event_threshold_alike_live_and_in_replay(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history_size, "SUGGEST_CONTINUE_AS_NEW_EVENTS", 12)
    history = HistoryBuilder("Rolls")
    live = new_instance(workflow_defn_of(Rolls), task_of("Rolls"))
    run_sticky(live, history)
    types = [type_of(e) for e in history.events]
    # Timers fired at events 6 and 11 (not past 12), the one at 16 is: continue as new.
    assert types.count("TIMER_FIRED") == 3
    assert types[-1] == "WORKFLOW_EXECUTION_CONTINUED_AS_NEW"
    assert live.info.continue_as_new_suggested
    replayed = new_instance(workflow_defn_of(Rolls), task_of("Rolls"))
    outcome = replayed.replay_then_activate(history.events, None)
    assert outcome.failure is None and replayed.closed


def test_false_below_both_thresholds() -> None:
    history = HistoryBuilder("Rolls").pending_task()
    inst = new_instance(workflow_defn_of(Rolls), task_of("Rolls"))
    outcome = inst.replay_then_activate(history.events, T0 + 2)
    assert [type(c) for c in outcome.commands] == [StartTimerCommand]
    assert not inst.info.continue_as_new_suggested
    inst.evict()


def big(n: int) -> dict[str, Any]:
    return {"encoding": "json", "data": "x" * n}


def test_payload_bytes_count_what_comes_in_and_goes_out(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.setattr(history_size, "SUGGEST_CONTINUE_AS_NEW_BYTES", 1000)
    size = HistorySize()
    size.observe_events([  # the last failure of a started attempt is no payload of its own
        event(6, "ACTIVITY_TASK_STARTED", last_failure={"message": "x" * 5000}),
        event(7, "ACTIVITY_TASK_COMPLETED", result=big(400))])
    size.observe_commands([ScheduleActivityCommand(activity_id="1", activity_type="a",
                                                   input=[big(400)])])
    assert size.events == 7 and 800 < size.bytes < 1000
    assert not size.suggests_continue_as_new()
    size.observe_events([event(9, "WORKFLOW_EXECUTION_SIGNALED", input=[big(200)])])
    assert size.events == 9 and size.suggests_continue_as_new()


def test_the_thresholds_are_those_of_the_api() -> None:
    assert history_size.SUGGEST_CONTINUE_AS_NEW_EVENTS == 10_000
    assert history_size.SUGGEST_CONTINUE_AS_NEW_BYTES == 10 * 1024 * 1024
