"""Rate limits on activity dispatch on every backend: a token bucket per (queue, activity
type[, key]) in the database, shared by every server of it, applied to what a claim leases
(:mod:`plait.server.admission`)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from plait.protocol.ratelimits import RateLimit as WireLimit
from plait.server.admission import admit
from plait.server.run import Ctx
from plait.store.base import Store, TaskRow, Txn
from plait.store.postgres import PostgresStore
from tests.store.test_txn import NS, activity_data, add_sessions, execution


def activity(t: Txn, i: int, atype: str = "sms", key: str | None = None,
             queue: str = "q") -> int:
    return t.insert_task(ns=NS, task_queue=queue, kind="activity", wid="w", rid="r1",
                         ref=f"a{i}", visible_at=0.0,
                         payload=activity_data(atype, rate_limit_key=key))


def claim(now: float, limit: int = 10, queue: str = "q") -> Any:
    return lambda t: admit(Ctx(t, now), t.claim_tasks(
        ns=NS, task_queue=queue, kind="activity", session="s", now=now, limit=limit))


def claim_id(task_id: int, now: float) -> Any:
    def op(t: Txn) -> TaskRow | None:
        task = t.claim_task_by_id(task_id, "s", now)
        return task if task is not None and admit(Ctx(t, now), [task]) else None
    return op


async def setup(store: Store, tasks: list[tuple[str, str | None]]) -> list[int]:
    def op(t: Txn) -> list[int]:
        t.insert_execution(execution())
        add_sessions(t, "s")
        return [activity(t, i, atype, key) for i, (atype, key) in enumerate(tasks)]
    return await store.write(op)


async def test_set_list_replace_delete(store: Store) -> None:
    await store.write(lambda t: t.set_rate_limit(NS, "q", "sms", 2.0, 1.0))
    await store.write(lambda t: t.set_rate_limit(NS, "q", None, 5.0, 3.0, per_key=True))
    await store.write(lambda t: t.set_rate_limit(NS, "q", "sms", 4.0, 2.0))  # replaces
    assert await store.read(lambda t: t.rate_limits(NS)) == [
        WireLimit(task_queue="q", activity_type=None, per_second=5.0, burst=3.0, per_key=True),
        WireLimit(task_queue="q", activity_type="sms", per_second=4.0, burst=2.0,
                  per_key=False)]
    assert await store.write(lambda t: t.delete_rate_limit(NS, "q", "sms"))
    assert not await store.write(lambda t: t.delete_rate_limit(NS, "q", "sms"))
    assert len(await store.read(lambda t: t.rate_limits(NS))) == 1
    assert await store.read(lambda t: t.rate_limits("other")) == []


async def test_a_limit_spaces_claims_and_waiting_tasks_stay_queued(store: Store) -> None:
    ids = await setup(store, [("sms", None)] * 5 + [("email", None)])
    await store.write(lambda t: t.set_rate_limit(NS, "q", "sms", 2.0, 1.0))
    got = await store.write(claim(100.0))
    # One sms (the bucket starts full with one token) and the unlimited email.
    assert sorted(t.activity.activity_type for t in got) == ["email", "sms"]
    waiting = [t for t in await store.read(lambda t: t.tasks_of_run(NS, "w", "r1"))
               if t.lease_session is None]
    assert len(waiting) == 4
    assert all(t.visible_at == 100.5 and t.activity.rate_limited_until == 100.5
               for t in waiting)  # the next token is due in 1/2 s
    assert await store.read(lambda t: t.next_visible(NS, "q", "activity", "s")) == 100.5
    assert await store.write(claim(100.4)) == []  # not visible yet
    assert len(await store.write(claim(100.5))) == 1
    assert len(await store.write(claim(101.0))) == 1
    assert len(await store.write(claim(102.0))) == 1  # the bucket holds at most one
    assert len(await store.write(claim(103.0))) == 1
    leased = [t for t in await store.read(lambda t: t.tasks_of_run(NS, "w", "r1"))
              if t.lease_session is not None]
    assert {t.task_id for t in leased} == set(ids)


async def test_burst_and_per_key_buckets(store: Store) -> None:
    await setup(store, [("sms", "acme")] * 4 + [("sms", "globex")] * 4 + [("sms", None)] * 2)
    await store.write(lambda t: t.set_rate_limit(NS, "q", "sms", 1.0, 3.0, per_key=True))
    got = await store.write(claim(50.0, limit=20))
    keys = sorted(str(t.activity.rate_limit_key) for t in got)
    # Each key's bucket (and the no-key bucket) gives its burst at once, no more.
    assert keys == ["None", "None"] + ["acme"] * 3 + ["globex"] * 3
    assert [str(t.activity.rate_limit_key) for t in await store.write(
        claim(51.0, limit=20))] == ["acme", "globex"]


async def test_a_type_limit_wins_over_the_queue_wide_one(store: Store) -> None:
    await setup(store, [("sms", None)] * 3 + [("email", None)] * 3)
    await store.write(lambda t: t.set_rate_limit(NS, "q", None, 1.0, 1.0))
    await store.write(lambda t: t.set_rate_limit(NS, "q", "sms", 1.0, 2.0))
    got = await store.write(claim(10.0))
    assert sorted(t.activity.activity_type for t in got) == ["email", "sms", "sms"]


async def test_eager_claims_take_tokens_too(store: Store) -> None:
    ids = await setup(store, [("sms", None)] * 2)
    await store.write(lambda t: t.set_rate_limit(NS, "q", "sms", 1.0, 1.0))
    assert await store.write(claim_id(ids[0], 10.0)) is not None
    assert await store.write(claim_id(ids[1], 10.0)) is None
    task = await store.read(lambda t: t.get_task(ids[1]))
    assert task is not None and task.lease_session is None and task.visible_at == 11.0


async def test_deleting_a_limit_frees_the_queue(store: Store) -> None:
    await setup(store, [("sms", None)] * 3)
    await store.write(lambda t: t.set_rate_limit(NS, "q", "sms", 0.1, 1.0))
    assert len(await store.write(claim(10.0))) == 1
    await store.write(lambda t: t.delete_rate_limit(NS, "q", "sms"))
    assert len(await store.write(claim(20.0))) == 2


async def test_concurrent_claimers_share_one_bucket(store: Store, db_url: str,
                                                    backend: str) -> None:
    """Claimers racing in real time (on PostgreSQL: through two stores, as two servers
    would) never start more than the limit allows."""
    await setup(store, [("sms", None)] * 60)
    await store.write(lambda t: t.set_rate_limit(NS, "q", "sms", 20.0, 2.0))
    stores = [store] + ([PostgresStore(db_url)] if backend == "postgres" else [])
    starts: list[float] = []
    began = time.time()
    try:
        async def claimer(s: Store) -> None:
            while time.time() - began < 1.0:
                got = await s.write(claim(time.time(), limit=3))
                starts.extend(x.dispatched_at or 0.0 for x in got)
                await asyncio.sleep(0.002)
        await asyncio.gather(*(claimer(s) for s in stores for _ in range(4)))
    finally:
        for s in stores[1:]:
            await s.close()
    elapsed = max(starts) - began
    assert len(starts) <= 2 + 20 * elapsed + 1, (len(starts), elapsed)
    assert len(starts) >= 15  # and it does let them through
