"""Bad input gets a clear 4xx in the one JSON error shape, and disturbs nothing else."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from plait import Worker, activity, workflow
from plait.testing import WorkflowEnvironment


@activity.defn
async def noop() -> None:
    return None


@workflow.defn
class One:
    @workflow.run
    async def run(self) -> str:
        await workflow.execute_activity(noop, start_to_close_timeout=timedelta(seconds=5))
        return "done"


async def call(env: WorkflowEnvironment, method: str, path: str,
               data: bytes | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.request(method, env.address + path,
                                                       data=data) as r:
        return r.status, await r.json(content_type=None)


def assert_error(status: int, body: Any, expected: int, code: str) -> None:
    assert status == expected, body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code and body["error"]["message"]


NS = "/api/v1/namespaces/default"


@pytest.mark.parametrize("data", [b"{not json", b"[1, 2]", b"\xff\xfe"])
async def test_malformed_json(env: WorkflowEnvironment, data: bytes) -> None:
    status, body = await call(env, "POST", NS + "/workflows", data)
    assert_error(status, body, 400, "malformed_json")


async def test_missing_fields_and_unknown_policies(env: WorkflowEnvironment) -> None:
    status, body = await call(env, "POST", NS + "/workflows", b'{"workflow_id": "x"}')
    assert_error(status, body, 400, "bad_request")
    assert "workflow_type" in body["error"]["message"]
    status, body = await call(env, "POST", NS + "/workflows", b'{"workflow_id": "x", '
                              b'"workflow_type": "T", "task_queue": "q", '
                              b'"id_reuse_policy": "sometimes"}')
    assert_error(status, body, 400, "bad_request")


async def test_oversized_payload(env: WorkflowEnvironment) -> None:
    big = b'{"workflow_id": "big", "workflow_type": "T", "task_queue": "q", "input": [{"data": "' \
        + b"x" * (3 * 1024 * 1024) + b'"}]}'
    status, body = await call(env, "POST", NS + "/workflows", big)
    assert_error(status, body, 413, "payload_too_large")
    status, _ = await call(env, "GET", NS + "/workflows/big")
    assert status == 404  # nothing was half-written


async def test_unknown_ids_routes_and_tokens(env: WorkflowEnvironment) -> None:
    for path in ("/workflows/nope", "/workflows/nope/history", "/workflows/nope/result?wait=0"):
        status, body = await call(env, "GET", NS + path)
        assert_error(status, body, 404, "workflow_not_found")
    status, body = await call(env, "GET", "/api/v1/no/such/route")
    assert_error(status, body, 404, "no_route")
    status, body = await call(env, "POST", "/api/v1/workflow-tasks/complete",
                              b'{"token": "garbage", "commands": []}')
    assert_error(status, body, 400, "bad_token")
    for route in ("workflow-tasks/fail", "activity-tasks/complete", "activity-tasks/fail"):
        status, body = await call(env, "POST", f"/api/v1/{route}", b"")  # no body, no token
        assert_error(status, body, 400, "bad_token")
    status, body = await call(env, "POST", "/api/v1/activity-tasks/complete",
                              b'{"token": "999999.1", "result": null}')
    assert_error(status, body, 409, "stale_task")
    status, body = await call(env, "POST", NS + "/task-queues/q/poll",
                              b'{"session_id": "ghost", "kind": "workflow", "wait": 0}')
    assert_error(status, body, 404, "session_not_found")
    status, body = await call(env, "GET", NS + "/workflows?status=SLEEPY")
    assert_error(status, body, 400, "bad_request")


async def test_server_keeps_serving_after_bad_input(env: WorkflowEnvironment, queue: str) -> None:
    for data in (b"{", b"[]", b"null"):
        await call(env, "POST", NS + "/workflows", data)
    async with Worker(env.client, task_queue=queue, workflows=[One], activities=[noop]):
        assert await env.client.execute_workflow(One.run, id="fine", task_queue=queue) == "done"
    status, body = await call(env, "GET", "/health")
    assert status == 200 and body == {"status": "ok"}


async def test_a_form_a_hostile_page_could_send_changes_nothing(env: WorkflowEnvironment,
                                                                 queue: str) -> None:
    """Bodies a browser sends cross-site without a preflight are refused (415), so a page on
    another site cannot terminate runs through the browser of someone who can reach the
    server."""
    handle = await env.client.start_workflow(One.run, id="csrf", task_queue=queue)
    for media in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        async with aiohttp.ClientSession() as s, s.post(
                env.address + NS + "/workflows/csrf/terminate", data=b'{"reason": "x"}',
                headers={"Content-Type": media}) as r:
            assert_error(r.status, await r.json(content_type=None), 415,
                         "unsupported_media_type")
    assert (await handle.describe()).status == "RUNNING"


async def test_a_retry_policy_that_cannot_be_used_is_refused_where_it_arrives(
        env: WorkflowEnvironment) -> None:
    """A policy of the right types whose interval no duration can hold is a 400 naming it, on
    a start (before anything is stored) as in a completion's schedule_activity command."""
    huge = b'{"initial_interval": 1e300}'
    status, body = await call(env, "POST", NS + "/workflows",
                              b'{"workflow_id": "huge", "workflow_type": "T", '
                              b'"task_queue": "q", "retry_policy": ' + huge + b"}")
    assert_error(status, body, 400, "bad_request")
    assert "retry_policy" in body["error"]["message"]
    status, _ = await call(env, "GET", NS + "/workflows/huge")
    assert status == 404
    status, body = await call(env, "POST", "/api/v1/workflow-tasks/complete",
                              b'{"token": "1.1", "commands": [{"kind": "schedule_activity", '
                              b'"activity_id": "a", "activity_type": "A", '
                              b'"start_to_close_timeout": 5, "retry_policy": ' + huge + b"}]}")
    assert_error(status, body, 400, "bad_request")
    assert "commands[0] (schedule_activity).retry_policy" in body["error"]["message"]
