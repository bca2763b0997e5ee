"""``python -m bench.servercost --tree DIR N``: the instructions a real ``plait server`` of
the source tree ``DIR`` spends on N W1 workflows (three no-op activities each), counted by
callgrind, so two trees compare on a busy machine (instruction counts do not depend on what
else runs):

    python -m bench.servercost --tree TREE 0     # start, a worker, stop
    python -m bench.servercost --tree TREE 300   # the same with 300 workflows
    python -m bench.servercost --tree TREE --workload W2 200   # 200 W2 workflows in sequence
    python -m bench.servercost --tree TREE --db postgres 300   # on PostgreSQL (bench.pg's)

Instructions per workflow = the difference / N. The server runs under
``valgrind --tool=callgrind`` (about 50 times slower), the worker and this client natively,
from the same tree, so every byte the server reads is what that tree's worker sends. It
covers everything the server does for a workflow: HTTP, decoding, the state changes, SQLite
and the answers; idle work (a worker heartbeat a second) adds under 1 % at N=300.

The server runs with a 300 s session expiry (``PLAIT_SESSION_EXPIRY``): at 5 s, the default,
a server slowed fifty times makes the worker's lease checks fail and re-confirm attempts, and
sessions expire, so the two runs would not do the same work. The requests the server answered,
per workflow and route, are printed to show that they did.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench import pg
from bench.procs import free_port
from plait import Client

__all__ = ["main"]


def _env(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PLAIT_SESSION_EXPIRY"] = "300"
    env["PYTHONPATH"] = os.pathsep.join([str(tree / "src"), str(tree)])
    env.pop("PLAIT_ADDRESS", None)
    return env


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


async def _drive(address: str, n: int, workload: str = "W1") -> None:
    client = await Client.connect(address)
    if workload == "W2":  # one-activity workflows, each started when the last returned
        try:
            for i in range(n):
                result = await client.execute_workflow("OneStep", i, id=f"cost-{i}",
                                                       task_queue="bench")
                if result != i + 1:
                    raise SystemExit(f"error: workflow {i} returned {result!r}")
        finally:
            await client.close()
        return
    try:
        handles = await asyncio.gather(*(client.start_workflow(
            "ThreeSteps", i, id=f"cost-{i}", task_queue="bench") for i in range(n)))
        results = await asyncio.gather(*(h.result() for h in handles))
    finally:
        await client.close()
    wrong = [i for i, r in enumerate(results) if r != i + 3]
    if wrong:
        raise SystemExit(f"error: wrong results for workflows {wrong[:5]}")


def _requests(address: str) -> dict[str, float]:
    """Requests answered so far, by route and status (the server's own counter)."""
    with urllib.request.urlopen(address + "/metrics", timeout=60) as r:
        text = r.read().decode()
    found = re.findall(r'^plait_http_requests_total\{(.*)\} (\S+)$', text, re.M)
    return {labels: float(value) for labels, value in found}


def measure(tree: Path, n: int, idle: float = 0.0, keep: Path | None = None,
            workload: str = "W1", db: str = "sqlite") -> int:
    """The server's instructions; on PostgreSQL (``db="postgres"``) in a fresh database of
    ``PLAIT_BENCH_PG``'s server, dropped afterwards (the database's own CPU is not counted:
    only the server runs under callgrind)."""
    if db == "sqlite":
        return _measure(tree, n, idle, keep, workload, None)
    name, url = pg.fresh_database()
    try:
        return _measure(tree, n, idle, keep, workload, url)
    finally:
        pg.drop_database(name)


def _measure(tree: Path, n: int, idle: float, keep: Path | None, workload: str,
             url: str | None) -> int:
    work = Path(tempfile.mkdtemp(prefix="plait-servercost-"))
    port = free_port()
    address = f"http://127.0.0.1:{port}"
    log = work / "server.log"
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={keep or '/dev/null'}",
         sys.executable, "-m", "plait", "server", "--db", url or f"sqlite:///{work / 'p.db'}",
         "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=log.open("wb"), env=_env(tree), cwd=work)
    give_up = time.monotonic() + 300
    while not _healthy(address + "/health"):
        if server.poll() is not None or time.monotonic() > give_up:
            raise SystemExit("error: the server did not start:\n" + log.read_text()[-2000:])
        time.sleep(0.5)
    worker = subprocess.Popen(
        [sys.executable, "-m", "bench.worker", "--address", address, "--task-queue", "bench"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=_env(tree), cwd=tree)
    try:
        assert worker.stdout is not None
        if worker.stdout.readline().strip() != b"READY":
            raise SystemExit("error: the bench worker did not start")
        before = _requests(address)
        asyncio.run(_drive(address, n, workload))
        time.sleep(idle)
        after = _requests(address)
        for route in sorted(after):
            count = after[route] - before.get(route, 0.0)
            if count and n:
                print(f"  {count / n:7.3f} requests/workflow  {route}")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
        server.send_signal(signal.SIGTERM)
        server.wait(300)
    found = re.search(r"Collected : (\d+)", log.read_text())
    if found is None:
        raise SystemExit("error: no callgrind total in the server's log:\n"
                         + log.read_text()[-2000:])
    return int(found.group(1))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.servercost",
                                description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--tree", type=Path, default=Path.cwd(),
                   help="the source tree whose server and worker run (default: here)")
    p.add_argument("n", type=int, help="workflows to run")
    p.add_argument("--workload", choices=["W1", "W2"], default="W1",
                   help="W1: N three-activity workflows at once (default); W2: N one-activity "
                        "workflows one after another")
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite",
                   help="the server's store: a fresh SQLite file (default), or a fresh "
                        "PostgreSQL database (PLAIT_BENCH_PG, default the local server)")
    p.add_argument("--idle", type=float, default=0.0,
                   help="seconds to leave the server idle before stopping it (what idle costs)")
    p.add_argument("--keep", type=Path, default=None,
                   help="write callgrind's output here (read it with callgrind_annotate: the "
                        "C functions, such as the garbage collector's or msgspec's, by cost)")
    args = p.parse_args(argv)
    began = time.monotonic()
    keep = args.keep.resolve() if args.keep else None
    total = measure(args.tree.resolve(), args.n, args.idle, keep, args.workload, args.db)
    print(f"{total} instructions ({args.n} {args.workload} workflows on {args.db}, "
          f"{time.monotonic() - began:.0f} s)")


if __name__ == "__main__":
    main()
