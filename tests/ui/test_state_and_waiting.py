"""A run's state after any event of its history (a query as of that event, replayed by a
worker), and where a running run waits (its stack), from the workflow page."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from plait.client import WorkflowHandle
from tests.ui.conftest import Console
from tests.ui.workload import Approval, Counter
from tests.waiting import eventually, status_is

pytestmark = pytest.mark.asyncio(loop_scope="session")


def run_page(console: Console, wid: str) -> str:
    return console.url(f"/namespaces/default/workflows/{wid}")


async def add(handle: WorkflowHandle[Any], n: int, total: int) -> None:
    """Signal add(n) and wait until a workflow task has taken it in (the count is total)."""
    await handle.signal(Counter.add, n)

    async def counted() -> bool:
        return bool(await handle.query(Counter.value) == total)

    await eventually(counted, what=f"count {total}")


async def test_state_at_two_events_differs(console: Console, page: Page) -> None:
    handle = await console.client.start_workflow(
        Counter.run, id="state-counter", task_queue=console.queue
    )
    await add(handle, 1, 1)
    await add(handle, 10, 11)
    events = (await handle.fetch_history()).events
    signals = [e.event_id for e in events if e.event_type == "WORKFLOW_EXECUTION_SIGNALED"]
    tasks = [e.event_id for e in events if e.event_type == "WORKFLOW_TASK_COMPLETED"]
    after_first = min(t for t in tasks if t > signals[0])
    after_second = min(t for t in tasks if t > signals[1])

    await page.goto(run_page(console, "state-counter"))
    await expect(page.locator(".badge").first).to_have_text("RUNNING")

    # The first time, the console asks which query.
    await page.get_by_role("button", name=f"State after event {after_first}").click()
    panel = page.locator(f'.state-at[data-event="{after_first}"]')
    await panel.get_by_label("Query name").fill("value")
    await panel.get_by_role("button", name="Show state").click()
    await expect(panel.locator("pre")).to_have_text("1")
    await expect(panel.locator(".taken-at")).to_contain_text(f"as of event {after_first}")

    # The query name is remembered for the type: the next event answers at once.
    await page.get_by_role("button", name=f"State after event {after_second}").click()
    panel2 = page.locator(f'.state-at[data-event="{after_second}"]')
    await expect(panel2.locator("pre")).to_have_text("11")

    # A signal's own event: the state is the one the task before it left.
    await page.get_by_role("button", name=f"State after event {signals[1]}").click()
    panel3 = page.locator(f'.state-at[data-event="{signals[1]}"]')
    await expect(panel3.locator("pre")).to_have_text("1")
    await expect(panel3.locator(".taken-at")).to_contain_text(
        f"as of event {after_first}, the last workflow task completed at or before "
        f"event {signals[1]}"
    )

    # Before the first workflow task completed there is no state.
    await page.get_by_role("button", name="State after event 1", exact=True).click()
    await expect(page.locator('.state-at[data-event="1"] .no-state')).to_have_text("No state yet")

    # The stack as it was: waiting in the run method's wait_condition.
    await panel2.get_by_label("Query name").fill("__stack_trace")
    await panel2.get_by_role("button", name="Show state").click()
    await expect(panel2.locator("pre.trace")).to_contain_text("Counter.run")
    # The panels stay open while the page follows the run.
    await handle.signal(Counter.finish)
    await expect(page.locator(".badge").first).to_have_text("COMPLETED")
    await expect(panel.locator("pre")).to_have_text("1")
    await expect(page.locator(".state-at")).to_have_count(4)
    await panel.get_by_role("button", name="Close").click()
    await expect(page.locator(".state-at")).to_have_count(3)
    await expect(
        page.get_by_role("button", name=f"State after event {after_first}")
    ).to_have_attribute("aria-expanded", "false")


async def test_where_is_it_waiting(console: Console, page: Page) -> None:
    handle = await console.client.start_workflow(
        Approval.run, "o-w", id="page-waiting", task_queue=console.queue
    )
    await page.goto(run_page(console, "page-waiting"))
    panel = page.locator("section.waiting")
    await expect(panel.locator("h2")).to_have_text("Where is it waiting")
    trace = panel.locator("pre.trace")
    await expect(trace).to_contain_text("in Approval.run")
    lines = (await trace.inner_text()).splitlines()
    assert lines[-1].endswith("in wait_condition"), lines
    await panel.get_by_role("button", name="Refresh").click()
    await expect(trace).to_contain_text("in Approval.run")
    assert await page.locator("main img, main script").count() == 0

    await handle.signal(Approval.approve, "dana")
    await status_is(handle, "COMPLETED")
    await expect(page.locator(".badge").first).to_have_text("COMPLETED")
    await expect(panel).to_be_hidden()


async def test_where_is_it_waiting_without_a_worker(console: Console, page: Page) -> None:
    # No worker polls its queue: the panel says none can answer instead of asking in vain.
    await console.client.start_workflow(
        "Idle", id="page-waiting-idle", task_queue="ui-unpolled-waiting"
    )
    await page.goto(run_page(console, "page-waiting-idle"))
    panel = page.locator("section.waiting")
    await expect(panel.locator(".notice.error")).to_contain_text(
        "no worker polls task queue ui-unpolled-waiting"
    )
    await console.client.get_workflow_handle("page-waiting-idle").terminate()
