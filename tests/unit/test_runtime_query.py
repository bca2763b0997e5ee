"""A workflow rebuilt from a history whose first task never completed still answers."""

from __future__ import annotations

from plait import workflow
from plait.protocol.payload import encode
from plait.runtime.definitions import workflow_defn_of
from plait.runtime.instance import new_instance


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
    events = [
        {"event_id": 1, "event_type": "WORKFLOW_EXECUTION_STARTED",
         "timestamp": "2026-01-01T00:00:00Z",
         "attributes": {"workflow_type": "Stages", "input": [encode("registering")]}},
        {"event_id": 2, "event_type": "WORKFLOW_TASK_SCHEDULED",
         "timestamp": "2026-01-01T00:00:00Z", "attributes": {}},
    ]
    task = {"workflow_id": "w", "run_id": "r", "workflow_type": "Stages",
            "namespace": "default", "task_queue": "q"}
    replay_only = new_instance(workflow_defn_of(Stages), task)
    replay_only.replay_then_activate(events, None)
    answer = replay_only.query("current", [])  # nothing ran yet: said plainly
    assert answer["failure"]["message"] == "the workflow has not run its first task yet"
    inst = new_instance(workflow_defn_of(Stages), task)
    inst.replay_then_activate(events, 1767225600.0)  # what the worker's query path does
    assert inst.query("current", []) == {"result": encode("registering")}
