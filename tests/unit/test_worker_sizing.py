"""A Worker's slot counts and sync thread pool (issue 15: a default worker as fast as the
tuned benchmark worker): default slots start at 100 and grow toward 300 only on evidence
that more is cheap; counts the user passes are kept exactly; sync activities never get
more than 100 threads unless asked."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from plait import Client, Worker, activity, workflow
from plait._worker import sizing
from plait._worker.sizing import BASE, CAP, GROW_LAG, IDLE_RESET, SHRINK_LAG, Growth
from plait._worker.slots import Slots
from plait.protocol.transport import MockTransport, Request, Response
from plait.runtime.definitions import ActivityDefn, activity_defn_of


@activity.defn
async def fetch(n: int) -> int:
    return n


@activity.defn
def blocking(n: int) -> int:
    return n


@workflow.defn
class Flow:
    @workflow.run
    async def run(self) -> None:
        return None


def _client() -> Client:
    async def refuse(request: Request) -> Response:
        raise AssertionError(f"constructing a worker sent {request.method} {request.url}")
    return Client(MockTransport(refuse))


def _threads(worker: Worker) -> int:
    """The bound of the worker's own pool for sync activities (threads are made on use)."""
    pool = worker._acts.executor
    assert isinstance(pool, ThreadPoolExecutor)
    return int(pool._max_workers)


# -- the worker's choice ------------------------------------------------------------------
def test_a_default_worker_of_async_activities_starts_at_100_and_grows_both_kinds() -> None:
    worker = Worker(_client(), task_queue="q", workflows=[Flow], activities=[fetch])
    assert (worker.workflow_slots.size, worker.activity_slots.size) == (BASE, BASE) == (100, 100)
    assert set(worker.growth) == {"workflow", "activity"}
    assert worker.growth["workflow"].slots is worker.workflow_slots
    assert worker.growth["activity"].slots is worker.activity_slots
    assert (CAP, _threads(worker)) == (300, 100)


def test_a_default_worker_with_a_sync_activity_keeps_100_activity_slots_and_threads() -> None:
    for acts in ([blocking], [fetch, blocking]):
        worker = Worker(_client(), task_queue="q", workflows=[Flow], activities=acts)
        assert worker.activity_slots.size == 100, acts
        assert "activity" not in worker.growth, acts  # each attempt would hold a thread
        assert _threads(worker) == 100, acts
        assert "workflow" in worker.growth, acts  # workflow tasks hold no thread


@pytest.mark.parametrize("acts", [[fetch], [blocking], [fetch, blocking]])
def test_counts_passed_are_kept_exactly_and_never_grown(acts: list[object]) -> None:
    for given in (1, 7, 100, 300, 1000):
        worker = Worker(_client(), task_queue="q", workflows=[Flow], activities=acts,
                        max_concurrent_activities=given,
                        max_concurrent_workflow_tasks=given + 1)
        assert worker.activity_slots.size == given
        assert worker.workflow_slots.size == given + 1
        assert worker.growth == {}
        assert _threads(worker) == given  # asked for: as many threads as slots, as before


def test_one_count_given_leaves_only_the_other_to_the_default() -> None:
    worker = Worker(_client(), task_queue="q", workflows=[Flow], activities=[fetch],
                    max_concurrent_workflow_tasks=5)
    assert (worker.workflow_slots.size, worker.activity_slots.size) == (5, 100)
    assert set(worker.growth) == {"activity"}
    worker = Worker(_client(), task_queue="q", workflows=[Flow], activities=[fetch],
                    max_concurrent_activities=5)
    assert (worker.workflow_slots.size, worker.activity_slots.size) == (100, 5)
    assert set(worker.growth) == {"workflow"}


def test_a_pool_passed_in_is_used_as_it_is() -> None:
    pool = ThreadPoolExecutor(max_workers=3)
    try:
        worker = Worker(_client(), task_queue="q", activities=[blocking],
                        activity_executor=pool)
        assert worker._acts.executor is pool
        assert worker.activity_slots.size == 100
    finally:
        pool.shutdown()


@pytest.mark.parametrize("option", ["max_concurrent_activities",
                                    "max_concurrent_workflow_tasks"])
def test_a_count_below_one_is_refused(option: str) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Worker(_client(), task_queue="q", workflows=[Flow], activities=[fetch],
               **{option: 0})


# -- growth -------------------------------------------------------------------------------
def _growth(**kw: float) -> tuple[Growth, Slots]:
    slots = Slots(BASE)
    return Growth(slots, **kw), slots


def _busy_tick(g: Growth, now: float, *, asked: int = 50, done: int = 50,
               lag: float = 0.0, took: float = 0.01) -> None:
    """One sample period: a poll, ``done`` tasks finished in ``took``, a sample ``lag`` late."""
    g.polled(asked, asked, now)
    for _ in range(done):
        g.finished(took)
    g.ticked(lag, now)


def test_slots_grow_by_the_tasks_finished_while_polls_find_a_backlog() -> None:
    g, slots = _growth()
    _busy_tick(g, 1.0, done=30)
    assert slots.size == BASE + 30


def test_no_growth_without_a_backlog() -> None:
    g, slots = _growth()
    for n in range(10):  # busy, but every poll came back with less than it asked for
        g.polled(50, 49, float(n))
        g.polled(50, 0, float(n))
        for _ in range(50):
            g.finished(0.01)
        g.ticked(0.0, float(n))
    assert slots.size == BASE


def test_growth_stops_at_the_cap() -> None:
    g, slots = _growth()
    for n in range(20):
        _busy_tick(g, float(n), done=100)
    assert slots.size == CAP


def test_no_growth_while_the_loop_runs_late() -> None:
    g, slots = _growth()
    _busy_tick(g, 1.0, lag=GROW_LAG * 1.5)
    assert slots.size == BASE


def test_a_lagging_loop_halves_the_growth_but_never_goes_below_the_base() -> None:
    g, slots = _growth()
    for n in range(20):
        _busy_tick(g, n * 0.1, done=100)
    assert slots.size == CAP
    _busy_tick(g, 2.1, lag=SHRINK_LAG)
    assert slots.size == BASE + (CAP - BASE) // 2
    for n in range(10):
        _busy_tick(g, 2.2 + n * 0.1, lag=SHRINK_LAG * 4)
    assert slots.size == BASE


def test_slow_tasks_do_not_count_and_very_slow_ones_shrink() -> None:
    g, slots = _growth(fast=1.0, slow=2.5)
    _busy_tick(g, 1.0, took=1.5)  # finished, but not quickly: no evidence that more fit
    assert slots.size == BASE
    _busy_tick(g, 1.1, done=60)
    assert slots.size == BASE + 60
    _busy_tick(g, 1.2, done=1, took=3.0)
    assert slots.size == BASE + 30


def test_back_to_the_base_after_a_while_without_backlog() -> None:
    g, slots = _growth()
    _busy_tick(g, 10.0, done=80)
    assert slots.size == BASE + 80
    g.ticked(0.0, 10.0 + IDLE_RESET / 2)
    assert slots.size == BASE + 80
    g.ticked(0.0, 10.0 + IDLE_RESET)
    assert slots.size == BASE


def test_shrinking_below_what_is_held_only_stops_new_reservations() -> None:
    g, slots = _growth()
    for n in range(20):
        _busy_tick(g, n * 0.1, done=100)
    assert slots.try_reserve(CAP) == CAP
    g.ticked(SHRINK_LAG * 4, 2.5)
    assert slots.size < slots.used and slots.free < 0
    assert slots.try_reserve(1) == 0  # nothing new until enough is released
    slots.release(CAP)
    assert slots.try_reserve(BASE * 10) == slots.size


def test_growths_follow_what_the_user_left_to_the_default() -> None:
    wf, act = Slots(1), Slots(1)
    asyncs = [activity_defn_of(fetch)]
    mixed = [activity_defn_of(a) for a in (fetch, blocking)]
    def kinds(acts: list[ActivityDefn], *, given: int | None = None,
              has_workflows: bool = True) -> set[str]:
        return set(sizing.growths(wf, act, workflows_given=given, activities_given=given,
                                  has_workflows=has_workflows, activities=acts))
    assert kinds(asyncs) == {"workflow", "activity"}
    assert kinds(mixed) == {"workflow"}
    assert kinds(asyncs, given=3) == set()
    assert kinds([]) == {"workflow"}  # nothing to poll for: nothing to grow
    assert kinds(asyncs, has_workflows=False) == {"activity"}


async def test_growing_wakes_a_poller_waiting_for_a_slot() -> None:
    slots = Slots(1)
    assert slots.try_reserve(1) == 1
    waiting = asyncio.ensure_future(slots.reserve_some(5))
    await asyncio.sleep(0)  # it runs up to its wait: no slot is free
    assert not waiting.done()
    slots.resize(3)
    assert await asyncio.wait_for(waiting, 5) == 2  # woken by the growth, not a release


def test_a_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Slots(2).resize(0)
