"""What the fuzzer found, pinned: requests that answered 500 (30 of these did, before the HTTP
layer checked its input), or were accepted against the spec and then served back broken (a
payload that is no envelope, a query error code that is no string). Each must now be a 400 in
the one error shape, and must not have changed anything: the tasks it names still complete."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest

from plait.testing import WorkflowEnvironment

NS = "/api/v1/namespaces/default"
WF = NS + "/workflows/{wid}"

# (method, path, body); {wid} is a running workflow, "<workflow>"/"<activity>"/"<query>" a
# current task token of that kind.
FOUND: list[tuple[str, str, Any]] = [
    ("POST", NS + "/workflows", {"workflow_id": "x", "workflow_type": "T", "task_queue": "q",
                                 "request_id": [None, None]}),
    ("POST", NS + "/workflows", {"workflow_id": "x", "workflow_type": "T", "task_queue": "q",
                                 "start_signal": [None, None]}),
    ("POST", NS + "/workflows", {"workflow_id": "x", "workflow_type": "T", "task_queue": "q",
                                 "id_conflict_policy": {}}),
    ("POST", NS + "/workflows", {"workflow_id": "x", "workflow_type": "T", "task_queue": "q",
                                 "retry_policy": {"initial_interval": 1e300}}),
    ("POST", NS + "/workflows", {"workflow_id": "x", "workflow_type": "T", "task_queue": "q",
                                 "input": ["not an envelope"]}),
    ("POST", NS + "/workflows", {"workflow_id": "nul\u0000id", "workflow_type": "T",
                                 "task_queue": "q"}),  # PostgreSQL text cannot hold NUL
    ("POST", WF + "/signal", {"signal_name": "s", "header": {"k\u0000": 1}}),
    ("GET", NS + "/workflows/a%00b/history", None),
    ("GET", NS + "/workflows?type=a%00b", None),
    ("GET", NS + "/workflows?page_size=null", None),
    ("GET", NS + "/workflows?search_attributes=%5B1%5D", None),
    ("GET", NS + "/workflows?next_page_token=x", None),
    ("GET", NS + "/workflows?next_page_token=%5B1%5D", None),
    ("GET", WF + "/history?after=null", None),
    ("GET", WF + "/result?wait=null", None),
    ("GET", WF + "/updates/u1?wait=soon", None),
    ("POST", WF + "/signal", {"signal_name": "s", "request_id": [None, None]}),
    ("POST", WF + "/cancel", {"run_id": {}}),
    ("POST", WF + "/query", {"query_name": "q", "timeout": [None, None]}),
    ("POST", WF + "/update", {"update_id": "u", "update_name": "n", "wait": {}}),
    ("POST", NS + "/sessions", {"task_queue": {}}),
    ("POST", NS + "/sessions", {"task_queue": "q", "activity_types": 5}),
    ("POST", "/api/v1/sessions/{sid}/heartbeat", {"held": 5}),
    ("POST", NS + "/task-queues/q/poll", {"kind": "workflow", "session_id": "{sid}",
                                          "wait": {}}),
    ("POST", NS + "/task-queues/q/poll", {"kind": "workflow", "session_id": "{sid}",
                                          "max_tasks": "many"}),
    ("POST", "/api/v1/workflow-tasks/complete", {"token": "99999999999999999999.1",
                                                 "commands": []}),
    ("POST", "/api/v1/workflow-tasks/complete", {"token": "<workflow>", "commands": [],
                                                 "eager_activities": "AAA"}),
    ("POST", "/api/v1/workflow-tasks/complete", {"token": "<workflow>", "commands": [1]}),
    ("POST", "/api/v1/workflow-tasks/complete", {"token": "<workflow>", "commands": [
        {"kind": "start_timer", "timer_id": "1", "duration": None}]}),
    ("POST", "/api/v1/workflow-tasks/complete", {"token": "<workflow>", "commands": [
        {"kind": "continue_as_new", "task_queue": [None, None]}]}),
    ("POST", "/api/v1/workflow-tasks/complete", {"token": "<workflow>", "commands": [
        {"kind": "schedule_activity", "activity_id": "1", "activity_type": "a",
         "start_to_close_timeout": "soon"}]}),
    ("POST", "/api/v1/workflow-tasks/complete", {"token": "<workflow>", "commands": [
        {"kind": "schedule_activity", "activity_id": "1", "activity_type": "a",
         "start_to_close_timeout": 5, "retry_policy": {"maximum_attempts": "x"}}]}),
    ("POST", "/api/v1/workflow-tasks/complete", {"token": "<workflow>", "commands": [
        {"kind": "start_child_workflow", "seq": "1", "workflow_id": "c", "workflow_type": "T",
         "parent_close_policy": ["abandon"]}]}),
    ("POST", "/api/v1/workflow-tasks/complete", {"token": "<workflow>", "commands": [
        {"kind": "signal_external", "seq": "1", "workflow_id": "other", "run_id": {},
         "signal_name": "s"}]}),
    ("POST", "/api/v1/workflow-tasks/complete", {"token": "<workflow>", "commands": [
        {"kind": "fail_workflow", "failure": "boom"}]}),
    ("POST", "/api/v1/workflow-tasks/complete", {"token": "<workflow>", "commands": [],
                                                 "update_rejections": ["u"]}),
    ("POST", "/api/v1/workflow-tasks/fail", {"token": "<workflow>", "failure": "AAA"}),
    ("POST", "/api/v1/activity-tasks/fail", {"token": "<activity>", "failure": [None, None]}),
    ("POST", "/api/v1/activity-tasks/heartbeat", {"token": "<activity>", "details": 5}),
    ("POST", "/api/v1/activity-tasks/complete", {"token": "<activity>", "result": 5}),
    ("POST", "/api/v1/query-tasks/respond", {"token": "<query>", "failure": "AAA"}),
    ("POST", "/api/v1/query-tasks/respond", {"token": "<query>", "failure": {"message": "m"},
                                             "code": 5}),
    # PostgreSQL cannot store a float this small (found fuzzing --auth on PostgreSQL)
    ("POST", "/api/v1/namespaces", {"name": "tiny", "retention": 5e-324}),
    ("POST", NS + "/update", {"retention": 5e-324}),
]


class Handles:
    """A running workflow, a session, and tasks of each kind leased to that session."""

    def __init__(self, env: WorkflowEnvironment, http: aiohttp.ClientSession) -> None:
        self.env, self.http = env, http
        self.queue = f"q-{uuid.uuid4().hex[:8]}"

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(method, self.env.address + path, json=body) as r:
            return r.status, await r.json(content_type=None)

    async def start(self) -> str:
        wid = f"found-{uuid.uuid4().hex[:8]}"
        status, _ = await self.call("POST", NS + "/workflows", {
            "workflow_id": wid, "workflow_type": "T", "task_queue": self.queue})
        assert status == 201
        return wid

    async def poll(self, kind: str) -> dict[str, Any]:
        status, resp = await self.call("POST", f"{NS}/task-queues/{self.queue}/poll", {
            "session_id": self.sid, "kind": kind, "wait": 5})
        assert status == 200 and resp["tasks"], resp
        task: dict[str, Any] = resp["tasks"][0]
        return task

    async def setup(self) -> None:
        status, resp = await self.call("POST", NS + "/sessions", {
            "task_queue": self.queue, "activity_types": ["a"], "workflow_types": ["T"]})
        self.sid = resp["session_id"]
        self.wid = await self.start()
        first = await self.poll("workflow")
        status, _ = await self.call("POST", "/api/v1/workflow-tasks/complete", {
            "token": first["token"], "commands": [{
                "kind": "schedule_activity", "activity_id": "1", "activity_type": "a",
                "start_to_close_timeout": 60}]})
        assert status == 200
        self.tokens = {"<activity>": (await self.poll("activity"))["token"]}
        await self.start()
        self.tokens["<workflow>"] = (await self.poll("workflow"))["token"]
        # A query task lives while its caller waits: ask in the background, take the task.
        self.asking = asyncio.ensure_future(self.call(
            "POST", f"{NS}/workflows/{self.wid}/query", {"query_name": "q", "timeout": 30}))
        self.tokens["<query>"] = (await self.poll("query"))["token"]

    def fill(self, value: Any) -> Any:
        if isinstance(value, str):
            value = self.tokens.get(value, value)
            return value.replace("{wid}", self.wid).replace("{sid}", self.sid)
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        return value


@pytest.mark.parametrize(("method", "path", "body"), FOUND)
async def test_found_by_the_fuzzer_is_a_400(env: WorkflowEnvironment, method: str, path: str,
                                            body: Any) -> None:
    async with aiohttp.ClientSession() as http:
        h = Handles(env, http)
        await h.setup()
        try:
            await check(h, method, path, body)
        finally:
            h.asking.cancel()


async def check(h: Handles, method: str, path: str, body: Any) -> None:
    status, resp = await h.call(method, h.fill(path), h.fill(body))
    assert status == 400, resp
    assert set(resp) == {"error"} and set(resp["error"]) == {"code", "message"}
    assert isinstance(resp["error"]["code"], str) and resp["error"]["message"]
    # Nothing was consumed: every token still completes its task.
    held = sorted(h.tokens.values())
    status, _ = await h.call("POST", f"/api/v1/sessions/{h.sid}/heartbeat", {"held": held})
    assert status == 200
    status, done = await h.call("POST", "/api/v1/activity-tasks/complete", {
        "token": h.tokens["<activity>"], "result": {"encoding": "json", "data": 1}})
    assert (status, done["recorded"]) == (200, True)
    status, _ = await h.call("POST", "/api/v1/query-tasks/respond", {
        "token": h.tokens["<query>"], "result": {"encoding": "json", "data": "ok"}})
    assert status == 200
    status, answer = await h.asking
    assert (status, answer) == (200, {"result": {"encoding": "json", "data": "ok"}})
    status, _ = await h.call("POST", "/api/v1/workflow-tasks/complete", {
        "token": h.tokens["<workflow>"], "commands": []})
    assert status == 200


async def test_payload_data_may_hold_nul(env: WorkflowEnvironment) -> None:
    """Payloads are opaque: NUL is refused in ids and names, not inside an envelope."""
    data = {"encoding": "json", "data": "a\u0000b"}
    async with aiohttp.ClientSession() as http:
        h = Handles(env, http)
        status, _ = await h.call("POST", NS + "/workflows", {
            "workflow_id": "nul-data", "workflow_type": "T", "task_queue": "q",
            "input": [data]})
        assert status == 201
        status, history = await h.call("GET", NS + "/workflows/nul-data/history")
        assert history["events"][0]["attributes"]["input"] == [data]
