"""What open, live-updating console pages cost: W1 beside 20 of them, and the server's CPU
for one refresh. Two parts of ``python -m bench.ui`` (``--only w1,refresh``).

* **w1**: ``bench core``'s W1 (``--w1-size`` workflows, started at once), run in this
  process alternately with no page, with ``--pages`` live workflow list pages open in
  chromium (one browser context each), and with the requests those pages make sent over
  HTTP from this process without a browser. ``--rounds`` rounds, interleaved; medians.
* **refresh**: a server over ``--refresh-runs`` closed runs, asked again and again for one
  kind of request at a time (the list, the counts; with and without an ETag that still
  holds); the server's CPU per request, the median of ``--rounds`` interleaved rounds.

``--baseline-src DIR`` names a second tree's ``src`` directory (for instance main's, written
out with ``git archive main | tar -x -C OUT``; then ``OUT/src``). Every configuration then
runs on both trees in each round, one right after the other: servers and workers started
for the baseline import ``plait`` from there, so its console and its server are measured,
and its pages' requests are the ones its console makes (found out by asking the server).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import shutil
import statistics
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager

import aiohttp
from playwright.async_api import Browser, BrowserContext

from bench import core
from bench.procs import Run, cpu_seconds
from bench.proctree import tree_cpu_s
from bench.quiet import wait_quiet
from bench.ui_common import NS, fill_runs, note

__all__ = ["Tree", "add_arguments", "part_refresh", "part_w1", "trees"]

IDLE_S = 10.0
LIVE_S = 3.0  # the list's live refresh (workflows.js LIVE_MS)
COUNT_EVERY = 4  # counts on every fourth refresh (workflows.js COUNT_EVERY)
STATUSES = ["RUNNING", "COMPLETED", "FAILED", "CANCELED", "TERMINATED", "CONTINUED_AS_NEW",
            "TIMED_OUT"]


@dataclasses.dataclass(frozen=True)
class Tree:
    """The code a run's server and worker import: this process's, or another tree's."""

    label: str
    src: str | None = None


def trees(args: argparse.Namespace) -> list[Tree]:
    if not args.baseline_src:
        return [Tree("this tree")]
    return [Tree("before", os.path.abspath(args.baseline_src)), Tree("after")]


@contextlib.contextmanager
def plait_from(tree: Tree) -> Iterator[None]:
    """Servers and workers started inside import ``plait`` from ``tree`` (``bench.procs``
    puts the repository first on their PYTHONPATH, then this process's entries)."""
    if tree.src is None:
        yield
        return
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [tree.src, old]))
    try:
        yield
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old


def grouped_counts(address: str) -> bool:
    """Whether the server answers the counts per status in one request (this tree's
    console asks that way; an older one asks once per status)."""
    url = f"{address}/api/v1/namespaces/{NS}/workflow-count?group_by=status"
    with urllib.request.urlopen(url, timeout=60) as r:
        return b"by_status" in r.read()


# -- what a page asks for, without a browser ------------------------------------------------------
def _get(url: str, etag: str | None = None) -> tuple[int, str | None]:
    req = urllib.request.Request(url, headers={"If-None-Match": etag} if etag else {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            r.read()
            return r.status, r.headers.get("ETag")
    except urllib.error.HTTPError as e:
        if e.code != 304:
            raise
        return 304, e.headers.get("ETag")


@asynccontextmanager
async def polling(address: str, n: int, stats: dict[str, int]) -> AsyncIterator[None]:
    """The requests ``n`` live list pages make, without a browser: each "page" asks for the
    first 50 runs every ``LIVE_S`` seconds, and for the counts on its first load and every
    fourth refresh after, as the server's own console does (``grouped_counts``): one grouped
    request with the ETag of the last answer, or one request per status. Separates the
    server's cost of open pages from the browser's on a machine where both share the cores.
    ``stats`` counts the answers by status ("200", "304")."""
    base = f"{address}/api/v1/namespaces/{NS}"
    grouped = await asyncio.to_thread(grouped_counts, address)
    counts = ([f"{base}/workflow-count?group_by=status"] if grouped else
              [f"{base}/workflow-count?" + (f"status={s}" if s else "") for s in ["", *STATUSES]])
    stop = asyncio.Event()

    async def page(i: int) -> None:
        await asyncio.sleep(LIVE_S * i / n)  # opened one after another
        tags: dict[str, str | None] = {}
        tick = 0

        async def ask(url: str) -> None:
            status, tag = await asyncio.to_thread(_get, url, tags.get(url) if grouped else None)
            tags[url] = tag
            stats[str(status)] = stats.get(str(status), 0) + 1

        while not stop.is_set():
            urls = [f"{base}/workflows?page_size=50", *(counts if tick % COUNT_EVERY == 0 else [])]
            tick += 1
            await asyncio.gather(*(ask(u) for u in urls))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), LIVE_S)

    tasks = [asyncio.create_task(page(i)) for i in range(n)]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


@asynccontextmanager
async def open_pages(browser: Browser, address: str, n: int) -> AsyncIterator[None]:
    contexts: list[BrowserContext] = []
    try:
        for _ in range(n):
            c = await browser.new_context(viewport={"width": 1200, "height": 900})
            p = await c.new_page()
            await p.goto(f"{address}/namespaces/{NS}/workflows")
            contexts.append(c)
        for c in contexts:
            await c.pages[0].locator(".counts a[data-status=ALL]").wait_for()
        yield
    finally:
        for c in contexts:
            await c.close()


def browser_cpu_s(*not_these: int) -> float:
    """CPU seconds of this process's descendants but ``not_these`` (the server and worker):
    chromium's processes and Playwright's driver."""
    me = os.getpid()
    return sum(c for p, c in tree_cpu_s(me).items() if p != me and p not in not_these)


# -- W1 beside the pages ------------------------------------------------------------------------
async def w1_once(browser: Browser, tree: Tree, pages: int, mode: str,
                  size: int) -> dict[str, float]:
    """One W1 repetition of ``bench core`` (``size`` workflows) on ``tree``, with ``pages``
    live list pages open on its server from before the workload to after it (``mode``
    "browser": in chromium; "http": their requests only, from this process). Before the
    workload, the server's and the browser's CPU over ``IDLE_S`` seconds with the pages open
    (and nothing else) are measured too."""
    p = argparse.ArgumentParser()
    core.add_arguments(p)
    args = p.parse_args(["--only", "W1", "--repeat", "1", "--histories", "0"])
    extra: dict[str, float] = {}
    stats: dict[str, int] = {}

    async def with_pages(run: Run) -> Callable[[], Awaitable[None]]:
        assert run.server is not None and run.worker is not None
        extra["grouped"] = float(await asyncio.to_thread(grouped_counts, run.address))
        cm = (open_pages(browser, run.address, pages) if mode == "browser"
              else polling(run.address, pages, stats))
        await cm.__aenter__()
        await asyncio.sleep(3.0)  # the pages' first loads are over
        c0 = cpu_seconds(run.server.pid) or 0.0
        b0 = browser_cpu_s(run.server.pid, run.worker.pid)
        await asyncio.sleep(IDLE_S)
        extra["idle_server_cpu_pct"] = 100 * ((cpu_seconds(run.server.pid) or 0.0) - c0) / IDLE_S
        extra["idle_browser_cpu_pct"] = 100 * (
            browser_cpu_s(run.server.pid, run.worker.pid) - b0) / IDLE_S
        b0 = browser_cpu_s(run.server.pid, run.worker.pid)
        stats.clear()

        async def close() -> None:
            assert run.server is not None and run.worker is not None
            extra["browser_cpu_s"] = browser_cpu_s(run.server.pid, run.worker.pid) - b0
            extra["answers_200"] = float(stats.get("200", 0))
            extra["answers_304"] = float(stats.get("304", 0))
            await cm.__aexit__(None, None, None)

        return close

    with plait_from(tree):
        r = await core.run_once("W1", 0, size, args, on_started=with_pages)
    if not r["ok"]:
        raise RuntimeError(f"W1 failed: {r['errors']}")
    m = r["metrics"]
    browser_s = extra.get("browser_cpu_s", 0.0)
    return {
        "throughput": m["throughput"],
        "wall_s": m["wall_s"],
        "server_cpu_ms_per_wf": 1000 * m["server_cpu_s"] / size,
        "worker_cpu_ms_per_wf": 1000 * m["worker_cpu_s"] / size,
        "p50_ms": m.get("p50_ms", float("nan")),
        "other_cpu_s": max(0.0, m.get("other_cpu_s", 0.0) - browser_s),
        "browser_cpu_s": browser_s,
        "browser_cpu_pct": 100 * browser_s / m["wall_s"],
        "idle_server_cpu_pct": extra.get("idle_server_cpu_pct", 0.0),
        "idle_browser_cpu_pct": extra.get("idle_browser_cpu_pct", 0.0) if mode == "browser"
        else 0.0,
        "grouped": extra.get("grouped", 0.0),
        "answers_200": extra.get("answers_200", 0.0),
        "answers_304": extra.get("answers_304", 0.0),
    }


async def part_w1(browser: Browser, args: argparse.Namespace) -> list[str]:
    out = ["## W1 with and without open console pages", ""]
    every = {
        "none": ("no pages", (0, "browser")),
        "browser": (f"{args.pages} list pages in chromium", (args.pages, "browser")),
        "http": (f"{args.pages} pages' requests, no browser", (args.pages, "http")),
    }
    configs = dict(every[m] for m in args.w1_modes.split(","))
    sides = trees(args)
    res: dict[tuple[str, str], list[dict[str, float]]] = {
        (k, t.label): [] for k in configs for t in sides}
    for rnd in range(args.rounds):
        for k, (n, mode) in configs.items():
            for tree in sides:
                busy = await wait_quiet(10.0, 60.0) if args.quiet else float("nan")
                r = await w1_once(browser, tree, n, mode, args.w1_size)
                r["busy_before_pct"] = busy
                res[(k, tree.label)].append(r)
                note(out, f"<!-- round {rnd + 1}, {k}, {tree.label}: "
                          f"{r['throughput']:.0f} wf/s, server {r['server_cpu_ms_per_wf']:.3f} "
                          f"ms/wf, browser {r['browser_cpu_s']:.2f} s, other "
                          f"{r['other_cpu_s']:.1f} s -->")
    out += [
        "",
        f"W1 of {args.w1_size:,} workflows; {args.rounds} rounds, interleaved (in the order "
        "below). Medians (all rounds):",
        "",
        "| | tree | W1 throughput (wf/s), each round | p50 latency | server CPU per workflow "
        "| worker CPU per workflow | browser CPU during W1 (share of a core) | other "
        f"processes' CPU during W1 | pages idle {IDLE_S:.0f} s before W1: server CPU, browser "
        "CPU | the pages' answers during W1 (200 / 304) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (k, label), rs in res.items():
        med = {key: statistics.median(r[key] for r in rs) for key in rs[0]}
        each = ", ".join(f"{r['throughput']:.0f}" for r in rs)
        answers = (f"{med['answers_200']:.0f} / {med['answers_304']:.0f}"
                   if "no browser" in k else "")
        idle = (f"{med['idle_server_cpu_pct']:.1f} %, {med['idle_browser_cpu_pct']:.1f} %"
                if "pages" in k and "no pages" not in k else "")
        out.append(
            f"| {k} | {label} | {med['throughput']:.0f} ({each}) | {med['p50_ms']:.0f} ms | "
            f"{med['server_cpu_ms_per_wf']:.3f} ms | {med['worker_cpu_ms_per_wf']:.3f} ms | "
            f"{med['browser_cpu_s']:.2f} s ({med['browser_cpu_pct']:.0f} %) | "
            f"{med['other_cpu_s']:.1f} s | {idle} | {answers} |")
    return out


# -- the server's CPU per refresh ---------------------------------------------------------------
Ask = Callable[[aiohttp.ClientSession], Awaitable[None]]


async def _expect(s: aiohttp.ClientSession, url: str, status: int,
                  etag: str | None = None) -> str | None:
    async with s.get(url, headers={"If-None-Match": etag} if etag else {}) as r:
        await r.read()
        if r.status != status:
            raise RuntimeError(f"{url}: {r.status}, expected {status}")
        return r.headers.get("ETag")


def kinds(address: str, grouped: bool, tags: dict[str, str]) -> dict[str, Ask]:
    """What one refresh of a list page asks, by kind; ``tags``: the ETags the server gave
    for the list and the grouped counts (what a page holds when nothing changed)."""
    base = f"{address}/api/v1/namespaces/{NS}"
    page, counts = f"{base}/workflows?page_size=50", f"{base}/workflow-count?group_by=status"
    per_status = [f"{base}/workflow-count?" + (f"status={s}" if s else "")
                  for s in ["", *STATUSES]]

    async def eight(s: aiohttp.ClientSession) -> None:
        for u in per_status:
            await _expect(s, u, 200)

    out: dict[str, Ask] = {
        "HTTP floor (GET /health)": lambda s: _expect(s, f"{address}/health", 200),
        "list, no ETag: the full answer (every refresh before)": lambda s: _expect(s, page, 200),
        "counts, 8 requests (all + one per status; before, every 4th refresh), per set": eight,
    }
    if grouped:
        content = tags["list"].strip('"').split(".", 1)[1]
        out |= {
            "list, nothing changed: 304 from the listing version, no read":
                lambda s: _expect(s, page, 304, tags["list"]),
            "list, read again, same rows: 304 by content":
                lambda s: _expect(s, page, 304, f'"stale.{content}"'),
            "list, changed: the full answer (200)":
                lambda s: _expect(s, page, 200, '"stale.stale"'),
            "counts, 1 grouped request, no ETag (200)": lambda s: _expect(s, counts, 200),
            "counts, grouped, nothing changed (304)":
                lambda s: _expect(s, counts, 304, tags["counts"]),
        }
    return out


async def cpu_per_ask(pid: int, s: aiohttp.ClientSession, ask: Ask,
                      budget_s: float) -> float:
    """The server's CPU (ms) per ``ask``: asked back to back for ``budget_s`` seconds (at
    least 20 times), after 5 to warm up."""
    for _ in range(5):
        await ask(s)
    c0, t0, n = cpu_seconds(pid) or 0.0, time.perf_counter(), 0
    while n < 20 or time.perf_counter() - t0 < budget_s:
        await ask(s)
        n += 1
    return 1000 * ((cpu_seconds(pid) or 0.0) - c0) / n


async def part_refresh(args: argparse.Namespace) -> list[str]:
    out = ["## The server's CPU for one refresh", ""]
    sides = trees(args)
    for runs in args.refresh_runs:
        servers: dict[str, Run] = {}
        try:
            first: Run | None = None
            for tree in sides:
                run = Run(f"ui-refresh-{tree.label.replace(' ', '-')}", worker_slots=1)
                if first is None:
                    fill_s = await fill_runs(run.dir / "plait.db", runs)
                    first = run
                else:
                    shutil.copy(first.dir / "plait.db", run.dir / "plait.db")
                with plait_from(tree):
                    await run.start_server()
                servers[tree.label] = run
            table = await _refresh_rounds(servers, args.rounds, args.refresh_budget)
        finally:
            for run in servers.values():
                run.stop()
                run.cleanup()
        out += [
            f"### {runs:,} closed runs",
            "",
            f"Written through the store in {fill_s:.0f} s. Server CPU per request (ms), "
            f"median of {args.rounds} interleaved rounds, each kind asked back to back for "
            f"{args.refresh_budget:.1f} s:",
            "",
            "| request | " + " | ".join(t.label for t in sides) + " |",
            "|---|" + "---|" * len(sides),
        ]
        for kind, per in table.items():
            cells = [f"{statistics.median(per[t.label]):.3f}" if per.get(t.label) else "-"
                     for t in sides]
            out.append(f"| {kind} | " + " | ".join(cells) + " |")
        out.append("")
    return out


async def _refresh_rounds(servers: dict[str, Run], rounds: int,
                          budget: float) -> dict[str, dict[str, list[float]]]:
    table: dict[str, dict[str, list[float]]] = {}
    async with aiohttp.ClientSession() as s:
        asks: dict[str, dict[str, Ask]] = {}
        for label, run in servers.items():
            grouped = await asyncio.to_thread(grouped_counts, run.address)
            base = f"{run.address}/api/v1/namespaces/{NS}"
            tags = {}
            if grouped:
                for key, url in (("list", f"{base}/workflows?page_size=50"),
                                 ("counts", f"{base}/workflow-count?group_by=status")):
                    tags[key] = await _expect(s, url, 200) or ""
            asks[label] = kinds(run.address, grouped, tags)
        for _ in range(rounds):
            for label, run in servers.items():
                assert run.server is not None
                for kind, ask in asks[label].items():
                    ms = await cpu_per_ask(run.server.pid, s, ask, budget)
                    table.setdefault(kind, {}).setdefault(label, []).append(ms)
    order = [k for ks in asks.values() for k in ks]
    return {k: table[k] for k in dict.fromkeys(order)}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pages", type=int, default=20, help="live list pages beside W1 (20)")
    p.add_argument("--w1-size", type=int,
                   help="W1's workflows (default 1,000; 200 with --quick): more make the "
                        "steady state show rather than the start-up burst")
    p.add_argument("--w1-modes", default="none,browser,http",
                   help="which of W1's configurations to run: none (no page), browser (the "
                        "pages in chromium), http (their requests without a browser)")
    p.add_argument("--refresh-runs", type=lambda v: [int(x) for x in v.split(",")],
                   help="closed runs in the refresh part's database, comma-separated "
                        "(default 1000,100000; 1000 with --quick)")
    p.add_argument("--refresh-budget", type=float, default=1.5,
                   help="seconds each kind of request is asked back to back (1.5)")
    p.add_argument("--baseline-src",
                   help="another tree's src directory, measured side by side as 'before'")
    p.add_argument("--quiet", action="store_true",
                   help="before each W1, wait (up to 60 s) for the machine to be under 10 %% "
                        "busy")
