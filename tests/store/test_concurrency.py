"""Concurrent writers on every backend: each task is claimed once, each timer fires once, and
the changes to one workflow are serialized (no lost or duplicated history events)."""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

import msgspec
import pytest

from plait.protocol.enums import IdConflictPolicy
from plait.protocol.requests import StartWorkflowRequest
from plait.server.errors import Conflict
from plait.server.lifecycle import start_workflow
from plait.server.run import Ctx
from plait.server.service import Service
from plait.store.base import Store, Txn
from plait.store.search_index import ListFilter
from tests.store.test_txn import NS, add_sessions, add_task, decoded, execution, stored


async def test_each_task_is_claimed_exactly_once(store: Store) -> None:
    runs, per_run = 30, 10
    for r in range(runs):
        def setup(t: Txn, r: int = r) -> None:
            add_sessions(t, *(f"s{n}" for n in range(40)))
            t.insert_execution(execution(wid=f"w{r}"))
            for i in range(per_run):
                add_task(t, wid=f"w{r}", ref=f"a{i}", kind="activity")
        await store.write(setup)
    total = runs * per_run
    claimed: collections.Counter[int] = collections.Counter()
    deadline = time.monotonic() + 30

    async def claimer(n: int) -> None:
        while sum(claimed.values()) < total and time.monotonic() < deadline:
            got = await store.write(lambda t: t.claim_tasks(
                ns=NS, task_queue="q", kind="activity", session=f"s{n}", now=time.time(),
                limit=3))
            claimed.update(t.task_id for t in got)
            if not got:
                await asyncio.sleep(0.001)

    await asyncio.gather(*(claimer(n) for n in range(40)))
    assert len(claimed) == total
    assert {k: v for k, v in claimed.items() if v != 1} == {}
    leased = await store.read(lambda t: t.cur.execute(
        "SELECT COUNT(*) FROM tasks WHERE lease_session IS NOT NULL AND dispatch_no = 1")
        .fetchone()[0])
    assert leased == total


async def test_each_due_timer_is_claimed_once(store: Store) -> None:
    for r in range(40):
        def setup(t: Txn, r: int = r) -> None:
            t.insert_execution(execution(wid=f"w{r}"))
            for i in range(5):
                t.set_timer(NS, f"w{r}", "r1", "user", f"t{i}", 1.0 + i)
        await store.write(setup)
    fired: collections.Counter[tuple[str, str]] = collections.Counter()

    def fire(t: Txn) -> int:
        due = t.claim_due_timers(time.time(), 7)
        for tm in due:
            t.delete_timer(tm.namespace, tm.workflow_id, tm.run_id, tm.kind, tm.ref)
            fired[(tm.workflow_id, tm.ref)] += 1
        return len(due)

    async def firer() -> None:
        for _ in range(200):
            if not await store.write(fire) and await store.read(lambda t: t.next_timer()) is None:
                return
            await asyncio.sleep(0)

    await asyncio.gather(*(firer() for _ in range(12)))
    assert len(fired) == 200 and set(fired.values()) == {1}


async def test_changes_to_one_workflow_are_serialized(store: Store) -> None:
    """Many writers append to one history at once; Service.write retries the losers."""
    service = Service(store)
    await store.write(lambda t: t.insert_execution(execution()))

    def append(ctx: Ctx, n: int) -> None:
        e = ctx.txn.get_execution(NS, "w", "r1")
        assert e is not None
        expected = e.next_event_id
        ctx.txn.insert_events(NS, "w", "r1", [stored({"event_id": expected, "writer": n})])
        e.next_event_id += 1
        e.state.input.append({"encoding": "json", "data": n})  # any part of the state
        ctx.txn.update_execution(e, expected)

    await asyncio.gather(*(service.write(lambda ctx, n=n: append(ctx, n)) for n in range(30)))
    events = decoded(await store.read(lambda t: t.events(NS, "w", "r1")))
    assert [e["event_id"] for e in events] == list(range(1, 31))
    assert sorted(e["writer"] for e in events) == list(range(30))
    row = await store.read(lambda t: t.get_execution(NS, "w", "r1"))
    assert row is not None and row.next_event_id == 31
    assert sorted(p["data"] for p in row.state.input) == list(range(30))  # no lost update


@pytest.mark.parametrize("policy", ["fail", "use_existing"])
async def test_concurrent_starts_of_one_id_start_one_run(store: Store, policy: str) -> None:
    service = Service(store)

    def req() -> StartWorkflowRequest:  # each writer parses its own request
        return StartWorkflowRequest(workflow_id="once", workflow_type="W", task_queue="q",
                                    id_conflict_policy=IdConflictPolicy(policy))
    results = await asyncio.gather(
        *(service.write(lambda ctx: start_workflow(ctx, NS, req())) for _ in range(20)),
        return_exceptions=True)
    started = [r for r in results if isinstance(r, dict) and r["started"]]
    assert len(started) == 1
    others = [r for r in results if r not in started]
    if policy == "fail":
        assert all(isinstance(r, Conflict) for r in others), others
    else:
        assert all(isinstance(r, dict) and r["run_id"] == started[0]["run_id"] for r in others)
    count = await store.read(lambda t: t.count_executions(NS, ListFilter()))
    assert count == 1
    run_id = str(started[0]["run_id"])
    events = await store.read(lambda t: t.events(NS, "once", run_id))
    assert [msgspec.json.decode(e)["event_id"] for e in events] == [1, 2]


async def test_retried_request_ids_on_concurrent_writers(store: Store) -> None:
    """The same request id arriving twice at once (a client retry through another server)
    is applied once; the loser sees the winner's answer."""
    service = Service(store)

    def op(ctx: Ctx, n: int) -> Any:
        seen, stored = ctx.txn.stored_response(NS, "req-1")
        if seen:
            return stored
        ctx.txn.store_response(NS, "req-1", str(n), 1.0)
        return str(n)

    answers = await asyncio.gather(*(service.write(lambda ctx, n=n: op(ctx, n))
                                     for n in range(10)))
    assert len(set(answers)) == 1
    seen, stored = await store.read(lambda t: t.stored_response(NS, "req-1"))
    assert seen and answers[0] == stored
