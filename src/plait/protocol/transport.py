"""HTTP to the server, shared by the client and workers: one aiohttp session, orjson bodies,
typed errors from the API's one error shape, and retries that are safe.

A request is retried after a connection failure or a 503 only when repeating it is harmless:
reads, and writes that carry a request id (the server deduplicates them) or a fencing token
(a repeat is rejected, never applied twice).
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import aiohttp

from plait import errors
from plait.protocol.jsoncodec import dumps, loads

__all__ = ["Transport", "error_of"]

log = logging.getLogger("plait.client")


class Transport:
    def __init__(self, address: str, api_key: str | None = None, *,
                 retry_for: float = 60.0) -> None:
        self.address = address.rstrip("/")
        self.api_key = api_key
        self.retry_for = retry_for
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"Content-Type": "application/json"}
            if self.api_key:
                headers["Authorization"] = f"Bearer {self.api_key}"
            self._session = aiohttp.ClientSession(
                headers=headers,
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=60),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
                json_serialize=lambda v: dumps(v).decode(),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(self, method: str, path: str, body: Any = None, *,
                   params: dict[str, str] | None = None, retry: bool = True,
                   timeout: float = 70.0) -> Any:
        """One API call; ``body`` is a JSON-able value or bytes already encoded."""
        delay = 0.05
        loop = asyncio.get_running_loop()
        give_up = loop.time() + (self.retry_for if retry else 0)
        while True:
            try:
                return await self._once(method, path, body, params, timeout)
            except (TimeoutError, aiohttp.ClientConnectionError, errors.RPCError) as exc:
                transient = not isinstance(exc, errors.RPCError) or exc.status == 503
                if not retry or not transient or loop.time() + delay > give_up:
                    if isinstance(exc, errors.RPCError):
                        raise
                    raise errors.RPCError(f"cannot reach plait server at {self.address}: "
                                          f"{exc or type(exc).__name__}", status=0,
                                          code="unavailable") from exc
                log.debug("retrying %s %s after %s", method, path, exc)
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 2.0)

    async def _once(self, method: str, path: str, body: Any,
                    params: dict[str, str] | None, timeout: float) -> Any:
        data = body if isinstance(body, bytes) or body is None else dumps(body)
        async with self._http().request(
                method, self.address + path, data=data, params=params,
                timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            raw = await resp.read()
            if resp.status < 400:
                return loads(raw) if raw else None
            raise _error(resp.status, raw)


def _error(status: int, raw: bytes) -> errors.PlaitError:
    try:
        err = loads(raw)["error"]
        code, message = str(err["code"]), str(err["message"])
    except Exception:
        code, message = "http_error", raw.decode(errors="replace")[:500] or f"HTTP {status}"
    return error_of(status, code, message)


def error_of(status: int, code: str, message: str) -> errors.PlaitError:
    """The typed error of the API's error shape (also used for one item of a batch)."""
    if code == "workflow_already_started":
        return errors.WorkflowAlreadyStartedError(message)
    if code == "workflow_not_found":
        return errors.WorkflowNotFoundError(message)
    return errors.RPCError(message, status=status, code=code)
