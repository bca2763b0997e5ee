"""W6: list and count over many stored workflows (100,000 full, 10,000 quick), plait and DBOS.

Running 100,000 workflows only to fill the store would take most of an hour here, so the fill
is a documented shortcut, the same for both engines: three template workflows run for real
(``OneStep`` and ``ThreeSteps`` to completion, ``IdleOnSignal`` left running), then ``n``
copies of their rows are made with one ``INSERT ... SELECT`` per table, copy ``k`` taking the
template ``k % 10`` names (60 % OneStep, 30 % ThreeSteps, 10 % IdleOnSignal), a new id and a
start time 10 ms apart back in time.

- plait: the server is stopped, its SQLite file gets copies of ``executions``, ``current_runs``
  and ``events`` (so each copy has its full history, as a real one would), then a fresh
  ``plait server`` opens it and everything is timed through ``plait.Client`` over HTTP, as a
  user would: ``list_workflows`` (first page of 100, newest first; unfiltered, by type, by
  status, by both) and ``count_workflows``.
- DBOS (``bench.peers.dbos_list``): copies of ``workflow_status`` rows, timed in the DBOS
  process with ``DBOS.list_workflows``; DBOS has no count call, so counting lists every match.

Each operation runs once cold (first call), then ``repeat`` times; median reported. Every
answer is checked against the known mix: a wrong count or a short page fails the run.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import statistics
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from bench.longrun import IdleOnSignal
from bench.peer_run import PeerRun
from bench.peers import driver, install
from bench.procs import BenchError, Run
from bench.workloads import OneStep, ThreeSteps
from plait import Client

PAGE = 100


async def _templates(client: Client, tq: str) -> dict[str, str]:
    ids = {k: f"tmpl-{k}-{uuid.uuid4().hex[:6]}" for k in driver.W6_SHARE}
    await (await client.start_workflow(OneStep.run, 1, id=ids["OneStep"], task_queue=tq)
           ).result()
    await (await client.start_workflow(ThreeSteps.run, 1, id=ids["ThreeSteps"],
                                       task_queue=tq)).result()
    await client.start_workflow(IdleOnSignal.run, 1, id=ids["IdleOnSignal"], task_queue=tq)
    await asyncio.sleep(1.0)  # its first workflow task done: idle
    return ids


def _copy(conn: sqlite3.Connection, table: str, ids: dict[str, str], n: int) -> None:
    """Copies of the template rows of ``table``: new workflow and run ids, earlier times."""
    cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    exprs = []
    for c in cols:
        if c == "workflow_id":
            exprs.append("'w6-' || k")
        elif c == "run_id":
            exprs.append("'w6r-' || k")
        elif c in ("start_time", "close_time"):
            exprs.append(f"t.{c} - ({n} - k) * 0.01")
        else:
            exprs.append(f"t.{c}")
    conn.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(exprs)} "
                 f"FROM seq JOIN {table} t ON t.workflow_id = {driver.w6_template_sql(ids)}")


def fill(db: str, ids: dict[str, str], n: int) -> dict[str, float]:
    """The bulk path: n copies into a stopped server's SQLite file, one transaction."""
    t = time.perf_counter()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(f"CREATE TEMP TABLE seq AS WITH RECURSIVE q(k) AS (SELECT 0 UNION ALL "
                 f"SELECT k + 1 FROM q WHERE k < {n - 1}) SELECT k FROM q")
    for table in ("executions", "current_runs", "events"):
        _copy(conn, table, ids, n)
    conn.execute("COMMIT")
    events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    conn.close()
    return {"fill_s": time.perf_counter() - t, "events_stored": float(events)}


async def _time(fn: Callable[[], Awaitable[Any]], repeat: int) -> tuple[dict[str, float], Any]:
    t = time.perf_counter()
    value = await fn()
    first = (time.perf_counter() - t) * 1e3
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - t) * 1e3)
    return {"first_ms": first, "median_ms": statistics.median(times)}, value


def _ops(client: Client, ids: dict[str, str], n: int
         ) -> dict[str, tuple[Callable[[], Awaitable[Any]], Any]]:
    """label -> (call, expected: a count, or a predicate every listed row must meet)."""
    exp = driver.w6_expected(n)

    def page(**f: Any) -> Callable[[], Awaitable[Any]]:
        async def call() -> list[Any]:
            out = []
            async for x in client.list_workflows(page_size=PAGE, **f):
                out.append(x)
                if len(out) == PAGE:  # stop before the client asks for page two
                    break
            return out
        return call

    return {
        "list first page": (page(), lambda x: True),
        "list first page, type=IdleOnSignal": (
            page(workflow_type="IdleOnSignal"), lambda x: x.workflow_type == "IdleOnSignal"),
        "list first page, status=running": (
            page(status="RUNNING"), lambda x: x.status == "RUNNING"),
        "list first page, type=ThreeSteps and status=completed": (
            page(workflow_type="ThreeSteps", status="COMPLETED"),
            lambda x: x.workflow_type == "ThreeSteps" and x.status == "COMPLETED"),
        "count all": (lambda: client.count_workflows(), n + len(ids)),
        "count type=IdleOnSignal": (lambda: client.count_workflows(
            workflow_type="IdleOnSignal"), exp["IdleOnSignal"] + 1),
        "count status=running": (lambda: client.count_workflows(status="RUNNING"),
                                 exp["IdleOnSignal"] + 1),
        "count status=completed": (lambda: client.count_workflows(status="COMPLETED"),
                                   exp["OneStep"] + exp["ThreeSteps"] + 2),
    }


async def w6_plait(n: int, repeat: int, keep: bool) -> dict[str, Any]:
    run = Run(f"W6-{n}", worker_slots=300, keep=keep)
    r: dict[str, Any] = {"ok": False, "metrics": {}, "ops": {}, "errors": []}
    try:
        await run.start()
        async with await Client.connect(run.address) as client:
            ids = await _templates(client, run.task_queue)
        run.stop()  # the server lets go of its SQLite file; the bulk path writes it
        run.unclean_exit.clear()
        r["metrics"] = await asyncio.to_thread(fill, str(run.dir / "plait.db"), ids, n)
        await run.start_server()
        async with await Client.connect(run.address) as client:
            for label, (fn, want) in _ops(client, ids, n).items():
                timing, value = await _time(fn, repeat)
                r["ops"][label] = timing
                if callable(want):
                    if len(value) != PAGE or not all(want(x) for x in value):
                        r["errors"].append(f"{label}: {len(value)} rows or a row that does "
                                           "not match the filter")
                elif value != want:
                    r["errors"].append(f"{label}: got {value}, expected {want}")
    except (BenchError, OSError, sqlite3.Error) as e:
        r["errors"].append(f"{type(e).__name__}: {e}"[:500])
    finally:
        run.stop()
        r["log_problems"] = {k: v[:5] for k, v in run.log_problems().items()}
        run.cleanup()
    r["ok"] = not r["errors"]
    return r


async def w6_dbos(engine: str, n: int, repeat: int, keep: bool) -> dict[str, Any]:
    """``bench.peers.dbos_app w6`` in the dbos venv: it fills and times, one JSON line out."""
    peer = PeerRun(engine, "W6", n, 600.0, keep=keep)
    r: dict[str, Any] = {"ok": False, "metrics": {}, "ops": {}, "errors": []}
    try:
        url = await peer.dbos_url()
        peer._spawn("app", [str(install.python("dbos")), "-m", "bench.peers.dbos_app", "w6",
                            "--db", url, "--n", str(n), "--page-size", str(PAGE),
                            "--repeat", str(repeat)], stdout=subprocess.PIPE)
        out = json.loads(await peer._wait_line("app", '{"fill_s"', 900))
        r["metrics"]["fill_s"] = out["fill_s"]
        r["ops"], r["errors"] = out["ops"], out["errors"]
    except (BenchError, OSError, ValueError) as e:
        r["errors"].append(f"{type(e).__name__}: {e}"[:500])
    finally:
        peer.stop()
        r["log_problems"] = {k: v[:5] for k, v in peer.log_problems().items()}
        peer.cleanup()
    r["ok"] = not r["errors"]
    return r
