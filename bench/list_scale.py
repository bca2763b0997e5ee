"""List and count over many closed workflows, on SQLite and PostgreSQL.

``python -m bench.list_scale [--runs 100000] [--backend sqlite|postgres|both]``

Fills a fresh database with ``--runs`` closed runs straight through the store
(``Txn.insert_execution``, 1,000 per transaction, so the search-attribute index is written
as the server writes it), then times the store calls behind ``GET .../workflows`` and
``GET .../workflow-count``: the median of 5 after one warm-up, in milliseconds. It also
times what a search-attribute filter cost before the index (read every page of the
unfiltered list and filter in Python, as ``plait workflow count -a`` did), and prints the
query plan of the filtered list and count to show which index serves them.

Every run has ``customer`` (1,000 values: 100 runs each), ``tier`` (3 values) and
``region`` (4 values); types, statuses and start times (spread over 7 days) vary too.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plait.store.base import ExecutionRow, Store, Txn
from plait.store.postgres import PostgresStore
from plait.store.run_state import RunState
from plait.store.sqlite import SQLiteStore

NS = "bench"
DAY = 86400.0
T0 = 1_750_000_000.0


def row(i: int, runs: int) -> ExecutionRow:
    start = T0 + 7 * DAY * i / runs
    attrs = {"customer": f"c-{i % 1000}", "tier": i % 3, "region": ("eu", "us", "ap", "sa")[i % 4]}
    status = "FAILED" if i % 50 == 0 else "COMPLETED"
    return ExecutionRow(NS, f"order-{i:07}", f"r{i}", ("Order", "Refund", "Invoice")[i % 3],
                        "q", status, start, start + 5.0, 12, RunState(), {"ok": True},
                        attrs, None)


async def fill(store: Store, runs: int) -> float:
    t = time.perf_counter()
    for lo in range(0, runs, 1000):
        def go(txn: Txn, lo: int = lo) -> None:
            for i in range(lo, min(lo + 1000, runs)):
                txn.insert_execution(row(i, runs))
        await store.write(go)
    return time.perf_counter() - t


async def timed(store: Store, fn: Callable[[Txn], Any]) -> tuple[float, Any]:
    await store.read(fn)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        out = await store.read(fn)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), out


async def scan_filter(store: Store, attrs: dict[str, Any]) -> int:
    """Before the index: every page of the unfiltered list, filtered in Python."""
    n, after = 0, None
    while True:
        page = await store.read(lambda t, a=after: t.list_executions(NS, {}, 1000, a))
        n += sum(all(r.search_attributes.get(k) == v for k, v in attrs.items()) for r in page)
        if len(page) < 1000:
            return n
        after = (page[-1].start_time, page[-1].workflow_id, page[-1].run_id)


class _Recorder:
    """A cursor that remembers the last statement, to EXPLAIN it."""

    def __init__(self, cur: Any) -> None:
        self.cur, self.sql, self.params = cur, "", {}

    def execute(self, sql: str, params: Any = None) -> Any:
        self.sql, self.params = sql, params
        return self.cur.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cur, name)


def explain(t: Txn, call: Callable[[Txn], Any], backend: str) -> str:
    real = t.cur
    rec = _Recorder(real)
    t.cur = rec
    try:
        call(t)
    finally:
        t.cur = real
    if backend == "sqlite":
        rows = real.execute("EXPLAIN QUERY PLAN " + rec.sql, rec.params).fetchall()
        return "\n".join(r[3] for r in rows)
    rows = real.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + rec.sql,
                        rec.params).fetchall()
    return "\n".join(r[0] for r in rows)


CASES: list[tuple[str, dict[str, Any]]] = [
    ("no filter", {}),
    ("status=FAILED (2%)", {"status": "FAILED"}),
    ("customer=c-7 (0.1%)", {"search_attributes": {"customer": "c-7"}}),
    ("tier=1 (33%)", {"search_attributes": {"tier": 1}}),
    ("customer=c-7 AND tier=1", {"search_attributes": {"customer": "c-7", "tier": 1}}),
    ("customer=c-7 AND status=COMPLETED", {"search_attributes": {"customer": "c-7"},
                                           "status": "COMPLETED"}),
    ("region=eu, last day", {"search_attributes": {"region": "eu"},
                             "started_after": T0 + 6 * DAY}),
    # The worst case: the first attribute matches a third, the rest nothing, so every
    # match of the first is probed.
    ("tier=1 AND status=RUNNING (none)", {"search_attributes": {"tier": 1},
                                          "status": "RUNNING"}),
]


async def measure(store: Store, backend: str, runs: int) -> list[str]:
    out = [f"### {backend}, {runs:,} closed runs", ""]
    out.append(f"fill: {await fill(store, runs):.1f} s")
    if backend == "postgres":
        await store.write(lambda t: t.cur.execute("ANALYZE"))  # as autovacuum would
    page10: dict[str, tuple[float, str, str]] = {}
    out += ["", "| filter | list first page (100) | list page 10 | count | matches |",
            "|---|---|---|---|---|"]
    for name, f in CASES:
        first, rows = await timed(store, lambda t, f=f: t.list_executions(NS, f, 100, None))
        tenth = "-"
        after = None
        for _ in range(9):  # the keyset of page 10, if there is one
            if len(rows) < 100:
                break
            after = (rows[-1].start_time, rows[-1].workflow_id, rows[-1].run_id)
            rows = await store.read(lambda t, f=f, a=after: t.list_executions(NS, f, 100, a))
        else:
            ms, _ = await timed(store, lambda t, f=f, a=after: t.list_executions(
                NS, f, 100, a))
            tenth = f"{ms:.1f} ms"
            page10[name] = after
        ms, n = await timed(store, lambda t, f=f: t.count_executions(NS, f))
        out.append(f"| {name} | {first:.1f} ms | {tenth} | {ms:.1f} ms | {n:,} |")
    for attrs in ({"customer": "c-7"}, {"tier": 1}):
        t = time.perf_counter()
        n = await scan_filter(store, attrs)
        out.append(f"\nwithout the index (all pages, filtered in Python) {attrs}: "
                   f"{time.perf_counter() - t:.2f} s for {n:,} matches")
    plans: list[tuple[str, Callable[[Txn], Any]]] = [
        (f"list {name}", lambda t, f=f: t.list_executions(NS, f, 100, None))
        for name, f in CASES[2:7]]
    plans.append(("list tier=1 (33%), page 10", lambda t: t.list_executions(
        NS, CASES[3][1], 100, page10[CASES[3][0]])))
    plans.append(("count tier=1", lambda t: t.count_executions(
        NS, {"search_attributes": {"tier": 1}})))
    for title, call in plans:
        plan = await store.read(lambda t, c=call: explain(t, c, backend))
        out += ["", f"plan of {title}:", "```", plan, "```"]
    return out


async def run(backend: str, runs: int) -> list[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            store: Store = SQLiteStore(str(Path(tmp) / "plait.db"))
            try:
                return await measure(store, backend, runs)
            finally:
                await store.close()
    from bench.pg import drop_database, fresh_database

    name, url = fresh_database()
    try:
        store = PostgresStore(url)
        try:
            return await measure(store, backend, runs)
        finally:
            await store.close()
    finally:
        drop_database(name)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.list_scale", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=100_000)
    p.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    args = p.parse_args()
    for backend in ("sqlite", "postgres") if args.backend == "both" else (args.backend,):
        print("\n".join(asyncio.run(run(backend, args.runs))), "\n", flush=True)


if __name__ == "__main__":
    main()
