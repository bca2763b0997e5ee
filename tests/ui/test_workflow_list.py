"""The workflow list: filters live in the URL (and are applied as you type), back and
forward restore them, counts per status, paging with the API's page token, and batch
actions on selected runs."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import quote

import pytest
from playwright.async_api import Page, expect

from tests.ui.conftest import Console
from tests.ui.workload import HOSTILE, Approval, Charge, Greet
from tests.waiting import status_is

pytestmark = pytest.mark.asyncio(loop_scope="session")

LIST = "/namespaces/default/workflows"


async def test_filters_in_the_url_and_back_forward(console: Console, page: Page) -> None:
    sa = {"suite": "list"}
    for i in range(3):
        await console.client.execute_workflow(
            Greet.run, {"name": f"n{i}"}, id=f"list-greet-{i}", task_queue=console.queue,
            search_attributes=sa)
    charge = await console.client.start_workflow(Charge.run, "4000", id="list-charge",
                                                 task_queue=console.queue, search_attributes=sa)
    await status_is(charge, "FAILED")

    await page.goto(console.url(f"{LIST}?search_attribute={quote('suite=list')}"))
    rows = page.locator("table.list tbody tr")
    await expect(rows).to_have_count(4)
    await expect(page.locator('.counts a[data-status="COMPLETED"]')).to_contain_text("3")
    await expect(page.locator('.counts a[data-status="FAILED"]')).to_contain_text("1")
    await expect(page.locator("#f-sa")).to_have_value("suite=list")

    # Typing filters at once (debounced) and writes the filter into the URL.
    await page.locator("#f-type").fill("Charge")
    await page.wait_for_url(re.compile(r"type=Charge"))
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("list-charge")

    await rows.first.get_by_role("link", name="list-charge").click()
    await expect(page.locator("h1")).to_have_text("list-charge")
    assert f"/workflows/list-charge/{charge.run_id}" in page.url

    await page.go_back()
    await expect(page.locator("#f-type")).to_have_value("Charge")
    await expect(rows).to_have_count(1)
    await page.go_forward()
    await expect(page.locator("h1")).to_have_text("list-charge")

    # A start-time range in the URL: nothing started in the year 2999.
    await page.goto(console.url(
        f"{LIST}?search_attribute={quote('suite=list')}&started_after=2999-01-01T00:00"))
    await expect(page.locator("td.empty")).to_have_text("No workflow runs match.")


async def test_user_data_is_shown_as_text(console: Console, page: Page) -> None:
    wid = f"list-{HOSTILE}"
    await console.client.execute_workflow(Greet.run, {"name": HOSTILE}, id=wid,
                                          task_queue=console.queue, memo={"note": HOSTILE},
                                          search_attributes={"suite": "hostile",
                                                             "who": HOSTILE})
    await page.goto(console.url(f"{LIST}?search_attribute={quote('suite=hostile')}"))
    await expect(page.locator("table.list tbody td.id")).to_have_text(wid)
    assert await page.locator("main img, main script").count() == 0
    await page.locator("table.list tbody td.id a").click()
    await expect(page.locator("h1")).to_have_text(wid)
    summary = page.locator("dl.summary")
    await expect(summary).to_contain_text(f"who = {HOSTILE}")
    await expect(summary.locator("pre")).to_contain_text(HOSTILE.replace('"', '\\"'))
    await expect(page.locator("ol.events > li").last).to_contain_text("COMPLETED")
    assert await page.locator("main img, main script").count() == 0
    assert await page.evaluate("window.__pwned") is None


async def test_paging_with_the_page_token(console: Console, page: Page) -> None:
    # 55 runs on a queue nobody polls: they stay RUNNING, nothing else is needed.
    await asyncio.gather(*(console.client.start_workflow(
        "Idle", id=f"page-{i:02d}", task_queue="ui-nobody", search_attributes={"suite": "paging"})
        for i in range(55)))
    await page.goto(console.url(f"{LIST}?search_attribute={quote('suite=paging')}"))
    rows = page.locator("table.list tbody tr")
    await expect(rows).to_have_count(50)
    await expect(page.locator('.counts a[data-status="ALL"]')).to_contain_text("55")
    await page.get_by_role("link", name="Next page").click()
    await page.wait_for_url(re.compile(r"[?&]page="))
    await expect(rows).to_have_count(5)
    await expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    await page.go_back()
    await expect(rows).to_have_count(50)
    # The page position is in the URL: a reload stays on page two.
    await page.go_forward()
    await expect(rows).to_have_count(5)
    await page.reload()
    await expect(rows).to_have_count(5)


async def test_batch_cancel_of_selected_runs(console: Console, page: Page) -> None:
    handles = [await console.client.start_workflow(
        Approval.run, f"order-{i}", id=f"batch-{i}", task_queue=console.queue,
        search_attributes={"suite": "batch"}) for i in range(2)]
    await page.goto(console.url(f"{LIST}?search_attribute={quote('suite=batch')}"))
    await expect(page.locator("table.list tbody tr")).to_have_count(2)
    await page.get_by_label("Select every run on this page").check()
    await expect(page.locator(".batch")).to_contain_text("2 selected")
    await page.get_by_role("button", name="Cancel selected…").click()
    dialog = page.locator("dialog.confirm")
    await dialog.get_by_label("Reason").fill("customer withdrew")
    await dialog.get_by_role("button", name="Cancel", exact=True).click()
    await expect(page.locator(".notice.ok")).to_contain_text("Asked to cancel 2 of 2")
    for h in handles:
        await status_is(h, "CANCELED")
    await expect(page.locator(".badge.st-canceled")).to_have_count(2)
    for h in handles:
        requested = [e for e in (await h.fetch_history()).events
                     if e.event_type == "WORKFLOW_EXECUTION_CANCEL_REQUESTED"]
        assert len(requested) == 1


async def test_live_updates_can_be_paused(console: Console, page: Page) -> None:
    await page.goto(console.url(f"{LIST}?search_attribute={quote('suite=live')}"))
    await expect(page.locator("td.empty")).to_have_text("No workflow runs match.")
    # Started after the page loaded: it shows up without a reload.
    await console.client.start_workflow(Approval.run, "o-1", id="live-1",
                                        task_queue=console.queue,
                                        search_attributes={"suite": "live"})
    await expect(page.locator("table.list tbody td.id")).to_have_text("live-1")
    live = page.get_by_role("button", name=re.compile("^Live"))
    await expect(live).to_have_attribute("aria-pressed", "true")
    await live.click()
    await expect(live).to_have_attribute("aria-pressed", "false")
    await expect(live).to_have_text("Live: paused (resume)")
    await page.reload()  # the choice is kept
    await expect(live).to_have_attribute("aria-pressed", "false")
    await live.click()
    await expect(live).to_have_attribute("aria-pressed", "true")
