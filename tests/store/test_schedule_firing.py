"""Firing schedules on every backend, with the clock in the test's hands: catch-up after
downtime (due times inside the window start once each, older ones are skipped), and a due
time decided twice starts one run."""

from __future__ import annotations

import pytest

from plait.protocol.enums import ScheduleOverlap
from plait.protocol.schedules import CreateScheduleRequest
from plait.server import schedule_actions, schedules
from plait.server.run import Ctx
from plait.server.schedule_spec import workflow_id_for
from plait.store.base import Store, Txn
from plait.store.search_index import ListFilter

NS = "default"
T0 = 1_800_000_000.0  # a multiple of 60: due times fall on it


async def create(store: Store, now: float, **kw: object) -> None:
    req = CreateScheduleRequest(schedule_id="s", workflow_type="W", task_queue="q",
                                interval=60.0, **kw)  # type: ignore[arg-type]
    await store.write(lambda t: schedules.create(Ctx(t, now), NS, req))


async def fire(store: Store, now: float) -> int:
    return await store.write(lambda t: schedule_actions.fire_due(Ctx(t, now), 100))


def run_ids(t: Txn) -> list[str]:
    return sorted(e.workflow_id for e in t.list_executions(NS, ListFilter(), 1000, None))


async def test_catch_up_after_downtime(store: Store) -> None:
    await create(store, T0 + 1, overlap=ScheduleOverlap.ALLOW_ALL, catchup_window=150.0)
    # the server was down from T0+1 to T0+600: due times T0+60 ... T0+600
    assert await fire(store, T0 + 600.5) == 1
    started = await store.read(run_ids)
    # inside the window (at most 150 s late): T0+480, T0+540, T0+600
    assert started == [f"s-{_stamp(T0 + k * 60)}" for k in (8, 9, 10)]
    row = await store.read(lambda t: t.get_schedule(NS, "s"))
    assert row is not None
    assert row.state.num_skipped == 7 and row.state.num_actions == 3
    assert row.state.next_due == T0 + 660 and row.next_fire_at == T0 + 660
    assert await fire(store, T0 + 600.5) == 0  # nothing is due twice
    assert await store.read(run_ids) == started


async def test_a_due_time_decided_twice_starts_once(store: Store) -> None:
    """As when a second server decides a due time again: its run's id exists, so nothing
    starts (the schedule counts it as already started)."""
    await create(store, T0 + 1)
    await fire(store, T0 + 61)

    def rewind(t: Txn) -> None:
        row = t.get_schedule(NS, "s", lock=True)
        assert row is not None
        row.state.next_due, row.next_fire_at, row.state.running = T0 + 60, T0 + 60, []
        t.save_schedule(row)
    await store.write(rewind)
    await fire(store, T0 + 61)
    assert await store.read(run_ids) == [f"s-{_stamp(T0 + 60)}"]
    row = await store.read(lambda t: t.get_schedule(NS, "s"))
    assert row is not None and row.state.num_actions == 1
    assert [a.workflow_id for a in row.state.running] == [f"s-{_stamp(T0 + 60)}"]


async def test_started_runs_carry_the_schedule_id(store: Store) -> None:
    await create(store, T0 + 1, search_attributes={"team": "ops"})
    await fire(store, T0 + 61)
    rows = await store.read(lambda t: t.list_executions(NS, ListFilter(), 10, None))
    assert [r.search_attributes for r in rows] == [{"team": "ops", "ScheduleId": "s"}]


def _stamp(ts: float) -> str:
    return workflow_id_for("", ts)[1:]


async def test_a_failing_look_is_retried_later_not_in_a_loop(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    await create(store, T0 + 1)

    def broken(ctx: Ctx, row: object) -> None:
        raise RuntimeError("a bug")
    monkeypatch.setattr(schedule_actions, "_look", broken)
    assert await fire(store, T0 + 61) == 1
    row = await store.read(lambda t: t.get_schedule(NS, "s"))
    assert row is not None and row.next_fire_at == T0 + 61 + schedule_actions.RETRY_AFTER
    assert await store.read(run_ids) == []


async def test_allow_all_keeps_track_of_a_bounded_number_of_runs(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schedule_actions, "RUNNING_KEPT", 2)
    await create(store, T0 + 1, overlap=ScheduleOverlap.ALLOW_ALL)
    await fire(store, T0 + 241)  # four due times, four runs, none closed
    assert len(await store.read(run_ids)) == 4
    row = await store.read(lambda t: t.get_schedule(NS, "s"))
    assert row is not None and row.state.num_actions == 4
    assert [a.workflow_id for a in row.state.running] == [
        f"s-{_stamp(T0 + 180)}", f"s-{_stamp(T0 + 240)}"]
