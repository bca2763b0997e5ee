"""A result request for a run this server started, while it sees every commit, waits without
reading the run first (``ResultWaiters.open``): the usual ``start`` then ``result`` costs no
read transaction. These tests drive the route's ``_outcome`` without HTTP and count the
store's reads."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from plait.protocol.requests import StartWorkflowRequest
from plait.server import closing, lifecycle, matching
from plait.server.api.workflows import _outcome
from plait.server.matching import ResultWaiters
from plait.server.run import Ctx
from plait.server.service import Service
from tests.unit.test_handoff import service, store_of
from tests.waiting import eventually

NS, QUEUE = "default", "q"
__all__ = ["service"]  # the fixture, shared with tests/unit/test_handoff.py


async def started(svc: Service, wid: str) -> str:
    answer = await svc.write(lambda ctx: lifecycle.start_workflow(ctx, NS, StartWorkflowRequest(
        workflow_id=wid, workflow_type="Order", task_queue=QUEUE)))
    return answer["run_id"]


async def result_after_terminate(svc: Service, wid: str, rid: str) -> dict[str, Any]:
    """A result request, then the run's close by this server while it waits."""
    waiting = asyncio.ensure_future(_outcome(svc, NS, wid, rid, 30.0))
    await eventually(lambda: svc.results.keys().count((NS, wid, rid)) == 1,
                     what="the request waits")
    await svc.write(lambda ctx: closing.terminate(ctx, NS, wid, rid, "done"))
    return dict(await waiting)


async def test_a_run_this_server_started_is_waited_for_without_a_read(
        service: Service) -> None:
    rid = await started(service, "w1")
    assert service.results.open((NS, "w1", rid))
    before = store_of(service).reads
    out = await result_after_terminate(service, "w1", rid)
    assert out["closed"] and out["status"] == "TERMINATED"
    assert store_of(service).reads == before  # the outcome came with the close
    assert not service.results.open((NS, "w1", rid))


async def test_a_server_that_may_miss_commits_reads_first(service: Service) -> None:
    rid = await started(service, "w1")
    store_of(service).alone = False
    before = store_of(service).reads
    out = await result_after_terminate(service, "w1", rid)
    assert out["closed"]
    assert store_of(service).reads == before + 1


async def test_a_run_started_while_other_servers_are_heard_is_not_remembered(
        service: Service) -> None:
    store_of(service).alone = False
    rid = await started(service, "w1")
    assert not service.results.open((NS, "w1", rid))


async def test_a_closed_run_is_read_and_answered_at_once(service: Service) -> None:
    rid = await started(service, "w1")
    await service.write(lambda ctx: closing.terminate(ctx, NS, "w1", rid, "done"))
    before = store_of(service).reads
    out = await _outcome(service, NS, "w1", rid, 30.0)
    assert out["closed"] and store_of(service).reads == before + 1


def test_lost_notices_forget_every_open_run() -> None:
    results = ResultWaiters()
    results.opened(("ns", "a", "r"))
    results.opened(("ns", "b", "r"))
    results.wake_all()
    assert not results.open(("ns", "a", "r")) and not results.open(("ns", "b", "r"))


async def test_a_close_whose_caller_stopped_waiting_is_not_missed(service: Service) -> None:
    """The caller of a terminate stops waiting before the store ran it: its effects (and
    the close in them) are never applied, so no run is trusted to be open any more."""
    rid = await started(service, "w1")
    entered, release = threading.Event(), threading.Event()

    def slow_terminate(ctx: Ctx) -> Any:
        entered.set()
        release.wait(10)
        return closing.terminate(ctx, NS, "w1", rid, "done")

    writing = asyncio.create_task(service.write(slow_terminate))
    await eventually(entered.is_set, what="the terminate running in the store's thread")
    writing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writing
    assert not service.results.open((NS, "w1", rid))
    release.set()
    await eventually(lambda: service.store.read(
        lambda t: t.get_execution(NS, "w1", rid).status == "TERMINATED"),
        what="the cancelled terminate committed")
    out = await asyncio.wait_for(_outcome(service, NS, "w1", rid, 30.0), 10)
    assert out["closed"]  # read, not waited for a close no one will announce


def test_only_the_latest_runs_are_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matching, "OPEN_KEPT", 2)
    results = ResultWaiters()
    for wid in ("a", "b", "c"):
        results.opened(("ns", wid, "r"))
    assert [results.open(("ns", w, "r")) for w in ("a", "b", "c")] == [False, True, True]


async def test_a_request_that_will_not_wait_reads_the_run(service: Service) -> None:
    """Without a wait nothing would answer it with the close: it reads what is committed."""
    rid = await started(service, "w1")
    before = store_of(service).reads
    out = await _outcome(service, NS, "w1", rid, 0.0)
    assert not out["closed"] and store_of(service).reads == before + 1
