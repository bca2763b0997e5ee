"""An evicted instance is unwound inside its own loop, once; nothing of it runs later."""

from __future__ import annotations

import asyncio
import gc
from datetime import timedelta

import pytest

from plait import workflow
from plait.protocol.commands import CompleteWorkflowCommand
from plait.runtime.definitions import workflow_defn_of
from plait.runtime.eviction import MAX_THROWS, REFUSED
from plait.runtime.instance import WorkflowInstance, new_instance
from tests.unit.histories import T0, HistoryBuilder, task_of

cleanups: list[str] = []


def where() -> str:
    return "in the workflow loop" if workflow.in_workflow() else "outside the workflow"


class Resource:
    async def __aenter__(self) -> Resource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        cleanups.append(f"exit {where()}")


@workflow.defn
class Cleans:
    @workflow.run
    async def run(self) -> str:
        try:
            async with Resource():
                await workflow.sleep(60)
            return "done"
        finally:
            cleanups.append(f"finally {where()}")


@workflow.defn
class Swallows:
    @workflow.run
    async def run(self) -> None:
        try:
            await workflow.sleep(60)
        except Exception:
            cleanups.append("swallowed")
        finally:
            # Cleanup that asks for more: dropped, it is not part of the run.
            workflow.start_activity("undo", start_to_close_timeout=timedelta(seconds=5))
            self.notifying = asyncio.ensure_future(self.notify())  # never runs, nor warns
            cleanups.append("finally")
            await workflow.sleep(1)  # an await in cleanup is interrupted too
            cleanups.append("after the await")

    async def notify(self) -> None:
        cleanups.append("notified")


@workflow.defn
class Stubborn:
    """Swallows everything, even its eviction, and keeps waiting."""

    @workflow.run
    async def run(self) -> None:
        while True:
            try:
                await workflow.sleep(60)
            except BaseException:
                cleanups.append("swallowed an eviction")


def cleans_history() -> HistoryBuilder:
    """Started, a 60 s timer, fired, completed."""
    return (HistoryBuilder("Cleans").task()
            .add("TIMER_STARTED", timer_id="1", duration=60.0)
            .add("TIMER_FIRED", timer_id="1", started_event_id=5).task()
            .add("WORKFLOW_EXECUTION_COMPLETED", result={"encoding": "json", "data": "done"}))


def first_task(wf: type, history: HistoryBuilder) -> WorkflowInstance:
    inst = new_instance(workflow_defn_of(wf), task_of(workflow_defn_of(wf).name))
    outcome = inst.replay_then_activate(history.upto(2), T0 + 2)
    assert outcome.failure is None
    return inst


def test_eviction_runs_cleanup_once_inside_the_loop_and_replay_runs_it_where_history_says(
) -> None:
    cleanups.clear()
    history = cleans_history()
    inst = first_task(Cleans, history)
    assert cleanups == []
    inst.evict()
    del inst
    gc.collect()  # today's failure: collecting a dropped instance ran its cleanup here
    assert cleanups == ["exit in the workflow loop", "finally in the workflow loop"]

    replayed = new_instance(workflow_defn_of(Cleans), task_of("Cleans"))
    outcome = replayed.replay_then_activate(history.upto(7), T0 + 7)
    assert outcome.failure is None
    assert [type(c) for c in outcome.commands] == [CompleteWorkflowCommand]
    replayed.evict()
    del replayed
    gc.collect()
    assert cleanups == ["exit in the workflow loop", "finally in the workflow loop"] * 2


@pytest.mark.filterwarnings("error")  # a task cleanup started must not warn it never ran
def test_except_exception_cannot_swallow_an_eviction_and_what_cleanup_asks_is_dropped(
) -> None:
    cleanups.clear()
    history = HistoryBuilder("Swallows")
    inst = first_task(Swallows, history.pending_task())
    inst.evict()
    assert cleanups == ["finally"]
    assert inst._commands == [] and inst._failure is None
    inst.evict()  # twice is harmless
    del inst
    gc.collect()
    assert cleanups == ["finally"]


def test_an_instance_that_completed_has_nothing_left_to_unwind() -> None:
    cleanups.clear()
    history = cleans_history()
    inst = new_instance(workflow_defn_of(Cleans), task_of("Cleans"))
    assert inst.replay_then_activate(history.upto(7), T0 + 7).failure is None
    assert cleanups == ["exit in the workflow loop", "finally in the workflow loop"]
    inst.evict()
    assert len(cleanups) == 2




def test_code_that_swallows_its_eviction_is_closed_after_a_bounded_number_of_throws(
        caplog: pytest.LogCaptureFixture) -> None:
    cleanups.clear()
    inst = first_task(Stubborn, HistoryBuilder("Stubborn").pending_task())
    inst.evict()
    # Each throw, then the close (GeneratorExit), was swallowed; the coroutine is kept so
    # that the garbage collector does not run its handler once more, outside the loop.
    assert cleanups == ["swallowed an eviction"] * (MAX_THROWS + 1)
    assert "kept awaiting while evicted" in caplog.text and "refuses to close" in caplog.text
    assert REFUSED[-1].cr_code.co_name == "run"
    del inst
    gc.collect()
    assert len(cleanups) == MAX_THROWS + 1
