"""Local activities, as Temporal's hello_local_activity sample writes them (with a retry)."""

import asyncio
import os
import uuid
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import Worker


@dataclass
class ComposeGreetingInput:
    greeting: str
    name: str


@activity.defn
async def compose_greeting(input: ComposeGreetingInput) -> str:
    if activity.info().attempt < 2:
        raise RuntimeError("try again")
    return f"{input.greeting}, {input.name}! (local: {activity.info().is_local})"


@workflow.defn
class GreetingWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_local_activity(
            compose_greeting,
            ComposeGreetingInput("Hello", name),
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=10)),
        )


async def main() -> None:
    client = await Client.connect(os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"))
    task_queue = f"hello-local-activity-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[GreetingWorkflow],
                      activities=[compose_greeting]):
        result = await client.execute_workflow(
            GreetingWorkflow.run, "World", id=f"hello-local-{uuid.uuid4()}",
            task_queue=task_queue)
    assert result == "Hello, World! (local: True)", result
    print(f"Result: {result}")


if __name__ == "__main__":
    asyncio.run(main())
