"""``GET /api/v1/stream``: the API's requests as frames of one WebSocket
(:mod:`plait.protocol.stream` has the format and why).

Each request frame becomes an aiohttp request of its method, path, query and body, with the
headers the stream was opened with (its API key), and runs through the application exactly
as an HTTP request would: the same middleware (key check, rate limit, errors, metrics), the
same route. So there is one implementation of every route, and the stream is only a cheaper
way to reach it. The requests of one stream run concurrently and are answered as they
finish. When the stream closes, what is still running of it is cancelled, as the server
cancels an HTTP request whose connection closed (``handler_cancellation``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import NoReturn

from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http import HttpVersion11, RawRequestMessage
from aiohttp.streams import EMPTY_PAYLOAD
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from plait.protocol.enums import ErrorCode
from plait.protocol.stream import (
    CANCEL,
    MAX_FRAMED_BODY,
    MAX_HEADER,
    decode_request,
    encode_answer,
)
from plait.server.api.http import SERVICE, error_response
from plait.server.auth import PermissionDenied
from plait.server.csrf import from_browser
from plait.server.metrics import STREAMS

__all__ = ["request_stream"]

log = logging.getLogger("plait.server")

_PASSED_ON = ("Authorization", "Host", "User-Agent")
"""The stream's opening headers every request on it carries: who is asking. Never ambient
credentials (cookies): a stream is a client's or a worker's, opened with its key."""


class _NoStreaming(AbstractStreamWriter):
    """The writer of a framed request. A route answers with a whole response, which goes back
    as a frame; one that wrote to the connection itself (a streamed answer) would write HTTP
    into the WebSocket, so that is refused (and answered 500) instead."""

    def _refuse(self) -> NoReturn:
        raise RuntimeError("a route reached over the request stream cannot stream its answer")

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        self._refuse()

    async def write_eof(self, chunk: bytes = b"") -> None:
        self._refuse()

    async def drain(self) -> None:
        self._refuse()

    def enable_compression(self, encoding: str = "deflate", strategy: int | None = None
                           ) -> None:
        self._refuse()

    def enable_chunking(self) -> None:
        self._refuse()

    async def write_headers(self, status_line: str, headers: CIMultiDict[str]) -> None:
        self._refuse()


_NO_STREAMING = _NoStreaming()


class _FramedRequest(web.Request):
    """A request that came as a frame: its body is the frame's, its size checked against the
    server's payload limit as aiohttp checks an HTTP body's."""

    ATTRS = web.Request.ATTRS | frozenset(["_frame_body", "_frame_limit"])
    _frame_body: bytes
    _frame_limit: int

    async def read(self) -> bytes:
        if len(self._frame_body) > self._frame_limit:
            raise web.HTTPRequestEntityTooLarge(self._frame_limit, len(self._frame_body))
        return self._frame_body


async def request_stream(request: web.Request) -> web.WebSocketResponse:
    """Open the stream (the access middleware checked the key already, as for any route) and
    serve its frames until it closes.

    A browser may not open one. Its page could not give the stream a key (a browser's
    WebSocket sends no ``Authorization`` header), only ambient credentials (a client
    certificate, a key a proxy adds), and unlike a cross-site ``fetch``, a page of any origin
    reads what comes back on a WebSocket: the hijacking :mod:`plait.server.csrf` guards the
    console's other requests against. The console does not use the stream."""
    if from_browser(request):
        raise PermissionDenied("the request stream is for clients and workers: a browser "
                               "calls the API over HTTP")
    limit = request.app[SERVICE].config.max_payload
    # Any frame a client may send is read whole, so that a body over this server's limit is
    # answered 413 by its route, as over HTTP, rather than closing the stream under the rest.
    ws = web.WebSocketResponse(max_msg_size=max(limit, MAX_FRAMED_BODY) + MAX_HEADER,
                               compress=False, autoping=True)
    await ws.prepare(request)
    STREAMS.inc()
    frames = _Frames(request, limit)
    running: dict[int, asyncio.Task[None]] = {}
    try:
        async for message in ws:
            if message.type != WSMsgType.BINARY:
                await ws.close(code=WSCloseCode.UNSUPPORTED_DATA,
                               message=b"the request stream carries binary frames only")
                break
            try:
                request_id, method, target, body = decode_request(message.data)
            except ValueError as e:
                await ws.close(code=WSCloseCode.PROTOCOL_ERROR, message=str(e).encode()[:120])
                break
            if method == CANCEL:
                task = running.get(request_id)
                if task is not None:
                    task.cancel()
                continue
            framed = frames.request(method, target, body)
            task = asyncio.get_running_loop().create_task(_answer(ws, request.app, request_id,
                                                                  framed))
            running[request_id] = task
            task.add_done_callback(functools.partial(_forget, running, request_id))
    finally:
        STREAMS.dec()
        for task in list(running.values()):
            task.cancel()
    return ws


def _forget(running: dict[int, asyncio.Task[None]], request_id: int, _: object) -> None:
    running.pop(request_id, None)


class _Frames:
    """What every request of one stream shares: the opening request's connection and peer,
    and the headers it passes on (made once: only method, target and body differ)."""

    def __init__(self, opened: web.Request, limit: int) -> None:
        self.opened = opened
        self.limit = limit
        own = CIMultiDict((k, v) for k in _PASSED_ON for v in opened.headers.getall(k, ()))
        own["Content-Type"] = "application/json"
        self.headers = CIMultiDictProxy(own)
        self.raw_headers = tuple((k.encode(), v.encode()) for k, v in own.items())
        self.loop = asyncio.get_running_loop()

    def request(self, method: str, target: str, body: bytes) -> _FramedRequest:
        opened = self.opened
        message = RawRequestMessage(method, target, HttpVersion11, self.headers,
                                    self.raw_headers, False, None, False, False,
                                    URL(target, encoded=True))
        framed = _FramedRequest(message, EMPTY_PAYLOAD, opened.protocol, _NO_STREAMING,
                                opened.task, self.loop, client_max_size=self.limit,
                                scheme=opened.scheme, host=opened.host, remote=opened.remote)
        framed._frame_body = body
        framed._frame_limit = self.limit
        return framed


async def _answer(ws: web.WebSocketResponse, app: web.Application, request_id: int,
                  framed: _FramedRequest) -> None:
    try:
        # The application's own entry point for a request: routing, then middleware, then
        # the route, as aiohttp's server calls it for a request read from a connection.
        resp = await app._handle(framed)
    except Exception:  # past the error middleware: what aiohttp's server would answer 500
        log.exception("request stream: %s %s failed", framed.method, framed.path)
        resp = error_response(500, ErrorCode.INTERNAL, "internal server error")
    body = _whole_body(resp)
    if body is None:  # a streamed or file answer: no frame holds it
        resp = error_response(501, ErrorCode.BAD_REQUEST,
                              f"{framed.method} {framed.path} does not answer over the "
                              "request stream: call it over HTTP")
        body = _whole_body(resp) or b""
    if not ws.closed:  # else the caller saw its requests fail as the stream closed
        with contextlib.suppress(ConnectionError):
            await ws.send_bytes(encode_answer(request_id, resp.status, body))


def _whole_body(resp: web.StreamResponse) -> bytes | None:
    """The body of an answer made whole (b"" for none); None for one that is not."""
    if not isinstance(resp, web.Response):
        return None
    body = resp.body
    if body is None:
        return b""
    return body if isinstance(body, bytes) else None
