"""Pydantic models as workflow and activity arguments, with Temporal's pydantic converter."""

import asyncio
import os
import uuid
from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker


class Order(BaseModel):
    id: str
    placed: datetime
    lines: list[str]


class Receipt(BaseModel):
    order_id: str
    count: int


@activity.defn
async def price(order: Order) -> Receipt:
    assert isinstance(order.placed, datetime)
    return Receipt(order_id=order.id, count=len(order.lines))


@workflow.defn
class OrderWorkflow:
    @workflow.run
    async def run(self, order: Order) -> Receipt:
        return await workflow.execute_activity(price, order,
                                               start_to_close_timeout=timedelta(seconds=5))


async def main() -> None:
    client = await Client.connect(os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"),
                                  data_converter=pydantic_data_converter)
    task_queue = f"pydantic-{uuid.uuid4()}"
    order = Order(id="o-1", placed=datetime(2026, 1, 2, 3, 4, 5), lines=["a", "b"])
    async with Worker(client, task_queue=task_queue, workflows=[OrderWorkflow],
                      activities=[price]):
        receipt = await client.execute_workflow(OrderWorkflow.run, order,
                                                id=f"order-{uuid.uuid4()}",
                                                task_queue=task_queue)
    assert receipt == Receipt(order_id="o-1", count=2), receipt
    print(receipt)


if __name__ == "__main__":
    asyncio.run(main())
