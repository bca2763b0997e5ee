"""``continue_as_new_suggested`` through a real worker (with a low threshold): it turns true,
and the run that acted on it replays from its recorded history."""

from __future__ import annotations

from datetime import timedelta

import pytest

from plait import Worker, activity, workflow
from plait.runtime import history_size
from plait.testing import Replayer, WorkflowEnvironment

THRESHOLD = 18
"""Each step records six events and its result lands on ids 7, 13, 19, ...: 18 sits just
below one, so a worker that counted a chained step's result one id early (18, not 19) would
be told one step later than the replay of its history is, and the replay would fail."""


@activity.defn
async def tick() -> None:
    return None


@workflow.defn
class Ticks:
    @workflow.run
    async def run(self, first: bool) -> int:
        steps = 0
        while not workflow.info().continue_as_new_suggested:
            await workflow.execute_activity(tick, start_to_close_timeout=timedelta(seconds=5))
            steps += 1
        if first:
            workflow.continue_as_new(False)
        return steps


async def test_a_long_run_is_told_to_continue_as_new(env: WorkflowEnvironment, queue: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history_size, "SUGGEST_CONTINUE_AS_NEW_EVENTS", THRESHOLD)
    async with Worker(env.client, task_queue=queue, workflows=[Ticks], activities=[tick]):
        handle = await env.client.start_workflow(Ticks.run, True, id=queue, task_queue=queue)
        steps = await handle.result()  # the last run's: it too grew past the threshold
    assert steps >= 3
    runs = [d async for d in env.client.list_workflows(workflow_type="Ticks")]
    assert sorted(d.status for d in runs) == ["COMPLETED", "CONTINUED_AS_NEW"]
    first = next(d for d in runs if d.status == "CONTINUED_AS_NEW")
    history = await env.client.get_workflow_handle(queue, run_id=first.run_id).fetch_history()
    ids_before_close = history.events[-2].event_id
    assert THRESHOLD < ids_before_close < THRESHOLD + 10
    await Replayer(workflows=[Ticks]).replay(history)
