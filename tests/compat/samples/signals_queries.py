"""Signals, queries and signal-with-start, with the client never closed."""

import asyncio
import os
import uuid
from datetime import timedelta

from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker


@workflow.defn
class GreetingWorkflow:
    def __init__(self) -> None:
        self.names: list[str] = []
        self.done = False

    @workflow.run
    async def run(self, greeting: str, punctuation: str) -> str:
        await workflow.wait_condition(lambda: self.done, timeout=timedelta(minutes=5))
        return f"{greeting} " + ", ".join(self.names) + punctuation

    @workflow.signal
    async def add_name(self, name: str) -> None:
        self.names.append(name)

    @workflow.signal
    async def add_names(self, first: str, second: str) -> None:
        self.names += [first, second]

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def count(self) -> int:
        return len(self.names)


async def main() -> None:
    client = await Client.connect(os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"))
    task_queue = f"signals-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[GreetingWorkflow]):
        handle = await client.start_workflow(
            GreetingWorkflow.run, args=["Hello", "!"], id=f"greet-{uuid.uuid4()}",
            task_queue=task_queue, start_signal="add_name", start_signal_args=["ana"])
        await handle.signal(GreetingWorkflow.add_name, "bo")
        await handle.signal(GreetingWorkflow.add_names, args=["cy", "di"])
        while await handle.query(GreetingWorkflow.count) < 4:
            await asyncio.sleep(0.05)
        assert await handle.query("count", result_type=int) == 4
        await handle.signal(GreetingWorkflow.finish)
        result = await client.get_workflow_handle(handle.id, result_type=str).result()
    assert result == "Hello ana, bo, cy, di!", result
    print(result)


if __name__ == "__main__":
    asyncio.run(main())
