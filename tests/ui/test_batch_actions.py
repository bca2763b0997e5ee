"""Acting on many runs from the list: every run matching the filter through a batch job
(its progress followed to the end, and listed on the Batches page), and a signal to the runs
selected on the page."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import pytest
from playwright.async_api import Page, expect

from plait.client import WorkflowHandle
from tests.ui.conftest import Console
from tests.ui.workload import Counter, Greet
from tests.waiting import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

LIST = "/namespaces/default/workflows"


async def count_is(handle: WorkflowHandle[Any], want: int) -> None:
    async def check() -> bool:
        return bool(await handle.query(Counter.value) == want)

    await eventually(check, what=f"{handle.id} count {want}")


SUITE = {"suite": "batchall"}


async def test_terminate_all_matching_leaves_another_type_running(
    console: Console, page: Page
) -> None:
    # Runs on a queue nobody polls stay RUNNING: 30 of one type, 3 of another.
    await asyncio.gather(
        *(
            console.client.start_workflow(
                "Doomed",
                id=f"doomed-{i:02d}",
                task_queue="ui-nobody-batch",
                search_attributes=SUITE,
            )
            for i in range(30)
        )
    )
    await asyncio.gather(
        *(
            console.client.start_workflow(
                "Kept", id=f"kept-{i}", task_queue="ui-nobody-batch", search_attributes=SUITE
            )
            for i in range(3)
        )
    )

    await page.goto(console.url(f"{LIST}?type=Doomed&search_attribute={quote('suite=batchall')}"))
    await expect(page.locator('.counts a[data-status="ALL"]')).to_contain_text("30")
    await page.get_by_role("button", name="Select all matching the filter").click()
    await expect(page.locator(".batch")).to_contain_text(
        "All 30 runs matching the filter selected."
    )
    await page.get_by_role("button", name="Terminate all matching…").click()
    dialog = page.locator("dialog.confirm")
    await expect(dialog).to_contain_text("Terminate 30 runs matching the filter?")
    await dialog.get_by_label("Reason").fill("bad release")
    await dialog.get_by_role("button", name="Terminate", exact=True).click()

    progress = page.locator(".batch-progress")
    await expect(progress).to_contain_text("terminate: 30 of 30 done (completed)")
    await expect(page.locator(".badge.st-terminated")).to_have_count(30)
    assert (
        await console.client.count_workflows(
            workflow_type="Doomed", status="TERMINATED", search_attributes=SUITE
        )
        == 30
    )
    assert (
        await console.client.count_workflows(
            workflow_type="Kept", status="RUNNING", search_attributes=SUITE
        )
        == 3
    )
    history = await console.client.get_workflow_handle("doomed-07").fetch_history()
    assert history.events[-1].attributes["reason"] == "bad release"

    # The job on the Batches page, with its progress.
    await page.locator(".batch-status").get_by_role("link", name="Batches").click()
    await expect(page.locator("h1")).to_have_text("Batches")
    row = page.locator("table.batches tbody tr").filter(has_text="type Doomed")
    await expect(row).to_contain_text("terminate")
    await expect(row).to_contain_text("30 of 30")
    await expect(row).to_contain_text("completed")
    for i in range(3):
        await console.client.get_workflow_handle(f"kept-{i}").terminate()


async def test_signal_the_selected_runs(console: Console, page: Page) -> None:
    handles = [
        await console.client.start_workflow(
            Counter.run,
            id=f"sig-batch-{i}",
            task_queue=console.queue,
            search_attributes={"suite": "sigbatch"},
        )
        for i in range(3)
    ]
    await page.goto(console.url(f"{LIST}?search_attribute={quote('suite=sigbatch')}"))
    await expect(page.locator("table.list tbody tr")).to_have_count(3)
    await page.get_by_label("Select sig-batch-0").check()
    await page.get_by_label("Select sig-batch-2").check()
    await expect(page.locator(".batch")).to_contain_text("2 selected")
    await page.get_by_role("button", name="Signal selected…").click()
    dialog = page.locator("dialog.confirm")
    await expect(dialog).to_contain_text("Signal 2 runs?")
    await dialog.get_by_label("Signal name").fill("add")
    await dialog.get_by_label("Arguments").fill("[5]")
    await dialog.get_by_role("button", name="Signal", exact=True).click()
    await expect(page.locator(".notice.ok")).to_contain_text("Signaled 2 of 2")
    for handle, want in zip(handles, (5, 0, 5), strict=True):
        await count_is(handle, want)
    for h in handles:
        await h.signal(Counter.finish)


async def test_signal_all_matching_through_a_batch_job(console: Console, page: Page) -> None:
    suite = {"suite": "sigall"}
    handles = [
        await console.client.start_workflow(
            Counter.run, id=f"sig-all-{i}", task_queue=console.queue, search_attributes=suite
        )
        for i in range(4)
    ]
    await page.goto(console.url(f"{LIST}?search_attribute={quote('suite=sigall')}"))
    await expect(page.locator("table.list tbody tr")).to_have_count(4)
    await page.get_by_role("button", name="Select all matching the filter").click()
    await page.get_by_role("button", name="Signal all matching…").click()
    dialog = page.locator("dialog.confirm")
    await expect(dialog).to_contain_text("Signal 4 runs matching the filter?")
    await dialog.get_by_label("Signal name").fill("add")
    await dialog.get_by_label("Arguments").fill("[7]")
    await dialog.get_by_role("button", name="Signal", exact=True).click()
    await expect(page.locator(".batch-progress")).to_contain_text(
        "signal add: 4 of 4 done (completed)"
    )
    for handle in handles:
        await count_is(handle, 7)
        await handle.signal(Counter.finish)


async def test_reset_the_selected_runs(console: Console, page: Page) -> None:
    handle = await console.client.start_workflow(
        Greet.run,
        {"name": "r"},
        id="reset-sel",
        task_queue=console.queue,
        search_attributes={"suite": "resetsel"},
    )
    await handle.result()
    old = (await handle.describe()).run_id
    await page.goto(console.url(f"{LIST}?search_attribute={quote('suite=resetsel')}"))
    await page.get_by_label("Select reset-sel").check()
    await page.get_by_role("button", name="Reset selected…").click()
    dialog = page.locator("dialog.confirm")
    await dialog.get_by_label("Reset each run to").select_option("first_workflow_task")
    await dialog.get_by_label("Reason").fill("again")
    await dialog.get_by_role("button", name="Reset", exact=True).click()
    await expect(page.locator(".notice.ok")).to_contain_text("Reset 1 of 1")
    # The new run is the workflow's latest, linked to the old one, and completes again.
    await expect(page.locator("table.list tbody tr")).to_have_count(2)
    latest = console.client.get_workflow_handle("reset-sel")
    desc = await latest.describe()
    assert desc.run_id != old and desc.reset_from_run_id == old
    assert desc.reset_reason == "again"
    assert await latest.result() == {"greeting": "hello r", "who": {"name": "r"}}


async def test_pause_then_unpause_all_matching(console: Console, page: Page) -> None:
    """Stop the bleeding from the list: every matching run paused by one batch job, then
    let go by another; the describe of each says so in between."""
    suite = {"suite": "batchpause"}
    handles = await asyncio.gather(
        *(
            console.client.start_workflow(
                "Held", id=f"held-{i:02d}", task_queue="ui-nobody-pause",
                search_attributes=suite)
            for i in range(6)
        )
    )
    await page.goto(console.url(f"{LIST}?type=Held&search_attribute={quote('suite=batchpause')}"))
    await expect(page.locator('.counts a[data-status="ALL"]')).to_contain_text("6")
    for verb, done in (("Pause", "pause: 6 of 6 done (completed)"),
                       ("Unpause", "unpause: 6 of 6 done (completed)")):
        await page.get_by_role("button", name="Select all matching the filter").click()
        await page.get_by_role("button", name=f"{verb} all matching…", exact=True).click()
        dialog = page.locator("dialog.confirm")
        await expect(dialog).to_contain_text(f"{verb} 6 runs matching the filter?")
        if verb == "Pause":
            await dialog.get_by_label("Reason").fill("carrier outage")
        await dialog.get_by_role("button", name=verb, exact=True).click()
        await expect(page.locator(".batch-progress")).to_contain_text(done)
        for h in handles:
            d = await h.describe()
            assert d.paused == (verb == "Pause"), (h.id, verb)
            if verb == "Pause":
                assert d.pause_reason == "carrier outage"
