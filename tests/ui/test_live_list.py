"""The workflow list's live refresh, made cheap: the counts per status come from one request,
a refresh that finds nothing changed is a 304 that leaves the page's elements alone, a changed
run's row is drawn again while the others stay, and a hidden tab stops polling until it is
shown again (then it refreshes at once).

The page's clock is Playwright's fake one, so each refresh happens when the test advances it
(``clock.run_for``), and "no request while hidden" is checked without waiting in real time.
Headless chromium never hides a tab by itself, so the test hides it the way the browser would
tell the page: ``document.hidden`` and ``visibilityState`` change and ``visibilitychange``
fires."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from playwright.async_api import Locator, Page, Route, expect

from tests.ui.conftest import Console
from tests.ui.workload import Approval, Charge, Greet
from tests.waiting import status_is

pytestmark = pytest.mark.asyncio(loop_scope="session")

LIST = "/namespaces/default/workflows"
LIVE_MS = 3000  # workflows.js LIVE_MS

# Records every fetch the page makes (its URL), synchronously, before the page's scripts run.
RECORD_FETCHES = """
window.__fetched = [];
const realFetch = window.fetch;
window.fetch = function (input, init) {
  window.__fetched.push(String(input && input.url ? input.url : input));
  return realFetch.apply(this, arguments);
};
"""

# Records what changes in the list's rows, counts and pager (a redraw shows up here).
OBSERVE = """
() => {
  window.__mutations = [];
  window.__rows = [...document.querySelectorAll("table.list tbody tr")];
  const obs = new MutationObserver((records) => {
    for (const r of records) {
      const cell = (r.target.nodeType === 3 ? r.target.parentElement : r.target).closest("td");
      window.__mutations.push({type: r.type, cell: cell ? cell.cellIndex : null,
        row: window.__rows.indexOf((r.target.nodeType === 3 ? r.target.parentElement
          : r.target).closest("tr"))});
    }
  });
  for (const sel of ["table.list tbody", ".counts", "nav.pager"]) {
    obs.observe(document.querySelector(sel), {subtree: true, childList: true,
      attributes: true, characterData: true});
  }
  window.__observer = obs;
}
"""

SET_HIDDEN = """
(hidden) => {
  Object.defineProperty(document, "hidden", {configurable: true, get: () => hidden});
  Object.defineProperty(document, "visibilityState", {configurable: true,
    get: () => (hidden ? "hidden" : "visible")});
  document.dispatchEvent(new Event("visibilitychange"));
}
"""


async def open_list(page: Page, console: Console, suite: str) -> None:
    """The list filtered to ``suite`` on a fake clock paused 5 minutes ahead of the real
    one (the server's), fetches recorded."""
    await page.add_init_script(RECORD_FETCHES)
    t0 = datetime.now(UTC)
    await page.clock.install(time=t0)
    await page.goto(console.url(f"{LIST}?search_attribute={quote('suite=' + suite)}"))
    await page.clock.pause_at(t0 + timedelta(minutes=5))


async def list_fetches(page: Page) -> list[str]:
    fetched: list[str] = await page.evaluate("window.__fetched")
    return [u for u in fetched if "/api/v1/namespaces/default/workflows?" in u]


def checked(page: Page) -> Locator:
    """When the page last asked for the list: to the minute in its text, to the second in
    its ``data-checked`` attribute (which changes on every refresh)."""
    return page.locator("#checked")


async def refreshed(page: Page, before: str | None) -> None:
    """Wait until a refresh after the one at ``before`` has been handled."""
    await expect(checked(page)).not_to_have_attribute("data-checked", before or "")


async def live_refresh(page: Page) -> int:
    """Advance the clock by one live refresh; wait until its answer is in; its status."""
    before = await checked(page).get_attribute("data-checked")
    async with page.expect_response(lambda r: "/namespaces/default/workflows?" in r.url) as resp:
        await page.clock.run_for(LIVE_MS)
    await refreshed(page, before)
    return (await resp.value).status


async def test_the_counts_come_from_one_request(console: Console, page: Page) -> None:
    sa = {"suite": "livecounts"}
    done = [await console.client.start_workflow(Greet.run, {"name": f"n{i}"},
                                                id=f"livecounts-greet-{i}",
                                                task_queue=console.queue, search_attributes=sa)
            for i in range(2)]
    failed = await console.client.start_workflow(Charge.run, "4000", id="livecounts-charge",
                                                 task_queue=console.queue, search_attributes=sa)
    waiting = [await console.client.start_workflow(Approval.run, f"o-{i}",
                                                   id=f"livecounts-approval-{i}",
                                                   task_queue=console.queue,
                                                   search_attributes=sa) for i in range(3)]
    await waiting[1].terminate(reason="test")
    await waiting[2].cancel()
    for handle, status in [(done[0], "COMPLETED"), (done[1], "COMPLETED"), (failed, "FAILED"),
                           (waiting[1], "TERMINATED"), (waiting[2], "CANCELED")]:
        await status_is(handle, status)

    await open_list(page, console, "livecounts")
    chip = page.locator(".counts a")
    await expect(chip).to_have_count(6)  # All, and each status some run has (RUNNING always)
    want = {"ALL": 6, "RUNNING": 1, "COMPLETED": 2, "FAILED": 1, "TERMINATED": 1,
            "CANCELED": 1}
    for status, n in want.items():
        await expect(page.locator(f'.counts a[data-status="{status}"] b')).to_have_text(str(n))
    fetched: list[str] = await page.evaluate("window.__fetched")
    counts = [u for u in fetched if "/workflow-count" in u]
    assert len(counts) == 1, counts
    assert "group_by=status" in counts[0]


async def test_a_live_refresh_waits_for_a_load_still_under_way(console: Console,
                                                                page: Page) -> None:
    """On a server slower than the refresh interval: the first load's counts are held back
    while a refresh comes due (the clock's jump ahead fires it), and it waits for that load
    rather than cut it short and ask again (which, on such a server, would keep any load
    from finishing)."""
    sa = {"suite": "liveslow"}
    await console.client.execute_workflow(Greet.run, {"name": "n"}, id="liveslow-greet",
                                          task_queue=console.queue, search_attributes=sa)
    release = asyncio.Event()
    held: list[str] = []

    async def hold(route: Route) -> None:
        held.append(route.request.url)
        await release.wait()
        await route.continue_()

    await page.route(re.compile(r"/workflow-count\?"), hold)
    await open_list(page, console, "liveslow")
    await page.clock.run_for(LIVE_MS)
    release.set()
    await expect(page.locator('.counts a[data-status="ALL"] b')).to_have_text("1")
    await expect(page.locator("table.list tbody tr")).to_have_count(1)
    assert len(held) == 1, held
    assert len(await list_fetches(page)) == 1


async def test_an_unchanged_refresh_redraws_nothing_and_a_change_one_row(
        console: Console, page: Page) -> None:
    sa = {"suite": "liverows"}
    for i in range(3):
        await console.client.execute_workflow(Greet.run, {"name": f"n{i}"},
                                              id=f"liverows-greet-{i}",
                                              task_queue=console.queue, search_attributes=sa)
    await open_list(page, console, "liverows")
    rows = page.locator("table.list tbody tr")
    await expect(rows).to_have_count(3)
    await expect(page.locator('.counts a[data-status="ALL"] b')).to_have_text("3")
    await page.evaluate(OBSERVE)

    # Every run closed: nothing may change at all, over eight refreshes (counts included),
    # and what the page draws of the time it checked changes once a minute only.
    await page.evaluate("""() => new MutationObserver((r) => { window.__checkedText =
        (window.__checkedText || 0) + r.length; }).observe(document.querySelector("#checked"),
        {childList: true, characterData: true, subtree: true})""")
    for _ in range(8):
        assert await live_refresh(page) == 304
    assert await page.evaluate("window.__mutations") == []
    assert await page.evaluate("window.__checkedText || 0") <= 1
    assert await page.evaluate(
        "window.__rows.every((r, i) => r.isConnected"
        " && r === document.querySelectorAll('table.list tbody tr')[i])")

    # A running run joins: the page draws its row and leaves the others' elements alone.
    approval = await console.client.start_workflow(Approval.run, "o-1", id="liverows-approval",
                                                   task_queue=console.queue,
                                                   search_attributes=sa)
    assert await live_refresh(page) == 200
    await expect(rows).to_have_count(4)
    await expect(rows.first).to_contain_text("liverows-approval")
    await expect(rows.first.locator(".badge")).to_have_text("RUNNING")
    all_runs = page.locator('.counts a[data-status="ALL"] b')
    for _ in range(4):  # the counts follow within four refreshes
        if await all_runs.inner_text() == "4":
            break
        await live_refresh(page)
    await expect(all_runs).to_have_text("4")
    await page.evaluate(OBSERVE)
    for _ in range(8):
        assert await live_refresh(page) == 304
    mutations: list[dict[str, Any]] = await page.evaluate("window.__mutations")
    # Only the running run's duration moves (its text, in place: cell 6 of row 0), and
    # past its first minute (the page's clock runs 5 minutes ahead) once a minute at most.
    assert {(m["type"], m["row"], m["cell"]) for m in mutations} <= {("characterData", 0, 6)}
    assert len(mutations) <= 1
    await expect(rows.first.locator("td").nth(6)).to_have_text(re.compile(r"^\d+ min$"))

    # Its status changes: that row alone is drawn again, in its place.
    await approval.signal(Approval.approve, "ann")
    await status_is(approval, "COMPLETED")
    assert await live_refresh(page) == 200
    await expect(rows.first.locator(".badge")).to_have_text("COMPLETED")
    assert await page.evaluate(
        "(() => { const now = [...document.querySelectorAll('table.list tbody tr')];"
        " return now.length === 4 && now[0] !== window.__rows[0]"
        " && [1, 2, 3].every((i) => now[i] === window.__rows[i]); })()")


async def test_a_hidden_tab_stops_polling_and_refreshes_when_shown(
        console: Console, page: Page) -> None:
    await console.client.execute_workflow(Greet.run, {"name": "v"}, id="livehidden-1",
                                          task_queue=console.queue,
                                          search_attributes={"suite": "livehidden"})
    await open_list(page, console, "livehidden")
    await expect(page.locator("table.list tbody tr")).to_have_count(1)
    await live_refresh(page)  # polling runs while the tab is shown

    await page.evaluate(SET_HIDDEN, True)
    before = len(await list_fetches(page))
    await page.clock.run_for(10 * LIVE_MS)
    assert len(await list_fetches(page)) == before  # no request while hidden

    shown_at = await checked(page).get_attribute("data-checked")
    await page.evaluate(SET_HIDDEN, False)  # at once, without the clock moving
    await page.wait_for_function("(n) => window.__fetched.filter((u) =>"
                                 " u.includes('/namespaces/default/workflows?')).length > n",
                                 arg=before)
    await refreshed(page, shown_at)
    await live_refresh(page)  # and it carries on
    assert len(await list_fetches(page)) == before + 2

    # The "pause" control still stops it, shown or not.
    await page.get_by_role("button", name="Live: on (pause)").click()
    paused = len(await list_fetches(page))
    await page.clock.run_for(10 * LIVE_MS)
    await page.evaluate(SET_HIDDEN, True)
    await page.evaluate(SET_HIDDEN, False)
    assert len(await list_fetches(page)) == paused
    await page.get_by_role("button", name="Live: paused (resume)").click()
    await page.wait_for_function("(n) => window.__fetched.filter((u) =>"
                                 " u.includes('/namespaces/default/workflows?')).length > n",
                                 arg=paused)
