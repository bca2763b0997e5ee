"""The smallest program: one workflow, no activity."""

import asyncio
import os
import uuid

from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker


@workflow.defn
class SayHello:
    @workflow.run
    async def run(self, name: str) -> str:
        return f"Hello, {name}! ({workflow.info().workflow_type})"


async def main() -> None:
    client = await Client.connect(os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"),
                                  namespace="default")
    async with Worker(client, task_queue="hello-world", workflows=[SayHello]):
        result = await client.execute_workflow(SayHello.run, "World",
                                               id=f"hello-{uuid.uuid4()}",
                                               task_queue="hello-world")
    assert result == "Hello, World! (SayHello)", result
    print(result)


if __name__ == "__main__":
    asyncio.run(main())
