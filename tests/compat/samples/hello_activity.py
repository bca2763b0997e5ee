"""Temporal's hello_activity, with the sandbox pass-through its samples carry."""

import asyncio
import os
import uuid
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    import json


@dataclass
class ComposeGreetingInput:
    greeting: str
    name: str


@activity.defn
async def compose_greeting(input: ComposeGreetingInput) -> str:
    activity.logger.info("Running activity with parameter %s", input)
    return json.dumps(f"{input.greeting}, {input.name}!")


@workflow.defn
class GreetingWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        workflow.logger.info("Running workflow with parameter %s", name)
        return await workflow.execute_activity(
            compose_greeting,
            ComposeGreetingInput("Hello", name),
            start_to_close_timeout=timedelta(seconds=10),
        )


async def main() -> None:
    client = await Client.connect(os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"))
    task_queue = f"hello-activity-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[GreetingWorkflow],
                      activities=[compose_greeting]):
        result = await client.execute_workflow(
            GreetingWorkflow.run, "World", id=f"hello-activity-{uuid.uuid4()}",
            task_queue=task_queue)
    assert result == '"Hello, World!"', result
    print(f"Result: {result}")


if __name__ == "__main__":
    asyncio.run(main())
