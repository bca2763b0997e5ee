"""A history read a page at a time (``page_size`` with ``after``) is the whole history, in
order, with nothing twice."""

from __future__ import annotations

from typing import Any

import aiohttp

from plait import Worker, workflow
from plait.testing import WorkflowEnvironment


@workflow.defn
class Ticks:
    @workflow.run
    async def run(self, n: int) -> int:
        for _ in range(n):
            await workflow.sleep(0)
        return n


async def _get(env: WorkflowEnvironment, query: str) -> Any:
    url = f"{env.address}/api/v1/namespaces/default/workflows/ticks/history?{query}"
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return r.status, await r.json()


async def test_pages_add_up_to_the_history(env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Ticks]):
        assert await env.client.execute_workflow(Ticks.run, 12, id="ticks",
                                                 task_queue=queue) == 12
    _, whole = await _get(env, "")
    ids: list[int] = []
    after = 0
    while True:
        status, page = await _get(env, f"after={after}&page_size=7")
        assert status == 200 and len(page["events"]) <= 7
        ids += [e["event_id"] for e in page["events"]]
        if len(page["events"]) < 7:
            break
        after = page["events"][-1]["event_id"]
    assert ids == [e["event_id"] for e in whole["events"]] == list(range(1, len(ids) + 1))
    status, body = await _get(env, "page_size=many")
    assert status == 400 and body["error"]["code"] == "bad_request"
