"""A parent starting children with Temporal's policy enums; ids reused by policy."""

import asyncio
import os
import uuid

from temporalio import workflow
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker


@workflow.defn
class ComposeGreeting:
    @workflow.run
    async def run(self, greeting: str, name: str) -> str:
        return f"{greeting}, {name}!"


@workflow.defn
class Parent:
    @workflow.run
    async def run(self, name: str) -> list[str]:
        first = await workflow.execute_child_workflow(
            ComposeGreeting.run, args=["Hello", name], id=f"{workflow.info().workflow_id}-a",
            parent_close_policy=workflow.ParentClosePolicy.ABANDON)
        child = await workflow.start_child_workflow(
            ComposeGreeting.run, args=["Bye", name], id=f"{workflow.info().workflow_id}-b",
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE)
        return [first, await child]


async def main() -> None:
    client = await Client.connect(os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"))
    task_queue = f"children-{uuid.uuid4()}"
    wid = f"parent-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[Parent, ComposeGreeting],
                      workflow_runner=UnsandboxedWorkflowRunner()):
        result = await client.execute_workflow(Parent.run, "World", id=wid,
                                               task_queue=task_queue)
        assert result == ["Hello, World!", "Bye, World!"], result
        try:
            await client.start_workflow(
                Parent.run, "again", id=wid, task_queue=task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
            raise AssertionError("the closed id should have been refused")
        except WorkflowAlreadyStartedError:
            pass
        handle = await client.start_workflow(
            Parent.run, "again", id=wid, task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
        assert await handle.result() == ["Hello, again!", "Bye, again!"]
        desc = await handle.describe()
        assert desc.status == WorkflowExecutionStatus.COMPLETED, desc.status
    print("children ok")


if __name__ == "__main__":
    asyncio.run(main())
