"""Does serving a long history hold up the server's other requests?

    python -m bench.long_history read [--events 40000] [--rounds 4] [--postgres]
    python -m bench.long_history miss [--signals 8000] [--rounds 5] [--postgres] [--write-probe]

A probe process asks the server for ``/health`` every 2 ms and reports its longest wait: how
long the server's event loop was held up.

``read``: one run gets ``--events`` small signals (~200 bytes each; no worker, so nothing else
happens). Each round reads its history 5 times with ``Client.fetch_history`` (a page at a
time) and 5 times in one answer (``GET .../history`` without ``page_size``: all of it),
alternating which goes first.

``miss``: one run handles ``--signals`` signals while a worker holds it in its cache, so its
history grows long. Then, each round, that worker stops (closing its session, so the run is
no longer kept for it), a fresh worker starts, and one more signal arrives: its task goes to
a worker without the run cached, which must replay the whole history. Reported: the time from
the signal to its task's completion, and the probe's longest wait meanwhile. With
``--write-probe`` the probe signals another run every 2 ms instead: a write, which on SQLite
waits for the database's one writer.

Server and workers are real processes of the tree on ``PYTHONPATH`` (``PYTHONPATH=TREE/src``
measures another tree). Results: ``bench/results/long-history.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.pg import drop_database, fresh_database
from bench.procs import Run, _env
from plait import Client, Worker, workflow

PROBE_EVERY = 0.002
READS = 5
PAYLOAD = "x" * 200


@workflow.defn
class Inbox:
    """Counts signals, forever: each signal is a workflow task, so its history grows."""

    def __init__(self) -> None:
        self.n = 0

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.n < 0)
        return self.n

    @workflow.signal
    def s(self, text: str) -> None:
        self.n += 1

    @workflow.query
    def count(self) -> int:
        return self.n


async def probe(url: str) -> None:
    """The probe process: GET ``url`` every 2 ms (or, for ``POST URL``, POST a signal to it:
    a write); ``start`` on stdin forgets the waits so far, ``stop`` prints the longest and the
    median since (ms), anything else ends it."""
    import aiohttp

    waits: list[float] = []
    method, _, url = url.rpartition(" ")
    body = {"signal_name": "probe"} if method == "POST" else None

    async def ask(s: aiohttp.ClientSession) -> None:
        while True:
            t = time.perf_counter()
            async with s.request(method or "GET", url, json=body) as r:
                await r.read()
                assert r.status == 200, await r.text()
            waits.append(time.perf_counter() - t)
            await asyncio.sleep(PROBE_EVERY)

    async with aiohttp.ClientSession() as s:
        asking = asyncio.ensure_future(ask(s))
        while (line := (await asyncio.to_thread(sys.stdin.readline)).strip()) in ("start",
                                                                                 "stop"):
            if line == "start":
                waits.clear()
            else:
                print(f"{max(waits) * 1e3:.2f} {statistics.median(waits) * 1e3:.3f}",
                      flush=True)
        asking.cancel()


async def worker(address: str) -> None:
    """A worker process for ``Inbox``: ready on stdout, stops at a line on stdin."""
    client = await Client.connect(address)
    async with Worker(client, task_queue="long", workflows=[Inbox]):
        print("READY", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
    await client.close()


class Probe:
    def __init__(self, url: str) -> None:
        self.proc = self._spawn("probe", url)

    @staticmethod
    def _spawn(role: str, address: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "bench.long_history", role, address],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_env())

    async def _say(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    async def start(self) -> None:
        await self._say("start")

    async def stop(self) -> float:
        """The longest wait (ms) since :meth:`start`."""
        await self._say("stop")
        assert self.proc.stdout is not None
        line = await asyncio.to_thread(self.proc.stdout.readline)
        return float(line.split()[0])

    async def close(self) -> None:
        await self._say("quit")
        self.proc.wait(10)


async def start_worker(address: str) -> subprocess.Popen[bytes]:
    proc = Probe._spawn("worker", address)
    assert proc.stdout is not None
    line = await asyncio.to_thread(proc.stdout.readline)
    if line.strip() != b"READY":
        raise RuntimeError("the Inbox worker did not start")
    return proc


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin is not None
    proc.stdin.write(b"\n")
    proc.stdin.flush()
    proc.wait(30)


async def signals(client: Client, wid: str, n: int) -> None:
    handle = client.get_workflow_handle(wid)
    gate = asyncio.Semaphore(100)

    async def one() -> None:
        async with gate:
            await handle.signal("s", PAYLOAD)
    await asyncio.gather(*(one() for _ in range(n)))


async def reads(run: Run, events: int, rounds: int) -> dict[str, Any]:
    client = await Client.connect(run.address)
    out: dict[str, list[tuple[float, float]]] = {"paged": [], "whole": []}
    try:
        await client.start_workflow("Inbox", id="long", task_queue="nobody")
        await signals(client, "long", events)
        path = client.api._wf("long") + "/history"
        probe = Probe(run.address + "/health")
        for r in range(rounds):
            for mode in ("paged", "whole") if r % 2 == 0 else ("whole", "paged"):
                await probe.start()
                t = time.perf_counter()
                for _ in range(READS):
                    if mode == "paged":
                        doc = await client.api.workflow_history("long", None)
                    else:
                        doc = await client.api.call("GET", path)
                took = (time.perf_counter() - t) / READS * 1e3
                stall = await probe.stop()
                out[mode].append((stall, took))
                print(f"  {mode}: {len(doc['events'])} events, longest probe wait "
                      f"{stall:.1f} ms, one read {took:.0f} ms", flush=True)
        await probe.close()
    finally:
        await client.close()
    return {mode: {"stall_ms": [s for s, _ in rows], "read_ms": [t for _, t in rows]}
            for mode, rows in out.items()}


async def misses(run: Run, n: int, rounds: int, write: bool) -> dict[str, Any]:
    """``write``: the probe signals another run (a write, queued behind any other)."""
    client = await Client.connect(run.address)
    out: dict[str, list[float]] = {"stall_ms": [], "task_ms": []}
    try:
        first = await start_worker(run.address)
        handle = await client.start_workflow(Inbox.run, id="inbox", task_queue="long")
        t = time.perf_counter()
        await signals(client, "inbox", n)
        while await handle.query(Inbox.count) < n:
            await asyncio.sleep(0.1)
        length = (await handle.describe()).history_length
        print(f"  {n} signals handled in {time.perf_counter() - t:.1f} s: {length} events",
              flush=True)
        stop_worker(first)
        url = run.address + "/health"
        if write:
            await client.start_workflow("Inbox", id="target", task_queue="nobody")
            url = "POST " + run.address + client.api._wf("target") + "/signal"
        probe = Probe(url)
        for _ in range(rounds):
            fresh = await start_worker(run.address)
            before = (await handle.describe()).history_length
            await probe.start()
            t = time.perf_counter()
            await handle.signal("s", "one more")
            while (await handle.describe()).history_length < before + 4:  # task completed
                await asyncio.sleep(0.005)
            took = (time.perf_counter() - t) * 1e3
            stall = await probe.stop()
            stop_worker(fresh)
            out["stall_ms"].append(stall)
            out["task_ms"].append(took)
            print(f"  task on a worker without the run: {took:.0f} ms, longest probe wait "
                  f"{stall:.1f} ms", flush=True)
        await probe.close()
    finally:
        await client.close()
    return out


async def measure(args: argparse.Namespace) -> None:
    run = Run(f"long-{args.what}", worker_slots=None)
    run.server_cmd += ["--max-signals-per-run", "1000000"]
    name = None
    if args.postgres:
        name, run.db = fresh_database()
    try:
        await run.start_server()
        if args.what == "read":
            result = await reads(run, args.events, args.rounds)
            for mode, got in result.items():
                print(f"{mode}: median longest wait {statistics.median(got['stall_ms']):.1f} ms,"
                      f" median read {statistics.median(got['read_ms']):.0f} ms")
        else:
            got = await misses(run, args.signals, args.rounds, args.write_probe)
            print(f"median task {statistics.median(got['task_ms']):.0f} ms, median longest "
                  f"wait {statistics.median(got['stall_ms']):.1f} ms")
    finally:
        run.stop()
        run.cleanup()
        if name:
            drop_database(name)


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] in ("probe", "worker"):  # the harness's helpers
        asyncio.run((probe if sys.argv[1] == "probe" else worker)(sys.argv[2]))
        return 0
    p = argparse.ArgumentParser(prog="python -m bench.long_history", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["read", "miss"])
    p.add_argument("--events", type=int, default=40_000)
    p.add_argument("--signals", type=int, default=8_000)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--postgres", action="store_true")
    p.add_argument("--write-probe", action="store_true",
                   help="miss: the probe signals another run instead of asking for /health")
    asyncio.run(measure(p.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
