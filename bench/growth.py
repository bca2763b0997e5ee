"""How cost grows: W5 (one long history), W6 (list/count over many stored workflows) and W7
(many workflows idle in the worker's cache).

- **W5**: one workflow of ``n`` sequential activities (``LongChain``; 5,000 full, 500 quick),
  each returning its wall time. Per-step time = gap between consecutive stamps; the mean of
  the first ``n/10`` steps against the last ``n/10`` (target: last at most 1.2x first). For
  plait also a cold replay of the fetched history with ``plait.testing.Replayer`` (what a new
  worker does after a crash, without the network). Peers run the same workflow through their
  ``bench.peers.<engine>_app one --kind LongChain``.
- **W6** (``bench.listing``): list and count over 100,000 stored workflows, plait and DBOS.
- **W7**: ``n`` workflows (10,000 full, 1,000 quick) idle on a signal, all cached in one worker
  (``max_cached_workflows`` = max(10,000, n)). Worker and server resident memory (VmRSS)
  before and after, per workflow; then 10 s idle: server CPU %, SQL statements per second
  (the server runs under ``bench.sqlcount``, which counts every statement) and HTTP requests
  per second (``/metrics``); then every workflow is signalled and must return its value.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import statistics
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from bench import cachemem, sqlcount
from bench.longrun import IdleOnSignal, LongChain
from bench.procs import BenchError, Run, cpu_seconds, machine_cpu_seconds, peak_rss_mib
from bench.recovery import PeerTarget
from plait import Client
from plait.testing import Replayer

SIZES = {"full": {"W5": 5000, "W6": 100_000, "W7": 10_000},
         "quick": {"W5": 500, "W6": 10_000, "W7": 1_000}}
W5_FLAT = 1.2
W7_TARGET_KB = 10.0
IDLE_S = 10.0


def rss_mib(pid: int) -> float | None:
    """Current resident set size (VmRSS), in MiB: W7 wants what stays, not the peak."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    m = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) / 1024 if m else None


def _noise(m: dict[str, float], machine0: Any, t0: float) -> None:
    machine1 = machine_cpu_seconds()
    if machine0 and machine1:
        wall = time.monotonic() - t0
        ncpu = os.cpu_count() or 1
        m["steal_pct"] = 100 * (machine1[1] - machine0[1]) / (wall * ncpu)
        m["machine_busy_pct"] = 100 * (machine1[0] - machine0[0]) / (wall * ncpu)


# -- W5 -------------------------------------------------------------------------------------------
def step_metrics(stamps: list[float], n: int) -> tuple[dict[str, float], list[str]]:
    """Per-step times of the first and last tenth, from the activities' own wall times."""
    errs = []
    if len(stamps) != n:
        errs.append(f"wrong result: {len(stamps)} stamps, expected {n}")
    if any(b < a for a, b in itertools.pairwise(stamps)):
        errs.append("wrong result: stamps not in step order")
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    k = max(1, n // 10)
    m: dict[str, float] = {}
    if len(gaps) >= 2 * k:
        m["first_step_ms"] = statistics.fmean(gaps[:k]) * 1e3
        m["last_step_ms"] = statistics.fmean(gaps[-k:]) * 1e3
        m["last_over_first"] = m["last_step_ms"] / m["first_step_ms"]
        m["first_step_p50_ms"] = statistics.median(gaps[:k]) * 1e3
        m["last_step_p50_ms"] = statistics.median(gaps[-k:]) * 1e3
        m["wall_s"] = stamps[-1] - stamps[0]
    return m, errs


async def w5_plait(n: int, timeout: float, keep: bool) -> dict[str, Any]:
    run = Run(f"W5-{n}", worker_slots=300, keep=keep)
    r: dict[str, Any] = {"ok": False, "metrics": {}, "errors": []}
    machine0, t0 = machine_cpu_seconds(), time.monotonic()
    try:
        await run.start()
        assert run.server is not None and run.worker is not None
        async with await Client.connect(run.address) as client:
            handle = await client.start_workflow(LongChain.run, n,
                                                 id=f"w5-{uuid.uuid4().hex[:8]}",
                                                 task_queue=run.task_queue)
            stamps = await asyncio.wait_for(handle.result(), timeout)
            r["metrics"], r["errors"] = step_metrics(stamps, n)
            m = r["metrics"]
            m["server_rss_mib"] = peak_rss_mib(run.server.pid) or 0.0
            m["worker_rss_mib"] = peak_rss_mib(run.worker.pid) or 0.0
            m["server_cpu_s"] = cpu_seconds(run.server.pid) or 0.0
            m["worker_cpu_s"] = cpu_seconds(run.worker.pid) or 0.0
            t = time.perf_counter()
            history = await handle.fetch_history()
            m["history_fetch_s"] = time.perf_counter() - t
            m["history_events"] = len(history.events)
            t = time.perf_counter()
            await Replayer(workflows=[LongChain]).replay(history)
            m["cold_replay_s"] = time.perf_counter() - t
            m["cold_replay_us_per_event"] = m["cold_replay_s"] / len(history.events) * 1e6
    except (BenchError, TimeoutError, OSError) as e:
        r["errors"].append(f"{type(e).__name__}: {e}"[:500])
    finally:
        run.stop()
        r["log_problems"] = {k: v[:5] for k, v in run.log_problems().items()}
        run.cleanup()
    _noise(r["metrics"], machine0, t0)
    r["ok"] = not r["errors"]
    return r


async def w5_peer(engine: str, n: int, timeout: float, keep: bool) -> dict[str, Any]:
    target = PeerTarget(engine, keep, kind="LongChain", n=n)
    r: dict[str, Any] = {"ok": False, "metrics": {}, "errors": []}
    machine0, t0 = machine_cpu_seconds(), time.monotonic()
    try:
        await target.up(workers=1)
        await target.start_workflow(f"w5-{uuid.uuid4().hex[:8]}", target.dir / "unused.log")
        stamps, _ = await target.result(timeout)
        r["metrics"], r["errors"] = step_metrics(stamps, n)
        r["rss_mib"] = target.rss()
    except (BenchError, TimeoutError, OSError) as e:
        r["errors"].append(f"{type(e).__name__}: {e}"[:500])
    finally:
        r.update(await target.close())
    _noise(r["metrics"], machine0, t0)
    r["ok"] = not r["errors"]
    return r


# -- W7 -------------------------------------------------------------------------------------------
def scrape(address: str) -> dict[str, float]:
    """plait_* counters of ``/metrics``, summed over label sets by metric name and label."""
    with urllib.request.urlopen(address + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("plait_") and " " in line:
            key, _, value = line.rpartition(" ")
            name = key.split("{", 1)[0]
            if not name.endswith("_created"):
                out[name] = out.get(name, 0.0) + float(value)
                out[key] = float(value)
    return out


async def _bounded(calls: list[Any], limit: int) -> list[Any]:
    sem = asyncio.Semaphore(limit)

    async def one(c: Any) -> Any:
        async with sem:
            return await c()

    return await asyncio.gather(*(one(c) for c in calls), return_exceptions=True)


async def _wait_idle(address: str, n: int, timeout: float) -> None:
    """Until n workflow tasks completed and the counters stood still for 2 s."""
    give_up = time.monotonic() + timeout
    last: dict[str, float] = {}
    while time.monotonic() < give_up:
        c = await asyncio.to_thread(scrape, address)
        done = sum(v for k, v in c.items() if k.startswith("plait_task_completions_total{")
                   and 'kind="workflow"' in k)
        if done >= n and c.get("plait_task_completions_total") == last.get(
                "plait_task_completions_total"):
            return
        last = c
        await asyncio.sleep(2.0)
    raise BenchError(f"W7: workflows not idle after {timeout:.0f}s")


async def w7_plait(n: int, timeout: float, keep: bool) -> dict[str, Any]:
    run = Run(f"W7-{n}", worker_slots=300, keep=keep)
    count_file = str(run.dir / "sqlcount")
    run.server_cmd = ["-m", "bench.sqlcount", count_file, "server"]
    r: dict[str, Any] = {"ok": False, "metrics": {}, "errors": []}
    m = r["metrics"]
    machine0, t0 = machine_cpu_seconds(), time.monotonic()
    try:
        await run.start_server()
        run.worker = run.spawn_worker("--max-cached-workflows", str(max(10_000, n)))
        await run.wait_ready(run.worker, 60)
        sp, wp = run.server.pid, run.worker.pid  # type: ignore[union-attr]
        await asyncio.sleep(1.0)
        s0, w0 = rss_mib(sp) or 0.0, rss_mib(wp) or 0.0
        q0 = sqlcount.read_count(count_file) or 0
        async with await Client.connect(run.address) as client:
            tag = uuid.uuid4().hex[:6]
            ids = [f"w7-{tag}-{i}" for i in range(n)]
            t = time.perf_counter()
            started = await _bounded([lambda i=i: client.start_workflow(
                IdleOnSignal.run, i, id=ids[i], task_queue=run.task_queue)
                for i in range(n)], 200)
            m["start_all_s"] = time.perf_counter() - t
            bad = [x for x in started if isinstance(x, BaseException)]
            if bad:
                raise BenchError(f"{len(bad)} starts failed, first: {bad[0]!r}")
            await _wait_idle(run.address, n, timeout)
            m["to_idle_s"] = time.perf_counter() - t
            q1 = sqlcount.read_count(count_file) or 0
            m["sql_per_started_workflow"] = (q1 - q0) / n
            r["idle_sql_per_s_by_statement"] = {}
            await _idle_window(run, count_file, m, r["idle_sql_per_s_by_statement"])
            s1, w1 = rss_mib(sp) or 0.0, rss_mib(wp) or 0.0
            m.update(server_rss_mib=s1, worker_rss_mib=w1,
                     server_kb_per_workflow=(s1 - s0) * 1024 / n,
                     worker_kb_per_workflow=(w1 - w0) * 1024 / n)
            history = await client.get_workflow_handle(ids[0]).fetch_history()
            r["cache_breakdown"] = cachemem.breakdown(history, IdleOnSignal)
            m["replayed_instance_kb"] = r["cache_breakdown"]["kb_per_instance"]
            r["errors"] += await _signal_all(client, ids, m)
    except (BenchError, TimeoutError, OSError) as e:
        r["errors"].append(f"{type(e).__name__}: {e}"[:500])
    finally:
        run.stop()
        r["log_problems"] = {k: v[:5] for k, v in run.log_problems().items()}
        run.cleanup()
    _noise(m, machine0, t0)
    r["ok"] = not r["errors"]
    return r


async def _idle_window(run: Run, count_file: str, m: dict[str, float],
                       idle_sql: dict[str, float]) -> None:
    """IDLE_S seconds of nothing: what the server and worker do on their own."""
    assert run.server is not None and run.worker is not None
    c0 = await asyncio.to_thread(scrape, run.address)
    q0, sc0, wc0 = (sqlcount.read_count(count_file) or 0, cpu_seconds(run.server.pid) or 0.0,
                    cpu_seconds(run.worker.pid) or 0.0)
    top0 = dict(sqlcount.read_top(count_file))
    machine0 = machine_cpu_seconds()
    t = time.monotonic()
    await asyncio.sleep(IDLE_S)
    await asyncio.sleep(0.25)  # the statement counter is written every 0.2 s
    dt_s = time.monotonic() - t
    q1, sc1, wc1 = (sqlcount.read_count(count_file) or 0, cpu_seconds(run.server.pid) or 0.0,
                    cpu_seconds(run.worker.pid) or 0.0)
    c1 = await asyncio.to_thread(scrape, run.address)
    machine1 = machine_cpu_seconds()
    m["idle_server_cpu_pct"] = 100 * (sc1 - sc0) / dt_s
    m["idle_worker_cpu_pct"] = 100 * (wc1 - wc0) / dt_s
    m["idle_sql_per_s"] = (q1 - q0) / dt_s
    top = {k: (v - top0.get(k, 0)) / dt_s for k, v in sqlcount.read_top(count_file)}
    idle_sql.update({k: round(v, 2) for k, v in sorted(top.items(), key=lambda kv: -kv[1])
                     if v > 0})
    reqs = c1.get("plait_http_requests_total", 0.0) - c0.get("plait_http_requests_total", 0.0)
    m["idle_http_per_s"] = (reqs - 1) / dt_s  # less the /metrics scrape itself
    if machine0 and machine1:
        m["idle_machine_busy_pct"] = 100 * (machine1[0] - machine0[0]) / (
            dt_s * (os.cpu_count() or 1))


async def _signal_all(client: Client, ids: list[str], m: dict[str, float]) -> list[str]:
    """Signal every idle workflow with 1000 + i and check it returns 1000 + 2i."""
    t = time.perf_counter()
    sent = await _bounded([lambda i=i: client.get_workflow_handle(ids[i]).signal(
        "wake", 1000 + i) for i in range(len(ids))], 200)
    results = await _bounded([lambda i=i: client.get_workflow_handle(ids[i]).result()
                              for i in range(len(ids))], 500)
    m["signal_all_to_done_s"] = time.perf_counter() - t
    errs = [f"{ids[i]}: signal failed: {x!r}" for i, x in enumerate(sent)
            if isinstance(x, BaseException)]
    errs += [f"{ids[i]}: wrong result {x!r}, expected {1000 + 2 * i}"
             for i, x in enumerate(results) if x != 1000 + 2 * i]
    return errs[:20] + ([f"... {len(errs) - 20} more"] if len(errs) > 20 else [])
