"""Updates with a validator, started with a handle that waits for acceptance; the workflow
waits for every handler to finish before it returns."""

import asyncio
import os
import uuid
from datetime import timedelta

from temporalio import workflow
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.worker import Worker


@workflow.defn
class CartWorkflow:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.checked_out = False

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.checked_out)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.items

    @workflow.update
    async def add_item(self, item: str) -> int:
        await workflow.sleep(timedelta(milliseconds=10))
        self.items.append(item)
        return len(self.items)

    @add_item.validator
    def validate_add_item(self, item: str) -> None:
        if not item:
            raise ValueError("empty item")

    @workflow.update(unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)
    def checkout(self) -> str:
        self.checked_out = True
        return "ok"


async def main() -> None:
    client = await Client.connect(os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"))
    task_queue = f"cart-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[CartWorkflow]):
        handle = await client.start_workflow(CartWorkflow.run, id=f"cart-{uuid.uuid4()}",
                                             task_queue=task_queue)
        update = await handle.start_update(CartWorkflow.add_item, "apple",
                                           wait_for_stage=WorkflowUpdateStage.ACCEPTED)
        assert await update.result() == 1
        assert await handle.execute_update(CartWorkflow.add_item, "pear") == 2
        try:
            await handle.start_update(CartWorkflow.add_item, "",
                                      wait_for_stage=WorkflowUpdateStage.ACCEPTED)
            raise AssertionError("the validator should have rejected it")
        except WorkflowUpdateFailedError:
            pass
        again = handle.get_update_handle(update.id)
        assert await again.result() == 1
        await handle.execute_update(CartWorkflow.checkout)
        assert await handle.result() == ["apple", "pear"]
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    print("updates ok")


if __name__ == "__main__":
    asyncio.run(main())
