"""Activities in parallel, gathered with workflow.wait and asyncio.gather."""

import asyncio
import os
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker


@activity.defn
async def say(name: str) -> str:
    return f"hi {name}"


@workflow.defn
class ParallelWorkflow:
    @workflow.run
    async def run(self, names: list[str]) -> list[str]:
        handles = [workflow.start_activity(say, n, start_to_close_timeout=timedelta(seconds=5))
                   for n in names]
        done, pending = await workflow.wait(handles, return_when=asyncio.ALL_COMPLETED)
        assert not pending and len(done) == len(names)
        first, _ = await workflow.wait(
            [workflow.start_activity(say, "fast", start_to_close_timeout=timedelta(seconds=5))],
            timeout=timedelta(seconds=30), return_when=asyncio.FIRST_COMPLETED)
        more = await asyncio.gather(*(
            workflow.execute_activity(say, n, start_to_close_timeout=timedelta(seconds=5))
            for n in names))
        return [h.result() for h in handles] + [first.pop().result()] + list(more)


async def main() -> None:
    client = await Client.connect(os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"))
    task_queue = f"parallel-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[ParallelWorkflow],
                      activities=[say]):
        result = await client.execute_workflow(ParallelWorkflow.run, ["a", "b", "c"],
                                               id=f"parallel-{uuid.uuid4()}",
                                               task_queue=task_queue)
    assert result == ["hi a", "hi b", "hi c", "hi fast", "hi a", "hi b", "hi c"], result
    print(result)


if __name__ == "__main__":
    asyncio.run(main())
