"""Names are data, not URL syntax: a task queue, workflow id, signal, query or update id that
holds ``/``, ``?``, ``#``, spaces or non-ASCII works end to end (issue 10: a queue named
``team/orders`` used to leave its worker polling a 404 forever)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from plait import Worker, activity, workflow
from plait.testing import WorkflowEnvironment

QUEUE = "team/orders"
WORKFLOW_ID = "a/b?c#d é"
SIGNAL = "go/now"


@activity.defn(name="pack/box ?#")
async def pack(order: str) -> str:
    return f"packed {order}"


@workflow.defn(name="Orders/é")
class Orders:
    def __init__(self) -> None:
        self.go_by: str | None = None

    @workflow.run
    async def run(self, order: str) -> str:
        await workflow.wait_condition(lambda: self.go_by is not None)
        packed = await workflow.execute_activity(pack, order,
                                                 start_to_close_timeout=timedelta(seconds=10))
        return f"{packed} for {self.go_by}"

    @workflow.signal(name=SIGNAL)
    def go(self, by: str) -> None:
        self.go_by = by

    @workflow.query(name="state?/#")
    def state(self) -> str:
        return "going" if self.go_by else "waiting"

    @workflow.update(name="note/é")
    async def note(self, text: str) -> str:
        return text.upper()


async def test_odd_names_run_to_completion(env: WorkflowEnvironment) -> None:
    async with Worker(env.client, task_queue=QUEUE, workflows=[Orders], activities=[pack]):
        handle = await env.client.start_workflow(Orders.run, "o-1", id=WORKFLOW_ID,
                                                 task_queue=QUEUE)
        # A query is answered by the worker: it proves the worker polls this queue.
        assert await asyncio.wait_for(handle.query("state?/#"), 30) == "waiting"
        assert await handle.execute_update("note/é", "x", id="u/1?#") == "X"
        assert await handle.get_update_result("u/1?#") == "X"
        await handle.signal(SIGNAL, "alice")
        assert await asyncio.wait_for(handle.result(), 30) == "packed o-1 for alice"
    desc = await handle.describe()
    assert (desc.workflow_id, desc.task_queue, desc.status) == (WORKFLOW_ID, QUEUE, "COMPLETED")
    history = await handle.fetch_history()
    signaled = [e for e in history.events if e.event_type == "WORKFLOW_EXECUTION_SIGNALED"]
    assert [e.attributes["signal_name"] for e in signaled] == [SIGNAL]
    listed = [w.workflow_id async for w in env.client.list_workflows(workflow_type="Orders/é")]
    assert listed == [WORKFLOW_ID]


async def test_percent_signs_are_data_too(env: WorkflowEnvironment) -> None:
    """``%`` (even ``%2F`` written out) must not be decoded a second time on the way."""
    wid = "50% off/%2F"
    handle = await env.client.start_workflow(Orders.run, "o-2", id=wid, task_queue="q/%2F")
    desc = await handle.describe()
    assert (desc.workflow_id, desc.task_queue) == (wid, "q/%2F")
    await handle.terminate("done")
    assert (await env.client.get_workflow_handle(wid).describe()).status == "TERMINATED"
