"""Timeouts of tasks a live worker holds are enforced through its session's heartbeats: an
attempt held past its start-to-close timeout times out even if the worker never stops it."""

from __future__ import annotations

from typing import Any

import aiohttp

from plait.history import HistoryEvent
from plait.testing import WorkflowEnvironment
from tests.waiting import NotYet, eventually

NS = "/api/v1/namespaces/default"


async def _post(http: aiohttp.ClientSession, url: str, body: Any) -> Any:
    async with http.post(url, json=body) as r:
        assert r.status < 300, await r.text()
        return await r.json()


async def test_an_attempt_held_too_long_times_out(env: WorkflowEnvironment, queue: str) -> None:
    a = env.address
    async with aiohttp.ClientSession() as http:
        await _post(http, a + NS + "/workflows", {
            "workflow_id": "held", "workflow_type": "Hold", "task_queue": queue})
        sid = (await _post(http, a + NS + "/sessions", {"task_queue": queue}))["session_id"]
        poll = a + NS + f"/task-queues/{queue}/poll"
        wt = (await _post(http, poll, {"session_id": sid, "kind": "workflow", "wait": 5}))
        await _post(http, a + "/api/v1/workflow-tasks/complete", {
            "token": wt["tasks"][0]["token"], "commands": [{
                "kind": "schedule_activity", "activity_id": "1", "activity_type": "stuck",
                "task_queue": queue, "input": [], "start_to_close_timeout": 0.5,
                "retry_policy": {"maximum_attempts": 1}}]})
        act = await _post(http, poll, {"session_id": sid, "kind": "activity", "wait": 5})
        token = act["tasks"][0]["token"]
        handle = env.client.get_workflow_handle("held")

        async def held_until_it_times_out() -> list[HistoryEvent] | NotYet:
            # A live worker that keeps the attempt and never reports it: its session's
            # heartbeats say it holds the task, every 0.3 s, until the history shows the end.
            await _post(http, a + f"/api/v1/sessions/{sid}/heartbeat", {"held": [token]})
            events = (await handle.fetch_history()).events
            return ([e for e in events if e.event_type == "ACTIVITY_TASK_TIMED_OUT"]
                    or NotYet([e.event_type for e in events]))

        timed_out = await eventually(held_until_it_times_out, interval=0.3,
                                     what="the held attempt timing out")
        assert len(timed_out) == 1
        assert timed_out[0].attributes["failure"]["timeout_type"] == "start_to_close"
        async with http.post(a + "/api/v1/activity-tasks/complete",
                             json={"token": token, "result": None}) as r:
            assert r.status == 409  # its late result is refused
