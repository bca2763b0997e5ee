"""Durable timers, a random choice and continue-as-new, counted across runs."""

import asyncio
import os
import uuid
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker


@dataclass
class LoopInput:
    iteration: int
    limit: int


@workflow.defn
class LoopingWorkflow:
    @workflow.run
    async def run(self, input: LoopInput) -> str:
        await asyncio.sleep(0.01)
        await workflow.sleep(timedelta(milliseconds=10))
        workflow.random().randint(0, 10)
        workflow.uuid4()
        assert workflow.info().get_current_history_length() > 0
        if input.iteration < input.limit or workflow.info().is_continue_as_new_suggested():
            workflow.continue_as_new(LoopInput(input.iteration + 1, input.limit))
        return f"done after {input.iteration} at {workflow.now().year}"


async def main() -> None:
    client = await Client.connect(os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"))
    task_queue = f"loop-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[LoopingWorkflow]):
        result = await client.execute_workflow(LoopingWorkflow.run, LoopInput(0, 3),
                                               id=f"loop-{uuid.uuid4()}",
                                               task_queue=task_queue)
    assert result.startswith("done after 3 at "), result
    print(result)


if __name__ == "__main__":
    asyncio.run(main())
