"""What the server answers for the console: every page URL gets the page, the scripts and
styles come from the server with their content types and cache headers, nothing is fetched
from elsewhere, and the layout holds at 800 px."""

from __future__ import annotations

import re

import aiohttp
import pytest
from playwright.async_api import Page, expect

from tests.ui.conftest import Console, Recorded
from tests.ui.workload import Greet

pytestmark = pytest.mark.asyncio(loop_scope="session")

PAGES = [
    "/",
    "/namespaces/default/workflows",
    "/namespaces/default/workflows/some-id",
    "/namespaces/default/workflows/some-id/some-run",
    "/namespaces/default/workflows/a%2Fb%3Fc%23d",
    "/namespaces/default/schedules",
    "/namespaces/default/schedules/s-1",
    "/namespaces/default/task-queues/team%2Forders",
    "/namespaces/default/batches",
]


async def test_pages_and_assets_over_http(console: Console) -> None:
    async with aiohttp.ClientSession() as http:
        for path in PAGES:
            async with http.get(console.url(path)) as r:
                assert r.status == 200, path
                assert r.content_type == "text/html"
                assert r.headers["Cache-Control"] == "no-cache"
                html = await r.text()
        assets = re.findall(r'(?:href|src)="(/ui/[0-9a-f]+/[a-z]+\.(?:js|css))"', html)
        assert {a.rsplit(".", 1)[1] for a in assets} == {"js", "css"}
        for a in assets:
            async with http.get(console.url(a)) as r:
                assert r.status == 200
                assert r.content_type == ("text/css" if a.endswith(".css")
                                          else "text/javascript")
                assert "immutable" in r.headers["Cache-Control"]
                assert r.headers["X-Content-Type-Options"] == "nosniff"
        version = assets[0].split("/")[2]
        async with http.get(console.url(f"/ui/{version}/workflow.js")) as r:
            assert r.status == 200 and "immutable" in r.headers["Cache-Control"]
        async with http.get(console.url("/ui/old/workflow.js")) as r:
            assert r.status == 200 and r.headers["Cache-Control"] == "no-cache"
        for missing in (f"/ui/{version}/nope.js", f"/ui/{version}/__init__.py",
                        "/namespaces/default/nothing", "/namespaces/default/workflows/a/b/c"):
            async with http.get(console.url(missing)) as r:
                assert r.status == 404, missing
                assert set((await r.json())["error"]) == {"code", "message"}


async def test_every_request_stays_on_the_server(console: Console, page: Page,
                                                 recorded: Recorded) -> None:
    await console.client.execute_workflow(Greet.run, {"name": "o"}, id="assets-greet",
                                          task_queue=console.queue)
    await page.goto(console.url("/"))
    await expect(page.locator("h1")).to_have_text("Workflows")
    assert page.url == console.url("/namespaces/default/workflows")
    await page.evaluate("window.loadedOnce = true")
    await page.get_by_role("link", name="assets-greet").first.click()
    await expect(page.locator("h1")).to_have_text("assets-greet")
    await page.get_by_role("link", name="Schedules").click()
    await expect(page.locator("h1")).to_have_text("Schedules")
    # Links inside the console do not reload the page.
    assert await page.evaluate("window.loadedOnce") is True
    await page.goto(console.url(f"/namespaces/default/task-queues/{console.queue}"))
    await expect(page.locator("h1")).to_have_text(console.queue)
    # The queue page reads the queue's description (pollers and backlog) from the API.
    assert any(f"/task-queues/{console.queue}" in u for u in recorded.requests)
    assert all(u.startswith(console.origin + "/") for u in recorded.requests)
    # (the page fixture checks the same for every test)


async def test_usable_at_800_px(console: Console, page: Page) -> None:
    await page.set_viewport_size({"width": 800, "height": 800})
    await console.client.execute_workflow(Greet.run, {"name": "narrow " * 30},
                                          id="assets-narrow", task_queue=console.queue)
    for path in ("/namespaces/default/workflows", "/namespaces/default/workflows/assets-narrow",
                 "/namespaces/default/schedules", "/namespaces/default/batches"):
        await page.goto(console.url(path))
        await expect(page.locator("h1")).to_be_visible()
        await expect(page.locator("main table, main ol.events").first).to_be_visible()
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 800, (path, width)
    # The state at an event opens under it, and the settings dialog, both within the width.
    await page.goto(console.url("/namespaces/default/workflows/assets-narrow"))
    await page.get_by_role("button", name="State after event 4", exact=True).click()
    await expect(page.locator(".state-at")).to_be_visible()
    await page.get_by_role("button", name="Settings").click()
    await expect(page.locator("dialog.settings")).to_be_visible()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 800


async def test_namespace_switcher(console: Console, page: Page) -> None:
    await page.goto(console.url("/namespaces/default/workflows"))
    await page.get_by_label("Namespace", exact=True).fill("nowhere")
    await page.get_by_role("button", name="Switch").click()
    await page.wait_for_url(re.compile(r"/namespaces/nowhere/workflows$"))
    # Namespaces are created, not implied: the console shows the server's refusal, which
    # names the namespaces that exist.
    refusal = page.locator("main .notice.error")
    await expect(refusal).to_contain_text(
        "namespace 'nowhere' does not exist; known namespaces: default")
    await expect(refusal).to_contain_text("namespace_not_found")
    await expect(page.get_by_role("link", name="Schedules")).to_have_attribute(
        "href", "/namespaces/nowhere/schedules")
    await page.go_back()
    await expect(page.get_by_label("Namespace", exact=True)).to_have_value("default")

