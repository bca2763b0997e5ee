"""A run with a long history stays usable: its page draws the history a page at a time
(with first, last and "go to event" controls), thins the timeline's bars, and never blocks
the browser's main thread for a second (``bench/ui.py`` measures 50,000 events)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from playwright.async_api import Page, expect

from tests.ui.conftest import Console

pytestmark = pytest.mark.asyncio(loop_scope="session")

SIGNALS = 2_000

# Every long task's duration (ms), from before the page's own scripts run.
LONGTASKS = """
window.__longtasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longtasks.push(e.duration);
}).observe({type: "longtask", buffered: true});
"""


async def test_a_long_history_opens_and_pages_without_freezing(
    console: Console, page: Page
) -> None:
    # No worker polls this queue: each signal is one event (started, a workflow task
    # scheduled, then the signals), so the history is built in seconds.
    wid = f"big-{uuid.uuid4().hex[:6]}"
    handle = await console.client.start_workflow(
        "Patient", id=wid, task_queue=f"nobody-{uuid.uuid4().hex[:6]}"
    )
    sent = iter(range(SIGNALS))

    async def sender() -> None:
        for i in sent:
            await handle.signal("tick", i)

    await asyncio.gather(*(sender() for _ in range(32)))
    total = SIGNALS + 2

    await page.add_init_script(LONGTASKS)
    await page.goto(console.url(f"/namespaces/default/workflows/{wid}"))
    await expect(page.locator("#h-history")).to_have_text(f"History ({total} events)")
    # The timeline's row of signals is thinned to at most 240 bars, not one per signal.
    await expect(page.locator(".timeline .row .bar").first).to_be_visible()
    assert 0 < await page.locator(".timeline .bar").count() <= 240

    events = page.locator("ol.events > li")
    await expect(events).to_have_count(500)
    await expect(events.first.locator(".eid")).to_have_text("1")
    pager = page.locator("#h-pager")
    await expect(pager).to_contain_text("page 1 of 5")
    await pager.get_by_role("button", name="Last").click()
    await expect(events.last.locator(".eid")).to_have_text(str(total))
    await expect(events).to_have_count(total - 2000)
    await page.locator("#h-goto").fill("1234")
    await pager.get_by_role("button", name="Go").click()
    await expect(pager).to_contain_text("events 1001\u20131500 (page 3 of 5)")
    await pager.get_by_role("button", name="First").click()
    await expect(events.first.locator(".eid")).to_have_text("1")

    longest = await page.evaluate("Math.max(0, ...window.__longtasks)")
    assert longest < 1000, f"the page blocked its main thread for {longest:.0f} ms"
    await handle.terminate(reason="test over")
