"""Chained steps: a worker that caches the run reports an activity's result together with the
workflow task it unblocks (``plait.server.chained``). The history must be the one the two
separate changes would have written, replay must accept it, and whenever the history moved
meanwhile the server must refuse the step, record the result alone and lose nothing."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from typing import Any

import aiohttp
import msgspec
import pytest

from plait import Worker, activity, workflow
from plait._worker.completions import Completions
from plait._worker.workflows import Chained, WorkflowTasks
from plait.protocol.completions import (
    CompleteActivityTaskItem,
    TaskCompletion,
    WorkflowStepAnswer,
)
from plait.protocol.tasks import ActivityTask
from plait.runtime.activations import timestamp
from plait.runtime.wire import to_events
from plait.testing import Replayer, WorkflowEnvironment
from tests.waiting import activity_started, history_has

T = timedelta(seconds=10)
gate: asyncio.Event | None = None
ran: list[str] = []
"""The workflow id of every add_one attempt that ran."""


@activity.defn
async def add_one(x: int) -> int:
    ran.append(activity.info().workflow_id)
    await asyncio.sleep(0.02)  # time passes between the tasks
    return x + 1


@activity.defn
async def held(x: int) -> int:
    assert gate is not None
    await gate.wait()
    return x + 1


@workflow.defn
class Steps:
    @workflow.run
    async def run(self, n: int) -> dict[str, Any]:
        times = [workflow.now().timestamp()]
        for _ in range(3):
            n = await workflow.execute_activity(add_one, n, start_to_close_timeout=T)
            times.append(workflow.now().timestamp())
        return {"n": n, "times": times}


@workflow.defn
class Signalled:
    def __init__(self) -> None:
        self.got: list[str] = []

    @workflow.signal
    def note(self, text: str) -> None:
        self.got.append(text)

    @workflow.run
    async def run(self, n: int) -> dict[str, Any]:
        n = await workflow.execute_activity(held, n, start_to_close_timeout=T)
        n = await workflow.execute_activity(add_one, n, start_to_close_timeout=T)
        return {"n": n, "got": self.got}


@workflow.defn
class FanIn:
    @workflow.run
    async def run(self, width: int) -> int:
        results = await asyncio.gather(*(workflow.execute_activity(
            add_one, i, start_to_close_timeout=T) for i in range(width)))
        return sum(results)


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The server's answer to every chained step the worker sends."""
    answers: list[dict[str, Any]] = []
    settle = WorkflowTasks.settle

    def spy(self: WorkflowTasks, chained: Chained, step: WorkflowStepAnswer | None) -> Any:
        answers.append(msgspec.to_builtins(step) if step is not None else {})
        return settle(self, chained, step)
    monkeypatch.setattr(WorkflowTasks, "settle", spy)
    return answers


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [e["event_type"] for e in events]


async def test_a_chain_of_activities_is_recorded_as_separate_changes_would_be(
        env: WorkflowEnvironment, queue: str, steps: list[dict[str, Any]]) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Steps], activities=[add_one]):
        h = await env.client.start_workflow(Steps.run, 1, id="chain-1", task_queue=queue)
        out = await h.result()
    assert out["n"] == 4
    assert len(steps) == 3 and all("upto" in s for s in steps), steps
    events = (await h.fetch_history()).to_dict()["events"]
    step = ["ACTIVITY_TASK_STARTED", "ACTIVITY_TASK_COMPLETED", "WORKFLOW_TASK_SCHEDULED",
            "WORKFLOW_TASK_STARTED", "WORKFLOW_TASK_COMPLETED"]
    assert _types(events) == [
        "WORKFLOW_EXECUTION_STARTED", "WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED", "ACTIVITY_TASK_SCHEDULED",
        *step, "ACTIVITY_TASK_SCHEDULED", *step, "ACTIVITY_TASK_SCHEDULED",
        *step, "WORKFLOW_EXECUTION_COMPLETED"]
    assert [e["event_id"] for e in events] == list(range(1, len(events) + 1))
    # workflow.now() in each task is that task's recorded start, and time moves forward.
    started = [timestamp(e) for e in to_events(await h.fetch_history())
               if e.__struct_config__.tag == "WORKFLOW_TASK_STARTED"]
    assert out["times"] == started
    assert all(b > a for a, b in itertools.pairwise(started))
    await Replayer(workflows=[Steps]).replay(await h.fetch_history())


async def test_a_signal_handled_while_the_activity_runs_then_the_step_chains(
        env: WorkflowEnvironment, queue: str, steps: list[dict[str, Any]]) -> None:
    global gate
    gate = asyncio.Event()
    async with Worker(env.client, task_queue=queue, workflows=[Signalled],
                      activities=[held, add_one]):
        h = await env.client.start_workflow(Signalled.run, 1, id="chain-2", task_queue=queue)
        await activity_started(h, "held")
        await h.signal("note", "hello")
        # The signal's workflow task (the run's second) completes while the activity waits.
        await history_has(h, "WORKFLOW_TASK_COMPLETED", count=2)
        gate.set()
        out = await h.result()
    assert out == {"n": 3, "got": ["hello"]}
    assert "upto" in steps[-1]  # the second activity chained again once the run caught up
    await Replayer(workflows=[Signalled]).replay(await h.fetch_history())
    events = (await h.fetch_history()).to_dict()["events"]
    assert _types(events).count("ACTIVITY_TASK_COMPLETED") == 2
    assert _types(events).count("WORKFLOW_EXECUTION_SIGNALED") == 1


async def test_a_signal_landing_before_the_step_refuses_it_and_loses_nothing(
        env: WorkflowEnvironment, queue: str, steps: list[dict[str, Any]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker ran the step, then a signal is recorded before the step reaches the
    server: the step must be refused, the result kept, and the signal seen by the workflow."""
    global gate
    gate = asyncio.Event()
    gate.set()
    send = Completions.send
    signalled: list[bool] = []

    async def signal_first(self: Completions, item: TaskCompletion, into: Any) -> Any:
        if isinstance(item, CompleteActivityTaskItem) and item.workflow_step is not None \
                and not signalled:
            signalled.append(True)
            await env.client.get_workflow_handle("chain-8").signal("note", "late")
        return await send(self, item, into)
    monkeypatch.setattr(Completions, "send", signal_first)
    async with Worker(env.client, task_queue=queue, workflows=[Signalled],
                      activities=[held, add_one]):
        out = await env.client.execute_workflow(Signalled.run, 1, id="chain-8",
                                                task_queue=queue)
    assert out == {"n": 3, "got": ["late"]}
    assert steps[0].get("refused") in ("history_moved", "workflow_task_pending"), steps
    h = env.client.get_workflow_handle("chain-8")
    events = (await h.fetch_history()).to_dict()["events"]
    assert _types(events).count("ACTIVITY_TASK_COMPLETED") == 2
    await Replayer(workflows=[Signalled]).replay(await h.fetch_history())


async def test_a_step_refused_whole_is_sent_again_as_the_result_alone(
        env: WorkflowEnvironment, queue: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A step the server refuses with 400 (here: a malformed command) records nothing; the
    worker must report the activity's result alone, and the workflow goes on by replay."""
    chain = WorkflowTasks.chain
    spoiled: list[bool] = []

    def spoil_first(self: WorkflowTasks, task: ActivityTask, result: Any) -> Any:
        chained = chain(self, task, result)
        if chained is not None and not spoiled:
            spoiled.append(True)
            chained.step.commands = [{"kind": 5}]  # type: ignore[list-item]  # malformed
        return chained
    monkeypatch.setattr(WorkflowTasks, "chain", spoil_first)
    async with Worker(env.client, task_queue=queue, workflows=[Steps], activities=[add_one]):
        out = await env.client.execute_workflow(Steps.run, 1, id="chain-9", task_queue=queue)
    assert spoiled and out["n"] == 4
    assert ran.count("chain-9") == 3  # the refused step's result was not lost and re-run
    h = env.client.get_workflow_handle("chain-9")
    events = (await h.fetch_history()).to_dict()["events"]
    assert _types(events).count("ACTIVITY_TASK_COMPLETED") == 3
    await Replayer(workflows=[Steps]).replay(await h.fetch_history())


async def test_parallel_activities_are_not_chained(
        env: WorkflowEnvironment, queue: str, steps: list[dict[str, Any]]) -> None:
    """With several activities out, results gather into few tasks instead of a task each."""
    async with Worker(env.client, task_queue=queue, workflows=[FanIn], activities=[add_one]):
        out = await env.client.execute_workflow(FanIn.run, 20, id="chain-3", task_queue=queue)
    assert out == sum(range(1, 21))
    # Only the last result can chain (the others still had company when they returned).
    assert len(steps) <= 1


NS = "/api/v1/namespaces/default"


async def _chained_metric(env: WorkflowEnvironment, outcome: str) -> float:
    """``plait_chained_steps_total`` for ``outcome`` (the process-wide counter)."""
    async with aiohttp.ClientSession() as http, http.get(env.address + "/metrics") as r:
        text = await r.text()
    line = f'plait_chained_steps_total{{outcome="{outcome}"}} '
    return sum(float(x[len(line):]) for x in text.splitlines() if x.startswith(line))


async def _post(http: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any]:
    async with http.post(url, json=body) as r:
        return r.status, await r.json(content_type=None)


async def _activity_out(http: aiohttp.ClientSession, env: WorkflowEnvironment,
                        queue: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """By hand: a session, the first workflow task completed with one activity scheduled,
    and that activity handed back eagerly. Returns the session, the workflow task's answer
    and the activity task."""
    _, opened = await _post(http, env.address + NS + "/sessions", {
        "task_queue": queue, "workflow_types": ["Steps"], "activity_types": ["add_one"]})
    sid = opened["session_id"]
    _, polled = await _post(http, env.address + NS + f"/task-queues/{queue}/poll",
                            {"session_id": sid, "kind": "workflow", "wait": 5})
    wt = polled["tasks"][0]
    schedule = {"kind": "schedule_activity", "activity_id": "1", "activity_type": "add_one",
                "task_queue": queue, "input": [], "start_to_close_timeout": 10}
    status, done = await _post(http, env.address + "/api/v1/workflow-tasks/complete", {
        "token": wt["token"], "commands": [schedule], "eager_activities": 1})
    assert status == 200, done
    return sid, done, done["activity_tasks"][0]


async def test_the_route_refuses_a_step_on_a_moved_history_and_records_the_result(
        env: WorkflowEnvironment, queue: str) -> None:
    await env.client.start_workflow(Steps.run, 1, id="chain-4", task_queue=queue)
    async with aiohttp.ClientSession() as http:
        _, done, act = await _activity_out(http, env, queue)
        complete = {"kind": "complete_workflow", "result": {"encoding": "json", "data": 2}}
        status, body = await _post(http, env.address + "/api/v1/activity-tasks/complete", {
            "token": act["token"], "result": {"encoding": "json", "data": 2},
            "workflow_step": {"upto": done["upto"] - 1, "started_time": act["started_time"],
                              "commands": [complete]}})
    assert status == 200, body
    assert body == {"recorded": True, "workflow_step": {"refused": "history_moved"}}
    assert await _chained_metric(env, "history_moved") >= 1
    history = (await env.client.get_workflow_handle("chain-4").fetch_history()).to_dict()["events"]
    assert _types(history)[-3:] == ["ACTIVITY_TASK_STARTED", "ACTIVITY_TASK_COMPLETED",
                                    "WORKFLOW_TASK_SCHEDULED"]  # a task was scheduled as usual


async def test_the_route_records_a_valid_step_in_one_change(
        env: WorkflowEnvironment, queue: str) -> None:
    h = await env.client.start_workflow(Steps.run, 1, id="chain-5", task_queue=queue)
    async with aiohttp.ClientSession() as http:
        _, done, act = await _activity_out(http, env, queue)
        complete = {"kind": "complete_workflow",
                    "result": {"encoding": "json", "data": {"n": 2, "times": []}}}
        status, body = await _post(http, env.address + "/api/v1/activity-tasks/complete", {
            "token": act["token"], "result": {"encoding": "json", "data": 2},
            "workflow_step": {"upto": done["upto"], "started_time": act["started_time"],
                              "commands": [complete]}})
    assert status == 200, body
    assert body["recorded"] is True and body["workflow_step"]["upto"] == 11
    assert await _chained_metric(env, "recorded") >= 1
    desc = (await h.describe()).raw
    assert desc["status"] == "COMPLETED" and desc["pending_workflow_task"] is False


@pytest.mark.parametrize(("step", "message"), [
    ("not an object", "workflow_step must be an object"),
    ({"started_time": 1.0, "commands": []}, "workflow_step.upto is required"),
    ({"upto": 4, "commands": []}, "workflow_step.started_time must be a number"),
    ({"upto": 4, "started_time": 1.0}, "commands must be a list"),
])
async def test_malformed_steps_are_refused_whole_and_record_nothing(
        env: WorkflowEnvironment, queue: str, step: Any, message: str) -> None:
    await env.client.start_workflow(Steps.run, 1, id="chain-6", task_queue=queue)
    async with aiohttp.ClientSession() as http:
        _, _, act = await _activity_out(http, env, queue)
        status, body = await _post(http, env.address + "/api/v1/activity-tasks/complete", {
            "token": act["token"], "result": {"encoding": "json", "data": 2},
            "workflow_step": step})
    assert status == 400 and message in body["error"]["message"], body
    desc = (await env.client.get_workflow_handle("chain-6").describe()).raw
    assert [p["state"] for p in desc["pending_activities"]] == ["started"]


async def test_a_step_far_from_the_servers_clock_is_refused(
        env: WorkflowEnvironment, queue: str) -> None:
    await env.client.start_workflow(Steps.run, 1, id="chain-7", task_queue=queue)
    async with aiohttp.ClientSession() as http:
        _, done, act = await _activity_out(http, env, queue)
        status, body = await _post(http, env.address + "/api/v1/activity-tasks/complete", {
            "token": act["token"], "result": {"encoding": "json", "data": 2},
            "workflow_step": {"upto": done["upto"], "started_time": act["started_time"] + 3600,
                              "commands": []}})
    assert status == 200 and body["workflow_step"] == {"refused": "clock_skew"}, body
