"""Closing with late messages: a signal or update that arrives while the workflow task that
would close the workflow is out is never dropped."""

from __future__ import annotations

import aiohttp

from plait import Worker, workflow
from plait.testing import WorkflowEnvironment


@workflow.defn
class Mailbox:
    def __init__(self) -> None:
        self.got: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        return self.got

    @workflow.signal
    def post(self, text: str) -> None:
        self.got.append(text)


async def test_close_is_refused_while_a_signal_waits(env: WorkflowEnvironment,
                                                     queue: str) -> None:
    ns = env.address + "/api/v1/namespaces/default"
    h = await env.client.start_workflow(Mailbox.run, id="late", task_queue=queue)
    async with aiohttp.ClientSession() as http:
        async with http.post(ns + "/sessions", json={"task_queue": queue}) as r:
            session = (await r.json())["session_id"]
        async with http.post(ns + f"/task-queues/{queue}/poll", json={
                "session_id": session, "kind": "workflow", "wait": 5}) as r:
            token = (await r.json())["tasks"][0]["token"]
        # The task is out; a signal arrives; then the task tries to close the workflow.
        await h.signal(Mailbox.post, "arrived late")
        async with http.post(env.address + "/api/v1/workflow-tasks/complete", json={
                "token": token, "commands": [{"kind": "complete_workflow",
                                              "result": {"encoding": "json", "data": []}}]}) as r:
            assert r.status == 200 and (await r.json())["rejected"] is True
        async with http.delete(env.address + f"/api/v1/sessions/{session}"):
            pass
    assert (await h.describe()).status == "RUNNING"
    async with Worker(env.client, task_queue=queue, workflows=[Mailbox]):
        assert await h.result() == ["arrived late"]
    types = [e.event_type for e in (await h.fetch_history()).events]
    assert types.index("WORKFLOW_TASK_FAILED") < types.index("WORKFLOW_EXECUTION_SIGNALED")
    assert types[-1] == "WORKFLOW_EXECUTION_COMPLETED"
