"""Type-checked, never run: ``test_typing.py`` runs ``mypy --strict --warn-unused-ignores`` on
this file. Each ``# type: ignore[...]`` marks a mistake the signatures must catch (an ignore
that is not needed fails the check), and each ``assert_type`` a result they must get right.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, assert_type

from plait import Client, activity, workflow
from plait.client import WorkflowHandle

T = timedelta(seconds=5)


@activity.defn
async def charge(order_id: str, cents: int) -> str:
    return order_id * cents


@activity.defn
def send_sms(to: str, body: str) -> None:
    pass


class Billing:
    @activity.defn
    async def refund(self, order_id: str) -> bool:
        return bool(order_id)


@workflow.defn
class Child:
    @workflow.run
    async def run(self, n: int) -> list[int]:
        return [n]


@workflow.defn
class Order:
    @workflow.run
    async def run(self, order_id: str) -> str:
        await self.activities(order_id)
        await self.children()
        return "done"

    async def activities(self, order_id: str) -> None:
        assert_type(await workflow.execute_activity(charge, order_id, 500,
                                                    start_to_close_timeout=T), str)
        await workflow.execute_activity(charge, order_id, "500", start_to_close_timeout=T)  # type: ignore[arg-type, call-arg]
        await workflow.execute_activity(charge, order_id, start_to_close_timeout=T)  # type: ignore[arg-type]
        cents: int = await workflow.execute_activity(charge, order_id, 1,  # type: ignore[arg-type, call-arg]
                                                     start_to_close_timeout=T)
        assert cents  # a str result used as an int
        await workflow.execute_activity(charge, order_id, 1, start_to_close_timout=T)  # type: ignore[call-overload]
        await workflow.execute_activity(send_sms, "+1", "hi", start_to_close_timeout=T)
        await workflow.execute_activity(send_sms, "+1", 2, start_to_close_timeout=T)  # type: ignore[arg-type, call-arg]
        assert_type(await workflow.execute_activity(Billing().refund, order_id,
                                                    start_to_close_timeout=T), bool)
        by_name = await workflow.execute_activity("charge", 1, 2, 3, start_to_close_timeout=T)
        assert_type(by_name, Any)
        handle = workflow.start_activity(charge, order_id, 1, start_to_close_timeout=T)
        handle.cancel()
        assert_type(await handle, str)
        workflow.start_activity(charge, 1, 1, start_to_close_timeout=T)  # type: ignore[arg-type, call-arg]
        assert_type(await workflow.execute_local_activity(charge, order_id, 500,
                                                          start_to_close_timeout=T), str)
        await workflow.execute_local_activity(charge, order_id, "500", start_to_close_timeout=T)  # type: ignore[arg-type, call-arg]
        await workflow.execute_local_activity(charge, order_id, 1, heartbeat_timeout=T)  # type: ignore[call-overload]
        local = workflow.start_local_activity(send_sms, "+1", "hi", start_to_close_timeout=T,
                                              local_retry_threshold=T)
        local.cancel()
        assert_type(await local, None)
        assert_type(await workflow.execute_local_activity_method(
            Billing.refund, order_id, start_to_close_timeout=T), bool)

    async def children(self) -> None:
        assert_type(await workflow.execute_child_workflow(Child.run, 3), list[int])
        await workflow.execute_child_workflow(Child.run, "3")  # type: ignore[arg-type]
        child = await workflow.start_child_workflow(Child.run, 3, id="c")
        assert_type(await child, list[int])
        await workflow.start_child_workflow(Child.run)  # type: ignore[arg-type, call-arg]
        assert_type(await workflow.execute_child_workflow("Child", "any", 1), Any)


async def client_side(client: Client) -> None:
    assert_type(await client.execute_workflow(Order.run, "o-1", id="o-1", task_queue="q"), str)
    await client.execute_workflow(Order.run, 1, id="o-1", task_queue="q")  # type: ignore[arg-type]
    await client.execute_workflow(Order.run, "o-1", id="o-1")  # type: ignore[call-overload]
    count: int = await client.execute_workflow(Order.run, "o-1", id="o-1", task_queue="q")  # type: ignore[arg-type]
    assert count  # a str result used as an int
    handle = await client.start_workflow(Order.run, "o-1", id="o-1", task_queue="q")
    assert_type(handle, WorkflowHandle[str])
    assert_type(await handle.result(), str)
    await client.start_workflow(Order.run, "o-1", "extra", id="o-1", task_queue="q")  # type: ignore[arg-type, call-arg]
    assert_type(await client.execute_workflow("Order", 1, 2, id="o", task_queue="q"), Any)
    assert_type(client.get_workflow_handle("o-1"), WorkflowHandle[Any])
    assert_type(await client.get_workflow_handle_for(Order.run, "o-1").result(), str)


async def temporal_spellings(client: Client) -> None:
    """Issue 18: Temporal's spellings type-check too (docs/from-temporal.md)."""
    from plait.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

    assert_type(await client.execute_workflow(Order.run, args=["o-1"], id="o", task_queue="q"),
                str)
    handle = await client.start_workflow(
        Order.run, "o-1", id="o", task_queue="q",
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
    assert_type(handle, WorkflowHandle[str])


@workflow.defn
class TemporalStyle:
    @workflow.run
    async def run(self) -> None:
        assert_type(await workflow.execute_activity(charge, args=["o", 1],
                                                    start_to_close_timeout=T), str)
        assert_type(await workflow.start_activity(
            charge, "o", 1, start_to_close_timeout=T,
            cancellation_type=workflow.ActivityCancellationType.ABANDON), str)
        assert_type(await workflow.execute_activity_method(Billing.refund, "o",
                                                           start_to_close_timeout=T), bool)
        await workflow.execute_activity_method(Billing.refund, 1, start_to_close_timeout=T)  # type: ignore[arg-type]
        assert_type(await workflow.execute_child_workflow(
            Child.run, args=[3], parent_close_policy=workflow.ParentClosePolicy.ABANDON),
            list[int])
        await workflow.wait_condition(workflow.all_handlers_finished)
