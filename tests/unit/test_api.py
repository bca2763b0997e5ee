"""The client and worker against a mock transport: URLs, quoting, retries, loud failures."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable

import msgspec
import pytest

from plait import Client, Worker, activity, errors
from plait._backoff import Backoff
from plait.protocol.common import RetryPolicy
from plait.protocol.enums import ScheduleOverlap
from plait.protocol.jsoncodec import dumps
from plait.protocol.requests import SignalRequest, StartWorkflowRequest, UpdateRequest
from plait.protocol.schedules import CreateScheduleRequest, ScheduleUpdate
from plait.protocol.transport import Handler, MockTransport, Request, Response, Unreachable

ODD_ID = "a/b?c#d é"
ODD_ID_ON_WIRE = "a%2Fb%3Fc%23d%20%C3%A9"


def client_of(handler: Handler, *, namespace: str = "default",
              retry_for: float = 5.0) -> tuple[Client, MockTransport]:
    transport = MockTransport(handler)
    client = Client(transport, namespace, retry_for=retry_for)
    client.api.backoff = lambda: Backoff(0.001, 0.004)  # retries without slowing the test
    return client, transport


DESCRIPTION = {"workflow_id": ODD_ID, "run_id": "r1", "workflow_type": "W",
               "task_queue": "q", "status": "COMPLETED", "start_time": 0.0,
               "close_time": 1.0, "search_attributes": {}, "history_length": 5, "memo": None,
               "pending_activities": [], "attempts": [], "last_task_failure": None,
               "pending_workflow_task": False,
               "result": {"status": "COMPLETED", "result": {"encoding": "json", "data": 1}}}


def ok(request: Request) -> Response:
    """What the server answers each call of the test below."""
    if "/updates/" in request.path:
        return Response.of({"update_id": "u", "run_id": "r1", "status": "completed",
                            "result": {"encoding": "json", "data": 1}})
    if request.path.endswith("/workflow-count"):
        return Response.of({"count": 3})
    if request.path.endswith("/signal"):
        return Response.of({"workflow_id": ODD_ID, "run_id": "r1"})
    return Response.of(DESCRIPTION)


async def test_every_name_is_one_quoted_path_segment() -> None:
    client, t = client_of(ok, namespace="team/x")
    handle = client.get_workflow_handle(ODD_ID, run_id="r/1")
    await handle.signal("go/now", 1)
    await handle.describe()
    await handle.get_update_result("u?/#")
    await client.count_workflows()
    wf = f"/api/v1/namespaces/team%2Fx/workflows/{ODD_ID_ON_WIRE}"
    assert [r.path for r in t.requests] == [
        wf + "/signal", wf, wf + "/updates/u%3F%2F%23",
        "/api/v1/namespaces/team%2Fx/workflow-count"]
    assert t.requests[0].json()["signal_name"] == "go/now"  # names in bodies stay as they are
    assert t.requests[1].params == {"run_id": "r/1"}  # query values are encoded by the transport


async def test_a_poll_names_its_queue_in_one_segment() -> None:
    client, t = client_of(lambda _: Response.of({"tasks": []}))
    assert await client.api.poll("team/orders", session_id="s", kind="activity", max_tasks=2,
                                 wait=0) == []
    assert t.requests[0].path == "/api/v1/namespaces/default/task-queues/team%2Forders/poll"


async def test_a_503_is_retried_with_the_same_request_id() -> None:
    answers = [Response.error(503, "unavailable"), Response.error(503, "unavailable"),
               Response.of({"workflow_id": "o-1", "run_id": "r1", "started": True})]
    client, t = client_of(lambda _: answers.pop(0))
    handle = await client.start_workflow("Order", "o-1", id="o-1", task_queue="q")
    assert handle.run_id == "r1" and len(t.requests) == 3
    ids = {r.json()["request_id"] for r in t.requests}
    assert len(ids) == 1 and None not in ids  # one start, deduplicated by the server


async def test_a_request_is_the_json_the_server_always_read() -> None:
    client, t = client_of(lambda _: Response.of(
        {"workflow_id": "o-1", "run_id": "r1", "started": True}, status=201))
    await client.start_workflow("Order", {"n": 1}, id="o-1", task_queue="q",
                                request_id="req-1", search_attributes={"tier": 3})
    assert t.requests[0].json() == {
        "workflow_id": "o-1", "workflow_type": "Order", "task_queue": "q",
        "input": [{"encoding": "json", "data": {"n": 1}}],
        "id_reuse_policy": "allow_duplicate", "id_conflict_policy": "fail",
        "search_attributes": {"tier": 3}, "task_timeout": 10.0, "header": {},
        "request_id": "req-1"}  # absent optional fields: the server's null


async def test_an_answer_with_fields_this_client_does_not_know_still_reads() -> None:
    newer = {**DESCRIPTION, "a_field_from_a_newer_server": {"x": 1}, "pending_activities": [{
        "activity_id": "1", "activity_type": "a", "attempt": 2, "state": "backing_off",
        "last_failure": {"message": "no", "type": "E", "new_key": 1}, "also_new": True}]}
    client, _ = client_of(lambda _: Response.of(newer))
    desc = await client.get_workflow_handle("w").describe()
    assert desc.status == "COMPLETED" and desc.history_length == 5
    assert desc.pending_activities[0].last_failure == {"message": "no", "type": "E"}


async def test_an_answer_of_the_wrong_shape_is_a_typed_error_naming_the_route() -> None:
    client, _ = client_of(lambda _: Response.of({"count": "many"}))
    with pytest.raises(errors.RPCError, match=r"workflow-count.*\$\.count") as e:
        await client.count_workflows()
    assert e.value.code == "bad_response"


async def test_an_unreachable_server_is_retried_until_the_window_closes() -> None:
    def away(_: Request) -> Response:
        raise Unreachable("connection refused")

    client, t = client_of(away, retry_for=0.05)
    with pytest.raises(errors.RPCError) as e:
        await client.get_workflow_handle("w").describe()
    assert e.value.code == "unavailable" and "connection refused" in str(e.value)
    assert len(t.requests) > 1


async def test_a_client_error_is_raised_at_once_typed() -> None:
    client, t = client_of(lambda _: Response.error(404, "workflow_not_found", "no such"))
    with pytest.raises(errors.WorkflowNotFoundError, match="no such"):
        await client.get_workflow_handle("w").describe()
    assert len(t.requests) == 1


async def test_a_request_that_must_not_wait_is_not_retried() -> None:
    client, t = client_of(lambda _: Response.error(503, "unavailable"))
    with pytest.raises(errors.RPCError) as e:
        await client.api.session_heartbeat("s/1", [])
    assert e.value.status == 503 and len(t.requests) == 1
    assert t.requests[0].path == "/api/v1/sessions/s%2F1/heartbeat"


@activity.defn
async def noop() -> None:
    pass


class Server:
    """Opens a session, holds the watch, and answers polls as the test says."""

    def __init__(self, poll: Callable[[Request], Response | None]) -> None:
        self.poll = poll
        self.polls = 0
        self.closed = asyncio.Event()

    async def handle(self, request: Request) -> Response:
        if request.path.endswith("/sessions"):
            return Response.of({"session_id": "s1", "expiry": 5.0})
        if request.path.endswith("/watch"):
            await asyncio.Event().wait()  # held open until the worker stops
        if request.path.endswith("/poll"):
            self.polls += 1
            answer = self.poll(request)
            if answer is None:  # a long-poll that finds no task
                await asyncio.Event().wait()
            return answer or Response.of({"tasks": []})
        if request.method == "DELETE":
            self.closed.set()
        return Response.of({})


async def test_a_poll_refused_for_good_stops_the_worker_loudly(
        caplog: pytest.LogCaptureFixture) -> None:
    server = Server(lambda r: Response.error(404, "no_route", f"no route for POST {r.path}"))
    client, _ = client_of(server.handle)
    worker = Worker(client, task_queue="team/orders", activities=[noop], pollers=1)
    with caplog.at_level(logging.ERROR, "plait.worker"), \
            pytest.raises(errors.PlaitError, match=r"'team/orders'.*no_route") as e:
        await asyncio.wait_for(worker.run(), 10)
    assert isinstance(e.value.__cause__, errors.RPCError)
    assert server.polls == 1 and server.closed.is_set()  # not retried; the session closed
    assert any("team/orders" in r.getMessage() for r in caplog.records)


async def test_an_expired_session_on_poll_is_waited_out_not_fatal() -> None:
    answers = [Response.error(404, "session_not_found"), Response.of({"tasks": []})]
    polled_again = asyncio.Event()

    def poll(_: Request) -> Response | None:
        if not answers:
            polled_again.set()
            return None
        return answers.pop(0)

    client, _ = client_of(Server(poll).handle)
    async with Worker(client, task_queue="q", activities=[noop], pollers=1):
        await asyncio.wait_for(polled_again.wait(), 10)


async def test_an_address_without_a_scheme_means_http() -> None:
    client = await Client.connect("localhost:7233")
    assert client.address == "http://localhost:7233"
    await client.close()


@pytest.mark.parametrize("address", ["ftp://host:7233", "http://", "http://host:port"])
async def test_an_impossible_address_fails_at_connect(address: str) -> None:
    with pytest.raises(errors.PlaitError, match="invalid plait server address"):
        await Client.connect(address)


def test_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    b = Backoff(0.1, 0.4)
    delays = [b.next() for _ in range(5)]
    for delay, base in zip(delays, [0.1, 0.2, 0.4, 0.4, 0.4], strict=True):
        assert 0.5 * base <= delay <= 1.5 * base
    b.reset()
    assert b.next() <= 0.15
    with pytest.raises(ValueError):
        Backoff(1.0, 0.5)


@pytest.mark.parametrize("message", [
    StartWorkflowRequest(workflow_id="w", workflow_type="T", task_queue="q", input=[],
                         start_signal=SignalRequest(signal_name="s", run_id=None),
                         retry_policy=RetryPolicy(maximum_attempts=0), header={}),
    CreateScheduleRequest(schedule_id="s", workflow_type="T", task_queue="q",
                          cron="0 3 * * *", overlap=ScheduleOverlap.BUFFER_ONE, paused=False,
                          note="", request_id="r"),
    ScheduleUpdate(cron=None, paused=True, note=""),
    UpdateRequest(update_id="u", update_name="n", wait=0),
], ids=lambda m: type(m).__name__)
def test_a_request_struct_is_written_as_msgspec_writes_it(message: msgspec.Struct) -> None:
    """Requests go out through orjson (so payload values keep orjson's forms), field by field
    as msgspec names and omits them: unset fields and, under omit_defaults, defaults."""
    assert dumps(message) == msgspec.json.encode(message)


def test_a_payload_value_inside_a_request_keeps_its_orjson_form() -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    message = SignalRequest(signal_name="s", input=[{"encoding": "json", "data": when}])
    assert dumps(message) == (b'{"signal_name":"s","input":[{"encoding":"json",'
                              b'"data":"2026-01-02T03:04:05+00:00"}]}')
