"""Held tasks (a paused run or activity: ``visible_at`` past ``HELD``), on every backend: no
claim reaches them, they keep their due time to the tenth of a millisecond, and they are never
the next deadline a time-skipping server jumps to."""

from __future__ import annotations

from plait.store.base import Store
from plait.store.task_data import HELD
from tests.store.test_txn import NS, add_sessions, add_task, execution


async def test_a_held_task_is_never_claimed_nor_due(store: Store) -> None:
    await store.write(lambda t: (t.insert_execution(execution()), add_sessions(t, "s")))
    due = 1_765_000_000.123456
    held = await store.write(lambda t: add_task(t, ref="wt", visible_at=due + HELD))
    assert await store.write(lambda t: t.claim_tasks(
        ns=NS, task_queue="q", kind="workflow", session="s", now=due + 1e6, limit=10)) == []
    assert await store.read(lambda t: t.next_task_visible()) is None
    waiting = await store.write(lambda t: add_task(t, ref="act-1", kind="activity",
                                                   visible_at=due + 5))
    assert await store.read(lambda t: t.next_task_visible()) == due + 5
    row = await store.read(lambda t: t.get_task(held))
    assert row is not None and abs((row.visible_at - HELD) - due) < 1e-4
    assert waiting > held
