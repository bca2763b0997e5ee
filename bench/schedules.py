"""Many schedules on one server: how late do due times start, and what does it cost?

``python -m bench.schedules [--schedules 10000] [--minutes 3] [--spread] [--out STEM]
[--postgres [--servers N]]``

Starts a real ``plait server`` (SQLite in a temporary directory; with ``--postgres``, N
servers on a fresh PostgreSQL database, ``PLAIT_BENCH_PG``, every one firing), creates
``--schedules`` schedules with a 1-minute interval (``overlap=allow_all``, so every due
time starts a run; no worker runs them, so the cost measured is the schedules' alone), waits
out ``--minutes`` whole minutes of due times, and reads every started run: its lateness is
its start time minus the scheduled time its workflow id carries. Aligned (the default), all
schedules are due at the same second of each minute: the burst a fleet of "every minute"
crons makes. With ``--spread`` each schedule has an offset of ``i % 60`` seconds.

Writes ``bench/results/<STEM>.md`` (default ``schedules``, ``schedules-spread``,
``schedules-pg``): lateness p50/p99/max, the server's (and PostgreSQL's) CPU per due time,
and the creation rate.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

from bench.pg import _postgres_cpu, drop_database, fresh_database
from bench.procs import cpu_seconds, free_port, peak_rss_mib
from plait import Client

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = 32


def due_of(wid: str) -> float:
    stamp = wid.rsplit("-", 3)[-3:]  # sched-000123-2026-12-06T12:00:00Z -> date parts
    text = "-".join(stamp)
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()


def start_server(tmp: Path, port: int, db: str) -> subprocess.Popen[bytes]:
    log = (tmp / f"server-{port}.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "plait", "server", "--db", db,
                             "--port", str(port), "--log-level", "warning"],
                            stdout=log, stderr=log)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start; see server.log")


async def create_all(client: Client, n: int, spread: bool) -> float:
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with sem:
            await client.create_schedule(
                f"sched-{i:06}", "Tick", task_queue="bench-none", interval=timedelta(minutes=1),
                offset=timedelta(seconds=i % 60 if spread else 0), overlap="allow_all")
    t = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - t


async def lateness(client: Client, window: tuple[float, float]) -> list[float]:
    """Start time minus scheduled time of every run due inside ``window``; raises if any due
    time started twice (several servers deciding one due time must start one run)."""
    out, seen = [], set()
    async for d in client.list_workflows(workflow_type="Tick", page_size=1000):
        due = due_of(d.workflow_id)
        if window[0] <= due < window[1]:
            if d.workflow_id in seen:
                raise SystemExit(f"error: {d.workflow_id} started twice")
            seen.add(d.workflow_id)
            out.append(d.start_time.timestamp() - due)
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--schedules", type=int, default=10_000)
    ap.add_argument("--minutes", type=int, default=3)
    ap.add_argument("--spread", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--postgres", action="store_true",
                    help="a fresh PostgreSQL database (PLAIT_BENCH_PG) instead of SQLite")
    ap.add_argument("--servers", type=int, default=1,
                    help="servers on the one PostgreSQL database (with --postgres)")
    args = ap.parse_args()
    if args.servers > 1 and not args.postgres:
        raise SystemExit("error: --servers above 1 needs --postgres (SQLite has one server)")
    stem = args.out or ("schedules" + ("-pg" if args.postgres else "")
                        + ("-spread" if args.spread else ""))
    with tempfile.TemporaryDirectory() as tmpdir:
        dbname, db = fresh_database() if args.postgres else ("", f"sqlite:///{tmpdir}/plait.db")
        try:
            await _measure(Path(tmpdir), db, stem, args)
        finally:
            if dbname:
                drop_database(dbname)


def _cpu(servers: list[subprocess.Popen[bytes]], postgres: bool) -> tuple[float, float]:
    return (sum(cpu_seconds(s.pid) or 0.0 for s in servers),
            _postgres_cpu() if postgres else 0.0)


async def _measure(tmp: Path, db: str, stem: str, args: argparse.Namespace) -> None:
    ports = [free_port() for _ in range(args.servers)]
    servers = [start_server(tmp, port, db) for port in ports]
    try:
        client = await Client.connect(f"http://127.0.0.1:{ports[0]}")
        created = await create_all(client, args.schedules, args.spread)
        # measure whole minutes of due times, starting at the next minute boundary
        first = (time.time() // 60 + 1) * 60
        await asyncio.sleep(first - time.time())
        (cpu0, pg0), t0 = _cpu(servers, args.postgres), time.time()
        end = first + 60 * args.minutes
        await asyncio.sleep(end - time.time())
        # allow the last minute's starts to land before reading the CPU
        while True:
            late = await lateness(client, (first, end))
            if len(late) >= args.schedules * args.minutes or time.time() > end + 60:
                break
            await asyncio.sleep(1)
        (cpu1, pg1), t1 = _cpu(servers, args.postgres), time.time()
        rss = max((peak_rss_mib(s.pid) or 0.0 for s in servers), default=0.0)
        await client.close()
    finally:
        for s in servers:
            s.kill()
            s.wait()
    write(stem, args, created, late, (cpu1 - cpu0, pg1 - pg0), t1 - t0, rss)


def write(stem: str, args: argparse.Namespace, created: float, late: list[float],
          cpus: tuple[float, float], wall: float, rss: float | None) -> None:
    expected = args.schedules * args.minutes
    cpu, pg_cpu = cpus
    where = (f"{args.servers} server{'s' if args.servers > 1 else ''} (PostgreSQL)"
             if args.postgres else "one server (SQLite)")
    lines: list[str | None] = [
        f"# {args.schedules:,} schedules, 1-minute interval, {where}",
        "",
        f"`python -m bench.schedules --schedules {args.schedules} --minutes {args.minutes}"
        + (" --spread" if args.spread else "")
        + (f" --postgres --servers {args.servers}" if args.postgres else "") + "`",
        "",
        "Due times: " + ("spread over the minute (offset i % 60 s)" if args.spread
                         else "aligned (all at :00 of each minute)")
        + "; overlap `allow_all`, no worker.",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared), Python "
        f"{platform.python_version()}; {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| runs started (due in {args.minutes} min) | {len(late):,} of {expected:,} |",
        f"| lateness p50 | {statistics.median(late):.3f} s |" if late else "| lateness | - |",
        f"| lateness p99 | {pct(late, 99):.3f} s |" if late else "",
        f"| lateness max | {max(late):.3f} s |" if late else "",
        f"| server CPU | {cpu:.1f} s over {wall:.0f} s ({100 * cpu / wall:.0f} % of one core) |",
        f"| server CPU per due time | {1000 * cpu / max(len(late), 1):.2f} ms |",
        f"| PostgreSQL CPU per due time | {1000 * pg_cpu / max(len(late), 1):.2f} ms |"
        if args.postgres else None,
        f"| server peak RSS | {rss:.0f} MiB |" if rss else "",
        f"| creating the schedules | {created:.1f} s ({args.schedules / created:.0f}/s, "
        f"{CONCURRENCY} concurrent) |",
        "",
        "Lateness is a run's start time (its `WORKFLOW_EXECUTION_STARTED`, server time) minus "
        "the scheduled time its workflow id carries. CPU is the server process's user + system "
        "time from the first measured due time until the last run was read back (which the "
        "reading itself adds to); with several servers, their sum. Each due time started once: "
        "the reading fails on a workflow id seen twice.",
    ]
    out = ROOT / "bench" / "results" / f"{stem}.md"
    out.write_text("\n".join(line for line in lines if line is not None) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    asyncio.run(main())
