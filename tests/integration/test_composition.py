"""Composition: child workflows, parent-close policies, external handles, continue-as-new."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from plait import Worker, activity, workflow
from plait.errors import ApplicationError, ChildWorkflowError, WorkflowAlreadyStartedError
from plait.testing import WorkflowEnvironment
from tests.waiting import status_is

T5 = timedelta(seconds=5)


@activity.defn
async def register_number(number: str) -> str:
    return f"registered {number}"


@workflow.defn
class RegisterNumber:
    @workflow.run
    async def run(self, number: str) -> str:
        if number == "bad":
            raise ApplicationError("number rejected", type="Rejected")
        return await workflow.execute_activity(register_number, number,
                                               start_to_close_timeout=T5)


@workflow.defn
class Campaign:
    @workflow.run
    async def run(self, numbers: list[str]) -> dict[str, object]:
        done = await asyncio.gather(*(workflow.execute_child_workflow(
            RegisterNumber.run, n, id=f"{workflow.info().workflow_id}/{n}") for n in numbers))
        failed = None
        try:
            await workflow.execute_child_workflow(RegisterNumber.run, "bad")
        except ChildWorkflowError as e:
            failed = {"type": e.cause.type if isinstance(e.cause, ApplicationError) else None,
                      "id": e.workflow_id}
        return {"done": list(done), "failed": failed}


WORKFLOWS = [RegisterNumber, Campaign]


async def test_children_run_and_fail_visibly(env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=WORKFLOWS,
                      activities=[register_number]):
        out = await env.client.execute_workflow(Campaign.run, ["+1", "+2"], id="camp",
                                                task_queue=queue)
    assert out["done"] == ["registered +1", "registered +2"]
    assert out["failed"] == {"type": "Rejected", "id": "camp-child-3"}
    child = await env.client.get_workflow_handle("camp/+1").describe()
    assert child.status == "COMPLETED"
    info = (await env.client.get_workflow_handle("camp/+1").fetch_history()).events[0]
    assert info.attributes["parent"]["workflow_id"] == "camp"
    types = [e.event_type for e in (await env.client.get_workflow_handle("camp")
                                    .fetch_history()).events]
    assert types.count("START_CHILD_WORKFLOW_EXECUTION_INITIATED") == 3
    assert types.count("CHILD_WORKFLOW_EXECUTION_STARTED") == 3
    assert types.count("CHILD_WORKFLOW_EXECUTION_COMPLETED") == 2
    assert types.count("CHILD_WORKFLOW_EXECUTION_FAILED") == 1


@workflow.defn
class Sleeper:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.sleep(60)
        except asyncio.CancelledError:
            return "cancelled"
        return "slept"


@workflow.defn
class Parent:
    @workflow.run
    async def run(self, policy: str) -> str:
        child = await workflow.start_child_workflow(Sleeper.run, id=f"kid-{policy}",
                                                    parent_close_policy=policy)  # type: ignore[arg-type]
        return child.run_id or ""


@pytest.mark.parametrize(("policy", "status"), [("terminate", "TERMINATED"),
                                                ("request_cancel", "COMPLETED"),
                                                ("abandon", "RUNNING")])
async def test_parent_close_policy(env: WorkflowEnvironment, queue: str, policy: str,
                                   status: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Parent, Sleeper],
                      activities=[register_number]):
        await env.client.execute_workflow(Parent.run, policy, id=f"parent-{policy}",
                                          task_queue=queue)
        kid = env.client.get_workflow_handle(f"kid-{policy}")
        await status_is(kid, status)
        if policy == "request_cancel":
            assert await kid.result() == "cancelled"
        if policy == "abandon":
            await kid.terminate()


@workflow.defn
class Greeter:
    def __init__(self) -> None:
        self.names: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: len(self.names) >= 2)
        return self.names

    @workflow.signal
    def greet(self, name: str) -> None:
        self.names.append(name)


@workflow.defn
class Messenger:
    @workflow.run
    async def run(self, target: str) -> str:
        other = workflow.get_external_workflow_handle(target)
        await other.signal(Greeter.greet, "from a workflow")
        await other.signal("greet", "twice")
        try:
            await workflow.get_external_workflow_handle("ghost").signal("greet", "x")
        except ApplicationError as e:
            return f"ghost: {e.type}"
        return "no error"


async def test_external_signal(env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Greeter, Messenger],
                      activities=[register_number]):
        g = await env.client.start_workflow(Greeter.run, id="greeter", task_queue=queue)
        out = await env.client.execute_workflow(Messenger.run, "greeter", id="messenger",
                                                task_queue=queue)
        assert out == "ghost: workflow_not_found"
        assert await g.result() == ["from a workflow", "twice"]


@workflow.defn
class Paginator:
    @workflow.run
    async def run(self, page: int, total: int) -> int:
        await workflow.execute_activity(register_number, str(page), start_to_close_timeout=T5)
        if page < 4:
            workflow.continue_as_new(page + 1, total + page)
        return total + page


async def test_continue_as_new_chain(env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Paginator],
                      activities=[register_number]):
        h = await env.client.start_workflow(Paginator.run, 1, 0, id="pages", task_queue=queue)
        assert await h.result() == 1 + 2 + 3 + 4  # the first run's handle follows the chain
    runs = [w async for w in env.client.list_workflows(workflow_type="Paginator")]
    assert sorted(w.status for w in runs) == ["COMPLETED"] + ["CONTINUED_AS_NEW"] * 3
    latest = await env.client.get_workflow_handle("pages").fetch_history()
    first = latest.events[0]
    assert first.attributes["continued_from_run_id"] is not None
    assert len(latest.events) < 15  # a fresh history per run


async def test_child_id_conflict(env: WorkflowEnvironment, queue: str) -> None:
    @workflow.defn(name="Twice")
    class Twice:
        @workflow.run
        async def run(self) -> str:
            await workflow.start_child_workflow(Sleeper.run, id="only-one",
                                                parent_close_policy="abandon")
            try:
                await workflow.start_child_workflow(Sleeper.run, id="only-one")
            except WorkflowAlreadyStartedError:
                return "refused"
            return "started twice"

    async with Worker(env.client, task_queue=queue, workflows=[Twice, Sleeper],
                      activities=[register_number]):
        assert await env.client.execute_workflow(Twice.run, id="twice",
                                                 task_queue=queue) == "refused"
        await env.client.get_workflow_handle("only-one").terminate()


@workflow.defn
class Dispatcher:
    @workflow.run
    async def run(self, number: str) -> str:
        return await workflow.execute_child_workflow(RegisterNumber.run, number,  # type: ignore[no-any-return]
                                                     task_queue=f"{workflow.info().task_queue}-numbers")


async def test_child_on_another_task_queue(env: WorkflowEnvironment, queue: str) -> None:
    """The child runs on workers of its own queue; the parent's workers do not know it."""
    async with Worker(env.client, task_queue=queue, workflows=[Dispatcher],
                      activities=[register_number]), \
            Worker(env.client, task_queue=f"{queue}-numbers", workflows=[RegisterNumber],
                   activities=[register_number]):
        assert await env.client.execute_workflow(Dispatcher.run, "+7", id="disp",
                                                 task_queue=queue) == "registered +7"
    child = await env.client.get_workflow_handle("disp-child-1").describe()
    assert child.task_queue == f"{queue}-numbers"
