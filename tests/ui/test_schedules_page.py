"""The schedules pages: the list, one schedule's next times and recent actions, and pause,
unpause and trigger from the page reaching the server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Page, expect

from plait.errors import ScheduleNotFoundError
from tests.ui.conftest import Console
from tests.ui.workload import Greet

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_schedule_list_page_and_actions(console: Console, page: Page) -> None:
    handle = await console.client.create_schedule(
        "ui-hourly", Greet.run, {"name": "scheduled"}, task_queue=console.queue,
        interval=timedelta(hours=1), note="made by the test", overlap="allow_all")
    await page.goto(console.url("/namespaces/default/schedules"))
    row = page.locator("table.list tbody tr", has_text="ui-hourly")
    await expect(row).to_contain_text("Greet")
    await expect(row).to_contain_text("ACTIVE")
    await row.get_by_role("link", name="ui-hourly").click()

    await expect(page.locator("h1")).to_have_text("ui-hourly")
    await expect(page.locator("ol.times li")).to_have_count(5)
    await expect(page.locator("main")).to_contain_text("every 1 h 0 min")
    await expect(page.locator("main")).to_contain_text("made by the test")

    await page.get_by_role("button", name="Pause…").click()
    dialog = page.locator("dialog.confirm")
    await dialog.get_by_label("Note").fill("maintenance")
    await dialog.get_by_role("button", name="Pause", exact=True).click()
    await expect(page.locator(".badge.st-paused")).to_have_text("PAUSED")
    desc = await handle.describe()
    assert desc.paused and desc.note == "maintenance"

    await page.get_by_role("button", name="Trigger now").click()
    action = page.locator("table.list tbody tr").first
    await expect(action).to_contain_text("ui-hourly-")
    desc = await handle.describe()
    assert desc.num_actions == 1
    await action.get_by_role("link").click()
    await expect(page.locator("h1")).to_have_text(desc.recent_actions[0].workflow_id)

    await page.go_back()
    await page.get_by_role("button", name="Unpause…").click()
    await dialog.get_by_role("button", name="Unpause", exact=True).click()
    await expect(page.locator(".badge.st-running")).to_have_text("ACTIVE")
    assert not (await handle.describe()).paused

    # Backfill the three hours before this one: three more runs, one per due time.
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    await page.locator("#bf-start").fill((hour - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S"))
    await page.locator("#bf-end").fill(hour.strftime("%Y-%m-%dT%H:%M:%S"))
    await page.get_by_role("button", name="Backfill").click()
    await expect(page.locator(".notice.ok")).to_have_text("Backfill: done.")
    await expect(page.locator("table.list tbody tr")).to_have_count(4)
    assert (await handle.describe()).num_actions == 4

    await page.get_by_role("button", name="Delete…").click()
    await page.locator("dialog.confirm").get_by_role("button", name="Delete").click()
    await expect(page.locator("h1")).to_have_text("Schedules")
    await expect(page.locator("table.list tbody tr", has_text="ui-hourly")).to_have_count(0)
    with pytest.raises(ScheduleNotFoundError):
        await handle.describe()
