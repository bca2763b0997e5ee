"""StreamTransport against a stand-in server that speaks the frames (plait.protocol.stream):
which request timeouts drop the stream, and one handshake for many requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import WSMsgType, web

from plait.protocol import stream as stream_mod
from plait.protocol.stream import StreamTransport, decode_request, encode_answer
from plait.protocol.transport import HttpTransport, Request, Unreachable

Answerer = Callable[[web.WebSocketResponse, int, str], Awaitable[None]]


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, shutdown_timeout=0.1, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture
async def framing() -> AsyncIterator[Callable[[Answerer], Awaitable[str]]]:
    """A server whose stream hands each request frame to ``answerer``; its address."""
    runners: list[web.AppRunner] = []

    async def start(answerer: Answerer) -> str:
        async def stream(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            async for message in ws:
                assert message.type == WSMsgType.BINARY
                request_id, _, target, _ = decode_request(message.data)
                await answerer(ws, request_id, target)
            return ws

        app = web.Application()
        app.router.add_get("/api/v1/stream", stream)
        runner, address = await _serve(app)
        runners.append(runner)
        return address

    yield start
    for runner in runners:
        await runner.cleanup()


async def _ok(ws: web.WebSocketResponse, request_id: int) -> None:
    await ws.send_bytes(encode_answer(request_id, 200, b"{}"))


async def test_a_slow_request_on_a_stream_that_answers_others_fails_alone(
        framing: Callable[[Answerer], Awaitable[str]]) -> None:
    async def answerer(ws: web.WebSocketResponse, request_id: int, target: str) -> None:
        if target != "/slow":
            await _ok(ws, request_id)

    transport = StreamTransport(HttpTransport(await framing(answerer)))
    try:
        slow = asyncio.ensure_future(transport.send(Request("GET", "/slow", timeout=0.5)))
        while not slow.done():  # other requests keep being answered meanwhile
            assert (await transport.send(Request("GET", "/fast"))).status == 200
        with pytest.raises(Unreachable):
            await slow
        stream = transport._stream
        assert stream is not None and stream.open
        assert (await transport.send(Request("GET", "/fast"))).status == 200
        assert transport._stream is stream
    finally:
        await transport.close()


async def test_a_stream_silent_for_a_whole_timeout_is_dropped(
        framing: Callable[[Answerer], Awaitable[str]]) -> None:
    answering = True

    async def answerer(ws: web.WebSocketResponse, request_id: int, target: str) -> None:
        if answering:
            await _ok(ws, request_id)

    transport = StreamTransport(HttpTransport(await framing(answerer)))
    try:
        assert (await transport.send(Request("GET", "/a"))).status == 200
        stream = transport._stream
        assert stream is not None
        answering = False  # a black hole: the connection stays up, nothing comes back
        parked = asyncio.ensure_future(transport.send(Request("GET", "/parked", timeout=30)))
        with pytest.raises(Unreachable):
            await transport.send(Request("GET", "/b", timeout=0.3))
        assert not stream.open
        with pytest.raises(Unreachable):  # failed with it, not left to its own 30 s
            await asyncio.wait_for(parked, 5)
        answering = True
        assert (await transport.send(Request("GET", "/c"))).status == 200
        assert transport._stream is not stream
    finally:
        await transport.close()


async def test_requests_that_come_during_a_handshake_share_its_outcome(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A server whose upgrade never answers: ten requests wait for one handshake, then all go
    over HTTP, and the next ones go straight there for a while."""
    monkeypatch.setattr(stream_mod, "OPEN_TIMEOUT", 0.3)
    upgrades = 0

    async def hang(request: web.Request) -> web.StreamResponse:
        nonlocal upgrades
        upgrades += 1
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def plain(request: web.Request) -> web.Response:
        return web.json_response({"over": "http"})

    app = web.Application()
    app.router.add_get("/api/v1/stream", hang)
    app.router.add_get("/api/v1/x", plain)
    runner, address = await _serve(app)
    transport = StreamTransport(HttpTransport(address))
    try:
        answers = await asyncio.gather(*(transport.send(Request("GET", "/api/v1/x"))
                                         for _ in range(10)))
        assert {a.body for a in answers} == {b'{"over": "http"}'}
        assert (await transport.send(Request("GET", "/api/v1/x"))).status == 200
        assert upgrades == 1
    finally:
        await transport.close()
        await runner.cleanup()


async def test_a_request_on_a_stream_whose_reader_stopped_fails_at_once(
        framing: Callable[[Answerer], Awaitable[str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Between the reader's last answer and the socket's close, a request must not wait for
    an answer nobody will read: it would hang for its whole timeout (70 s for a completion)."""
    async def answerer(ws: web.WebSocketResponse, request_id: int, target: str) -> None:
        await _ok(ws, request_id)
        await ws.send_bytes(b"not an answer")  # the reader stops; the socket is still open

    transport = StreamTransport(HttpTransport(await framing(answerer)))
    closing, release = asyncio.Event(), asyncio.Event()
    real_close = stream_mod._Stream._close_socket

    async def slow_close(self: stream_mod._Stream) -> None:
        closing.set()
        await release.wait()  # the close handshake takes its time
        await real_close(self)

    monkeypatch.setattr(stream_mod._Stream, "_close_socket", slow_close)
    try:
        assert (await transport.send(Request("GET", "/a"))).status == 200
        stream = transport._stream
        assert stream is not None
        await asyncio.wait_for(closing.wait(), 5)
        with pytest.raises(Unreachable):
            await asyncio.wait_for(stream.exchange(Request("GET", "/b", timeout=60)), 5)
        release.set()
    finally:
        release.set()
        await transport.close()
