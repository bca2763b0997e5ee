"""One HTTP exchange with the server, and nothing more: the seam below :class:`plait._api.Api`.

A transport sends one request and returns the response, whatever its status; it neither
retries, nor builds URLs, nor reads error bodies (the API object above it does all three).
That keeps it small enough to swap: :class:`HttpTransport` talks to a real server over one
aiohttp session, and :class:`MockTransport` answers from a function, so client and worker
logic can be unit-tested without a server (as httpx's ``MockTransport``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import ssl
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any, Protocol

import aiohttp
from yarl import URL

from plait import _tls, errors
from plait.protocol.jsoncodec import dumps, loads

__all__ = ["Handler", "HttpTransport", "MockTransport", "Request", "Response", "Transport",
           "Unreachable", "normalize_address", "resolve_tls"]


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


def resolve_tls(address: str, tls: _tls.TlsOption) -> tuple[str, ssl.SSLContext | None]:
    """The address with its scheme, and the context its connections use (None: plain HTTP).

    ``tls`` is True (the system's trust store), False (none), an ``ssl.SSLContext``, or None:
    TLS when the address is ``https://``, verified against the files ``PLAIT_TLS_CA`` (and
    ``PLAIT_TLS_CERT``/``PLAIT_TLS_KEY``) name when set, else the system's trust store. An
    address without a scheme takes ``https://`` when TLS is asked for (Temporal's
    ``connect("host:7233", tls=True)``) or those variables are set. Contradictions are refused
    now: ``tls=`` on an ``http://`` address, ``tls=False`` on an ``https://`` one. The
    variables alone do not make an explicit ``http://`` address fail (a test's local server
    in a shell set up for a remote one)."""
    if tls is not None and not isinstance(tls, bool | ssl.SSLContext):
        raise errors.PlaitError(f"tls= takes None, True or an ssl.SSLContext, not "
                                f"{type(tls).__name__}")
    text = address.strip()
    if tls is None:
        context = _tls.from_environment() if not text.startswith("http://") else None
    else:
        context = tls if isinstance(tls, ssl.SSLContext) else None
    wanted = tls is True or context is not None
    if "://" not in text and wanted:
        text = "https://" + text
    text = normalize_address(text)
    https = text.startswith("https://")
    if wanted and not https:
        raise errors.PlaitError(f"TLS is asked for (tls=, --tls-ca or --tls-cert) but the "
                                f"address {address!r} is http://: use https://host:port")
    if https and tls is False:
        raise errors.PlaitError(f"the address {address!r} is https:// but tls=False")
    if https and context is None:
        context = ssl.create_default_context()
    return text, context


class HttpTransport:
    """A real server over HTTP: one aiohttp session, opened at the first request; over TLS
    for an ``https://`` address (``tls`` as :func:`resolve_tls` reads it)."""

    def __init__(self, address: str, api_key: str | None = None,
                 tls: _tls.TlsOption = None) -> None:
        self._address, self._ssl = resolve_tls(address, tls)
        self._base = str(URL(self._address))
        self.api_key = api_key
        self._session: aiohttp.ClientSession | None = None
        self._guard: AsyncGenerator[None, None] | None = None

    @property
    def address(self) -> str:
        return self._address

    @property
    def tls(self) -> ssl.SSLContext | None:
        """The context of this transport's connections (None: plain HTTP)."""
        return self._ssl

    def session(self) -> aiohttp.ClientSession:
        """The one aiohttp session of this transport (opened now if it is not yet)."""
        if self._session is None or self._session.closed:
            headers = {"Content-Type": "application/json"}
            if self.api_key:
                headers["Authorization"] = f"Bearer {self.api_key}"
            self._session = aiohttp.ClientSession(
                headers=headers,
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=60,
                                               ssl=self._ssl if self._ssl is not None else True),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            )
            self._guard = _closed_with_loop(self._session)
        return self._session

    async def send(self, request: Request) -> Response:
        # encoded=True: the path is quoted segment by segment already, and must reach the
        # server as it is (``%2F`` inside a segment is not a ``/``).
        url = URL(self._base + request.path, encoded=True)
        try:
            async with self.session().request(
                    request.method, url, data=request.body, params=request.params,
                    timeout=aiohttp.ClientTimeout(total=request.timeout)) as resp:
                return Response(resp.status, await resp.read())
        except (TimeoutError, aiohttp.ClientConnectionError) as exc:
            refused = _tls_refusal(exc)
            if (refused is None and isinstance(exc, aiohttp.ServerDisconnectedError)
                    and self._ssl is not None and await self._dropped_after_handshake()):
                refused = _MUTUAL_HINT
            if refused is not None:
                raise errors.RPCError(
                    f"TLS with the plait server at {self._address} failed: {refused}",
                    status=0, code="tls_failed") from exc
            raise Unreachable(str(exc) or type(exc).__name__) from exc

    async def _dropped_after_handshake(self) -> bool:
        """Whether the server completes a TLS handshake and then drops the connection without
        a word, as a mutual-TLS server does to a client whose certificate it refuses: with
        TLS 1.3 the client's side of the handshake is over before the server judges the
        client's certificate, and the server closes without an alert the client could read.
        Asked only after a disconnect, on a fresh connection: a server that answers it (or
        cannot be reached) had an outage, not a refusal."""
        url = URL(self._address)
        try:
            async with asyncio.timeout(PROBE_SECONDS):
                reader, writer = await asyncio.open_connection(
                    url.host, url.port, ssl=self._ssl, server_hostname=url.host)
                try:
                    writer.write(f"GET /health HTTP/1.1\r\nHost: {url.host}\r\n"
                                 "Connection: close\r\n\r\n".encode())
                    return await reader.read(1) == b""
                finally:
                    writer.close()
        except (OSError, TimeoutError):
            return False

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._guard is not None:
            await self._guard.aclose()
            self._guard = None


def _tls_refusal(exc: BaseException) -> str | None:
    """Why a TLS handshake was refused, if that is what ``exc`` is; else None.

    A refused handshake (a certificate no trusted CA signed, a name that does not match, a
    client certificate the server wants and did not get, TLS spoken to a plain HTTP port) is
    a setting to fix, not an outage to ride out: it is raised at once, never retried. A TLS
    connection that merely ended early (``SSLEOFError``: a server restarting) is an outage."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cert = exc.certificate_error
        why = getattr(cert, "verify_message", "") or cert
        return f"certificate verify failed: {why}{_CA_HINT}"
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, aiohttp.ClientConnectorError):
            seen = seen.os_error  # aiohttp's wrapper of the ssl error, whose reason it lacks
        if isinstance(seen, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            return None
        if isinstance(seen, ssl.SSLError):
            reason = str(getattr(seen, "reason", None) or seen.strerror or seen)
            reason = reason.replace("_", " ").lower()
            if "wrong version number" in reason:
                reason += (" (the server does not speak TLS on this port: is it started "
                           "with --tls-cert, or is its address http://?)")
            return reason
        seen = seen.__cause__ or seen.__context__
    return None


PROBE_SECONDS = 5.0
_MUTUAL_HINT = ("the server closed the connection after the TLS handshake: it requires a "
                "client certificate its client CA signed (mutual TLS); give one with "
                "--tls-cert/--tls-key, PLAIT_TLS_CERT/PLAIT_TLS_KEY or the tls= context")
_CA_HINT = (" (is --tls-ca, PLAIT_TLS_CA or the tls= context the CA that signed the server's "
            "certificate?)")


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
