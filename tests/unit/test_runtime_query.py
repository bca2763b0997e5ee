"""A workflow rebuilt from a history whose first task never completed still answers."""

from __future__ import annotations

from plait import workflow
from plait.protocol.payload import encode
from plait.runtime.definitions import workflow_defn_of
from plait.runtime.instance import new_instance
from plait.runtime.outcome import QueryAnswer
from tests.unit.histories import HistoryBuilder, task_of


@workflow.defn
class Stages:
    def __init__(self) -> None:
        self.stage = "created"

    @workflow.run
    async def run(self, first: str) -> None:
        self.stage = first
        await workflow.sleep(60)

    @workflow.query
    def current(self) -> str:
        return self.stage


def test_query_on_a_history_with_no_completed_task() -> None:
    events = HistoryBuilder("Stages", "registering").pending_task().events
    task = task_of("Stages")
    replay_only = new_instance(workflow_defn_of(Stages), task)
    replay_only.replay_then_activate(events, None)
    answer = replay_only.query("current", [])  # nothing ran yet: said plainly
    assert answer.failure is not None
    assert answer.failure.message == "the workflow has not run its first task yet"
    inst = new_instance(workflow_defn_of(Stages), task)
    inst.replay_then_activate(events, 1767225600.0)  # what the worker's query path does
    assert inst.query("current", []) == QueryAnswer(result=encode("registering"))
