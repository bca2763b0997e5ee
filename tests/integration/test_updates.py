"""Updates: validated request/response into a running workflow, idempotent by id."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from plait import Worker, activity, workflow
from plait.errors import ApplicationError, RPCError, UpdateFailedError
from plait.protocol.responses import UpdateOutcome
from plait.testing import Replayer, WorkflowEnvironment
from tests.waiting import NotYet, eventually

applied: list[int] = []


@activity.defn
async def reprice(pct: int) -> int:
    applied.append(pct)
    return 1000 - 10 * pct


@workflow.defn
class Cart:
    def __init__(self) -> None:
        self.discount = 0
        self.checked_out = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.checked_out)
        return self.discount

    @workflow.update
    async def set_discount(self, pct: int) -> int:
        price = await workflow.execute_activity(reprice, pct,
                                                start_to_close_timeout=timedelta(seconds=5))
        self.discount = pct
        return price

    @set_discount.validator
    def check_discount(self, pct: int) -> None:
        if not 0 <= pct <= 50:
            raise ApplicationError(f"discount {pct}% is out of range", type="Invalid")

    @workflow.update
    def checkout(self) -> str:
        self.checked_out = True
        return "checked out"

    @workflow.update
    def explode(self) -> None:
        raise ApplicationError("handler failed", type="Boom")


async def test_update_round_trip_validation_and_idempotence(env: WorkflowEnvironment,
                                                            queue: str) -> None:
    applied.clear()
    async with Worker(env.client, task_queue=queue, workflows=[Cart], activities=[reprice]):
        h = await env.client.start_workflow(Cart.run, id="cart", task_queue=queue)
        assert await h.execute_update(Cart.set_discount, 10, id="d-10") == 900
        # Same id again: the recorded outcome, not a second run of the handler.
        assert await h.execute_update(Cart.set_discount, 10, id="d-10") == 900
        assert await h.get_update_result("d-10") == 900
        assert applied == [10]
        with pytest.raises(UpdateFailedError) as info:
            await h.execute_update(Cart.set_discount, 90)
        assert isinstance(info.value.cause, ApplicationError)
        assert info.value.cause.type == "Invalid" and "90%" in str(info.value)
        with pytest.raises(UpdateFailedError) as info:
            await h.execute_update("explode")
        assert info.value.cause.type == "Boom"  # type: ignore[union-attr]
        with pytest.raises(UpdateFailedError, match="has no update 'nope'"):
            await h.execute_update("nope")
        assert await h.execute_update(Cart.checkout) == "checked out"
        assert await h.result() == 10
    history = await h.fetch_history()
    types = [e.event_type for e in history.events]
    # A rejected update leaves no trace; accepted ones are in the history with outcomes.
    assert types.count("WORKFLOW_EXECUTION_UPDATE_ACCEPTED") == 3
    assert types.count("WORKFLOW_EXECUTION_UPDATE_COMPLETED") == 3
    await Replayer(workflows=[Cart]).replay(history)  # validators do not run in replay


async def test_updates_on_closed_and_unknown(env: WorkflowEnvironment, queue: str) -> None:
    h = await env.client.start_workflow(Cart.run, id="closed-cart", task_queue=queue)
    await h.terminate()
    with pytest.raises(RPCError) as info:
        await h.execute_update(Cart.checkout)
    assert info.value.code == "workflow_not_running"
    with pytest.raises(RPCError) as info:
        await h.get_update_result("never-sent")
    assert info.value.code == "update_not_found"


async def test_update_pending_when_workflow_closes_fails_by_name(env: WorkflowEnvironment,
                                                                 queue: str) -> None:
    @workflow.defn(name="Impatient")
    class Impatient:
        @workflow.run
        async def run(self) -> None:
            await workflow.sleep(0.5)

        @workflow.update
        async def slow(self) -> None:
            await workflow.sleep(60)

    async with Worker(env.client, task_queue=queue, workflows=[Impatient],
                      activities=[reprice]):
        h = await env.client.start_workflow(Impatient.run, id="impatient", task_queue=queue)
        with pytest.raises(UpdateFailedError) as info:
            await asyncio.wait_for(h.execute_update("slow"), 10)
        assert "before the update completed" in str(info.value)
        await h.result()


async def test_update_survives_worker_restart(env: WorkflowEnvironment, queue: str) -> None:
    h = await env.client.start_workflow(Cart.run, id="cart-2", task_queue=queue)
    sent = asyncio.create_task(h.execute_update(Cart.set_discount, 20, id="while-down"))

    async def recorded() -> UpdateOutcome | NotYet:
        try:
            return await env.client.api.update_outcome("cart-2", None, "while-down", wait=0)
        except RPCError as e:
            if e.code != "update_not_found":
                raise
            return NotYet(e.code)

    # No worker yet: the request waits in the run's state, and its caller with it.
    state = await eventually(recorded, what="the update recorded in cart-2's state")
    assert state.status == "requested"
    assert not sent.done()
    async with Worker(env.client, task_queue=queue, workflows=[Cart], activities=[reprice]):
        assert await asyncio.wait_for(sent, 10) == 800
        await h.execute_update(Cart.checkout)
        assert await h.result() == 20
