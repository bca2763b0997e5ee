"""Run the server: in its own process (``plait server``) or inside another (tests, notebooks).

Start-up refuses settings it cannot use before it creates anything: a database URL that names
no database, a SQLite file in a folder that does not exist or cannot be written, a port out of
range. Each refusal is a :class:`StartupError` whose message is the one line a user reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import socket
import sqlite3
import ssl

from aiohttp import web

from plait._heap import collect_young_less_often, freeze_startup_heap
from plait.errors import PlaitError
from plait.server.app import make_app
from plait.server.auth import AuthSettings
from plait.server.config import MIB, RunLimits, ServiceConfig
from plait.server.service import Service
from plait.server.tls import TlsFiles, TlsSettingsError, server_context
from plait.store import Store
from plait.store.urls import DatabaseURLError, check_url, open_store, redact

__all__ = ["Server", "StartupError", "check_database_url", "check_exposure", "check_limits",
           "check_port", "check_tls", "serve"]

log = logging.getLogger("plait.server")
BACKLOG = 4096


class StartupError(PlaitError):
    """The server cannot start with these settings; ``str()`` says which and why, in a line."""


def check_database_url(url: str) -> None:
    """Refuse a ``--db`` the server cannot use, before anything is created."""
    try:
        check_url(url)
    except DatabaseURLError as e:
        raise StartupError(f"--db {e}") from None


def check_port(port: int) -> None:
    if not 0 <= port <= 65535:
        raise StartupError(f"--port {port} is out of range: 1-65535, or 0 for a free port")


def check_tls(tls: TlsFiles | None) -> ssl.SSLContext | None:
    """The TLS context of ``--tls-cert``/``--tls-key``/``--tls-client-ca``, or the line that
    says which file cannot be used."""
    if tls is None:
        return None
    try:
        return server_context(tls)
    except TlsSettingsError as e:
        raise StartupError(str(e)) from None


def check_exposure(host: str, *, auth: bool, insecure: bool) -> None:
    """Without ``--auth`` anyone who reaches the server may do anything: listen on a loopback
    address only, unless told ``--insecure``."""
    if auth or insecure or _loopback(host):
        return
    raise StartupError(f"--host {host} is reachable from other machines and --auth is off: "
                       "start with --auth (see `plait apikey create`), or --insecure to "
                       "serve without keys anyway")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Server:
    """A server bound to a host and port; ``port=0`` picks a free one."""

    def __init__(self, db: str = "sqlite:///./plait.db", host: str = "127.0.0.1",
                 port: int = 7233, config: ServiceConfig | None = None,
                 auth: AuthSettings | None = None, tls: TlsFiles | None = None) -> None:
        self.db, self.host, self.port = db, host, port
        self.auth = auth
        """With settings, every route but ``/health`` and the console's files needs a key."""
        self.tls = tls
        """With files, the server speaks only HTTPS (mutual TLS with a client CA)."""
        self.config = config or ServiceConfig()
        self._runner: web.AppRunner | None = None
        self.service: Service | None = None

    @property
    def address(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    async def start(self) -> None:
        """Read the TLS files, listen, then open the database: a port already in use or a
        bad certificate must not leave a new database file behind (:class:`StartupError`
        for each)."""
        context = check_tls(self.tls)
        sock = self._bind()
        try:
            self.service = Service(self._open_store(), self.config)
            await self.service.start()
            # handler_cancellation: a long-poll whose worker went away stops waiting.
            self._runner = web.AppRunner(make_app(self.service, self.auth), access_log=None,
                                         handle_signals=False, shutdown_timeout=1.0,
                                         handler_cancellation=True)
            await self._runner.setup()
            # SockSite listens again with its own backlog (default 128): a burst of 1,000
            # clients would overflow it and stall for a second in SYN retries.
            site = web.SockSite(self._runner, sock, backlog=BACKLOG, ssl_context=context)
            await site.start()
        except BaseException:
            sock.close()
            raise
        log.info("plait server listening on %s (db %s)", self.address, redact(self.db))

    def _bind(self) -> socket.socket:
        check_port(self.port)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        except OSError as e:
            sock.close()
            raise StartupError(f"cannot listen on {self.host}:{self.port}: "
                               f"{e.strerror or e}") from e
        self.port = sock.getsockname()[1]
        return sock

    def _open_store(self) -> Store:
        try:
            return open_store(self.db)
        except (OSError, sqlite3.Error) as e:
            detail = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            where = f" ({e.filename})" if isinstance(e, OSError) and e.filename else ""
            raise StartupError(f"cannot open the database {self.db}: {detail}{where}") from e

    async def stop(self) -> None:
        if self.service is not None:
            self.service.matching.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.service is not None:
            await self.service.stop()
            await self.service.store.close()
            self.service = None


def check_limits(*, auth: bool, max_payload: int, key_rate_limit: float | None) -> None:
    """Refuse limits that cannot work: a payload limit below what any request needs, a key
    rate without keys."""
    if max_payload < 64 * 1024:
        raise StartupError(f"--max-payload {max_payload} is too small: at least 65536 bytes "
                           "(a workflow task's answer must fit)")
    if key_rate_limit is not None and not auth:
        raise StartupError("--key-rate-limit counts requests per API key: start with --auth")
    if key_rate_limit is not None and not key_rate_limit > 0:
        raise StartupError(f"--key-rate-limit {key_rate_limit} must be above 0")


async def serve(db: str, host: str, port: int, *, time_skipping: bool = False,
                auth: bool = False, insecure: bool = False,
                public_metrics: bool = False, tls: TlsFiles | None = None,
                limits: RunLimits | None = None, max_payload: int | None = None,
                key_rate_limit: float | None = None) -> None:
    """``plait server``: check the settings, start, and run until SIGINT or SIGTERM."""
    check_database_url(db)
    check_port(port)
    # TLS encrypts and, mutual, checks machines; it says nothing of who may do what: a
    # reachable server without --auth still needs --insecure.
    check_exposure(host, auth=auth, insecure=insecure)
    expiry = float(os.environ.get("PLAIT_SESSION_EXPIRY", "5"))
    if max_payload is None:
        max_payload = int(os.environ.get("PLAIT_MAX_PAYLOAD", str(2 * MIB)))
    check_limits(auth=auth, max_payload=max_payload, key_rate_limit=key_rate_limit)
    server = Server(db, host, port, ServiceConfig(session_expiry=expiry, max_payload=max_payload,
                                                  time_skipping=time_skipping, limits=limits),
                    auth=AuthSettings(public_metrics=public_metrics,
                                      key_rate_limit=key_rate_limit) if auth else None,
                    tls=tls)
    await server.start()
    freeze_startup_heap()
    collect_young_less_often()
    print(f"plait server on {server.address} (db {redact(db)}); UI at {server.address}/",
          flush=True)
    if auth:
        print("API keys required (--auth)" + ("; /metrics is public" if public_metrics else "")
              + (f"; at most {key_rate_limit:g} requests/s per key" if key_rate_limit else ""),
              flush=True)
    if tls is not None:
        print("TLS on" + (" (mutual: clients need a certificate from the client CA)"
                          if tls.client_ca else ""), flush=True)
    if time_skipping:
        print("time skipping is on: durable time jumps ahead when idle (tests only)", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()
