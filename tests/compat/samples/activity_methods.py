"""Activities as methods of a class holding a shared client, called by method."""

import asyncio
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import Worker


class FakeDatabase:
    def __init__(self) -> None:
        self.rows: dict[str, int] = {}


class Inventory:
    def __init__(self, db: FakeDatabase) -> None:
        self.db = db

    @activity.defn
    async def reserve(self, sku: str, count: int) -> int:
        self.db.rows[sku] = self.db.rows.get(sku, 0) + count
        return self.db.rows[sku]

    @activity.defn
    def total(self) -> int:
        return sum(self.db.rows.values())


@workflow.defn
class StockWorkflow:
    @workflow.run
    async def run(self, sku: str) -> int:
        await workflow.execute_activity_method(
            Inventory.reserve, args=[sku, 2], start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(maximum_attempts=3))
        handle = workflow.start_activity_method(
            Inventory.reserve, args=[sku, 3], start_to_close_timeout=timedelta(seconds=5))
        await handle
        return await workflow.execute_activity_method(
            Inventory.total, start_to_close_timeout=timedelta(seconds=5))


async def main() -> None:
    client = await Client.connect(os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"))
    inventory = Inventory(FakeDatabase())
    task_queue = f"stock-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[StockWorkflow],
                      activities=[inventory.reserve, inventory.total],
                      activity_executor=ThreadPoolExecutor(2)):
        total = await client.execute_workflow(StockWorkflow.run, "apple",
                                              id=f"stock-{uuid.uuid4()}", task_queue=task_queue)
    assert total == 5, total
    print(f"total: {total}")


if __name__ == "__main__":
    asyncio.run(main())
