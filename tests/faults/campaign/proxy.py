"""A TCP proxy between one worker and its server that the campaign controls: a network
partition (every connection dropped, new ones refused), a silent one (a black hole: nothing
refused or reset, no byte goes through until it heals, as when packets are dropped and TCP
retransmits) and added latency, then healed.

It runs its own asyncio loop in a daemon thread, so the driver's loop never carries the
worker's traffic, and its controls are plain thread-safe calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading


class Proxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.delay = 0.0
        self.up = True
        self.held = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.port = 0
        threading.Thread(target=self._serve, args=(ready,), daemon=True).start()
        ready.wait(10)

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def partition(self) -> None:
        """Drop every connection now and refuse new ones until :meth:`heal`."""
        self.up = False
        self._loop.call_soon_threadsafe(self._drop_all)

    def black_hole(self) -> None:
        """Hold every byte, both ways, of old and new connections until :meth:`heal`."""
        self.held = True

    def slow(self, delay: float) -> None:
        """Hold every chunk ``delay`` seconds each way until :meth:`heal`."""
        self.delay = delay

    def heal(self) -> None:
        self.up, self.delay, self.held = True, 0.0, False

    def _drop_all(self) -> None:
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()
            return
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_w))
        await asyncio.gather(self._pipe(reader, up_w), self._pipe(up_r, writer))
        self._writers.difference_update((writer, up_w))

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                if self.delay:
                    await asyncio.sleep(self.delay)
                while self.held:
                    await asyncio.sleep(0.05)
                if not self.up:
                    break
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                dst.transport.abort()
