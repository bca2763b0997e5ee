"""The request stream (``GET /api/v1/stream``, plait.protocol.stream) against a real server:
every route answers a frame exactly as it answers HTTP, keys and roles included; requests on
one stream do not wait for each other; a caller that gives up stops its request on the
server; a stream that breaks fails what was in flight and is opened again; a server without
the stream, or a body too large for a frame, is served over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from plait.protocol import stream as stream_mod
from plait.protocol.jsoncodec import dumps, loads
from plait.protocol.stream import StreamTransport
from plait.protocol.transport import HttpTransport, Request, Response, Unreachable
from plait.server.config import ServiceConfig
from plait.server.main import Server
from plait.testing import WorkflowEnvironment
from tests.integration.test_auth import MATRIX, ROLES, Site, site, url
from tests.waiting import eventually

__all__ = ["site"]  # the fixture, shared with test_auth

pytestmark = pytest.mark.timeout(120)


def _request(method: str, target: str, body: bytes | None = None, *,
             timeout: float = 10.0) -> Request:
    path, _, query = target.partition("?")
    params = dict(p.split("=", 1) for p in query.split("&")) if query else None
    if method == "GET":  # a long-poll route (a session's watch) answers at once
        params = {**(params or {}), "wait": "0"}
    if body is None and method in ("POST", "PUT"):
        body = b"{}"
    return Request(method, path, params, body, timeout)


def _framed(http: HttpTransport) -> StreamTransport:
    return StreamTransport(http)


async def _same_answer(site: Site, key: str | None, method: str, target: str) -> Response:
    """The route's answer over the stream, after checking it is HTTP's (for the same request
    sent first over the stream, then over HTTP): the same status, and for a refusal the same
    body to the byte (a success may name what it made: a new session's id)."""
    http = HttpTransport(site.address, key)
    framed = _framed(HttpTransport(site.address, key))
    try:
        over_stream = await framed.send(_request(method, target))
        over_http = await http.send(_request(method, target))
    finally:
        await framed.close()
        await http.close()
    assert over_stream.status == over_http.status, (method, target, over_stream.body)
    if over_http.status >= 400:
        assert over_stream.body == over_http.body, (method, target)
    return over_stream


async def test_every_route_and_role_answers_over_the_stream_as_over_http(site: Site) -> None:
    """The key check, the roles, the namespace a key covers and the routes' own answers are
    the application's, whichever way a request came."""
    for method, path, roles in MATRIX:
        if path == "/metrics":
            continue  # its body changes with every request counted
        for role in ROLES:
            key = site.keys[("a", role)]
            answer = await _same_answer(site, key, method, url(site, path, "a", "w-absent")
                                        .removeprefix(site.address))
            assert (answer.status == 403) == (role not in roles), (method, path, role)
            if "{ns}" in path:
                foreign = await _same_answer(site, key, method,
                                             url(site, path, "b").removeprefix(site.address))
                assert foreign.status == 403, (method, path, role)


async def test_a_stream_without_a_valid_key_is_refused_and_http_says_why(site: Site) -> None:
    for key in (None, "plait_0123456789abcdef." + "A" * 43):
        framed = _framed(HttpTransport(site.address, key))
        try:
            answer = await framed.send(_request("GET", "/api/v1/namespaces"))
            assert framed._stream is None  # the upgrade was refused
        finally:
            await framed.close()
        assert answer.status == 401
        assert loads(answer.body)["error"]["code"] == "unauthenticated"


async def test_a_browser_may_not_open_a_stream(site: Site) -> None:
    """A page of any origin could read what a WebSocket answers (unlike a cross-site fetch),
    so a browser's stream is refused even with a valid key (say, one a proxy adds)."""
    key = site.keys[("a", "admin")]
    async with aiohttp.ClientSession() as http:
        for marker in ({"Origin": "https://elsewhere.example"}, {"Sec-Fetch-Site": "cross-site"}):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(site.address + "/api/v1/stream",
                                      headers={"Authorization": f"Bearer {key}", **marker})
            assert refused.value.status == 403
        ws = await http.ws_connect(site.address + "/api/v1/stream",
                                   headers={"Authorization": f"Bearer {key}"})
        await ws.close()


async def test_a_malformed_frame_closes_the_stream_and_nothing_else(site: Site) -> None:
    key = site.keys[("a", "admin")]
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
        for bad in (b"no header", "text, not binary"):
            ws = await http.ws_connect(site.address + "/api/v1/stream")
            if isinstance(bad, bytes):
                await ws.send_bytes(bad)
            else:
                await ws.send_str(bad)
            message = await ws.receive()
            assert message.type == aiohttp.WSMsgType.CLOSE
            assert ws.close_code in (1002, 1003)
        async with http.get(site.address + "/api/v1/namespaces/a") as answer:
            assert answer.status == 200  # the server serves on


async def test_a_revoked_key_is_refused_on_a_stream_already_open(site: Site) -> None:
    made = await HttpTransport(site.address, site.root).send(Request(
        "POST", "/api/v1/api-keys", None,
        dumps({"namespace": "a", "role": "reader", "name": "soon-revoked"})))
    created = loads(made.body)
    framed = _framed(HttpTransport(site.address, created["key"]))
    try:
        assert (await framed.send(_request("GET", "/api/v1/namespaces/a"))).status == 200
        opened = framed._stream
        root = HttpTransport(site.address, site.root)
        revoked = await root.send(Request("POST", f"/api/v1/api-keys/{created['key_id']}/revoke",
                                          None, b"{}"))
        await root.close()
        assert revoked.status == 200
        # the server that revoked it forgets its cached row at once
        answer = await framed.send(_request("GET", "/api/v1/namespaces/a"))
        assert framed._stream is opened
        assert answer.status == 401, answer.body
    finally:
        await framed.close()


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with WorkflowEnvironment.start_local(session_expiry=60.0) as e:
        yield e


async def _open_session(framed: StreamTransport, queue: str) -> str:
    opened = await framed.send(_request(
        "POST", "/api/v1/namespaces/default/sessions",
        dumps({"identity": "stream-test", "task_queue": queue})))
    assert opened.status == 201, opened.body
    return str(loads(opened.body)["session_id"])


def _poll(queue: str, session_id: str, wait: float) -> Request:
    return Request("POST", f"/api/v1/namespaces/default/task-queues/{queue}/poll", None,
                   dumps({"session_id": session_id, "kind": "workflow", "max_tasks": 1,
                          "wait": wait}), wait + 10)


async def _parked(env: WorkflowEnvironment, queue: str, parked: bool) -> None:
    """Wait until a poll is (or no poll is) parked on ``queue``'s workflow tasks."""
    key = ("default", queue, "workflow")
    service = env.server.service
    assert service is not None
    await eventually(lambda: service.matching.parked(key) == parked,
                     what=f"a poll {'parked' if parked else 'gone'} on {queue}")


@contextlib.asynccontextmanager
async def _parked_poll(env: WorkflowEnvironment, queue: str
                       ) -> AsyncIterator[tuple[StreamTransport, str, asyncio.Future[Response]]]:
    """A stream with a session on ``queue`` and a 30 s poll parked on the server."""
    framed = _framed(HttpTransport(env.address))
    poll: asyncio.Future[Response] | None = None
    try:
        session_id = await _open_session(framed, queue)
        poll = asyncio.ensure_future(framed.send(_poll(queue, session_id, 30)))
        await _parked(env, queue, True)
        yield framed, session_id, poll
    finally:
        if poll is not None:
            poll.cancel()
        await framed.close()


async def test_a_parked_poll_does_not_hold_up_the_requests_behind_it(
        env: WorkflowEnvironment, queue: str) -> None:
    async with _parked_poll(env, queue) as (framed, _, poll):
        one_stream = framed._stream
        for _ in range(20):
            answer = await framed.send(_request("GET", "/api/v1/namespaces/default"))
            assert answer.status == 200
        assert not poll.done()
        assert framed._stream is one_stream  # all on the one stream
        await env.client.start_workflow("Anything", id="wf-1", task_queue=queue)
        tasks = await asyncio.wait_for(poll, 10)
        assert tasks.status == 200 and b"wf-1" in tasks.body


async def test_a_caller_that_gives_up_stops_its_poll_on_the_server(
        env: WorkflowEnvironment, queue: str) -> None:
    async with _parked_poll(env, queue) as (framed, session_id, poll):
        poll.cancel()
        await _parked(env, queue, False)
        # the stream is still good, and a task started now waits for the next poll (had the
        # cancelled poll stayed parked, the start would have handed the task to it, and the
        # task would wait for the session to expire: a minute here)
        await env.client.start_workflow("Anything", id="wf-2", task_queue=queue)
        again = await framed.send(_poll(queue, session_id, 5))
        assert b"wf-2" in again.body


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_broken_stream_fails_what_was_in_flight_and_opens_again(
        tmp_path: Path, queue: str) -> None:
    db, port = f"sqlite:///{tmp_path / 'plait.db'}", _free_port()
    server = Server(db, "127.0.0.1", port, ServiceConfig(session_expiry=3.0))
    await server.start()
    framed = _framed(HttpTransport(server.address))
    try:
        session_id = await _open_session(framed, queue)
        poll = asyncio.ensure_future(framed.send(_poll(queue, session_id, 30)))
        await asyncio.sleep(0)
        first = framed._stream
        await server.stop()
        with pytest.raises(Unreachable):
            await asyncio.wait_for(poll, 10)
        server = Server(db, "127.0.0.1", port, ServiceConfig(session_expiry=3.0))
        await server.start()
        answer = await framed.send(_request("GET", "/api/v1/namespaces/default"))
        assert answer.status == 200
        assert framed._stream is not None and framed._stream is not first
    finally:
        await framed.close()
        await server.stop()


async def test_a_body_too_large_for_a_frame_goes_over_http(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = Server(f"sqlite:///{tmp_path / 'plait.db'}", "127.0.0.1", 0,
                    ServiceConfig(max_payload=4096))
    await server.start()
    framed = _framed(HttpTransport(server.address))
    try:
        big = dumps({"workflow_id": "w", "workflow_type": "T", "task_queue": "q",
                     "input": [{"metadata": {}, "data": "x" * 500_000}]})
        start = "/api/v1/namespaces/default/workflows"
        # over the stream, the server's own limit: the same 413 as over HTTP, and the stream
        # stays open for the requests behind it
        over_stream = await framed.send(Request("POST", start, None, big))
        assert framed._stream is not None and framed._stream.open
        over_http = await HttpTransport(server.address).send(Request("POST", start, None, big))
        assert over_stream.status == over_http.status == 413
        assert over_stream.body == over_http.body
        # past what a frame carries, the request never touches the stream
        monkeypatch.setattr(stream_mod, "MAX_FRAMED_BODY", 1000)
        sent = framed._stream
        assert sent is not None
        await sent.ws.close()
        answer = await framed.send(Request("POST", start, None, big))
        assert answer.status == 413
        assert framed._stream is sent  # not opened again for it
    finally:
        await framed.close()
        await server.stop()


async def test_a_server_without_the_stream_is_served_over_http(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An older server answers the stream's upgrade 404: every request goes over HTTP, and
    the stream is asked for again later (the server may have been upgraded)."""
    seen: list[str] = []

    async def namespaces(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.json_response({"namespaces": []})

    app = web.Application()
    app.router.add_get("/api/v1/namespaces", namespaces)
    runner = web.AppRunner(app)
    await runner.setup()
    site_ = web.TCPSite(runner, "127.0.0.1", 0)
    await site_.start()
    port = runner.addresses[0][1]
    monkeypatch.setattr(stream_mod, "RETRY_STREAM_AFTER", 0.0)
    framed = _framed(HttpTransport(f"127.0.0.1:{port}"))
    upgrades = 0
    real_open = framed._open

    async def counted() -> stream_mod._Stream | None:
        nonlocal upgrades
        upgrades += 1
        return await real_open()

    monkeypatch.setattr(framed, "_open", counted)
    try:
        for _ in range(3):
            answer = await framed.send(_request("GET", "/api/v1/namespaces"))
            assert (answer.status, loads(answer.body)) == (200, {"namespaces": []})
        assert seen == ["/api/v1/namespaces"] * 3
        assert upgrades == 3 and framed._stream is None
    finally:
        await framed.close()
        await runner.cleanup()


async def test_a_workflow_runs_with_client_and_worker_on_streams(
        env: WorkflowEnvironment, queue: str) -> None:
    """Client.connect makes a stream transport: a worker on it runs a workflow end to end,
    every request of it on one stream per process side."""
    from plait import Worker
    from tests.integration.test_auth import Greet, shout

    assert isinstance(env.client.api.transport, StreamTransport)
    async with Worker(env.client, task_queue=queue, workflows=[Greet], activities=[shout]):
        out = await env.client.execute_workflow(Greet.run, "you", id="wf-g", task_queue=queue)
    assert out == "HELLO YOU"
    assert env.client.api.transport._stream is not None
    async with aiohttp.ClientSession() as http, http.get(env.address + "/metrics") as r:
        text = await r.text()
    assert 'route="/api/v1/namespaces/{ns}/task-queues/{queue}/poll"' in text
    open_streams = [line for line in text.splitlines()
                    if line.startswith("plait_request_streams ")]
    assert open_streams and float(open_streams[0].split()[1]) >= 1, open_streams


async def test_the_environment_can_turn_the_stream_off(
        env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch) -> None:
    from plait.client import Client

    monkeypatch.setenv("PLAIT_REQUEST_STREAM", "off")
    plain = await Client.connect(env.address)
    monkeypatch.setenv("PLAIT_REQUEST_STREAM", "on")
    framed = await Client.connect(env.address)
    try:
        assert isinstance(plain.api.transport, HttpTransport)
        assert isinstance(framed.api.transport, StreamTransport)
    finally:
        await plain.close()
        await framed.close()


async def test_a_route_that_streams_its_answer_cannot_write_into_the_stream(
        tmp_path: Path) -> None:
    """No route streams today; one that did would write HTTP onto the stream's socket. Its
    writer refuses (500), an unprepared streaming answer is refused (501), and the stream
    serves on."""
    from plait.server.app import make_app
    from plait.server.service import Service
    from plait.store.sqlite import SQLiteStore

    async def streams(request: web.Request) -> web.StreamResponse:
        answer = web.StreamResponse()
        await answer.prepare(request)
        await answer.write(b"chunk")
        return answer

    async def unprepared(request: web.Request) -> web.StreamResponse:
        return web.StreamResponse()

    service = Service(SQLiteStore(str(tmp_path / "s.db")))
    await service.start()
    app = make_app(service)
    app.router.add_get("/api/v1/test-streams", streams)
    app.router.add_get("/api/v1/test-unprepared", unprepared)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site_ = web.TCPSite(runner, "127.0.0.1", 0)
    await site_.start()
    framed = _framed(HttpTransport(f"127.0.0.1:{runner.addresses[0][1]}"))
    try:
        refused = await framed.send(Request("GET", "/api/v1/test-streams"))
        assert refused.status == 500
        assert loads(refused.body)["error"]["code"] == "internal"
        assert (await framed.send(Request("GET", "/api/v1/test-unprepared"))).status == 501
        stream = framed._stream
        answer = await framed.send(Request("GET", "/api/v1/namespaces/default"))
        assert answer.status == 200 and framed._stream is stream
    finally:
        await framed.close()
        await runner.cleanup()
        await service.stop()
        await service.store.close()
