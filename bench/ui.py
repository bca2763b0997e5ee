"""The web console on big runs, measured in a real browser.

``python -m bench.ui [--quick] [--only history,list,w1,refresh] [--out PATH]``

Four parts, each against its own real server (``python -m plait server``, SQLite):

* **history**: one run with ``--events`` history events (default 50,000) and
  ``--activities`` activity attempts (2,000): an in-process worker runs the activities (100
  at a time), then stops, and the rest of the history is signals sent 64 at a time (with no
  worker polling, each signal is one event). Its page is opened in Debian's chromium; the
  harness times the summary's appearance and the whole history's arrival, and records the
  page's long tasks (``PerformanceObserver``, type ``longtask``: main-thread work over
  50 ms) while it loads, while it sits open (live refresh), while the page is scrolled to its
  end and back (with the longest gap between animation frames), and while it goes to the
  history's last event and back to its first.
* **list**: ``--runs`` closed runs (default 100,000) written straight through the store
  (``bench.list_scale``'s rows, 1,000 per transaction), then the workflow list page: time to
  its first page (rows and per-status counts shown), to each of five next pages, and to a
  type filter's rows; each next to the same API calls made directly over HTTP.
* **w1** and **refresh**: what open, live-updating list pages cost W1 and the server
  (:mod:`bench.ui_live`, which also says how ``--baseline-src`` measures another tree, say
  main's, side by side).

The results go to stdout as Markdown (``--out`` writes them to a file too). ``--quick`` is
a smoke run of a few minutes: 5,000 events, 200 attempts, 5,000 runs, one round of a W1 of
200 workflows, a refresh database of 1,000 runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeout

from bench import ui_live
from bench.procs import Run
from bench.ui_common import CHROMIUM, NS, fill_runs, machine, note
from plait import Client, Worker, activity, workflow

QUEUE = "ui-bench"

# Collects every long task's duration (ms) from before the page's own scripts run.
LONGTASKS = """
window.__longtasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longtasks.push(e.duration);
}).observe({type: "longtask", buffered: true});
"""

# Scrolls the page to its end and back in `steps` steps, one per animation frame; returns
# the longest gap between frames (ms) and the whole time.
SCROLL = """
async (steps) => {
  const el = document.scrollingElement;
  const frame = () => new Promise((r) => requestAnimationFrame(r));
  const gaps = [];
  const t0 = performance.now();
  let last = t0;
  const at = async (y) => {
    el.scrollTop = y;
    await frame();
    const t = performance.now();
    gaps.push(t - last);
    last = t;
  };
  for (let i = 0; i <= steps; i++) await at(el.scrollHeight * i / steps);
  for (let i = steps; i >= 0; i--) await at(el.scrollHeight * i / steps);
  return {max_gap_ms: Math.max(...gaps), total_ms: performance.now() - t0};
}
"""


# -- the big run --------------------------------------------------------------------------------
@activity.defn
async def step(x: int) -> int:
    """A no-op activity: one attempt each."""
    return x


@workflow.defn
class BigRun:
    """Runs ``activities`` no-op activities, 100 at a time, then waits for ever, counting the
    signals it gets."""

    def __init__(self) -> None:
        self.done = 0
        self.pokes = 0

    @workflow.run
    async def run(self, activities: int) -> int:
        timeout = timedelta(seconds=60)
        for lo in range(0, activities, 100):
            hi = min(lo + 100, activities)
            await asyncio.gather(
                *(
                    workflow.execute_activity(step, i, start_to_close_timeout=timeout)
                    for i in range(lo, hi)
                )
            )
            self.done = hi
        await workflow.wait_condition(lambda: False)
        return self.done

    @workflow.signal
    def poke(self, n: int) -> None:
        self.pokes += 1

    @workflow.query
    def progress(self) -> int:
        return self.done


async def build_big_run(
    client: Client, activities: int, events: int
) -> tuple[str, dict[str, float]]:
    """The big run's workflow id, and how long each part of building it took (s)."""
    wid = f"big-{int(time.time())}"
    t0 = time.perf_counter()
    async with Worker(
        client,
        task_queue=QUEUE,
        workflows=[BigRun],
        activities=[step],
        max_concurrent_activities=200,
    ):
        handle = await client.start_workflow(BigRun.run, activities, id=wid, task_queue=QUEUE)
        while await handle.query(BigRun.progress) < activities:
            await asyncio.sleep(0.5)
        # The workflow task after the last batch ends (the history stops growing), then the
        # worker goes: signals now add one event each (the workflow task they schedule waits
        # for a worker that never comes).
        seen = -1
        while (n := (await handle.describe()).history_length) != seen:
            seen = n
            await asyncio.sleep(1.0)
    t_acts = time.perf_counter() - t0
    have = (await handle.describe()).history_length
    todo = max(0, events - have)
    sent = 0

    async def sender() -> None:
        nonlocal sent
        while sent < todo:
            sent += 1
            await handle.signal(BigRun.poke, sent)

    await asyncio.gather(*(sender() for _ in range(64)))
    return wid, {
        "activities_s": t_acts,
        "signals_s": time.perf_counter() - t0 - t_acts,
        "signals": float(todo),
    }


async def longtasks(page: Page) -> list[float]:
    """The long tasks since the last call (ms), and forget them."""
    out: list[float] = await page.evaluate(
        "() => { const l = window.__longtasks; window.__longtasks = []; return l; }"
    )
    return out


def lt_stats(tasks: list[float]) -> str:
    if not tasks:
        return "none"
    return f"{len(tasks)} tasks, longest {max(tasks):,.0f} ms, total {sum(tasks):,.0f} ms"


async def measure_history(
    browser: Browser, address: str, wid: str, total: int, out: list[str]
) -> None:
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    await context.add_init_script(LONGTASKS)
    page = await context.new_page()
    url = f"{address}/namespaces/{NS}/workflows/{wid}"
    t0 = time.perf_counter()
    await page.goto(url, wait_until="commit")
    await page.locator("#h-summary").wait_for(timeout=300_000)
    note(out, f"| summary shown | {time.perf_counter() - t0:.2f} s |")
    try:
        await page.wait_for_function(
            "(n) => { const h = document.querySelector('#h-history');"
            " return Boolean(h && h.textContent.includes(`(${n} events)`)); }",
            arg=total,
            timeout=300_000,
        )
        arrived = f"{time.perf_counter() - t0:.2f} s"
    except PlaywrightTimeout:
        arrived = "not within 300 s"
    note(out, f"| whole history arrived (header says {total:,} events) | {arrived} |")
    note(out, f"| long tasks while loading | {lt_stats(await longtasks(page))} |")
    await page.wait_for_timeout(6000)  # three live refreshes of a running run
    note(out, f"| long tasks in 6 s open (live refresh) | {lt_stats(await longtasks(page))} |")
    scroll = await page.evaluate(SCROLL, 60)
    note(
        out,
        f"| scroll page to end and back (60 frames each way) | "
        f"{scroll['total_ms']:,.0f} ms, longest frame gap {scroll['max_gap_ms']:,.0f} ms; "
        f"long tasks: {lt_stats(await longtasks(page))} |",
    )
    t1 = time.perf_counter()
    reached = await reach_last_event(page, total)
    note(
        out,
        f"| show the last event ({reached}) | "
        f"{time.perf_counter() - t1:.2f} s; long tasks: {lt_stats(await longtasks(page))} |",
    )
    t2 = time.perf_counter()
    await back_to_first(page)
    note(
        out,
        f"| back to the first event | {time.perf_counter() - t2:.2f} s; "
        f"long tasks: {lt_stats(await longtasks(page))} |",
    )
    await context.close()


async def reach_last_event(page: Page, total: int) -> str:
    """Bring the history's last event into the page the way a user would: its "Last" page
    button if it has one, else "Show N more" until it shows. Says how it went."""
    give_up = time.monotonic() + 120
    last = page.locator(f".events .eid >> text='{total}'")
    clicks = 0
    try:
        while time.monotonic() < give_up:
            if await last.count():
                await last.first.scroll_into_view_if_needed()
                return f"reached, {clicks} clicks"
            jump = page.locator("#h-pager button", has_text="Last")
            more = page.locator("section[aria-labelledby=h-history] button", has_text="more of")
            if await jump.count():
                await jump.first.click()
            elif await more.count():
                await more.first.click()
            else:
                return "no control leads there"
            clicks += 1
    except PlaywrightTimeout:
        return f"NOT reached: click {clicks + 1} waited 30 s for the frozen page"
    return f"NOT reached in 120 s ({clicks} clicks)"


async def back_to_first(page: Page) -> None:
    first = page.locator("#h-pager button, #h-pager a", has_text="First")
    if await first.count() and await first.first.is_enabled():
        await first.first.click()
    await page.locator(".events .eid >> text='1'").first.scroll_into_view_if_needed()


async def part_history(browser: Browser, activities: int, events: int) -> list[str]:
    out = ["## A run with a big history", ""]
    run = Run("ui-history", worker_slots=200)
    try:
        await run.start_server()
        client = await Client.connect(run.address)
        try:
            print(f"building a run of {events:,} events...", file=sys.stderr, flush=True)
            wid, built = await build_big_run(client, activities, events)
            d = await client.get_workflow_handle(wid).describe()
        finally:
            await client.close()
        note(
            out,
            f"Built in {built['activities_s']:.0f} s ({activities:,} activities) + "
            f"{built['signals_s']:.0f} s ({built['signals']:,.0f} signals): "
            f"{d.history_length:,} events, {len(d.attempts or []):,} activity attempts, "
            "status RUNNING.",
        )
        out += ["", "| what | measured |", "|---|---|"]
        await measure_history(browser, run.address, wid, d.history_length, out)
    finally:
        run.stop()
        run.cleanup()
    return out


# -- the list ------------------------------------------------------------------------------------
def _get(url: str) -> float:
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as r:
        r.read()
    return (time.perf_counter() - t) * 1000


async def api_ms(address: str, query: str, counts: bool) -> float:
    """The same calls the page makes for one view, straight over HTTP (concurrently, as the
    page makes them): the list, and with ``counts`` the counts per status (one grouped
    request); the median of 5, ms."""
    base = f"{address}/api/v1/namespaces/{NS}"
    urls = [f"{base}/workflows?{query}"]
    if counts:
        flt = "&".join(
            p
            for p in query.split("&")
            if p.split("=")[0] not in ("page_size", "next_page_token", "status")
        )
        urls.append(f"{base}/workflow-count?{flt}&group_by=status")
    times = []
    for _ in range(5):
        t = time.perf_counter()
        await asyncio.gather(*(asyncio.to_thread(_get, u) for u in urls))
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


# The page's own list and count requests since `since` (ms on the page's clock): how many,
# and the wall time from the first one's start to the last one's end.
API_SPAN = """
(since) => {
  const e = performance.getEntriesByType("resource").filter((r) => r.startTime >= since
    && /\\/api\\/v1\\/namespaces\\/[^/]+\\/(workflows|workflow-count)\\?/.test(r.name));
  if (!e.length) return null;
  return {n: e.length,
          span: Math.max(...e.map((r) => r.responseEnd)) - Math.min(...e.map((r) => r.startTime))};
}
"""


async def api_span(page: Page, since: float) -> str:
    r = await page.evaluate(API_SPAN, since)
    return "-" if r is None else f"{r['n']} requests in {r['span']:,.0f} ms"


def _token(address: str, query: str) -> str:
    import json

    with urllib.request.urlopen(
        f"{address}/api/v1/namespaces/{NS}/workflows?{query}", timeout=60
    ) as r:
        return str(json.loads(r.read())["next_page_token"] or "")


async def part_list(browser: Browser, runs: int) -> list[str]:
    out = ["## The workflow list over many runs", ""]
    run = Run("ui-list", worker_slots=1)
    try:
        fill_s = await fill_runs(run.dir / "plait.db", runs)
        await run.start_server()
        out += [
            f"{runs:,} closed runs written through the store in {fill_s:.0f} s.",
            "",
            "| view | page (browser): until the rows show | of which the page's list and "
            "count requests | same API calls (direct) |",
            "|---|---|---|---|",
        ]
        # Both sides measured warm: the database's pages in memory before either asks.
        for q in ("page_size=50", "type=Refund&page_size=50"):
            await api_ms(run.address, q, True)
        context = await browser.new_context(viewport={"width": 1200, "height": 900})
        await context.add_init_script("performance.setResourceTimingBufferSize(100000);")
        page = await context.new_page()
        rows = page.locator("tbody tr")
        t = time.perf_counter()
        await page.goto(f"{run.address}/namespaces/{NS}/workflows", wait_until="commit")
        await rows.nth(49).wait_for()
        await page.locator(".counts a[data-status=ALL]").wait_for()
        first_ms = (time.perf_counter() - t) * 1000
        out.append(
            f"| first page (50 rows + counts per status) | {first_ms:,.0f} ms | "
            f"{await api_span(page, 0)} | "
            f"{await api_ms(run.address, 'page_size=50', True):,.0f} ms |"
        )
        query = "page_size=50"
        browser_next, api_next, spans = [], [], []
        for _ in range(5):
            top = await rows.first.inner_text()
            mark = await page.evaluate("performance.now()")
            t = time.perf_counter()
            await page.locator("a[rel=next]").click()
            await page.wait_for_function(
                "(top) => { const r = document.querySelectorAll('tbody tr');"
                " return r.length === 50 && r[0].innerText !== top; }",
                arg=top,
            )
            browser_next.append((time.perf_counter() - t) * 1000)
            spans.append(await api_span(page, mark))
            token = await asyncio.to_thread(_token, run.address, query)
            query = f"page_size=50&next_page_token={token}"
            api_next.append(await api_ms(run.address, query, False))
        out.append(
            f"| next page (5 times, median) | {statistics.median(browser_next):,.0f} ms | "
            f"{'; '.join(spans)} | "
            f"{statistics.median(api_next):,.0f} ms |"
        )
        await page.goto(f"{run.address}/namespaces/{NS}/workflows", wait_until="commit")
        await rows.nth(49).wait_for()
        mark = await page.evaluate("performance.now()")
        t = time.perf_counter()
        await page.locator("#f-type").fill("Refund")
        await page.wait_for_function(
            "() => { const r = [...document.querySelectorAll('tbody tr')];"
            " return r.length === 50 && r.every((x) => x.innerText.includes('Refund'))"
            " && location.search.includes('type=Refund'); }"
        )
        filter_ms = (time.perf_counter() - t) * 1000
        out.append(
            f"| type filter typed (includes the input's 300 ms debounce) | {filter_ms:,.0f} ms | "
            f"{await api_span(page, mark)} | "
            f"{await api_ms(run.address, 'type=Refund&page_size=50', True):,.0f} ms |"
        )
        await context.close()
    finally:
        run.stop()
        run.cleanup()
    return out


# -- the command ---------------------------------------------------------------------------------
async def main_async(args: argparse.Namespace) -> int:
    parts = args.only.split(",")
    out = [
        f"# The console on big runs ({'quick' if args.quick else 'full'})",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {machine()}; chromium "
        f"(headless) through Playwright.",
        "",
    ]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM)
        try:
            if "history" in parts:
                out += await part_history(browser, args.activities, args.events) + [""]
                print("\n".join(out), flush=True)
            if "list" in parts:
                out += await part_list(browser, args.runs) + [""]
                print("\n".join(out[-12:]), flush=True)
            if "w1" in parts:
                out += await ui_live.part_w1(browser, args) + [""]
            if "refresh" in parts:
                out += await ui_live.part_refresh(args) + [""]
        finally:
            await browser.close()
    text = "\n".join(out)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.ui",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="a smoke run (a few minutes)")
    p.add_argument("--only", default="history,list,w1,refresh")
    p.add_argument("--events", type=int)
    p.add_argument("--activities", type=int)
    p.add_argument("--runs", type=int)
    p.add_argument("--rounds", type=int)
    ui_live.add_arguments(p)
    p.add_argument("--out")
    args = p.parse_args()
    full = {"events": 50_000, "activities": 2_000, "runs": 100_000, "rounds": 3,
            "w1_size": 1000, "refresh_runs": [1000, 100_000]}
    quick = {"events": 5_000, "activities": 200, "runs": 5_000, "rounds": 1, "w1_size": 200,
             "refresh_runs": [1000]}
    for k, v in (quick if args.quick else full).items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
