"""Run one CLI command against a server, and turn every failure into one line on stderr.

A CLI user never sees a traceback: errors plait raises, network errors and bad input all end
as ``error: ...`` and a non-zero exit code (``PLAIT_DEBUG=1`` shows the traceback instead).
"""

from __future__ import annotations

import asyncio
import enum
import os
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

import aiohttp
import typer

from plait import _tls, errors
from plait._cli.loading import SetupError, load_codec
from plait.client import Client
from plait.protocol.transport import HttpTransport

__all__ = ["Output", "fail", "with_client"]

T = TypeVar("T")

# A CLI should answer quickly when the server is down, yet ride out a server restart.
CONNECT_RETRY_SECONDS = 3.0


class Output(enum.StrEnum):
    text = "text"
    json = "json"


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` as one line on stderr and exit with ``code``."""
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    raise typer.Exit(code)


def with_client(address: str, namespace: str, fn: Callable[[Client], Awaitable[T]], *,
                api_key: str | None = None, codec: str | None = None) -> T:
    """Connect, run ``fn(client)``, close; any failure becomes one ``error:`` line. The API
    key is ``api_key``, else ``PLAIT_API_KEY`` (``plait --api-key`` sets it); TLS settings
    come from ``PLAIT_TLS_*`` (``plait --tls-ca`` and its siblings set them); ``codec`` is a
    ``--codec module:factory`` whose codec the client decodes payloads with."""
    key = api_key or os.environ.get("PLAIT_API_KEY") or None
    payload_codec = None
    if codec is not None:
        try:
            payload_codec = load_codec(codec)
        except SetupError as e:
            fail(str(e), code=2)

    async def go() -> T:
        # --tls-ca/--tls-cert/--tls-key (`plait` puts them in the environment) are explicit
        # here: with an http:// address they are a mistake to report, not to ignore.
        client = Client(HttpTransport(address, key, _tls.from_environment()), namespace,
                        retry_for=CONNECT_RETRY_SECONDS, codec=payload_codec)
        try:
            return await fn(client)
        finally:
            await client.close()

    try:
        return asyncio.run(go())
    except Exception as e:
        if os.environ.get("PLAIT_DEBUG") or isinstance(e, typer.Exit):
            raise
        fail(explain(e, address))


def explain(e: BaseException, address: str) -> str:
    """The one line a user should read for an error."""
    if isinstance(e, errors.RPCError) and e.code == "unavailable":
        return (f"cannot reach the plait server at {address} (is `plait server` running? "
                f"set --address or PLAIT_ADDRESS): {e.message.rsplit(': ', 1)[-1]}")
    if isinstance(e, errors.PlaitError):
        return str(e)
    if isinstance(e, aiohttp.InvalidURL):
        return f"invalid server address {address!r}"
    if isinstance(e, aiohttp.ClientError):
        return f"cannot talk to the plait server at {address}: {e}"
    if isinstance(e, asyncio.TimeoutError):
        return "timed out"
    return f"{type(e).__name__}: {e}"
