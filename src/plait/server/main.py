"""Run the server: in its own process (``plait server``) or inside another (tests, notebooks)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket

from aiohttp import web

from plait.server.app import make_app
from plait.server.service import Service, ServiceConfig
from plait.store import open_store

__all__ = ["Server", "serve"]

log = logging.getLogger("plait.server")
BACKLOG = 4096


class Server:
    """A server bound to a host and port; ``port=0`` picks a free one."""

    def __init__(self, db: str = "sqlite:///./plait.db", host: str = "127.0.0.1",
                 port: int = 7233, config: ServiceConfig | None = None) -> None:
        self.db, self.host, self.port = db, host, port
        self.config = config or ServiceConfig()
        self._runner: web.AppRunner | None = None
        self.service: Service | None = None

    @property
    def address(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        store = open_store(self.db)
        self.service = Service(store, self.config)
        await self.service.start()
        # handler_cancellation: a long-poll whose worker went away stops waiting.
        self._runner = web.AppRunner(make_app(self.service), access_log=None,
                                     handle_signals=False, shutdown_timeout=1.0,
                                     handler_cancellation=True)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        # SockSite listens again with its own backlog (default 128): a burst of 1,000
        # clients would overflow it and stall for a second in SYN retries.
        site = web.SockSite(self._runner, sock, backlog=BACKLOG)
        await site.start()
        log.info("plait server listening on %s (db %s)", self.address, self.db)

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


async def serve(db: str, host: str, port: int, *, time_skipping: bool = False) -> None:
    import os

    expiry = float(os.environ.get("PLAIT_SESSION_EXPIRY", "5"))
    max_payload = int(os.environ.get("PLAIT_MAX_PAYLOAD", str(2 * 1024 * 1024)))
    server = Server(db, host, port, ServiceConfig(session_expiry=expiry, max_payload=max_payload,
                                                  time_skipping=time_skipping))
    await server.start()
    print(f"plait server on {server.address} (db {db}); UI at {server.address}/", flush=True)
    if time_skipping:
        print("time skipping is on: durable time jumps ahead when idle (tests only)", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()
