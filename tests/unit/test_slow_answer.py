"""A task whose claim took long to commit is not offered again as lost
(``plait.server.deliveries``).

A heartbeat that does not list a leased task offers it again once ``UNACKED_GRACE`` has
passed. The grace counts from when this server answered the claim, not from the claim's
statement (``dispatched_at``): a commit that waited longer than the grace (a slow fsync, a
batch behind a heavy change) made the worker's next heartbeat, listing what it held before
the answer came, count the task as lost, and the attempt ran twice.
"""

from __future__ import annotations

import pytest

from plait.protocol.requests import StartWorkflowRequest
from plait.protocol.sessions import OpenSessionRequest
from plait.server import deliveries, dispatch, lifecycle, sessions
from plait.server.answers import Dispatched
from plait.server.deliveries import Deliveries
from plait.server.service import Service
from plait.store.base import Txn

NS, QUEUE = "default", "q"
SLOW = sessions.UNACKED_GRACE + 1.0
"""How long the claim's commit took, in these tests: longer than the grace."""


async def claimed_task(svc: Service, number: int | None = None) -> tuple[str, str]:
    """A session, and the token of the workflow task its poll claimed (``number``: the
    worker's number for the poll, :mod:`plait._worker.inflight`)."""
    opened = await svc.write(lambda ctx: sessions.open_session(ctx, NS, OpenSessionRequest(
        task_queue=QUEUE, workflow_types=["Order"]), expiry=30.0))
    sid = opened.session_id
    await svc.write(lambda ctx: lifecycle.start_workflow(ctx, NS, StartWorkflowRequest(
        workflow_id="w1", workflow_type="Order", task_queue=QUEUE)))
    tasks: list[Dispatched]
    tasks, _ = await svc.write(
        lambda ctx: dispatch.poll_claim(ctx, NS, QUEUE, "workflow", sid, 10, number))
    [task] = tasks
    return sid, task.token


async def claim_statement_ran_earlier(svc: Service, token: str, seconds: float) -> None:
    """As if the claim's statement had run ``seconds`` before its transaction committed."""
    task_id = int(token.split(".")[0])

    def age(txn: Txn) -> None:
        txn.cur.execute("UPDATE tasks SET dispatched_at = dispatched_at - ? "
                        "WHERE task_id = ?", (seconds, task_id))
    await svc.store.write(age)


async def heartbeat(svc: Service, sid: str, held: list[str]) -> None:
    """A heartbeat that arrived now, listing ``held``."""
    arrived = svc.clock.now()
    await svc.write(lambda ctx: sessions.heartbeat(ctx, sid, held, 30.0, arrived))


async def current_token(svc: Service) -> str | None:
    def read(t: Txn) -> str | None:
        rid = t.current_run(NS, "w1")
        assert rid is not None
        [task] = t.tasks_of_run(NS, "w1", rid)
        return f"{task.task_id}.{task.dispatch_no}" if task.lease_session else None
    return await svc.store.read(read)


async def test_a_task_answered_after_a_slow_commit_is_not_offered_again(
        service: Service) -> None:
    sid, token = await claimed_task(service)
    await claim_statement_ran_earlier(service, token, SLOW)
    # The worker listed what it held before the answer reached it.
    await heartbeat(service, sid, [])
    assert await current_token(service) == token


async def test_a_task_whose_commit_is_still_pending_is_on_its_way(service: Service) -> None:
    """The heartbeat's transaction ran after the claim's commit but before this server
    answered the poll: the token is noted as claimed and not yet answered."""
    sid, token = await claimed_task(service)
    await claim_statement_ran_earlier(service, token, SLOW)
    service.ledger.deliveries.claimed([token])
    await heartbeat(service, sid, [])
    assert await current_token(service) == token


async def test_a_lost_answer_is_still_offered_again_once_the_grace_has_passed(
        service: Service) -> None:
    sid, token = await claimed_task(service)
    await claim_statement_ran_earlier(service, token, SLOW)
    # The answer left SLOW seconds ago, and the worker never listed the task.
    service.ledger.deliveries.answered([token], service.clock.now() - SLOW)
    await heartbeat(service, sid, [])
    assert await current_token(service) is None  # back in the queue, for any worker


async def test_a_task_the_worker_lists_is_kept_however_old(service: Service) -> None:
    sid, token = await claimed_task(service)
    await claim_statement_ran_earlier(service, token, SLOW)
    service.ledger.deliveries.answered([token], service.clock.now() - SLOW)
    await heartbeat(service, sid, [token])
    assert await current_token(service) == token


def test_a_rolled_back_claim_is_judged_by_its_dispatch_time() -> None:
    notes = Deliveries()
    notes.claimed(["1.1"])
    assert notes.grace_from("1.1", 100.0) is None
    notes.dropped(["1.1"])
    assert notes.grace_from("1.1", 100.0) == 100.0


def test_the_grace_counts_from_the_later_of_dispatch_and_answer() -> None:
    notes = Deliveries()
    notes.answered(["1.1"], 105.0)
    assert notes.grace_from("1.1", 100.0) == 105.0
    assert notes.grace_from("2.1", 100.0) == 100.0  # answered by another server, or long ago


def test_notes_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    """A claim never answered (its transaction's outcome unknown) holds nothing back for long,
    and old answers are forgotten: the notes stay small."""
    now = [1000.0]
    monkeypatch.setattr(deliveries.time, "monotonic", lambda: now[0])
    notes = Deliveries()
    notes.claimed(["1.1"])
    notes.answered(["2.1"], 50.0)
    now[0] += deliveries.KEEP + 1
    assert notes.grace_from("1.1", 10.0) == 10.0
    notes.claimed(["3.1"])
    notes.answered(["4.1"], 60.0)
    assert set(notes._claimed) == {"3.1"}
    assert set(notes._answered) == {"4.1"}
