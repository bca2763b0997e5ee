"""A transaction that makes a task ready hands it to a poll parked on its queue, in the same
transaction (``dispatch.hand_off``): the poll is answered at the commit, with no claim of its
own. These tests drive the service without HTTP, as the poll route does, and count the
store's write transactions to tell a hand-off from a wake-up followed by a claim."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import pytest
from prometheus_client import REGISTRY

from plait.protocol.commands import StartTimerCommand
from plait.protocol.completions import CompleteWorkflowTaskRequest
from plait.protocol.requests import StartWorkflowRequest
from plait.protocol.sessions import OpenSessionRequest
from plait.server import dispatch, lifecycle, sessions, steps, timeouts
from plait.server.answers import Dispatched, OutgoingWorkflowTask
from plait.server.errors import NotFound
from plait.server.run import Ctx
from plait.server.service import Service
from plait.store.base import Store, StoreUnavailable, Txn
from plait.store.sqlite import SQLiteStore
from tests.waiting import eventually

NS, QUEUE = "default", "q"
KEY = (NS, QUEUE, "workflow")
T = TypeVar("T")


class CountingStore(SQLiteStore):
    """Counts write and read transactions; ``fail_next`` rolls the next write back after its
    operation ran (as a failed COMMIT would), ``rerun_next`` runs the next operation twice,
    the first run rolled back (as PostgreSQL does after a stale connection)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.writes = 0
        self.reads = 0
        self.fail_next = False
        self.rerun_next = False
        self.alone = True

    def sees_every_commit(self) -> bool:
        return self.alone  # False: as a PostgreSQL server that has heard of another

    async def read(self, fn: Callable[[Txn], T]) -> T:
        self.reads += 1
        return await super().read(fn)

    async def write(self, fn: Callable[[Txn], T], *, task: int | None = None) -> T:
        self.writes += 1
        if self.fail_next or self.rerun_next:
            rerun, self.fail_next, self.rerun_next = self.rerun_next, False, False

            def rolled_back(txn: Txn) -> T:
                fn(txn)
                raise StoreUnavailable("the commit failed")
            try:
                await super().write(rolled_back)
            except StoreUnavailable:
                if not rerun:
                    raise
        return await super().write(fn)


@contextlib.asynccontextmanager
async def serving(store: Store) -> AsyncIterator[Service]:
    """A service over ``store``; stopped, and the store closed, after."""
    svc = Service(store)
    try:
        yield svc
    finally:
        svc.matching.stop()
        await store.close()


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    async with serving(CountingStore(str(tmp_path / "handoff.db"))) as svc:
        yield svc


def store_of(svc: Service) -> CountingStore:
    assert isinstance(svc.store, CountingStore)
    return svc.store


async def open_session(svc: Service) -> str:
    out = await svc.write(lambda ctx: sessions.open_session(ctx, NS, OpenSessionRequest(
        task_queue=QUEUE, workflow_types=["Order"]), expiry=30.0))
    return out.session_id


def poll(svc: Service, sid: str, wait: float = 30.0,
         number: int | None = None) -> asyncio.Task[list[Dispatched]]:
    """A workflow poll as the route makes it (``number``: the worker's for it)."""
    async def claim() -> tuple[list[Any], float | None]:
        return await svc.write(lambda ctx: dispatch.poll_claim(ctx, NS, QUEUE, "workflow",
                                                               sid, 10, number))
    return asyncio.create_task(svc.matching.poll(KEY, wait, claim, sid, 10, number))


async def parked(svc: Service, n: int = 1) -> None:
    await eventually(lambda: len(svc.matching._parked.get(KEY, [])) == n,
                     what=f"{n} poll(s) parked")


def start(wid: str) -> Callable[[Ctx], Any]:
    return lambda ctx: lifecycle.start_workflow(ctx, NS, StartWorkflowRequest(
        workflow_id=wid, workflow_type="Order", task_queue=QUEUE))


async def leased_token(svc: Service, wid: str) -> str | None:
    def read(t: Txn) -> str | None:
        rid = t.current_run(NS, wid)
        assert rid is not None
        [task] = t.tasks_of_run(NS, wid, rid)
        return f"{task.task_id}.{task.dispatch_no}" if task.lease_session else None
    return await svc.store.read(read)


async def test_a_start_hands_its_first_workflow_task_to_a_parked_poll(
        service: Service) -> None:
    sid = await open_session(service)
    waiting = poll(service, sid)
    await parked(service)
    before = store_of(service).writes
    await service.write(start("w1"))
    [task] = await waiting
    assert isinstance(task, OutgoingWorkflowTask) and task.workflow_id == "w1"
    assert len(task.events) == 2  # STARTED, SCHEDULED
    # One transaction: the start claimed for the poll; the poll claimed nothing itself.
    assert store_of(service).writes - before == 1
    assert await leased_token(service, "w1") == task.token


async def test_a_hand_off_records_the_parked_poll_s_number(service: Service) -> None:
    """The task is leased under the poll's number, as if the poll had claimed it itself: a
    heartbeat judges it by that request (``plait.server.sessions``)."""
    sid = await open_session(service)
    waiting = poll(service, sid, number=41)
    await parked(service)
    await service.write(start("w1"))
    [task] = await waiting

    def number(t: Txn) -> int | None:
        row = t.get_task(int(task.token.split(".")[0]))
        assert row is not None
        return row.lease_request
    assert await service.store.read(number) == 41


async def test_a_task_handed_off_by_the_change_that_created_its_run_carries_what_was_written(
        service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run was saved in the same transaction: its events go out as written, byte for
    byte, and are not read back."""
    sid = await open_session(service)
    waiting = poll(service, sid)
    await parked(service)
    reads: list[str] = []
    events = Txn.events

    def counted(self: Txn, ns: str, wid: str, rid: str, *args: Any) -> Any:
        reads.append(wid)
        return events(self, ns, wid, rid, *args)
    monkeypatch.setattr(Txn, "events", counted)
    started = await service.write(start("w1"))
    [task] = await waiting
    assert reads == []
    stored = await service.store.read(lambda t: t.events(NS, "w1", started["run_id"]))
    assert isinstance(task, OutgoingWorkflowTask)
    assert [bytes(e) for e in task.events] == [bytes(e) for e in stored]


async def test_a_fired_timer_hands_its_workflow_task_to_a_parked_poll(
        service: Service) -> None:
    sid = await open_session(service)
    started = await service.write(start("sleeper"))
    [wt] = await service.write(lambda ctx: dispatch.claim(ctx, NS, QUEUE, "workflow", sid, 1))
    assert isinstance(wt, OutgoingWorkflowTask)
    await service.write(lambda ctx: steps.complete_workflow_task(ctx, CompleteWorkflowTaskRequest(
        token=wt.token, commands=[StartTimerCommand(timer_id="t", duration=0)])))
    waiting = poll(service, sid)
    await parked(service)
    before = store_of(service).writes
    await service.write(lambda ctx: timeouts.fire_timer(ctx, NS, "sleeper", started["run_id"],
                                                        "user", "t"))
    [task] = await waiting
    assert isinstance(task, OutgoingWorkflowTask) and task.workflow_id == "sleeper"
    assert store_of(service).writes - before == 1  # the firing transaction claimed it
    assert [msgspec.json.decode(e)["event_type"] for e in task.events] == [
        "TIMER_FIRED", "WORKFLOW_TASK_SCHEDULED"]  # sticky: only what the cache has not seen


async def test_one_task_goes_to_one_poll_and_the_others_sleep_on(service: Service) -> None:
    sid = await open_session(service)
    first, second = poll(service, sid), poll(service, sid)
    await parked(service, 2)
    before = store_of(service).writes
    await service.write(start("a"))
    [a] = await first  # the longest parked goes first
    assert isinstance(a, OutgoingWorkflowTask) and a.workflow_id == "a"
    assert not second.done() and service.matching.parked(KEY)
    await service.write(start("b"))
    [b] = await second
    assert isinstance(b, OutgoingWorkflowTask) and b.workflow_id == "b"
    assert store_of(service).writes - before == 2  # no poll woke up to claim in vain


async def test_a_hand_off_that_rolls_back_leaves_the_poll_waiting(service: Service) -> None:
    sid = await open_session(service)
    waiting = poll(service, sid)
    await parked(service)
    store_of(service).fail_next = True
    with pytest.raises(StoreUnavailable):
        await service.write(start("gone"))
    # Told to claim again, the poll finds nothing (the start rolled back) and parks again.
    await parked(service)
    assert not waiting.done()
    await service.write(start("later"))
    [task] = await waiting
    assert isinstance(task, OutgoingWorkflowTask) and task.workflow_id == "later"


async def test_a_change_run_again_hands_off_only_what_its_last_run_committed(
        service: Service) -> None:
    sid = await open_session(service)
    waiting = poll(service, sid)
    await parked(service)
    store_of(service).rerun_next = True
    await service.write(start("w"))
    [task] = await waiting
    # The first run's claim was rolled back: the poll got the task of the committed claim.
    assert isinstance(task, OutgoingWorkflowTask)
    assert await leased_token(service, "w") == task.token


async def test_a_change_run_twice_leaves_the_effects_of_one_run(service: Service) -> None:
    """What the rolled-back first run noted (a lease, a task on its way, a fact to count)
    never happened: only the committed run's effects are applied."""
    sid = await open_session(service)
    await service.write(start("w"))
    store_of(service).rerun_next = True
    [task], _ = await service.write(
        lambda ctx: dispatch.poll_claim(ctx, NS, QUEUE, "workflow", sid, 10))
    assert service.ledger.dispatched(sid) == 1
    assert service.ledger.deliveries.grace_from(task.token, 0.0) is not None  # answered


async def test_a_caller_that_stops_waiting_leaves_no_poll_stuck(service: Service) -> None:
    sid = await open_session(service)
    waiting = poll(service, sid, wait=0.5)
    await parked(service)
    entered, release = threading.Event(), threading.Event()

    def slow_start(ctx: Ctx) -> Any:
        entered.set()
        release.wait(10)
        return start("slow")(ctx)
    writing = asyncio.create_task(service.write(slow_start))
    await eventually(entered.is_set, what="the start running in the store's thread")
    writing.cancel()  # its request was cancelled; the store still runs and commits it
    with pytest.raises(asyncio.CancelledError):
        await writing
    release.set()
    await eventually(lambda: service.store.read(lambda t: t.current_run(NS, "slow")),
                     what="the cancelled start committed")
    # Nothing was handed off (no one would answer the poll after the commit), and no wake-up
    # came: a new poll claims rather than trust the empty claim made before the start.
    [task] = await poll(service, sid, wait=0.2)
    assert isinstance(task, OutgoingWorkflowTask) and task.workflow_id == "slow"
    assert await waiting == []  # the parked poll was not left waiting on the cancelled start


@pytest.mark.parametrize(("alone", "claims"), [(True, 0), (False, 1)],
                         ids=["sees-every-commit", "may-miss-commits"])
async def test_a_poll_right_after_an_empty_claim_parks_without_claiming(
        service: Service, alone: bool, claims: int) -> None:
    """While the server sees every commit, an empty claim holds until one wakes the queue.
    Another server's commit reaches this one as a wake-up that may be lost (PostgreSQL, once
    another server was heard): an empty claim proves nothing for long then, and each poll
    claims."""
    store_of(service).alone = alone
    sid = await open_session(service)
    first = poll(service, sid)
    await parked(service)
    before = store_of(service).writes
    second = poll(service, sid)
    await parked(service, 2)
    assert store_of(service).writes == before + claims
    await service.write(start("a"))
    [a] = await first
    await service.write(start("b"))
    [b] = await second
    assert isinstance(a, OutgoingWorkflowTask) and isinstance(b, OutgoingWorkflowTask)
    assert (a.workflow_id, b.workflow_id) == ("a", "b")


async def test_a_wake_up_makes_the_next_poll_claim(service: Service) -> None:
    sid = await open_session(service)
    assert await poll(service, sid, wait=0.01) == []  # an empty claim, then no poll parked
    await service.write(start("w"))  # nothing parked to hand it to: it wakes the queue
    [task] = await poll(service, sid, wait=0.2)  # claims at once, trusting nothing
    assert isinstance(task, OutgoingWorkflowTask) and task.workflow_id == "w"


async def start_beside_a_poll_whose_session_ended(svc: Service, wid: str) -> None:
    """A poll parks, its session ends, then a start makes a task ready on its queue: the
    start succeeds, and the poll fails on its own claim."""
    sid = await open_session(svc)
    waiting = poll(svc, sid)
    await parked(svc)
    await svc.write(lambda ctx: ctx.txn.delete_session(sid))
    started = await svc.write(start(wid))
    assert started["started"]
    with pytest.raises(NotFound, match="unknown or expired"):
        await waiting  # its own claim says why


async def test_a_parked_poll_whose_session_ended_does_not_fail_the_start(
        service: Service) -> None:
    await start_beside_a_poll_whose_session_ended(service, "w")


async def test_a_start_run_again_by_the_sqlite_batch_hands_off_what_was_committed(
        service: Service) -> None:
    """The real rerun, not a simulated one: a change queued in one SQLite batch with an
    operation that fails after writing runs twice (the batch is undone and run again with
    savepoints). The parked poll gets the task of the committed run, and the start's facts
    are counted once."""
    sid = await open_session(service)
    waiting = poll(service, sid)
    await parked(service)
    started, gate = threading.Event(), threading.Event()

    def hold(t: Txn) -> None:
        started.set()
        gate.wait(10)

    def fails_after_writing(t: Txn) -> None:
        t.store_response(NS, "req", {}, 1.0)
        raise RuntimeError("refused after writing")

    before = REGISTRY.get_sample_value("plait_workflows_started_total",
                                       {"namespace": NS, "workflow_type": "Order"}) or 0.0
    held = asyncio.ensure_future(service.store.write(hold))
    await asyncio.to_thread(started.wait, 10)
    runs: list[int] = []

    def counted(ctx: Ctx) -> Any:
        runs.append(1)
        return start("w")(ctx)
    change = asyncio.ensure_future(service.write(counted))
    failing = asyncio.ensure_future(service.store.write(fails_after_writing))
    await asyncio.sleep(0)  # both queued behind the held writer: one batch
    gate.set()
    await held
    await change
    with pytest.raises(RuntimeError):
        await failing
    [task] = await waiting
    assert isinstance(task, OutgoingWorkflowTask) and task.workflow_id == "w"
    assert await leased_token(service, "w") == task.token
    assert service.ledger.dispatched(sid) == 1
    after = REGISTRY.get_sample_value("plait_workflows_started_total",
                                      {"namespace": NS, "workflow_type": "Order"})
    assert after == before + 1
    assert len(runs) == 2  # it did run twice: the first run was undone with the batch


async def test_a_hand_off_whose_claim_fails_leaves_no_poll_taken(
        service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    """The poll is recorded as taken before its claim runs, so when the claim fails (the
    database went away mid-change) the failed change still answers it, and it parks again
    instead of waiting for an answer that would never come."""
    sid = await open_session(service)
    waiting = poll(service, sid, wait=30.0)
    await parked(service)

    real_claim, calls = dispatch.claim, []

    def failing_claim(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:  # the hand-off's
            raise StoreUnavailable("the database went away")
        return real_claim(*args, **kwargs)
    monkeypatch.setattr(dispatch, "claim", failing_claim)
    with pytest.raises(StoreUnavailable):
        await service.write(start("w1"))
    await parked(service)  # claimed again by itself (found nothing: the start rolled back)
    assert not waiting.done()
    waiting.cancel()
