"""The worker's completion batcher, against a mock transport."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from plait import errors
from plait._api import API, Api
from plait._worker.completions import Completions
from plait.protocol.completions import (
    CompleteActivityTaskItem,
    CompleteWorkflowTaskItem,
    FailActivityTaskItem,
    FailWorkflowTaskItem,
    TaskCompletion,
)
from plait.protocol.jsoncodec import loads
from plait.protocol.transport import MockTransport, Request, Response

ROUTE = API + "/task-completions"


class FakeServer:
    retry_for = 60.0

    def __init__(self, fail: BaseException | None = None, unavailable: int = 0) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.fail = fail
        self.unavailable = unavailable  # answer this many items 503 first
        self.release = asyncio.Event()
        self.release.set()

    async def handle(self, request: Request) -> Response:
        self.calls.append((request.path, request.body))
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        if request.path != ROUTE:
            return Response.of({"alone": True})
        items = request.json()["completions"]
        if self.unavailable:
            self.unavailable -= 1
            return Response.of({"results": [{"error": {
                "status": 503, "code": "unavailable", "message": "the database is unavailable"}}
                for _ in items]})
        return Response.of({"results": [
            {"error": {"status": 409, "code": "stale_task", "message": "gone"}}
            if it["token"] == "bad" else {"result": {"token": it["token"]}} for it in items]})


def batcher(t: FakeServer, **kw: Any) -> Completions:
    return Completions(Api(MockTransport(t.handle), retry_for=t.retry_for), **kw)


class Echo(msgspec.Struct):
    """What the fake server answers: the item's token, or that it came alone."""

    token: str | None = None
    alone: bool = False


def done(token: str, **kw: Any) -> TaskCompletion:
    return CompleteActivityTaskItem(token=token, **kw)


def send(c: Completions, item: TaskCompletion) -> Any:
    return c.send(item, Echo)


async def test_completions_of_one_loop_turn_share_a_request() -> None:
    t = FakeServer()
    c = batcher(t)
    out = await asyncio.gather(*(send(c, done(str(i)))
                                 for i in range(10)))
    assert out == [Echo(str(i)) for i in range(10)]
    assert len(t.calls) == 1


async def test_each_item_gets_its_own_error() -> None:
    c = batcher(FakeServer())
    ok, bad = await asyncio.gather(send(c, CompleteWorkflowTaskItem(token="a", commands=[])),
                                   send(c, FailWorkflowTaskItem(token="bad")),
                                   return_exceptions=True)
    assert ok == Echo("a")
    assert isinstance(bad, errors.RPCError) and bad.code == "stale_task" and bad.status == 409


async def test_the_queue_grows_while_requests_are_in_flight() -> None:
    t = FakeServer()
    t.release.clear()
    c = batcher(t, max_in_flight=1)
    first = asyncio.ensure_future(send(c, done("0")))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(send(c, done(str(i))))
            for i in range(1, 6)]
    await asyncio.sleep(0.01)
    assert len(t.calls) == 1
    t.release.set()
    await asyncio.gather(first, *rest)
    assert [len(loads(body)["completions"]) for _, body in t.calls] == [1, 5]


async def test_batches_respect_item_and_byte_limits() -> None:
    t = FakeServer()
    c = batcher(t, max_items=3, max_bytes=200)
    await asyncio.gather(*(send(c, done(str(i))) for i in range(7)))
    assert [len(loads(body)["completions"]) for _, body in t.calls] == [3, 3, 1]
    big = await send(c, done("x", result={"encoding": "json", "data": "y" * 500}))
    assert big == Echo(alone=True) and t.calls[-1][0] == "/api/v1/activity-tasks/complete"
    assert "type" not in loads(t.calls[-1][1])  # the body its own route takes


async def test_a_failed_request_fails_every_item() -> None:
    c = batcher(FakeServer(fail=errors.RPCError("down", status=503, code="unavailable")))
    out = await asyncio.gather(*(send(c, FailActivityTaskItem(token=str(i))) for i in range(3)),
                               return_exceptions=True)
    assert all(isinstance(e, errors.RPCError) and e.code == "unavailable" for e in out)


async def test_an_unexpected_failure_becomes_an_rpc_error() -> None:
    c = batcher(FakeServer(fail=KeyError("results")))
    with pytest.raises(errors.RPCError, match="completion request failed"):
        await send(c, done("1"))


async def test_an_item_answered_503_is_sent_again() -> None:
    t = FakeServer(unavailable=2)
    assert await send(batcher(t), done("7")) == Echo("7")
    assert len(t.calls) == 3


async def test_503_is_retried_only_within_the_transport_window() -> None:
    t = FakeServer(unavailable=100)
    t.retry_for = 0.2
    with pytest.raises(errors.RPCError) as e:
        await send(batcher(t), done("7"))
    assert e.value.status == 503 and 1 < len(t.calls) < 10
