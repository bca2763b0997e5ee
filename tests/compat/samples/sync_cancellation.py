"""A sync activity that heartbeats until its workflow is cancelled, then cleans up."""

import asyncio
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import CancelledError
from temporalio.worker import Worker

started = threading.Event()
cleaned_up = threading.Event()


@activity.defn
def never_complete() -> None:
    try:
        while True:
            activity.heartbeat("working")
            started.set()
            time.sleep(0.1)
    except CancelledError:
        cleaned_up.set()
        raise


@activity.defn
async def cleanup() -> str:
    return "cleaned"


@workflow.defn
class CancellationWorkflow:
    @workflow.run
    async def run(self) -> None:
        try:
            await workflow.execute_activity(
                never_complete, start_to_close_timeout=timedelta(minutes=5),
                heartbeat_timeout=timedelta(seconds=2),
                cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED)
        finally:
            await workflow.execute_activity(cleanup, start_to_close_timeout=timedelta(seconds=5))


async def main() -> None:
    client = await Client.connect(os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"))
    task_queue = f"cancel-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[CancellationWorkflow],
                      activities=[never_complete, cleanup],
                      activity_executor=ThreadPoolExecutor(5)):
        handle = await client.start_workflow(CancellationWorkflow.run,
                                             id=f"cancel-{uuid.uuid4()}", task_queue=task_queue)
        await asyncio.to_thread(started.wait, 20)
        await handle.cancel()
        try:
            await handle.result()
            raise AssertionError("the workflow should have been cancelled")
        except WorkflowFailureError as err:
            assert isinstance(err.cause, CancelledError), repr(err.cause)
    assert cleaned_up.is_set(), "the activity was never told it was cancelled"
    print("cancelled, and the activity cleaned up")


if __name__ == "__main__":
    asyncio.run(main())
