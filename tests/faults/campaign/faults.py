"""The fault injector: lanes that each pick a fault at random, inject it on a target no other
lane holds, heal it, and wait until that target serves again; faults in different lanes
overlap, as they do in production.

Every fault is written to :attr:`Injector.timeline` (kind, target, start, end, detail) so the
checker can name the faults around a violation.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from plait import Client
from plait.errors import PlaitError
from tests.faults.campaign.rig import Rig
from tests.faults.campaign.workload import InboxLog, Ledger, random_spec

COMMON = ["worker_kill", "worker_stop", "server_kill", "server_stop", "partition", "black_hole",
          "latency", "client_kill"]


@dataclass
class Fault:
    kind: str
    target: str
    start: float
    end: float = 0.0
    detail: str = ""


class Injector:
    def __init__(self, rig: Rig, rng: random.Random, ledger: Ledger, target_inbox: str,
                 only: list[str] | None = None) -> None:
        self.rig, self.rng, self.ledger, self.inbox = rig, rng, ledger, target_inbox
        self.kinds = list(COMMON)
        if rig.backend == "postgres":
            self.kinds.append("pg_kill")
        else:
            self.kinds += ["disk_full"] * rig.tmpfs + ["fsync_fail"] * (rig.shim is not None)
        if only:  # a chosen few, to reproduce a finding with its fault alone
            self.kinds = [k for k in self.kinds if k in only]
        self.timeline: list[Fault] = []
        self.locks: dict[str, asyncio.Lock] = {}
        self.observations: list[str] = []
        self._probe_n = 0
        self.ledger.inboxes[target_inbox] = InboxLog()

    def _lock(self, target: str) -> asyncio.Lock:
        return self.locks.setdefault(target, asyncio.Lock())

    async def run(self, faults: int, lanes: int, gap: tuple[float, float]) -> None:
        budget = iter(range(faults))

        async def lane() -> None:
            for _ in budget:
                await self.one(self.rng.choice(self.kinds))
                await asyncio.sleep(self.rng.uniform(*gap))
        await asyncio.gather(*(lane() for _ in range(lanes)))

    async def one(self, kind: str) -> None:
        target, act = self._plan(kind)
        async with self._lock(target):
            fault = Fault(kind, target, time.time())
            self.timeline.append(fault)
            fault.detail = await act() or ""
            fault.end = time.time()

    def _plan(self, kind: str) -> tuple[str, Callable[[], Awaitable[str | None]]]:
        expiry = self.rig.session_expiry
        slot = self.rng.randrange(len(self.rig.workers))
        srv = self.rng.randrange(len(self.rig.servers))
        hold = self.rng.uniform(0.2, 3 * expiry)
        plans: dict[str, tuple[str, Callable[[], Awaitable[str | None]]]] = {
            "worker_kill": (f"worker:{slot}", lambda: self.worker_kill(slot)),
            "worker_stop": (f"worker:{slot}", lambda: self.worker_stop(slot, hold)),
            "partition": (f"worker:{slot}", lambda: self.partition(slot, hold)),
            "black_hole": (f"worker:{slot}", lambda: self.black_hole(slot, hold)),
            "latency": (f"worker:{slot}", lambda: self.latency(slot, hold)),
            "server_kill": (f"server:{srv}", lambda: self.server_kill(srv)),
            "server_stop": (f"server:{srv}", lambda: self.server_stop(srv, hold)),
            "client_kill": ("client", self.client_kill),
            "pg_kill": ("db", self.pg_kill),
            "disk_full": ("db", lambda: self.disk_full(self.rng.uniform(2, 8))),
            "fsync_fail": ("db", lambda: self.fsync_fail(self.rng.uniform(0.5, 3))),
        }
        return plans[kind]

    # -- processes ----------------------------------------------------------------------------
    def _pid(self, slot: int) -> str:
        """Names the worker a network fault hit, as the checker's blame reads it."""
        proc = self.rig.workers[slot]
        return f"pid {proc.pid if proc else '-'}"

    async def worker_kill(self, slot: int) -> str:
        killed = self._pid(slot)
        await asyncio.to_thread(self.rig.kill_worker, slot)
        await asyncio.sleep(self.rng.uniform(0, 1))
        await asyncio.to_thread(self.rig.start_worker, slot)
        return f"killed {killed}"

    async def worker_stop(self, slot: int, hold: float) -> str:
        proc = self.rig.workers[slot]
        assert proc is not None
        self.rig.pause(proc)
        await asyncio.sleep(hold)
        self.rig.resume(proc)
        return f"{hold:.2f}s pid {proc.pid}"

    async def partition(self, slot: int, hold: float) -> str:
        self.rig.proxies[slot].partition()
        await asyncio.sleep(hold)
        self.rig.proxies[slot].heal()
        return f"{hold:.2f}s {self._pid(slot)}"

    async def black_hole(self, slot: int, hold: float) -> str:
        self.rig.proxies[slot].black_hole()
        await asyncio.sleep(hold)
        self.rig.proxies[slot].heal()
        return f"{hold:.2f}s {self._pid(slot)}"

    async def latency(self, slot: int, hold: float) -> str:
        delay = self.rng.uniform(0.02, 0.5)
        self.rig.proxies[slot].slow(delay)
        await asyncio.sleep(hold)
        self.rig.proxies[slot].heal()
        return f"+{delay:.2f}s for {hold:.2f}s {self._pid(slot)}"

    async def server_kill(self, i: int) -> str:
        await asyncio.to_thread(self.rig.kill_server, i)
        await asyncio.sleep(self.rng.uniform(0, 1))
        await asyncio.to_thread(self.rig.start_server, i)
        return ""

    async def server_stop(self, i: int, hold: float) -> str:
        proc = self.rig.servers[i]
        assert proc is not None
        self.rig.pause(proc)
        await asyncio.sleep(hold)
        self.rig.resume(proc)
        await asyncio.to_thread(self.rig.wait_health, i, 60)
        return f"{hold:.2f}s"

    async def client_kill(self) -> str:
        """A client process killed -9 at a random moment of its call: a start (the id then
        may or may not exist) or a signal (then delivered at most once)."""
        address = self.rig.address(self.rng.randrange(len(self.rig.servers)))
        self._probe_n += 1
        if self.rng.random() < 0.5:
            wid, spec = f"{self.inbox}-killed-{self._probe_n}", random_spec(self.rng)
            self.ledger.maybe[wid] = spec
            argv = ["start", wid, json.dumps(spec)]
        else:
            item = f"{self.inbox}/killed-{self._probe_n}"
            self.ledger.inboxes[self.inbox].uncertain.add(item)
            argv = ["signal", self.inbox, item]
        proc = subprocess.Popen([sys.executable, "-m", "tests.faults.campaign.clientcall",
                                 address, *argv], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        await asyncio.to_thread(proc.stdout.readline)
        await asyncio.sleep(self.rng.uniform(0, 0.05))
        proc.kill()
        await asyncio.to_thread(proc.wait)
        proc.stdout.close()
        return f"{argv[0]} {argv[1]}"

    # -- the database -------------------------------------------------------------------------
    async def pg_kill(self) -> str:
        assert self.rig.pg is not None
        await asyncio.to_thread(self.rig.pg.kill9)
        await asyncio.sleep(self.rng.uniform(0, 3))
        await asyncio.to_thread(self.rig.pg.start)
        for i in range(len(self.rig.servers)):  # recovered by themselves, no restart
            await asyncio.to_thread(self.rig.wait_health, i, 60)
        return ""

    async def disk_full(self, hold: float) -> str:
        await asyncio.to_thread(self.rig.fill_disk)
        # SQLite writes into its WAL file's old space until a checkpoint has to grow the
        # database file: the write that must fail comes after the workload had time to fill it.
        await asyncio.sleep(hold)
        status = await self.probe()
        self.rig.free_disk()
        return f"{hold:.2f}s, a write answered {status}; {await self.writes_again()}"

    async def fsync_fail(self, hold: float) -> str:
        self.rig.fail_fsync(True)
        status = await self.probe()
        await asyncio.sleep(hold)
        self.rig.fail_fsync(False)
        return f"{hold:.2f}s, a write answered {status}; {await self.writes_again()}"

    async def writes_again(self) -> str:
        """After the disk heals the same server process must take writes again (within the
        client's retries); if it does not, that is written down and it is restarted."""
        self._probe_n += 1
        item = f"{self.inbox}/after-{self._probe_n}"
        client = await Client.connect(self.rig.address(0), retry_timeout=timedelta(seconds=30))
        try:
            await client.get_workflow_handle(self.inbox).signal("put", item)
            self.ledger.inboxes[self.inbox].acked.append(item)
            return "writes again"
        except PlaitError as e:
            self.ledger.inboxes[self.inbox].uncertain.add(item)
            self.observations.append(f"no write 30 s after the disk healed: {e}")
            await asyncio.to_thread(self.rig.kill_server, 0)
            await asyncio.to_thread(self.rig.start_server, 0)
            return "restarted: no writes after healing"
        finally:
            await client.close()

    async def probe(self) -> str:
        """One signal, not retried, while the database is broken: its status is the
        server's answer (503 expected); it is then allowed at most once."""
        self._probe_n += 1
        item = f"{self.inbox}/probe-{self._probe_n}"
        log = self.ledger.inboxes[self.inbox]
        client = await Client.connect(self.rig.address(0), retry_timeout=timedelta(0))
        try:
            await client.get_workflow_handle(self.inbox).signal("put", item)
            log.acked.append(item)
            return "ok"
        except PlaitError as e:
            log.uncertain.add(item)
            return str(getattr(e, "status", type(e).__name__))
        finally:
            await client.close()
