"""W1 on PostgreSQL with several servers and worker processes.

    .venv/bin/python -m bench.pg                          # 1,2,3 servers x 1,2,4 workers
    .venv/bin/python -m bench.pg --servers 1 --workers 1 --sqlite   # one cell, plus SQLite
    .venv/bin/python -m bench.pg --profile                # py-spy on server 0 of each cell

Each cell gets a fresh database (``PLAIT_BENCH_PG``, default the local server), S real
``plait server`` processes and W ``bench.worker`` processes, worker i polling server i mod S.
The harness starts ``--n`` ``ThreeSteps`` workflows (W1 of the core benchmark: three
sequential no-op activities) all at once, spread over the servers, and awaits every result
through the same servers. Throughput is workflows / (last result - first start). The CPU
seconds of servers, workers and PostgreSQL (every ``postgres`` process) during the run say
where the time goes on a shared machine. Results go to ``bench/out/pg.md`` (``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import psycopg

from bench.procs import Profiler, cpu_seconds, free_port, machine_cpu_seconds
from plait import Client

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("PLAIT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_cpu() -> float:
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != "postgres":
                    continue
        except OSError:
            continue
        total += cpu_seconds(int(pid)) or 0.0
    return total


def _wait_health(address: str, timeout: float = 30) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(address + "/health", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{address} did not become healthy")


class Cell:
    def __init__(self, db: str, servers: int, workers: int, tmp: Path) -> None:
        self.db, self.tmp = db, tmp
        self.ports = [free_port() for _ in range(servers)]
        self.addresses = [f"http://127.0.0.1:{p}" for p in self.ports]
        self.n_workers = workers
        self.servers: list[subprocess.Popen[bytes]] = []
        self.workers: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        # This tree's src before the venv's editable install, which would otherwise give the
        # servers and workers whatever tree it points at; a PYTHONPATH given to the harness
        # goes first (another tree's src, to measure it with this harness, as bench core).
        given = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([*given, str(ROOT / "src"), str(ROOT)]))
        for i, port in enumerate(self.ports):
            log = open(self.tmp / f"server-{i}.log", "wb")  # noqa: SIM115
            self.servers.append(subprocess.Popen(
                [sys.executable, "-m", "plait", "server", "--db", self.db, "--port", str(port),
                 "--log-level", "warning"], stdout=log, stderr=log, env=env))
        for a in self.addresses:
            _wait_health(a)
        for i in range(self.n_workers):
            log = open(self.tmp / f"worker-{i}.log", "wb")  # noqa: SIM115
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.worker", "--address",
                 self.addresses[i % len(self.addresses)], "--task-queue", "bench"],
                stdout=subprocess.PIPE, stderr=log, env=env, cwd=ROOT)
            assert proc.stdout is not None
            if b"READY" not in proc.stdout.readline():
                raise RuntimeError(f"worker {i} did not start; see {self.tmp}")
            self.workers.append(proc)

    def cpu(self) -> dict[str, float]:
        return {"servers": sum(cpu_seconds(p.pid) or 0.0 for p in self.servers),
                "workers": sum(cpu_seconds(p.pid) or 0.0 for p in self.workers),
                "postgres": _postgres_cpu()}

    def stop(self) -> None:
        for p in [*self.workers, *self.servers]:
            p.terminate()
        for p in [*self.workers, *self.servers]:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


async def drive(addresses: list[str], n: int) -> dict[str, Any]:
    clients = [await Client.connect(a) for a in addresses]
    try:
        lat: list[float] = []
        first = time.perf_counter()
        last = first

        async def one(i: int) -> None:
            nonlocal last
            c = clients[i % len(clients)]
            t0 = time.perf_counter()
            h = await c.start_workflow("ThreeSteps", i, id=f"w1-{i}", task_queue="bench")
            result = await h.result()
            if result != i + 3:
                raise AssertionError(f"workflow {i} returned {result}")
            now = time.perf_counter()
            lat.append(now - t0)
            last = max(last, now)

        await asyncio.gather(*(one(i) for i in range(n)))
        lat.sort()
        return {"throughput": n / (last - first), "p50": statistics.median(lat),
                "p99": lat[int(len(lat) * 0.99) - 1], "wall": last - first}
    finally:
        for c in clients:
            await c.close()


def fresh_database() -> tuple[str, str]:
    name = f"plait_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urllib.parse.urlsplit(PG)
    return name, urllib.parse.urlunsplit(parts._replace(path="/" + name))


def drop_database(name: str) -> None:
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_cell(servers: int, workers: int, n: int, args: argparse.Namespace,
             sqlite: bool = False) -> dict[str, Any]:
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="plait-bench-pg-"))
    name = None
    if sqlite:
        db = f"sqlite:///{tmp / 'plait.db'}"
    else:
        name, db = fresh_database()
    cell = Cell(db, servers, workers, tmp)
    spy: Profiler | None = None
    try:
        cell.start()
        if args.profile:
            out = Path(args.out).with_name(f"pg-profile-s{servers}-w{workers}.raw")
            spy = Profiler(cell.servers[0].pid, out, rate=args.profile_rate,
                           extra=tuple(os.environ.get("PYSPY_ARGS", "").split()))
        before, machine0 = cell.cpu(), machine_cpu_seconds()
        result = asyncio.run(drive(cell.addresses, n))
        after, machine1 = cell.cpu(), machine_cpu_seconds()
        result["cpu"] = {k: after[k] - before[k] for k in after}
        if machine0 and machine1:
            result["cpu"]["machine"] = machine1[0] - machine0[0]
        return result
    finally:
        if spy is not None:
            spy.stop()
            if not spy.out.exists():  # py-spy failed: say why (its log), not nothing
                print(f"no profile written; py-spy said: {spy.log.read_text()[-500:]}",
                      file=sys.stderr)
        cell.stop()
        if name:
            drop_database(name)


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.pg", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--servers", default="1,2,3")
    p.add_argument("--workers", default="1,2,4")
    p.add_argument("--n", type=int, default=1000, help="workflows per cell")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--sqlite", action="store_true",
                   help="also run 1 server (SQLite) with each worker count, as a baseline")
    p.add_argument("--profile", action="store_true", help="py-spy on server 0 of each cell")
    p.add_argument("--profile-rate", type=int, default=100, help="py-spy samples per second")
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "pg.md"))
    args = p.parse_args()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    rows = []
    cells: list[tuple[str, int, int]] = []
    for w in [int(x) for x in args.workers.split(",")]:
        if args.sqlite:
            cells.append(("sqlite", 1, w))
        for s in [int(x) for x in args.servers.split(",")]:
            cells.append(("postgres", s, w))
    for backend, s, w in cells:
        reps = [run_cell(s, w, args.n, args, sqlite=backend == "sqlite")
                for _ in range(args.repeat)]
        best = sorted(reps, key=lambda r: r["throughput"])[len(reps) // 2]
        row = (f"| {backend} | {s} | {w} | {best['throughput']:.0f} | {best['p50']:.2f} | "
               f"{best['p99']:.2f} | {best['cpu']['servers'] / args.n * 1000:.1f} | "
               f"{best['cpu']['workers'] / args.n * 1000:.1f} | "
               f"{best['cpu']['postgres'] / args.n * 1000:.1f} | "
               f"{best['cpu'].get('machine', 0) / best['wall'] * 100:.0f}% |")
        print(row, flush=True)
        rows.append(row)
    header = ("| store | servers | worker procs | workflows/s | p50 s | p99 s | server CPU ms/wf "
              "| worker CPU ms/wf | postgres CPU ms/wf | machine busy |\n|---|---|---|---|---|---|"
              "---|---|---|---|")
    text = (f"# W1 on PostgreSQL\n\n`{' '.join(sys.argv)}`, {args.n} workflows per cell, "
            f"{os.cpu_count()} CPUs, median of {args.repeat}.\n\n{header}\n" + "\n".join(rows)
            + "\n")
    Path(args.out).write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
