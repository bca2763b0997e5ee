"""The batch completion route: each item is answered as its own route would answer it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp

from plait import Worker, activity, workflow
from plait.testing import WorkflowEnvironment


@activity.defn
async def double(x: int) -> int:
    return 2 * x


@workflow.defn
class Fan:
    @workflow.run
    async def run(self, n: int) -> int:
        total = 0
        for i in range(n):
            total += await workflow.execute_activity(
                double, i, start_to_close_timeout=timedelta(seconds=10))
        return total


NS = "/api/v1/namespaces/default"


async def _post(http: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any]:
    async with http.post(url, json=body) as r:
        return r.status, await r.json(content_type=None)


async def _workflow_task(http: aiohttp.ClientSession, env: WorkflowEnvironment,
                         queue: str) -> tuple[str, dict[str, Any]]:
    """Open a session by hand and take the first workflow task of ``queue``."""
    _, opened = await _post(http, env.address + NS + "/sessions", {"task_queue": queue})
    sid = opened["session_id"]
    _, polled = await _post(http, env.address + NS + f"/task-queues/{queue}/poll",
                            {"session_id": sid, "kind": "workflow", "wait": 5})
    return sid, polled["tasks"][0]


async def test_items_are_answered_one_by_one(env: WorkflowEnvironment, queue: str) -> None:
    handle = await env.client.start_workflow(Fan.run, 2, id="batch-1", task_queue=queue)
    async with aiohttp.ClientSession() as http:
        sid, task = await _workflow_task(http, env, queue)
        schedule = {"kind": "schedule_activity", "activity_id": "1", "activity_type": "double",
                    "task_queue": queue, "input": [], "start_to_close_timeout": 10}
        status, body = await _post(http, env.address + "/api/v1/task-completions", {
            "completions": [
                {"type": "workflow_complete", "token": task["token"], "commands": [schedule]},
                {"type": "activity_complete", "token": "12345.1", "result": None},
                {"type": "workflow_fail", "token": "not a token"},
                {"type": "workflow_complete", "token": task["token"], "commands": []},
            ]})
        assert status == 200, body
        first, unknown, malformed, repeated = body["results"]
        assert first["result"]["upto"] >= 3 and "error" not in first
        status, alone = await _post(http, env.address + "/api/v1/activity-tasks/complete",
                                    {"token": "12345.1", "result": None})
        assert unknown["error"] == {"status": status, **alone["error"]}
        assert status == 409 and alone["error"]["code"] == "stale_task"
        assert malformed["error"] == {"status": 400, "code": "bad_token",
                                      "message": malformed["error"]["message"]}
        assert repeated["error"]["status"] == 409 and repeated["error"]["code"] == "stale_task"
        await http.delete(env.address + f"/api/v1/sessions/{sid}")
    desc = await handle.describe()
    assert [a.activity_type for a in desc.pending_activities] == ["double"]


async def test_bad_batches_are_refused_whole(env: WorkflowEnvironment) -> None:
    url = env.address + "/api/v1/task-completions"
    async with aiohttp.ClientSession() as http:
        for body in ({}, {"completions": {}}, {"completions": [{"type": "nope"}]},
                     {"completions": [{"type": {}}]},
                     {"completions": [{"type": "activity_fail"}] * 513}):
            status, answer = await _post(http, url, body)
            assert status == 400, (body, answer)
            assert set(answer["error"]) == {"code", "message"}
        status, answer = await _post(http, url, {"completions": []})
        assert (status, answer) == (200, {"results": []})


async def test_a_busy_worker_batches_its_completions(env: WorkflowEnvironment,
                                                     queue: str) -> None:
    before = await _counts(env)
    async with Worker(env.client, task_queue=queue, workflows=[Fan], activities=[double]):
        handles = [await env.client.start_workflow(Fan.run, 5, id=f"busy-{i}", task_queue=queue)
                   for i in range(40)]
        assert [await h.result() for h in handles] == [20] * 40
    after = await _counts(env)
    completions, requests = (a - b for a, b in zip(after, before, strict=True))
    assert completions == 40 * (5 + 6)  # 5 activities and 6 workflow tasks each
    assert 0 < requests < completions / 2


async def _counts(env: WorkflowEnvironment) -> tuple[int, int]:
    """(task completions, requests to the batch route) so far, from the server's metrics
    (the counters are per process, so tests compare before and after)."""
    async with aiohttp.ClientSession() as http, http.get(env.address + "/metrics") as r:
        text = await r.text()
    completions = requests = 0
    for line in text.splitlines():
        if line.startswith("plait_task_completions_total{"):
            completions += int(float(line.rsplit(" ", 1)[1]))
        if line.startswith("plait_http_requests_total{") and "task-completions" in line:
            requests += int(float(line.rsplit(" ", 1)[1]))
    return completions, requests


async def test_tasks_handed_back_by_a_batch_are_judged_by_its_number(
        env: WorkflowEnvironment, queue: str) -> None:
    """The batch's ``request_no`` is recorded with the activity it hands back; a heartbeat
    that still waits on that request keeps the activity leased, one that is done with it
    and does not hold the activity gets it offered again (``plait.server.sessions``)."""
    handle = await env.client.start_workflow(Fan.run, 1, id="numbered", task_queue=queue)
    async with aiohttp.ClientSession() as http:
        _, opened = await _post(http, env.address + NS + "/sessions", {
            "task_queue": queue, "workflow_types": ["Fan"], "activity_types": ["double"]})
        sid = opened["session_id"]
        _, polled = await _post(http, env.address + NS + f"/task-queues/{queue}/poll",
                                {"session_id": sid, "kind": "workflow", "wait": 5,
                                 "request_no": 1})
        schedule = {"kind": "schedule_activity", "activity_id": "1", "activity_type": "double",
                    "task_queue": queue, "input": [], "start_to_close_timeout": 10}
        status, body = await _post(http, env.address + "/api/v1/task-completions", {
            "request_no": 2, "completions": [
                {"type": "workflow_complete", "token": polled["tasks"][0]["token"],
                 "commands": [schedule], "eager_activities": 1}]})
        assert status == 200, body
        [handed] = body["results"][0]["result"]["activity_tasks"]

        async def beat(**seen: Any) -> None:
            status, answer = await _post(
                http, env.address + f"/api/v1/sessions/{sid}/heartbeat", {"held": [], **seen})
            assert status == 200, answer

        async def state() -> str:
            [pending] = (await handle.describe()).pending_activities
            return pending.state

        await beat(requests_sent=2, requests_open=[2])  # the answer is still on its way
        assert await state() == "started"
        await beat(requests_sent=1)  # a list made before the batch was sent
        assert await state() == "started"
        await beat(requests_sent=2)  # read, and the activity is not held: lost
        assert await state() == "scheduled"
        status, stale = await _post(http, env.address + "/api/v1/activity-tasks/complete",
                                    {"token": handed["token"], "result": None})
        assert status == 409 and stale["error"]["code"] == "stale_task"
        await http.delete(env.address + f"/api/v1/sessions/{sid}")
