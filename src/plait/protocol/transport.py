"""One HTTP exchange with the server, and nothing more: the seam below :class:`plait._api.Api`.

A transport sends one request and returns the response, whatever its status; it neither
retries, nor builds URLs, nor reads error bodies (the API object above it does all three).
That keeps it small enough to swap: :class:`HttpTransport` talks to a real server over one
aiohttp session, and :class:`MockTransport` answers from a function, so client and worker
logic can be unit-tested without a server (as httpx's ``MockTransport``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any, Protocol

import aiohttp
from yarl import URL

from plait import errors
from plait.protocol.jsoncodec import dumps, loads

__all__ = ["Handler", "HttpTransport", "MockTransport", "Request", "Response", "Transport",
           "Unreachable", "normalize_address"]


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    path: str
    """Already quoted, one segment at a time (``/api/v1/...``)."""
    params: Mapping[str, str] | None = None
    body: bytes | None = None
    timeout: float = 70.0
    """Seconds for the whole exchange: a long-poll's wait plus a margin."""

    def json(self) -> Any:
        """The body decoded (for tests and mock handlers)."""
        return loads(self.body) if self.body else None


@dataclasses.dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""

    @staticmethod
    def of(value: Any, status: int = 200) -> Response:
        """A JSON response (for mock handlers)."""
        return Response(status, dumps(value))

    @staticmethod
    def error(status: int, code: str, message: str = "") -> Response:
        """The API's one error shape (for mock handlers)."""
        return Response.of({"error": {"code": code, "message": message or code}}, status)


class Unreachable(Exception):
    """The exchange did not happen or did not finish: no connection, a reset, a timeout.
    Whether the server acted on the request is unknown (which is why only requests that are
    safe to repeat are retried)."""


class Transport(Protocol):
    @property
    def address(self) -> str: ...

    async def send(self, request: Request) -> Response:
        """One exchange; raises :class:`Unreachable` when no response came back."""
        ...

    async def close(self) -> None: ...


def normalize_address(address: str) -> str:
    """``localhost:7233`` means ``http://localhost:7233`` (as Temporal users write it); any
    other scheme, or no host, is refused now rather than at the first call."""
    text = address.strip()
    if "://" not in text:
        text = "http://" + text
    text = text.rstrip("/")
    try:
        url = URL(text)
    except (ValueError, TypeError) as e:
        raise errors.PlaitError(f"invalid plait server address {address!r}: {e}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise errors.PlaitError(f"invalid plait server address {address!r}: expected "
                                "host:port or http(s)://host:port")
    return text


class HttpTransport:
    """A real server over HTTP: one aiohttp session, opened at the first request."""

    def __init__(self, address: str, api_key: str | None = None) -> None:
        self._address = normalize_address(address)
        self._base = str(URL(self._address))
        self.api_key = api_key
        self._session: aiohttp.ClientSession | None = None
        self._guard: AsyncGenerator[None, None] | None = None

    @property
    def address(self) -> str:
        return self._address

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"Content-Type": "application/json"}
            if self.api_key:
                headers["Authorization"] = f"Bearer {self.api_key}"
            self._session = aiohttp.ClientSession(
                headers=headers,
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=60),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            )
            self._guard = _closed_with_loop(self._session)
        return self._session

    async def send(self, request: Request) -> Response:
        # encoded=True: the path is quoted segment by segment already, and must reach the
        # server as it is (``%2F`` inside a segment is not a ``/``).
        url = URL(self._base + request.path, encoded=True)
        try:
            async with self._http().request(
                    request.method, url, data=request.body, params=request.params,
                    timeout=aiohttp.ClientTimeout(total=request.timeout)) as resp:
                return Response(resp.status, await resp.read())
        except (TimeoutError, aiohttp.ClientConnectionError) as exc:
            raise Unreachable(str(exc) or type(exc).__name__) from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._guard is not None:
            await self._guard.aclose()
            self._guard = None


def _closed_with_loop(session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    """Close ``session`` when its event loop shuts down, if nobody closed it before.

    Temporal's samples never close their client, and aiohttp then prints "Unclosed client
    session" at exit. An async generator suspended at its ``yield`` is what ``asyncio.run``
    finalizes before closing the loop (``shutdown_asyncgens``), and what the loop finalizes
    when it is dropped earlier; either way its ``finally`` runs on the live loop. It is
    advanced to its ``yield`` here, synchronously, so the loop's hooks register it."""
    async def guard() -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await session.close()

    gen = guard()
    with contextlib.suppress(StopIteration):  # raised once it is suspended at the yield
        gen.asend(None).send(None)
    return gen


Handler = Callable[[Request], "Response | Awaitable[Response]"]
"""A mock server: a function from a request to its response, plain or async."""


class MockTransport:
    """Answers every request with ``handler(request)`` (plain or async); a handler raises
    :class:`Unreachable` to act as a server that is away. Every request is kept in
    :attr:`requests`, in order."""

    def __init__(self, handler: Handler, address: str = "http://mock") -> None:
        self.handler = handler
        self._address = address
        self.requests: list[Request] = []

    @property
    def address(self) -> str:
        return self._address

    async def send(self, request: Request) -> Response:
        self.requests.append(request)
        answer: Any = self.handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        if not isinstance(answer, Response):
            raise TypeError(f"a mock handler must return a Response, not {answer!r}")
        return answer

    async def close(self) -> None:
        pass
