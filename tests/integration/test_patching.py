"""Changing code under running workflows: patched() / deprecate_patch() and the replayer."""

from __future__ import annotations

from datetime import timedelta

import pytest

from plait import History, Worker, activity, workflow
from plait.errors import NonDeterminismError
from plait.testing import Replayer, WorkflowEnvironment
from tests.waiting import NotYet, eventually

T5 = timedelta(seconds=5)


@activity.defn
async def old_check(x: str) -> str:
    return f"old {x}"


@activity.defn
async def new_check(x: str) -> str:
    return f"new {x}"


@activity.defn
async def finish(x: str) -> str:
    return f"finished {x}"


ACTS = [old_check, new_check, finish]


@workflow.defn(name="Vetting")
class V1:
    @workflow.run
    async def run(self) -> list[str]:
        a = await workflow.execute_activity(old_check, "a", start_to_close_timeout=T5)
        return [a, await workflow.execute_activity(finish, "a", start_to_close_timeout=T5)]


@workflow.defn(name="Vetting")
class V2:
    @workflow.run
    async def run(self) -> list[str]:
        if workflow.patched("stricter-check"):
            a = await workflow.execute_activity(new_check, "a", start_to_close_timeout=T5)
        else:
            a = await workflow.execute_activity(old_check, "a", start_to_close_timeout=T5)
        return [a, await workflow.execute_activity(finish, "a", start_to_close_timeout=T5)]


@workflow.defn(name="Vetting")
class V3:
    @workflow.run
    async def run(self) -> list[str]:
        workflow.deprecate_patch("stricter-check")
        a = await workflow.execute_activity(new_check, "a", start_to_close_timeout=T5)
        return [a, await workflow.execute_activity(finish, "a", start_to_close_timeout=T5)]


@workflow.defn(name="Vetting")
class V4:
    @workflow.run
    async def run(self) -> list[str]:
        a = await workflow.execute_activity(new_check, "a", start_to_close_timeout=T5)
        return [a, await workflow.execute_activity(finish, "a", start_to_close_timeout=T5)]


async def run_with(env: WorkflowEnvironment, queue: str, cls: type, wid: str) -> History:
    async with Worker(env.client, task_queue=queue, workflows=[cls], activities=ACTS):
        await env.client.execute_workflow("Vetting", id=wid, task_queue=queue)
    return await env.client.get_workflow_handle(wid).fetch_history()


async def test_patch_lifecycle(env: WorkflowEnvironment, queue: str) -> None:
    h1 = await run_with(env, queue, V1, "v1")
    h2 = await run_with(env, queue, V2, "v2")
    h3 = await run_with(env, queue, V3, "v3")
    assert "MARKER_RECORDED" in [e.event_type for e in h2.events]
    # Patched code replays runs from before the patch (old path) and after it (new path).
    await Replayer(workflows=[V2]).replay(h1)
    await Replayer(workflows=[V2]).replay(h2)
    # Once no run of V1 is open, the patch is deprecated; V2 and V3 histories replay.
    await Replayer(workflows=[V3]).replay(h2)
    await Replayer(workflows=[V3]).replay(h3)
    # Then the call goes entirely: V3 histories still replay...
    await Replayer(workflows=[V4]).replay(h3)
    # ...but dropping a patch without deprecating it first is caught.
    with pytest.raises(NonDeterminismError, match="MARKER_RECORDED"):
        await Replayer(workflows=[V4]).replay(h2)
    # And V1's history was never compatible with V4 (old_check vs new_check).
    with pytest.raises(NonDeterminismError):
        await Replayer(workflows=[V4]).replay(h1)


@workflow.defn(name="Waiting")
class WaitingV1:
    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self) -> list[str]:
        a = await workflow.execute_activity(old_check, "a", start_to_close_timeout=T5)
        await workflow.wait_condition(lambda: self.go)
        return [a, await workflow.execute_activity(finish, "a", start_to_close_timeout=T5)]

    @workflow.signal
    def proceed(self) -> None:
        self.go = True


@workflow.defn(name="Waiting")
class WaitingV2:
    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self) -> list[str]:
        if workflow.patched("p"):
            a = await workflow.execute_activity(new_check, "a", start_to_close_timeout=T5)
        else:
            a = await workflow.execute_activity(old_check, "a", start_to_close_timeout=T5)
        await workflow.wait_condition(lambda: self.go)
        if workflow.patched("tail"):
            return [a, "new tail"]
        return [a, await workflow.execute_activity(finish, "a", start_to_close_timeout=T5)]

    @workflow.signal
    def proceed(self) -> None:
        self.go = True


async def test_running_workflow_moves_to_patched_code(env: WorkflowEnvironment,
                                                      queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[WaitingV1], activities=ACTS):
        h = await env.client.start_workflow("Waiting", id="moving", task_queue=queue)
        async def first_activity_done() -> bool | NotYet:
            attempts = (await h.describe()).attempts
            return (bool(attempts) and attempts[0].outcome == "completed") or NotYet(attempts)

        await eventually(first_activity_done, what="moving's first activity completed")
    async with Worker(env.client, task_queue=queue, workflows=[WaitingV2], activities=ACTS):
        await h.signal("proceed")
        # Its past replays the old path; its future takes the new one.
        assert await h.result() == ["old a", "new tail"]
