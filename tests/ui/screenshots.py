"""The console's screenshots in docs/ (docs/console.md and the README show them), taken from
a real server and worker with a small workload, in Debian's chromium at 1280x800.

Run by hand after changing how a page looks (not part of the test run)::

    python -m tests.ui.screenshots            # writes docs/console-*.png
    python -m tests.ui.screenshots OUT_DIR
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import sysconfig
from pathlib import Path

from playwright.async_api import Page, async_playwright, expect

from plait import Client, Worker
from plait.errors import WorkflowFailureError
from plait.testing import WorkflowEnvironment
from tests.ui.conftest import CHROMIUM
from tests.ui.workload import ACTIVITIES, WORKFLOWS, Approval, Charge, Counter, Greet, Retrying

QUEUE = "orders"
ROOT = Path(__file__).resolve().parents[2]
# The traces name files on the machine that took the pictures: shown as a deployment's.
SHORT_PATHS = """([root, stdlib]) => {
  for (const pre of document.querySelectorAll("pre.trace")) {
    pre.textContent = pre.textContent.replaceAll(root + "/tests/ui/", "/srv/shop/")
      .replaceAll(root + "/src/", "/usr/lib/python3/site-packages/")
      .replaceAll(stdlib + "/", "/usr/lib/python3.11/");
  }
}"""
SIZE = {"width": 1280, "height": 800}


async def workload(client: Client) -> None:
    """A few runs of each kind: completed, failed, waiting, retrying, a counter with signals."""
    people = ["ada", "grace", "alan", "edsger", "barbara", "ken"]
    for i, who in enumerate(people):
        await client.execute_workflow(
            Greet.run,
            {"name": who, "tier": i % 3},
            id=f"greet-{who}",
            task_queue=QUEUE,
            search_attributes={"customer": who},
        )
    charge = await client.start_workflow(
        Charge.run, "4000-0000-0000-0002", id="charge-1042", task_queue=QUEUE
    )
    with contextlib.suppress(WorkflowFailureError):  # it fails on purpose: the page shows why
        await charge.result()
    for i in range(3):
        await client.start_workflow(
            Approval.run, f"order-{i}", id=f"approval-{i}", task_queue=QUEUE
        )
    await client.start_workflow(Retrying.run, "order-77", id="registry-77", task_queue=QUEUE)
    counter = await client.start_workflow(Counter.run, id="counter-7", task_queue=QUEUE)
    for n, total in ((1, 1), (10, 11), (5, 16)):
        await counter.signal(Counter.add, n)
        for _ in range(200):
            if await counter.query(Counter.value) == total:
                break
            await asyncio.sleep(0.05)
    await client.create_schedule(
        "nightly-report",
        Greet.run,
        {"name": "report"},
        task_queue=QUEUE,
        cron="0 2 * * *",
        note="the nightly report for the ops team",
    )
    await client.get_schedule_handle("nightly-report").trigger()


async def shoot(page: Page, base: str, out: Path) -> list[Path]:
    shots = []

    async def save(name: str) -> None:
        path = out / f"console-{name}.png"
        await page.screenshot(path=str(path))
        shots.append(path)

    await page.goto(f"{base}/namespaces/default/workflows")
    await expect(page.locator("table.list tbody tr").first).to_be_visible()
    await expect(page.locator('.counts a[data-status="ALL"]')).to_contain_text("1")
    await save("workflows")

    await page.goto(f"{base}/namespaces/default/workflows/charge-1042")
    await expect(page.locator(".chain pre.trace").first).to_be_visible()
    await expect(page.locator(".timeline .bar")).to_have_count(1)
    # The cause's trace open, the wrapper's folded: the failure and the timeline in one view.
    await page.locator(".chain > .failure").first.locator("summary").first.click()
    await page.evaluate(SHORT_PATHS, [str(ROOT), sysconfig.get_paths()["stdlib"]])
    await page.evaluate("document.querySelector('.chain').closest('section').scrollIntoView()")
    await save("failed")

    await page.goto(f"{base}/namespaces/default/schedules/nightly-report")
    await expect(page.locator("ol.times li").first).to_be_visible()
    await save("schedule")

    await page.goto(f"{base}/namespaces/default/workflows/counter-7")
    await expect(page.locator("section.waiting pre.trace")).to_be_visible()
    events = page.locator("ol.events > li")
    tasks = events.filter(has_text="WORKFLOW_TASK_COMPLETED")
    await expect(tasks).to_have_count(4)
    first = (
        events.filter(has_text="WORKFLOW_EXECUTION_SIGNALED").nth(1).locator("button.state-here")
    )
    await first.click()
    await page.locator(".state-at input.state-name").first.fill("value")
    await page.locator(".state-at").first.get_by_role("button", name="Show state").click()
    await expect(page.locator(".state-at pre").first).to_be_visible()
    await tasks.nth(3).locator("button.state-here").click()
    await expect(page.locator(".state-at pre")).to_have_count(2)
    await page.evaluate(SHORT_PATHS, [str(ROOT), sysconfig.get_paths()["stdlib"]])
    await page.evaluate("document.getElementById('h-history').scrollIntoView()")
    await save("state-at")
    return shots


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    async with (
        WorkflowEnvironment.start_local() as env,
        Worker(
            env.client,
            task_queue=QUEUE,
            workflows=WORKFLOWS,
            activities=ACTIVITIES,
            identity="orders-worker-1",
        ),
    ):
        await workload(env.client)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM)
            page = await browser.new_page(viewport=SIZE)
            for path in await shoot(page, env.address.rstrip("/"), out):
                print(path, path.stat().st_size, "bytes")
            await browser.close()


if __name__ == "__main__":
    asyncio.run(
        main(
            Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "docs"
        )
    )
