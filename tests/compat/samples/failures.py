"""Application errors with Temporal's category, seen from the workflow and the client."""

import asyncio
import os
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ApplicationErrorCategory,
)
from temporalio.worker import Worker


@activity.defn
async def check_stock(sku: str) -> int:
    if activity.info().attempt < 2:
        raise ApplicationError("stock service busy", category=ApplicationErrorCategory.BENIGN)
    raise ApplicationError(f"unknown sku {sku}", {"sku": sku}, type="UnknownSku",
                           non_retryable=True)


@workflow.defn
class OrderWorkflow:
    @workflow.run
    async def run(self, sku: str) -> int:
        try:
            return await workflow.execute_activity(
                check_stock, sku, start_to_close_timeout=timedelta(seconds=5),
                retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50)))
        except ActivityError as err:
            workflow.logger.info("activity failed: %s", err.cause)
            raise


async def main() -> None:
    client = await Client.connect(os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"))
    task_queue = f"failures-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[OrderWorkflow],
                      activities=[check_stock]):
        try:
            await client.execute_workflow(OrderWorkflow.run, "x-1", id=f"order-{uuid.uuid4()}",
                                          task_queue=task_queue)
            raise AssertionError("the workflow should have failed")
        except WorkflowFailureError as err:
            assert isinstance(err.cause, ActivityError), repr(err.cause)
            cause = err.cause.cause
            assert isinstance(cause, ApplicationError), repr(cause)
            assert cause.type == "UnknownSku" and cause.details == ({"sku": "x-1"},)
            assert cause.non_retryable
    print("failed as expected:", cause)


if __name__ == "__main__":
    asyncio.run(main())
