"""Temporal's hello_cancellation: an async activity heartbeats until it is cancelled."""

import asyncio
import os
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, CancelledError
from temporalio.worker import Worker


@activity.defn
async def never_complete() -> None:
    try:
        while True:
            activity.heartbeat()
            await asyncio.sleep(0.1)
    except asyncio.CancelledError:
        activity.logger.info("cancelled")
        raise


@activity.defn
async def cleanup() -> None:
    activity.logger.info("cleaning up")


@workflow.defn
class CancellationWorkflow:
    @workflow.run
    async def run(self) -> None:
        try:
            await workflow.execute_activity(never_complete,
                                            start_to_close_timeout=timedelta(minutes=5),
                                            heartbeat_timeout=timedelta(seconds=2))
        except ActivityError as err:
            assert isinstance(err.cause, CancelledError)
            raise
        finally:
            await workflow.execute_activity(cleanup, start_to_close_timeout=timedelta(seconds=5))


async def main() -> None:
    client = await Client.connect(os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"))
    task_queue = f"async-cancel-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[CancellationWorkflow],
                      activities=[never_complete, cleanup]):
        handle = await client.start_workflow(CancellationWorkflow.run,
                                             id=f"cancel-{uuid.uuid4()}", task_queue=task_queue)
        while not (await handle.describe()).pending_activities:
            await asyncio.sleep(0.05)
        await handle.cancel()
        try:
            await handle.result()
            raise AssertionError("the workflow should have been cancelled")
        except WorkflowFailureError as err:
            assert isinstance(err.cause, CancelledError), repr(err.cause)
    print("cancelled")


if __name__ == "__main__":
    asyncio.run(main())
