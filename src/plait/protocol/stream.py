"""The request stream: the API's requests carried as frames of one WebSocket per client.

A worker's life is a long run of small requests: a poll, a completion, the next poll. Over
HTTP each is a whole exchange, and aiohttp's client and server spend about 200 us of CPU on
one that a frame on an open WebSocket does without (``bench/results/stream.md``). So
:class:`StreamTransport` opens ``GET /api/v1/stream`` once and sends each request there as a
frame; the server runs every frame through the very route, middleware and key check an HTTP
request of that method and path would meet (:mod:`plait.server.api.stream`), so nothing about
a route changes with the way it was reached.

Frames, binary, one per WebSocket message:

- a request: the JSON array ``[id, method, target]``, a newline, then the body's bytes;
  ``target`` is the path with its query string, quoted as on an HTTP request line. ``id`` is
  the caller's number for it, unique among its requests in flight;
- a cancel: ``[id, "CANCEL", ""]`` and a newline: the caller gave up on request ``id`` (the
  server stops it, as it stops an HTTP request whose connection closed);
- an answer: ``[id, status]``, a newline, then the response's body.

Requests are answered in the order they finish, not the order they came (a parked poll must
not hold up a completion). A request whose body is larger than :data:`MAX_FRAMED_BODY`, and
any request to a server that does not offer the stream, goes over plain HTTP instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from typing import Final, TypeVar
from urllib.parse import urlencode

import aiohttp
import msgspec

from plait.protocol.transport import HttpTransport, Request, Response, Unreachable

__all__ = ["CANCEL", "MAX_FRAMED_BODY", "STREAM_PATH", "StreamTransport", "decode_answer",
           "decode_request", "encode_answer", "encode_request", "transport_for"]

log = logging.getLogger("plait.client")

STREAM_PATH: Final = "/api/v1/stream"
CANCEL: Final = "CANCEL"
MAX_FRAMED_BODY: Final = 1 << 20
"""Bodies up to 1 MiB travel as frames; a larger one (rare: a big payload) goes over HTTP, so
one large request never holds up the small ones behind it on the stream."""
MAX_HEADER: Final = 16 << 10
"""The longest frame header a server reads: a path and its query string, at most."""
OPEN_TIMEOUT: Final = 5.0
"""Seconds the stream's handshake may take; past it, the request goes over HTTP (whose own
timeout then says whether the server is reachable at all)."""
RETRY_STREAM_AFTER: Final = 30.0
"""Seconds before a server that refused the stream (an older one) is asked for it again."""
RETRY_OPEN_AFTER: Final = 1.0
"""Seconds the requests go over HTTP after a handshake that failed for want of a server."""
CLOSE_TIMEOUT: Final = 1.0

T = TypeVar("T")
_request_header = msgspec.json.Decoder(tuple[int, str, str])
_answer_header = msgspec.json.Decoder(tuple[int, int])
_encode = msgspec.json.encode


def encode_request(request_id: int, method: str, target: str, body: bytes | None) -> bytes:
    return b"".join((_encode((request_id, method, target)), b"\n", body or b""))


def _split(frame: bytes, header: msgspec.json.Decoder[T], what: str) -> tuple[T, bytes]:
    """A frame's header, decoded, and its body; ``ValueError`` for a frame that is not one."""
    end = frame.find(b"\n", 0, MAX_HEADER)
    if end < 0:
        raise ValueError(f"a{what} frame starts with its header and a newline")
    try:
        return header.decode(frame[:end]), frame[end + 1:]
    except msgspec.DecodeError as e:
        raise ValueError(f"malformed{what} frame header: {e}") from None


def decode_request(frame: bytes) -> tuple[int, str, str, bytes]:
    """``(id, method, target, body)``; ``ValueError`` for a frame that is not one."""
    (request_id, method, target), body = _split(frame, _request_header, " request")
    return request_id, method, target, body


def encode_answer(request_id: int, status: int, body: bytes) -> bytes:
    return b"".join((_encode((request_id, status)), b"\n", body))


def decode_answer(frame: bytes) -> tuple[int, Response]:
    (request_id, status), body = _split(frame, _answer_header, "n answer")
    return request_id, Response(status, body)


def target_of(request: Request) -> str:
    """The request line's target: the path (quoted already) and its query string."""
    if not request.params:
        return request.path
    return f"{request.path}?{urlencode(request.params)}"


class _Stream:
    """One open stream: the requests in flight on it, by id, and the task reading answers."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.waiting: dict[int, asyncio.Future[Response]] = {}
        self._ids = itertools.count(1)
        self._cancelling: set[asyncio.Task[None]] = set()
        self.broken: str | None = None
        """Why the stream ended, once its reader stopped taking answers."""
        loop = asyncio.get_running_loop()
        self.heard = loop.time()
        """When the last answer arrived (the loop's clock)."""
        self.reader = loop.create_task(self._read())

    @property
    def open(self) -> bool:
        return self.broken is None and not self.ws.closed

    async def exchange(self, request: Request) -> Response:
        if self.broken is not None:  # its answer would find no reader: fail now, not later
            raise Unreachable(self.broken)
        loop = asyncio.get_running_loop()
        request_id = next(self._ids)
        answer: asyncio.Future[Response] = loop.create_future()
        self.waiting[request_id] = answer
        sent = loop.time()
        try:
            async with asyncio.timeout(request.timeout):
                await self.ws.send_bytes(encode_request(request_id, request.method,
                                                        target_of(request), request.body))
                return await answer
        except TimeoutError:
            if self.heard < sent:
                # Nothing at all came back in the request's own time (a session heartbeat
                # answers every second): the connection is as good as dead, a black-holed
                # network. Dropping it fails the others in flight now, not one by one. A
                # stream that answers other requests is alive, and only this one was slow.
                await self.close()
            raise Unreachable(f"no answer within {request.timeout:g} s") from None
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise Unreachable(str(exc) or type(exc).__name__) from exc
        except asyncio.CancelledError:
            if self.open:  # tell the server, as closing an HTTP connection would
                cancelling = loop.create_task(self._cancel(request_id))
                self._cancelling.add(cancelling)
                cancelling.add_done_callback(self._cancelling.discard)
            raise
        finally:
            del self.waiting[request_id]

    async def _cancel(self, request_id: int) -> None:
        with contextlib.suppress(aiohttp.ClientError, ConnectionError):
            await self.ws.send_bytes(encode_request(request_id, CANCEL, "", None))

    async def _read(self) -> None:
        why = "the server closed the stream"
        loop = asyncio.get_running_loop()
        try:
            async for message in self.ws:
                if message.type != aiohttp.WSMsgType.BINARY:
                    why = f"unexpected {message.type.name} message on the stream"
                    break
                request_id, response = decode_answer(message.data)
                self.heard = loop.time()
                answer = self.waiting.get(request_id)
                if answer is not None and not answer.done():
                    answer.set_result(response)
        except (ValueError, aiohttp.ClientError, ConnectionError) as exc:
            why = f"the stream broke: {exc}"
        finally:
            self.broken = why  # first: no request may wait on this stream from now on
            for answer in self.waiting.values():
                if not answer.done():
                    answer.set_exception(Unreachable(why))
            await self._close_socket()

    async def _close_socket(self) -> None:
        """Close the WebSocket, waiting at most a second for the server's goodbye: a server
        that is stopped or out of reach will not send it."""
        with contextlib.suppress(TimeoutError, aiohttp.ClientError, ConnectionError):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self.ws.close()

    async def close(self) -> None:
        await self._close_socket()
        if self.reader is not asyncio.current_task():
            await asyncio.gather(self.reader, return_exceptions=True)


class StreamTransport:
    """:class:`HttpTransport`'s requests as frames of one WebSocket (the module's text says
    why and how). It opens the stream at the first request and again after it closed; a
    request it cannot frame, or that finds no stream (a server without one, or none reachable
    just now), goes over the HTTP transport, whose answer or error it returns as they are."""

    def __init__(self, http: HttpTransport) -> None:
        self.http = http
        self._stream: _Stream | None = None
        self._opening: asyncio.Task[_Stream | None] | None = None
        self._not_before = 0.0

    @property
    def address(self) -> str:
        return self.http.address

    async def send(self, request: Request) -> Response:
        if request.body is not None and len(request.body) > MAX_FRAMED_BODY:
            return await self.http.send(request)
        stream = self._stream if self._stream is not None and self._stream.open \
            else await self._open()
        if stream is None:
            return await self.http.send(request)
        return await stream.exchange(request)

    async def _open(self) -> _Stream | None:
        """The stream, opened now if need be; None to use HTTP. One handshake at a time: the
        requests that come meanwhile wait for its outcome rather than try one each."""
        if asyncio.get_running_loop().time() < self._not_before:
            return None
        if self._opening is None or self._opening.done():
            self._opening = asyncio.get_running_loop().create_task(self._handshake())
        return await asyncio.shield(self._opening)

    async def _handshake(self) -> _Stream | None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(OPEN_TIMEOUT):
                ws = await self.http.session().ws_connect(
                    self.http.address + STREAM_PATH, max_msg_size=0, compress=0,
                    autoclose=True, autoping=True)
        except aiohttp.WSServerHandshakeError as exc:
            # No stream here (an older server: 404; a proxy without WebSocket) or not for this
            # caller (401, 403): HTTP gives the request its real answer; ask again later.
            log.debug("the server at %s offers no request stream (%s): using HTTP",
                      self.address, exc.status)
            self._not_before = loop.time() + RETRY_STREAM_AFTER
            return None
        except (TimeoutError, aiohttp.ClientError, OSError):
            # Unreachable, or a TLS refusal: HTTP says which, request by request.
            self._not_before = loop.time() + RETRY_OPEN_AFTER
            return None
        self._stream = _Stream(ws)
        return self._stream

    async def close(self) -> None:
        if self._opening is not None and not self._opening.done():
            self._opening.cancel()
        if self._stream is not None:
            await self._stream.close()
            self._stream = None
        await self.http.close()


OFF_VALUES: Final = frozenset({"off", "0", "false", "no"})


def transport_for(http: HttpTransport) -> StreamTransport | HttpTransport:
    """What ``Client.connect`` talks through: the stream over ``http``, unless the
    environment variable ``PLAIT_REQUEST_STREAM`` says ``off`` (a proxy that passes the
    upgrade but mangles frames; a comparison of the two ways in one benchmark)."""
    if os.environ.get("PLAIT_REQUEST_STREAM", "").strip().lower() in OFF_VALUES:
        return http
    return StreamTransport(http)
