"""The built-in ``__stack_trace`` query: where each of a workflow's coroutines waits."""

from __future__ import annotations

import asyncio
import inspect
from datetime import timedelta

from plait import Worker, activity, workflow
from plait.testing import WorkflowEnvironment
from tests.waiting import activity_started, history_has

RELEASE: dict[str, asyncio.Event] = {}
"""Per workflow id: set by the test to let its charge activity finish."""


@activity.defn
async def charge_card(order: str) -> str:
    await RELEASE[order].wait()
    return f"charged {order}"


@workflow.defn
class Checkout:
    def __init__(self) -> None:
        self.approved = False

    @workflow.run
    async def run(self, order: str) -> str:
        charging = asyncio.create_task(self.charge(order))
        await self.wait_for_approval()  # waits: run
        return await charging  # waits: charging

    async def wait_for_approval(self) -> None:
        await workflow.wait_condition(lambda: self.approved)  # waits: approval

    async def charge(self, order: str) -> str:
        return await workflow.execute_activity(  # waits: charge
            charge_card, order, start_to_close_timeout=timedelta(seconds=30)
        )

    @workflow.signal
    def approve(self) -> None:
        self.approved = True


def _line_of(marker: str) -> str:
    """``file:line`` of the source line of this file that carries ``# waits: marker``."""
    lines, _ = inspect.getsourcelines(inspect.getmodule(Checkout))  # type: ignore[arg-type]
    number = next(i for i, text in enumerate(lines, 1) if f"# waits: {marker}" in text)
    return f"{__file__}:{number}"


def _check_stack(text: str) -> None:
    """The main coroutine waits in the helper, the charge task in the activity."""
    blocks = [b.splitlines() for b in text.split("\n\n")]
    assert len(blocks) == 2, text
    main, charge = blocks
    assert main[0] == f"{_line_of('run')} in Checkout.run", text
    assert main[1] == f"{_line_of('approval')} in Checkout.wait_for_approval", text
    assert main[-1].split(" in ")[1] == "wait_condition", text  # plait's own frame, innermost
    assert charge[0] == f"{_line_of('charge')} in Checkout.charge", text
    assert charge[-1].endswith(" in execute_activity"), text
    assert all(":" in line and " in " in line for b in blocks for line in b), text


async def test_stack_trace_names_the_awaiting_lines(env: WorkflowEnvironment, queue: str) -> None:
    RELEASE["order-1"] = asyncio.Event()
    async with Worker(env.client, task_queue=queue, workflows=[Checkout], activities=[charge_card]):
        h = await env.client.start_workflow(
            Checkout.run, "order-1", id="checkout-1", task_queue=queue
        )
        await activity_started(h, "charge_card")
        _check_stack(await h.query("__stack_trace"))  # from the cached instance
        _check_stack(await h.query("__stack_trace"))  # asked twice: nothing moved
    async with Worker(env.client, task_queue=queue, workflows=[Checkout], activities=[charge_card]):
        # A fresh worker rebuilds the run by replay and sees it waiting at the same lines.
        _check_stack(await h.query("__stack_trace"))
        # Asking changed nothing: the run goes on and replays without a task failure.
        await h.signal(Checkout.approve)
        RELEASE["order-1"].set()
        assert await h.result() == "charged order-1"
    history = await h.fetch_history()
    assert "WORKFLOW_TASK_FAILED" not in [e.event_type for e in history.events]
    async with Worker(env.client, task_queue=queue, workflows=[Checkout], activities=[charge_card]):
        assert await h.query("__stack_trace") == ""  # closed: nothing waits any more


async def test_stack_trace_after_the_signal_shows_only_the_charge(
    env: WorkflowEnvironment, queue: str
) -> None:
    RELEASE["order-2"] = asyncio.Event()
    async with Worker(env.client, task_queue=queue, workflows=[Checkout], activities=[charge_card]):
        h = await env.client.start_workflow(
            Checkout.run, "order-2", id="checkout-2", task_queue=queue
        )
        await activity_started(h, "charge_card")
        await h.signal(Checkout.approve)
        await history_has(h, "WORKFLOW_TASK_COMPLETED", 2)
        text = await h.query("__stack_trace")
        main, charge = (b.splitlines() for b in text.split("\n\n"))
        # The main coroutine now awaits the charge task (a future: no frame below run).
        assert main == [f"{_line_of('charging')} in Checkout.run"], text
        assert charge[0] == f"{_line_of('charge')} in Checkout.charge", text
        RELEASE["order-2"].set()
        assert await h.result() == "charged order-2"
