"""The client surface: ids and their policies, request ids, list/count, terminate, history."""

from __future__ import annotations

import asyncio
import datetime as dt
from datetime import timedelta

import pytest

from plait import History, Worker, activity, workflow
from plait.errors import (
    TerminatedError,
    WorkflowAlreadyStartedError,
    WorkflowFailureError,
    WorkflowNotFoundError,
)
from plait.testing import WorkflowEnvironment


@activity.defn
async def noop() -> None:
    return None


@workflow.defn
class Waits:
    @workflow.run
    async def run(self, seconds: float) -> str:
        await workflow.sleep(seconds)
        return "slept"


@workflow.defn
class Quick:
    @workflow.run
    async def run(self, x: int) -> int:
        await workflow.execute_activity(noop, start_to_close_timeout=timedelta(seconds=5))
        return x + 1


async def test_running_id_conflicts(env: WorkflowEnvironment, queue: str) -> None:
    h1 = await env.client.start_workflow(Waits.run, 60, id="dup", task_queue=queue)
    with pytest.raises(WorkflowAlreadyStartedError):
        await env.client.start_workflow(Waits.run, 60, id="dup", task_queue=queue)
    same = await env.client.start_workflow(Waits.run, 60, id="dup", task_queue=queue,
                                           id_conflict_policy="use_existing")
    assert same.run_id == h1.run_id
    new = await env.client.start_workflow(Waits.run, 60, id="dup", task_queue=queue,
                                          id_conflict_policy="terminate_existing")
    assert new.run_id != h1.run_id
    assert (await h1.describe()).status == "TERMINATED"
    await new.terminate("done")


async def test_reuse_policies_for_closed_ids(env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Quick], activities=[noop]):
        await env.client.execute_workflow(Quick.run, 1, id="reuse", task_queue=queue)
        with pytest.raises(WorkflowAlreadyStartedError):
            await env.client.start_workflow(Quick.run, 1, id="reuse", task_queue=queue,
                                            id_reuse_policy="reject_duplicate")
        with pytest.raises(WorkflowAlreadyStartedError):
            await env.client.start_workflow(Quick.run, 1, id="reuse", task_queue=queue,
                                            id_reuse_policy="allow_duplicate_failed_only")
        assert await env.client.execute_workflow(Quick.run, 2, id="reuse",
                                                 task_queue=queue) == 3


async def test_request_id_makes_start_idempotent(env: WorkflowEnvironment, queue: str) -> None:
    a = await env.client.start_workflow(Waits.run, 60, id="idem", task_queue=queue,
                                        request_id="req-1")
    b = await env.client.start_workflow(Waits.run, 60, id="idem", task_queue=queue,
                                        request_id="req-1")
    assert a.run_id == b.run_id
    await a.terminate()


async def test_terminate_and_result(env: WorkflowEnvironment, queue: str) -> None:
    h = await env.client.start_workflow(Waits.run, 60, id="term", task_queue=queue)
    await h.terminate(reason="operator said so")
    with pytest.raises(WorkflowFailureError) as info:
        await h.result()
    assert isinstance(info.value.cause, TerminatedError)
    assert "operator said so" in str(info.value.cause)
    history = await h.fetch_history()
    last = history.events[-1]
    assert last.event_type == "WORKFLOW_EXECUTION_TERMINATED"
    assert last.attributes["reason"] == "operator said so"


async def test_unknown_workflow(env: WorkflowEnvironment) -> None:
    handle = env.client.get_workflow_handle("missing")
    with pytest.raises(WorkflowNotFoundError):
        await handle.describe()
    with pytest.raises(WorkflowNotFoundError):
        await handle.result()


async def test_list_count_and_history_format(env: WorkflowEnvironment, queue: str) -> None:
    before = dt.datetime.now(dt.UTC) - timedelta(seconds=1)
    async with Worker(env.client, task_queue=queue, workflows=[Quick, Waits],
                      activities=[noop]):
        await asyncio.gather(*(env.client.execute_workflow(Quick.run, i, id=f"l-{i}",
                                                           task_queue=queue) for i in range(7)))
        running = await env.client.start_workflow(Waits.run, 60, id="l-run", task_queue=queue,
                                                  search_attributes={"customer": "c-42"})
        assert await env.client.count_workflows() == 8
        assert await env.client.count_workflows(status="COMPLETED") == 7
        assert await env.client.count_workflows(workflow_type="Waits") == 1
        assert await env.client.count_workflows(started_after=before) == 8
        assert await env.client.count_workflows(
            started_before=before) == 0
        ids = [w.workflow_id async for w in env.client.list_workflows(status="COMPLETED",
                                                                       page_size=3)]
        assert sorted(ids) == sorted(f"l-{i}" for i in range(7))
        found = [w async for w in env.client.list_workflows(
            search_attributes={"customer": "c-42"})]
        assert [w.workflow_id for w in found] == ["l-run"]
        await running.terminate()
    history = await env.client.get_workflow_handle("l-3").fetch_history()
    ids = [e.event_id for e in history.events]
    assert ids == list(range(1, len(ids) + 1))
    data = history.to_dict()
    assert data["format"] == 1 and data["workflow_id"] == "l-3"
    scheduled = next(e for e in data["events"] if e["event_type"] == "WORKFLOW_EXECUTION_STARTED")
    assert scheduled["attributes"]["input"] == [{"encoding": "json", "data": 3}]
    assert History.from_json(history.to_json()) == history


async def _route_counts(env: WorkflowEnvironment) -> dict[str, int]:
    """Requests served so far, by route (the counters are per process: compare deltas)."""
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(env.address + "/metrics") as r:
        text = await r.text()
    counts: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("plait_http_requests_total{"):
            route = line.split('route="', 1)[1].split('"', 1)[0]
            counts[route] = counts.get(route, 0) + int(float(line.rsplit(" ", 1)[1]))
    return counts


async def test_execute_workflow_is_one_request(env: WorkflowEnvironment, queue: str) -> None:
    result_route = "/api/v1/namespaces/{ns}/workflows/{wid}/result"
    async with Worker(env.client, task_queue=queue, workflows=[Quick], activities=[noop]):
        before = await _route_counts(env)
        assert await env.client.execute_workflow(Quick.run, 1, id="one-req",
                                                 task_queue=queue) == 2
        after = await _route_counts(env)
    assert after.get(result_route, 0) == before.get(result_route, 0)


async def test_execute_workflow_longer_than_the_start_wait(
        env: WorkflowEnvironment, queue: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import plait.client

    monkeypatch.setattr(plait.client, "EXECUTE_WAIT", 0.2)
    async with Worker(env.client, task_queue=queue, workflows=[Waits]):
        assert await env.client.execute_workflow(Waits.run, 1.0, id="long-wait",
                                                 task_queue=queue) == "slept"


async def test_wait_result_is_validated(env: WorkflowEnvironment) -> None:
    from plait.errors import RPCError

    start = {"workflow_id": "w", "workflow_type": "Quick", "task_queue": "q"}
    for bad in ("soon", [1], True):
        with pytest.raises(RPCError, match="wait_result") as e:
            await env.client.api.call("POST", "/api/v1/namespaces/default/workflows",
                                      {**start, "wait_result": bad})
        assert e.value.status == 400
    resp = await env.client.api.call("POST", "/api/v1/namespaces/default/workflows",
                                     {**start, "wait_result": -1})  # clamped to 0
    assert resp["started"] and "outcome" not in resp
