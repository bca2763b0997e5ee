"""A sync activity: Temporal needs an activity_executor for it."""

import asyncio
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker


@activity.defn
def compose_greeting(greeting: str, name: str) -> str:
    return f"{greeting}, {name}! (attempt {activity.info().attempt})"


@workflow.defn(sandboxed=False)
class GreetingWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            compose_greeting, args=["Hello", name], start_to_close_timeout=timedelta(seconds=10))


async def main() -> None:
    client = await Client.connect(os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"))
    task_queue = f"hello-sync-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(client, task_queue=task_queue, workflows=[GreetingWorkflow],
                          activities=[compose_greeting], activity_executor=executor):
            result = await client.execute_workflow(
                GreetingWorkflow.run, "World", id=f"hello-sync-{uuid.uuid4()}",
                task_queue=task_queue)
    assert result == "Hello, World! (attempt 1)", result
    print(f"Result: {result}")


if __name__ == "__main__":
    asyncio.run(main())
