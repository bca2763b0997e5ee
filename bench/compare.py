"""plait side by side with Temporal, DBOS and Restate: W1-W4 on the same machine, in one run.

    .venv/bin/python -m bench compare [--quick] [--repeat N] [--engines plait,temporal,...]

Engines: ``plait`` (the core harness's run: ``plait server`` + one worker process + the client,
SQLite), ``temporal`` (dev server on SQLite, Python SDK, sandboxed workflows),
``temporal-nosandbox`` (the same with ``UnsandboxedWorkflowRunner``), ``dbos-sqlite`` and
``dbos-pg`` (DBOS with a SQLite file or a fresh PostgreSQL database as system database) and
``restate`` (restate-server + the Python SDK service under hypercorn + an aiohttp client).

Every repetition of every workload of every engine runs on fresh processes and fresh storage;
engines alternate (W1: A B C ..., then W2: A B C ..., then the next repetition), so slow drifts
of the machine hit every engine alike. A repetition counts only if every workflow returned its
expected value. Runs with hypervisor steal of 5 % or more are reported but left out of the
medians and ratios. plait's ratio to each peer is computed pair by pair (repetition i of plait
against repetition i of the peer) with a bootstrap 95 % confidence interval. A separate short
pass counts fsync/fdatasync calls per workflow with strace on each engine's server process(es).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from bench import core, workloads
from bench.peers import install
from bench.procs import (
    ROOT,
    BenchError,
    Run,
    cpu_seconds,
    free_port,
    machine_cpu_seconds,
    peak_rss_mib,
)
from plait import Client

ENGINES = ["plait", "temporal", "temporal-nosandbox", "dbos-sqlite", "dbos-pg", "restate"]
LABELS = {"plait": "plait", "temporal": "Temporal", "temporal-nosandbox": "Temporal (no sandbox)",
          "dbos-sqlite": "DBOS (SQLite)", "dbos-pg": "DBOS (PostgreSQL)", "restate": "Restate"}
PG = os.environ.get("PLAIT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
STEAL_LIMIT_PCT = 5.0
NOISE_LIMIT_PCT = 10.0  # CPU of processes outside the run, % of the machine (--noise-limit)
NOISE_MIN_S = 0.25
FSYNC_SIZES = {"full": {"W1": 100, "W2": 20}, "quick": {"W1": 50, "W2": 10}}
FSYNC_CALLS = ("fsync", "fdatasync")

# The numbers compared, and which way is better: (workload, metric, higher is better).
HEADLINE: list[tuple[str, str, bool]] = [
    ("W1", "throughput", True), ("W1", "p50_ms", False), ("W1", "p99_ms", False),
    ("W2", "p50_ms", False), ("W2", "p99_ms", False),
    ("W3", "wall_s", False),
    ("W4", "overhead_p50_ms", False), ("W4", "overhead_p99_ms", False),
]
ROLES = ("server", "worker", "client")
# Log lines that say nothing about the run: restate-server's version check against GitHub
# (octocrab; this machine reaches no such host), hypercorn noting that the restate ASGI app
# has no lifespan handler.
HARMLESS = r"octocrab|client error \(Connect\)|ASGI Framework Lifespan error"


def log(msg: str) -> None:
    print(f"[compare] {msg}", file=sys.stderr, flush=True)


# -- peer processes -------------------------------------------------------------------------------
def _peer_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLAIT_", "VIRTUAL_ENV"))}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    env["SCARF_ANALYTICS"] = "false"
    return env


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _http(method: str, url: str, body: Any = None, timeout: float = 5.0) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"content-type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def process_tree(pid: int) -> list[int]:
    """A process and all its descendants (hypercorn, for one, serves from a child process)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (d / "stat").read_text()
                ppid = int(stat[stat.rindex(")") + 2:].split()[1])
                children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def tree_cpu_s(pid: int) -> dict[int, float]:
    return {p: c for p in process_tree(pid) if (c := cpu_seconds(p)) is not None}


def tree_rss_mib(pid: int) -> float | None:
    """Sum of the peak RSS of a process and its descendants."""
    vals = [v for p in process_tree(pid) if (v := peak_rss_mib(p)) is not None]
    return sum(vals) if vals else None


def postgres_pids() -> list[int]:
    """Every process of the local PostgreSQL server (postmaster, its helpers, backends)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError):
                if (d / "comm").read_text().strip() == "postgres":
                    out.append(int(d.name))
    return sorted(out)


class PeerRun:
    """One repetition of one workload on a peer engine: its server processes, and its driver
    (``bench.peers.<engine>_app drive``) in the peer's own virtualenv."""

    def __init__(self, engine: str, workload: str, n: int, deadline: float,
                 keep: bool = False) -> None:
        self.engine, self.workload, self.n, self.deadline = engine, workload, n, deadline
        self.keep = keep
        self.dir = Path(tempfile.mkdtemp(prefix=f"plait-compare-{engine}-{workload}-"))
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}
        self.pg_db: str | None = None
        self.unclean_exit: list[str] = []
        self.restate_svc_port = 0
        self.restate_service_args: tuple[str, ...] = ()

    # processes
    def _spawn(self, role: str, cmd: list[str], *, env: dict[str, str] | None = None,
               stdout: int | None = None, stdin: int | None = None) -> subprocess.Popen[bytes]:
        path = self.dir / f"{role}.log"
        self.logs[role] = path
        proc = subprocess.Popen(cmd, stdout=stdout if stdout is not None else path.open("wb"),
                                stderr=path.open("ab") if stdout is None else path.open("wb"),
                                stdin=stdin, env=env or _peer_env(), cwd=ROOT)
        self.procs[role] = proc
        return proc

    async def _wait(self, what: str, check: Any, timeout: float = 60.0) -> None:
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            for role, p in self.procs.items():
                if p.poll() is not None:
                    raise BenchError(f"{self.engine} {role} exited with {p.returncode}: "
                                     + self.logs[role].read_text(errors="replace")[-1500:])
            try:
                if await asyncio.to_thread(check):
                    return
            except OSError:
                pass
            await asyncio.sleep(0.1)
        raise BenchError(f"{self.engine}: {what} not ready after {timeout:.0f}s")

    async def _wait_line(self, role: str, want: str, timeout: float) -> str:
        """Read the process's stdout until a line starting with ``want``; others are kept."""
        proc = self.procs[role]
        assert proc.stdout is not None
        extra = self.dir / f"{role}.stdout"
        give_up = time.monotonic() + timeout
        while True:
            left = give_up - time.monotonic()
            if left <= 0:
                raise BenchError(f"{self.engine} {role}: no {want!r} within {timeout:.0f}s")
            try:
                line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), left)
            except TimeoutError:
                raise BenchError(f"{self.engine} {role}: no {want!r} within {timeout:.0f}s"
                                 ) from None
            if not line:
                raise BenchError(f"{self.engine} {role} ended before {want!r}: "
                                 + self.logs[role].read_text(errors="replace")[-1500:])
            text = line.decode(errors="replace").rstrip("\n")
            if text.startswith(want):
                return text
            with extra.open("a") as f:
                f.write(text + "\n")

    async def start(self) -> None:
        e = self.engine
        drive = ["drive", "--workload", self.workload, "--n", str(self.n),
                 "--deadline", str(self.deadline)]
        if e.startswith("temporal"):
            addr = await self.start_temporal_server()
            py = str(install.python("temporal"))
            self._spawn("worker", self.temporal_worker_cmd(addr), stdout=subprocess.PIPE)
            await self._wait_line("worker", "READY", 60)
            self._spawn("client", [py, "-m", "bench.peers.temporal_app", *drive[:1],
                                   "--address", addr, *drive[1:]],
                        stdout=subprocess.PIPE, stdin=subprocess.PIPE)
        elif e.startswith("dbos"):
            url = await self.dbos_url()
            self._spawn("client", [str(install.python("dbos")), "-m", "bench.peers.dbos_app",
                                   *drive[:1], "--db", url, *drive[1:]],
                        stdout=subprocess.PIPE, stdin=subprocess.PIPE)
        elif e == "restate":
            ingress_url = await self.start_restate()
            self._spawn("client", [str(install.python("restate")), "-m",
                                   "bench.peers.restate_app", *drive[:1],
                                   "--ingress", ingress_url, *drive[1:]],
                        stdout=subprocess.PIPE, stdin=subprocess.PIPE)
        else:
            raise BenchError(f"unknown engine {e}")
        await self._wait_line("client", "READY", 120)

    async def start_temporal_server(self) -> str:
        """The dev server on a SQLite file and free ports; returns its gRPC address."""
        port, http_port, metrics_port = free_port(), free_port(), free_port()
        self._spawn("server", [str(install.temporal_cli()), "server", "start-dev",
                               "--headless", "--db-filename", str(self.dir / "temporal.db"),
                               "--ip", "127.0.0.1", "--port", str(port),
                               "--http-port", str(http_port),
                               "--metrics-port", str(metrics_port), "--log-level", "warn"])
        await self._wait("temporal server", lambda: _port_open(port))
        return f"127.0.0.1:{port}"

    def temporal_worker_cmd(self, addr: str) -> list[str]:
        return [str(install.python("temporal")), "-m", "bench.peers.temporal_app", "worker",
                "--address", addr,
                *(["--no-sandbox"] if self.engine == "temporal-nosandbox" else [])]

    async def dbos_url(self) -> str:
        """DBOS's system database: a SQLite file in the run's directory, or a fresh
        PostgreSQL database (dropped by ``stop``)."""
        if self.engine == "dbos-pg":
            self.pg_db = f"plait_compare_{uuid.uuid4().hex[:12]}"
            await asyncio.to_thread(_pg_admin, f'CREATE DATABASE "{self.pg_db}"')
            return PG.rsplit("/", 1)[0] + "/" + self.pg_db
        return f"sqlite:///{self.dir / 'dbos.sqlite'}"

    async def start_restate(self, service_args: tuple[str, ...] = ()) -> str:
        """restate-server, the service under hypercorn (``service_args`` go to hypercorn),
        its deployment registered; returns the ingress URL."""
        ingress, admin, node = free_port(), free_port(), free_port()
        self.restate_svc_port = free_port()
        env = {**_peer_env(), "RESTATE_INGRESS__BIND_ADDRESS": f"127.0.0.1:{ingress}",
               "RESTATE_ADMIN__BIND_ADDRESS": f"127.0.0.1:{admin}",
               "RESTATE_BIND_ADDRESS": f"127.0.0.1:{node}",
               "RESTATE_LOG_FILTER": "warn", "RESTATE_DISABLE_TELEMETRY": "true"}
        self._spawn("server", [str(install.restate_server()), "--base-dir",
                               str(self.dir / "restate"), "--no-logo", "--listen-mode",
                               "tcp"], env=env)
        self.restate_service_args = service_args
        self._spawn("worker", self.restate_service_cmd())
        admin_url = f"http://127.0.0.1:{admin}"
        await self._wait("restate admin", lambda: _http("GET", admin_url + "/health")[0]
                         == 200)
        svc = self.restate_svc_port
        await self._wait("restate service", lambda: _port_open(svc))
        status, body = await asyncio.to_thread(
            _http, "POST", admin_url + "/deployments", {"uri": f"http://127.0.0.1:{svc}"},
            30.0)
        if status not in (200, 201):
            raise BenchError(f"restate: registering the deployment: HTTP {status} {body!r}")
        ingress_url = f"http://127.0.0.1:{ingress}"
        await self._wait("restate ingress",
                         lambda: _http("GET", ingress_url + "/restate/health")[0] == 200)
        return ingress_url

    def restate_service_cmd(self) -> list[str]:
        return [str(install.python("restate")), "-m", "hypercorn", "bench.peers.restate_app:app",
                "--bind", f"127.0.0.1:{self.restate_svc_port}", "--log-level", "warning",
                *self.restate_service_args]

    def pids(self) -> dict[str, int]:
        return {role: p.pid for role, p in self.procs.items()}

    def fsync_pids(self) -> list[int]:
        """The processes whose fsyncs are the engine's durability cost."""
        if self.engine == "dbos-pg":
            return postgres_pids()
        if self.engine == "dbos-sqlite":
            return [self.procs["client"].pid]
        return [self.procs["server"].pid]

    async def go(self) -> dict[str, Any]:
        client = self.procs["client"]
        assert client.stdin is not None
        client.stdin.write(b"GO\n")
        client.stdin.flush()
        line = await self._wait_line("client", '{"outcomes"', self.deadline + 120)
        result: dict[str, Any] = json.loads(line)
        return result

    def stop(self) -> None:
        client = self.procs.get("client")
        if client is not None and client.poll() is None and client.stdin is not None:
            with contextlib.suppress(OSError):
                client.stdin.write(b"EXIT\n")
                client.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                client.wait(30)
        for role in reversed(list(self.procs)):  # clients first, servers last
            p = self.procs[role]
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                    self.unclean_exit.append(f"{role} did not stop within 20s of SIGTERM")
            for s in (p.stdout, p.stdin):
                if s is not None:
                    with contextlib.suppress(OSError):
                        s.close()
        if self.pg_db:
            with contextlib.suppress(Exception):
                _pg_admin(f'DROP DATABASE IF EXISTS "{self.pg_db}" WITH (FORCE)')

    def log_problems(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for role, path in self.logs.items():
            lines = [ln for ln in path.read_text(errors="replace").splitlines()
                     if re.search(r"warn|error|exception|traceback", ln, re.I)
                     and not re.search(HARMLESS, ln)] if path.exists() else []
            if lines:
                out[role] = lines
        return out

    def cleanup(self) -> None:
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


# -- strace ---------------------------------------------------------------------------------------
class Strace:
    """``strace -f -c -e trace=fsync,fdatasync`` attached to running processes."""

    def __init__(self, pids: list[int], out: Path) -> None:
        if not shutil.which("strace"):
            raise BenchError("strace not found (apt-get install strace)")
        self.out = out
        args = ["strace", "-f", "-c", "-e", "trace=" + ",".join(FSYNC_CALLS), "-o", str(out)]
        for pid in pids:
            args += ["-p", str(pid)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=out.with_suffix(".log").open("wb"))

    async def attached(self) -> None:
        await asyncio.sleep(1.5)  # strace attaches every thread; give it time

    def stop(self) -> dict[str, int]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        counts = {c: 0 for c in FSYNC_CALLS}
        with contextlib.suppress(OSError):
            for line in self.out.read_text().splitlines():
                parts = line.split()
                if parts and parts[-1] in counts and len(parts) >= 5:
                    counts[parts[-1]] = int(parts[3])
        return counts


# -- one repetition -------------------------------------------------------------------------------
def _outcomes(raw: list[list[Any]]) -> list[workloads.Outcome]:
    return [workloads.Outcome(wid, t0, t1, t2, err) for wid, t0, t1, t2, err in raw]


def _steal_pct(steal_s: float | None, wall_s: float | None) -> float | None:
    if steal_s is None or not wall_s:
        return None
    return 100.0 * steal_s / (wall_s * (os.cpu_count() or 1))


async def run_peer(engine: str, name: str, n: int, args: argparse.Namespace,
                   strace_dir: Path | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"ok": False, "metrics": {}, "errors": [], "n_errors": 0,
                              "log_problems": {}, "unclean_exit": []}
    run = PeerRun(engine, name, n, args.timeout, keep=args.keep)
    tracer: Strace | None = None
    try:
        await run.start()
        if strace_dir is not None:
            tracer = Strace(run.fsync_pids(), strace_dir / f"{engine}-{name}.strace")
            await tracer.attached()
        pids = run.pids()
        cpu0 = {r: tree_cpu_s(p) for r, p in pids.items()}
        machine0 = machine_cpu_seconds()
        t0 = time.perf_counter()
        out = await run.go()
        elapsed = time.perf_counter() - t0
        machine1 = machine_cpu_seconds()
        cpu1 = {r: tree_cpu_s(p) for r, p in pids.items()}
        if tracer is not None:
            result["fsyncs"] = tracer.stop()
        outcomes = _outcomes(out["outcomes"])
        m = core._metrics(name, n, outcomes)
        own = 0.0
        for role, pid in pids.items():
            rss = tree_rss_mib(pid)
            if rss is not None:
                m[f"{role}_rss_mib"] = rss
            a, b = cpu0.get(role, {}), cpu1.get(role, {})
            if b:
                used = sum(v - a.get(p, 0.0) for p, v in b.items())
                m[f"{role}_cpu_s"] = used
                own += used
        if machine0 is not None and machine1 is not None:
            m["steal_s"] = machine1[1] - machine0[1]
            m["other_cpu_s"] = max(0.0, machine1[0] - machine0[0] - own)
            m["steal_pct"] = _steal_pct(m["steal_s"], elapsed) or 0.0
            m["other_cpu_pct"] = _steal_pct(m["other_cpu_s"], elapsed) or 0.0
        result["metrics"] = m
        errs = [f"{o.workflow_id}: {o.error}" for o in outcomes if o.error]
        expected = 1 if name == "W3" else n
        if len(outcomes) != expected:
            errs.append(f"expected {expected} workflows, the workload ran {len(outcomes)}")
        result["n_errors"] = len(errs)
        result["errors"] = errs[:core.MAX_LISTED_ERRORS]
        result["ok"] = not errs
    except BenchError as e:
        result["n_errors"] = 1
        result["errors"] = [f"setup failed: {e}"]
    finally:
        if tracer is not None and "fsyncs" not in result:
            tracer.stop()
        run.stop()
        problems = run.log_problems()
        result["log_problems"] = {k: v[:5] for k, v in problems.items()}
        result["log_problem_counts"] = {k: len(v) for k, v in problems.items()}
        result["unclean_exit"] = run.unclean_exit
        run.cleanup()
    return result


async def run_plait(name: str, rep: int, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """One repetition through the core harness (``bench.core.run_once``): same processes,
    same checks; its client runs in this process (so no client RSS of its own)."""
    r = await core.run_once(name, rep, n, args)
    m = r["metrics"]
    for k_old, k_new in (("harness_cpu_s", "client_cpu_s"),):
        if k_old in m:
            m[k_new] = m[k_old]
    if "steal_s" in m and "wall_s" in m:
        m["steal_pct"] = _steal_pct(m["steal_s"], m["wall_s"]) or 0.0
    if "other_cpu_s" in m and "wall_s" in m:
        m["other_cpu_pct"] = _steal_pct(m["other_cpu_s"], m["wall_s"]) or 0.0
    r.pop("phases", None)
    r.pop("server_counters", None)
    return r


async def fsync_plait(name: str, n: int, args: argparse.Namespace,
                      strace_dir: Path) -> dict[str, Any]:
    """A short plait run with strace on the server, for fsyncs per workflow."""
    run = Run(f"fsync-{name}", worker_slots=args.worker_slots)
    result: dict[str, Any] = {"ok": False, "errors": []}
    tracer = None
    try:
        await run.start()
        assert run.server is not None
        tracer = Strace([run.server.pid], strace_dir / f"plait-{name}.strace")
        await tracer.attached()
        client = await Client.connect(run.address)
        try:
            outcomes = await core.WORKLOADS[name][1](client, n, run.task_queue, args.timeout)
        finally:
            await client.close()
        result["fsyncs"] = tracer.stop()
        errs = [f"{o.workflow_id}: {o.error}" for o in outcomes if o.error]
        result["errors"] = errs[:core.MAX_LISTED_ERRORS]
        result["ok"] = not errs
    except BenchError as e:
        result["errors"] = [f"setup failed: {e}"]
    finally:
        if tracer is not None and "fsyncs" not in result:
            tracer.stop()
        run.stop()
        run.cleanup()
    return result


# -- statistics -----------------------------------------------------------------------------------
def _counted(r: dict[str, Any]) -> bool:
    """A repetition that enters medians and ratios: passed, steal under the limit, and other
    processes on the machine quiet enough (see ``_noisy``)."""
    return bool(r["ok"]) and not _stolen(r) and not _noisy(r)


def _stolen(r: dict[str, Any]) -> bool:
    return bool(r["metrics"].get("steal_pct", 0.0) >= STEAL_LIMIT_PCT)


def _noisy(r: dict[str, Any]) -> bool:
    """Processes outside the run (other work on this shared machine) used NOISE_LIMIT_PCT or
    more of the machine's CPU during the workload, and at least NOISE_MIN_S of CPU time (CPU
    counters tick every 10 ms: over a run of a few tens of ms a couple of ticks of skew
    between the machine's and the processes' counters would look like noise)."""
    m = r["metrics"]
    return bool(m.get("other_cpu_pct", 0.0) >= NOISE_LIMIT_PCT
                and m.get("other_cpu_s", 0.0) >= NOISE_MIN_S)


async def wait_quiet(limit_pct: float, max_wait: float) -> float:
    """Wait (up to ``max_wait`` s) until the machine's CPU use, with no run going on, is under
    ``limit_pct`` of its capacity over a 2 s window; returns the last window's use in %."""
    give_up = time.monotonic() + max_wait
    ncpu = os.cpu_count() or 1
    while True:
        a = machine_cpu_seconds()
        await asyncio.sleep(2.0)
        b = machine_cpu_seconds()
        if a is None or b is None:
            return 0.0
        busy = 100.0 * (b[0] - a[0]) / (2.0 * ncpu)
        if busy < limit_pct or time.monotonic() >= give_up:
            return busy


def summarize(reps: list[dict[str, Any]], counted_only: bool = True
              ) -> dict[str, dict[str, Any]]:
    good = [r for r in reps if (_counted(r) if counted_only else r["ok"])]
    keys: list[str] = []
    for r in good:
        keys += [k for k in r["metrics"] if k not in keys]
    out: dict[str, dict[str, Any]] = {}
    for k in keys:
        vals = [r["metrics"][k] for r in good if k in r["metrics"]]
        out[k] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
                  "n": len(vals)}
    return out


def ratio(plait_reps: list[dict[str, Any]], peer_reps: list[dict[str, Any]], metric: str,
          higher_better: bool, resamples: int = 10000, counted_only: bool = True
          ) -> dict[str, Any] | None:
    """plait's advantage over a peer, pair by pair: repetition i against repetition i.

    Each pair gives plait/peer (a higher-is-better metric) or peer/plait (lower is better),
    so a ratio above 1 always means plait did better. The estimate is the geometric mean of the
    pairs' ratios; the 95 % interval is a percentile bootstrap over the pairs (seeded)."""
    pairs = []
    for a, b in zip(plait_reps, peer_reps, strict=False):
        usable = (_counted(a) and _counted(b)) if counted_only else (a["ok"] and b["ok"])
        if not usable:
            continue
        x, y = a["metrics"].get(metric), b["metrics"].get(metric)
        if x is None or y is None:
            continue
        x, y = max(x, 1e-3), max(y, 1e-3)  # overheads can be ~0; keep ratios finite
        pairs.append(math.log(x / y if higher_better else y / x))
    if not pairs:
        return None
    rng = random.Random(5)
    boots = sorted(statistics.fmean(rng.choices(pairs, k=len(pairs)))
                   for _ in range(resamples))
    lo, hi = boots[int(0.025 * resamples)], boots[min(int(0.975 * resamples), resamples - 1)]
    return {"ratio": math.exp(statistics.fmean(pairs)), "ci_low": math.exp(lo),
            "ci_high": math.exp(hi), "pairs": len(pairs),
            "per_pair": [math.exp(p) for p in pairs]}


# -- report ---------------------------------------------------------------------------------------
def _f(v: float | None, unit: str = "") -> str:
    return core._fmt(v, unit)


def _cell(s: dict[str, Any] | None, unit: str) -> str:
    if not s:
        return "—"
    return f"{_f(s['median'], unit)} ({_f(s['min'], unit)}-{_f(s['max'], unit)})"


def _ratio_cell(r: dict[str, Any] | None) -> str:
    if not r:
        return "—"
    return f"{r['ratio']:.2f}x [{r['ci_low']:.2f}-{r['ci_high']:.2f}]"


def to_markdown(doc: dict[str, Any], title: str = "# plait vs Temporal, DBOS and Restate") -> str:
    mi = doc["machine"]
    engines = doc["engines"]
    status = "PASSED" if doc["ok"] else "FAILED (see Problems)"
    if doc.get("in_progress"):
        status = (f"IN PROGRESS or INTERRUPTED: {doc.get('completed_repetitions', 0)} of "
                  f"{doc['repeat']} repetition(s) done; " + status.lower())
    out = [
        title, "",
        f"**{status}** — {doc['finished_at']}", "",
        f"- command: `{doc['command']}`",
        f"- mode: {'quick' if doc['quick'] else 'full'}; {doc['repeat']} repetition(s) of each "
        "workload per engine, engines alternating within each repetition; every run on fresh "
        "processes and fresh storage; numbers are median (min-max) over the repetitions that "
        f"passed and had hypervisor steal under {STEAL_LIMIT_PCT:.0f} %",
        f"- machine: {mi['cpu_count']} CPUs ({mi['cpu_model']}), {mi['memory']} RAM, "
        f"{mi['platform']}; {mi['python_version']}",
        f"- plait: {doc.get('plait_source', 'work tree')} (work tree at {mi['git_commit']}"
        f"{', src/ modified' if mi['git_dirty'] else ''}); " + ", ".join(
            f"{k} {v}" for k, v in mi["versions"].items()),
        "- peers: " + ", ".join(f"{k} {v}" for k, v in doc["peer_versions"].items()),
        f"- started {doc['started_at']}, finished {doc['finished_at']}",
        "",
        "## plait's ratio to each peer", "",
        "Ratio > 1: plait better (throughput plait/peer; times peer/plait). Geometric mean of "
        "the per-repetition pairs, [bootstrap 95 % CI].", "",
        "| workload | metric | " + " | ".join(LABELS[e] for e in engines if e != "plait")
        + " |", "|---|---|" + "---|" * (len(engines) - 1),
    ]
    for w, metric, _ in HEADLINE:
        if w not in doc["workloads"]:
            continue
        label, unit = core.METRICS[metric]
        cells = [_ratio_cell(doc["ratios"].get(f"{w}.{metric}", {}).get(e))
                 for e in engines if e != "plait"]
        out.append(f"| {w} | {label} ({unit}) | " + " | ".join(cells) + " |")
    if doc.get("ratios_all"):
        out += ["", "The same over every passing repetition, disturbed ones included (steal or "
                "other processes; see *Steal and noise*):", "",
                "| workload | metric | " + " | ".join(LABELS[e] for e in engines
                                                     if e != "plait") + " |",
                "|---|---|" + "---|" * (len(engines) - 1)]
        for w, metric, _ in HEADLINE:
            if w not in doc["workloads"]:
                continue
            label, unit = core.METRICS[metric]
            cells = [_ratio_cell(doc["ratios_all"].get(f"{w}.{metric}", {}).get(e))
                     for e in engines if e != "plait"]
            out.append(f"| {w} | {label} ({unit}) | " + " | ".join(cells) + " |")
    for w, wd in doc["workloads"].items():
        out += ["", f"## {w} — {wd['description']}", "",
                "| engine | " + " | ".join(
                    f"{core.METRICS[m][0]} ({core.METRICS[m][1]})" for m in SHOWN[w])
                + " | runs counted |", "|---|" + "---|" * (len(SHOWN[w]) + 1)]
        for e in engines:
            ed = wd["engines"].get(e)
            if not ed:
                continue
            s = ed["summary"]
            reps = ed["reps"]
            counted = sum(1 for r in reps if _counted(r))
            failed = sum(1 for r in reps if not r["ok"])
            stolen = sum(1 for r in reps if r["ok"] and _stolen(r))
            noisy = sum(1 for r in reps if r["ok"] and not _stolen(r) and _noisy(r))
            note = f"{counted}/{len(reps)}" + (f", {failed} failed" if failed else "") + (
                f", {stolen} with steal" if stolen else "") + (
                f", {noisy} noisy" if noisy else "")
            out.append(f"| {LABELS[e]} | " + " | ".join(
                _cell(s.get(m), core.METRICS[m][1]) for m in SHOWN[w]) + f" | {note} |")
            if counted < sum(1 for r in reps if r["ok"]):
                sa = ed.get("summary_all", {})
                out.append(f"| {LABELS[e]}, every passing run | " + " | ".join(
                    _cell(sa.get(m), core.METRICS[m][1]) for m in SHOWN[w])
                    + f" | {sum(1 for r in reps if r['ok'])}/{len(reps)} |")
        out += ["", "Resources (median): peak RSS (VmHWM) in MiB and CPU seconds during the "
                "workload, by process; `—`: no such process (plait's client runs in the "
                "harness; DBOS runs everything in its one application process).", "",
                "| engine | server RSS | worker RSS | client RSS | server CPU | worker CPU "
                "| client CPU | other processes' CPU | steal % (max) | other processes % (max) |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for e in engines:
            ed = wd["engines"].get(e)
            if not ed:
                continue
            s = ed["summary"]

            def med(k: str, unit: str = "", s: dict[str, Any] = s) -> str:
                return _f(s[k]["median"], unit) if k in s else "—"

            steal = [r["metrics"].get("steal_pct") for r in ed["reps"]
                     if r["metrics"].get("steal_pct") is not None]
            other = [r["metrics"].get("other_cpu_pct", 0.0) for r in ed["reps"]] or [0.0]
            out.append(f"| {LABELS[e]} | {med('server_rss_mib', 'MiB')} | "
                       f"{med('worker_rss_mib', 'MiB')} | {med('client_rss_mib', 'MiB')} | "
                       f"{med('server_cpu_s')} | {med('worker_cpu_s')} | {med('client_cpu_s')} "
                       f"| {med('other_cpu_s')} | {max(steal):.1f} | {max(other):.0f} |"
                       if steal else f"| {LABELS[e]} |" + " — |" * 9)
    if doc.get("fsync"):
        out += ["", "## fsyncs per workflow", "",
                "A separate short pass: `strace -f -c -e trace=fsync,fdatasync` attached to the "
                "engine's storage process(es) — plait's server, Temporal's dev server, DBOS's "
                "application process (SQLite) or every PostgreSQL process (dbos-pg: other "
                "clients of that PostgreSQL server count too), restate-server — while W1 and W2 "
                "run at the sizes shown. Tracing slows the engines; only the counts are used.",
                "", "| engine | " + " | ".join(
                    f"{w} (n={n})" for w, n in doc["fsync_sizes"].items()) + " |",
                "|---|" + "---|" * len(doc["fsync_sizes"])]
        for e in engines:
            row = doc["fsync"].get(e, {})
            cells = []
            for w, n in doc["fsync_sizes"].items():
                r = row.get(w)
                if not r or "fsyncs" not in r:
                    cells.append("failed" if r else "—")
                    continue
                per = sum(r["fsyncs"].values()) / (1 if w == "W3" else n)
                detail = ", ".join(f"{k} {v}" for k, v in r["fsyncs"].items() if v)
                cells.append(f"{per:.2f} ({detail or 'none'})"
                             + ("" if r["ok"] else " — run FAILED"))
            out.append(f"| {LABELS[e]} | " + " | ".join(cells) + " |")
    out += ["", "## Steal and noise", "",
            f"Runs with hypervisor steal ≥ {doc.get('steal_limit_pct', 5.0):.0f} % of the "
            "machine's CPU time during the workload (from `/proc/stat`), and runs during "
            "which processes outside the run used ≥ "
            f"{doc.get('noise_limit_pct', 10.0):.0f} % of the machine's CPU (\"noisy\": this "
            "machine is shared), passed but are left out of medians and ratios. Before each "
            "run the harness waits (at most "
            f"{doc.get('quiet_wait_s', 0.0):.0f} s) for the machine to be under "
            f"{doc.get('quiet_below_pct', 100.0):.0f} % busy.", ""]
    flagged = [f"- {w} {LABELS[e]} rep {r['rep']}: steal {r['metrics'].get('steal_pct', 0):.1f} "
               f"%, other processes {r['metrics'].get('other_cpu_pct', 0):.0f} % of the machine"
               for w, wd in doc["workloads"].items() for e, ed in wd["engines"].items()
               for r in ed["reps"] if r["ok"] and not _counted(r)]
    out += flagged or ["None."]
    if doc.get("notes"):
        out += ["", "## Notes on this run", "", *[f"- {n}" for n in doc["notes"]]]
    out += ["", "## Problems", ""]
    problems = []
    if doc.get("source_changed"):
        problems.append("- **src/plait changed during the run**: plait's repetitions may have "
                        "measured different code")
    for w, wd in doc["workloads"].items():
        for e, ed in wd["engines"].items():
            for r in ed["reps"]:
                tag = f"{w} {LABELS[e]} rep {r['rep']}"
                if r["errors"]:
                    problems.append(f"- **{tag} FAILED: {r['n_errors']} error(s)**")
                    problems += [f"  - `{x[:300]}`" for x in r["errors"][:5]]
                for what, lines in r.get("log_problems", {}).items():
                    n = r.get("log_problem_counts", {}).get(what, len(lines))
                    problems.append(f"- {tag}: {n} warning/error line(s) in the {what} log, "
                                    f"first: `{lines[0][:240]}`")
                problems += [f"- {tag}: {u}" for u in r.get("unclean_exit", [])]
    for e, row in doc.get("fsync", {}).items():
        for w, r in row.items():
            if not r.get("ok"):
                problems.append(f"- fsync pass {LABELS[e]} {w} FAILED: "
                                + "; ".join(x[:200] for x in r.get("errors", [])[:3]))
    out += problems or ["None."]
    out.append("")
    return "\n".join(out)


SHOWN = {"W1": ["throughput", "p50_ms", "p99_ms", "start_p50_ms"],
         "W2": ["p50_ms", "p99_ms", "start_p50_ms"],
         "W3": ["wall_s", "activities_per_s"],
         "W4": ["overhead_p50_ms", "overhead_p99_ms", "wall_s"]}


# -- main -----------------------------------------------------------------------------------------
def finish(doc: dict[str, Any], ok: bool, stem: Path, final: bool) -> None:
    """Summaries and ratios of what ran so far, written out (after every repetition, so an
    interrupted run still leaves its results; ``in_progress`` says so)."""
    engines = doc["engines"]
    for wd in doc["workloads"].values():
        for ed in wd["engines"].values():
            ed["summary"] = summarize(ed["reps"])
            ed["summary_all"] = summarize(ed["reps"], counted_only=False)
    doc["ratios"], doc["ratios_all"] = {}, {}
    for w, metric, higher in HEADLINE:
        if w not in doc["workloads"]:
            continue
        eng = doc["workloads"][w]["engines"]
        for key, only in (("ratios", True), ("ratios_all", False)):
            doc[key][f"{w}.{metric}"] = {
                e: ratio(eng["plait"]["reps"], eng[e]["reps"], metric, higher,
                         counted_only=only)
                for e in engines if e != "plait"}
    doc["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    doc["source_digest_at_end"] = core.source_digest()
    # an exported snapshot cannot change; the work tree can
    doc["source_changed"] = (doc["source_digest_at_end"] != doc["source_digest"]
                             and not os.environ.get("PLAIT_COMPARE_SNAPSHOT"))
    doc["ok"] = ok
    doc["in_progress"] = not final
    stem.with_suffix(".json").write_text(json.dumps(doc, indent=2) + "\n")
    stem.with_suffix(".md").write_text(to_markdown(doc))


async def main_async(args: argparse.Namespace) -> int:
    engines = [e.strip() for e in args.engines.split(",")]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        raise SystemExit(f"unknown engine(s): {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(ENGINES)}")
    if "plait" not in engines:
        engines.insert(0, "plait")
    if any(e != "plait" for e in engines):
        await asyncio.to_thread(install.install_all)
    sizes = dict(core.QUICK_SIZES if args.quick else core.FULL_SIZES)
    for spec in args.size or []:
        k, _, v = spec.partition("=")
        sizes[k.upper()] = int(v)
    names = [n.strip().upper() for n in args.only.split(",")] if args.only else list(sizes)
    from bench import extras

    unknown = set(names) - set(sizes) - set(extras.NAMES)
    if unknown:
        raise SystemExit(f"unknown workload(s): {', '.join(sorted(unknown))}")
    more, names = [n for n in names if n in extras.NAMES], [n for n in names
                                                            if n not in extras.NAMES]
    more_ok = True
    if more:
        base = {"command": core.command_line(), "quick": args.quick, "repeat": args.repeat,
                "engines": engines, "machine": core.machine_info(),
                "plait_source": _plait_source(args),
                "plait_env": {k: v for k, v in os.environ.items()
                              if k.startswith("PLAIT_") and k != "PLAIT_COMPARE_SNAPSHOT"},
                "peer_versions": await asyncio.to_thread(install.versions)}
        more_ok = await extras.run(more, engines, args, base)
        if not names:
            return 0 if more_ok else 1
    doc: dict[str, Any] = {
        "benchmark": "compare", "command": core.command_line(), "quick": args.quick,
        "repeat": args.repeat, "engines": engines, "sizes": {k: sizes[k] for k in names},
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": core.machine_info(), "source_digest": core.source_digest(),
        "plait_source": _plait_source(args),
        "steal_limit_pct": STEAL_LIMIT_PCT, "noise_limit_pct": NOISE_LIMIT_PCT,
        "quiet_below_pct": args.quiet_below, "quiet_wait_s": args.quiet_wait,
        "peer_versions": await asyncio.to_thread(install.versions),
        "workloads": {w: {"description": core.WORKLOADS[w][0].format(n=sizes[w]),
                          "size": sizes[w], "engines": {e: {"reps": []} for e in engines}}
                      for w in names},
    }
    full = not (args.quick or args.only or args.size) and set(engines) == set(ENGINES)
    stem = Path(args.out) if args.out else (
        ROOT / "bench" / "results" / "compare" if full
        else ROOT / "bench" / "out" / ("compare-quick" if args.quick else "compare-partial"))
    stem.parent.mkdir(parents=True, exist_ok=True)
    ok = True
    if args.fsync:
        strace_dir = Path(tempfile.mkdtemp(prefix="plait-compare-strace-"))
        fsizes = FSYNC_SIZES["quick" if args.quick else "full"]
        doc["fsync_sizes"] = fsizes
        doc["fsync"] = {}
        for e in engines:
            for w, n in fsizes.items():
                log(f"fsync pass: {w} (n={n}) {e} under strace ...")
                if e == "plait":
                    r = await fsync_plait(w, n, args, strace_dir)
                else:
                    r = await run_peer(e, w, n, args, strace_dir=strace_dir)
                    r = {"ok": r["ok"], "errors": r["errors"], **(
                        {"fsyncs": r["fsyncs"]} if "fsyncs" in r else {})}
                ok &= bool(r["ok"])
                doc["fsync"].setdefault(e, {})[w] = r
                log(f"  {'ok' if r['ok'] else 'FAILED'}: {r.get('fsyncs')}")
        shutil.rmtree(strace_dir, ignore_errors=True)
        finish(doc, ok, stem, final=False)
    for rep in range(args.repeat):
        for w in names:
            for e in engines:
                quiet = await wait_quiet(args.quiet_below, args.quiet_wait)
                log(f"rep {rep + 1}/{args.repeat} {w} (n={sizes[w]}) {e} (machine busy "
                    f"{quiet:.0f} % before) ...")
                t0 = time.perf_counter()
                if e == "plait":
                    r = await run_plait(w, rep, sizes[w], args)
                else:
                    r = await run_peer(e, w, sizes[w], args)
                r["rep"] = rep + 1
                r["busy_before_pct"] = quiet
                ok &= bool(r["ok"])
                doc["workloads"][w]["engines"][e]["reps"].append(r)
                shown = ", ".join(f"{k}={_f(r['metrics'].get(k))}" for ww, k, _ in HEADLINE
                                  if ww == w)
                log(f"  {'ok' if r['ok'] else 'FAILED'} in {time.perf_counter() - t0:.1f}s: "
                    f"{shown}, steal {_f(r['metrics'].get('steal_pct'))} %, other processes "
                    f"{_f(r['metrics'].get('other_cpu_pct'))} % of the machine")
                for x in r["errors"][:3]:
                    log(f"  error: {x[:300]}")
        doc["completed_repetitions"] = rep + 1
        finish(doc, ok, stem, final=rep + 1 == args.repeat)
    ok &= not more or more_ok
    log(f"{'PASSED' if ok else 'FAILED'}; results in "
        f"{os.path.relpath(stem.with_suffix('.md'))} and .json")
    if args.docs:
        from bench import compare_docs

        compare_docs.write(doc, stem.with_suffix(".json"))
    return 0 if ok else 1


def _plait_source(args: argparse.Namespace) -> str:
    snap = os.environ.get("PLAIT_COMPARE_SNAPSHOT")
    return f"git {snap} (--plait-ref {args.plait_ref}, exported)" if snap else "work tree"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 1 repetition, small sizes (W1=200, W2=50, W3=100, W4=100)")
    p.add_argument("--repeat", type=int, default=None,
                   help="repetitions (default 7; 1 with --quick)")
    p.add_argument("--engines", default=",".join(ENGINES),
                   help=f"comma-separated engines (default all: {','.join(ENGINES)}); "
                        "plait is always included")
    p.add_argument("--only", help="comma-separated workloads, e.g. W1,W3; R (recovery), W5 "
                                  "(long history), W6 (list/count), W7 (idle cache) run only "
                                  "when named here")
    p.add_argument("--size", action="append", metavar="W=N",
                   help="override a workload's size, e.g. --size W1=500 (repeatable)")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="seconds one run of one workload may take (default 300)")
    p.add_argument("--noise-limit", type=float, default=NOISE_LIMIT_PCT,
                   help="leave out of medians and ratios the runs during which processes "
                        "outside the run used this %% of the machine's CPU or more (default 10)")
    p.add_argument("--quiet-below", type=float, default=5.0,
                   help="before each run, wait until the machine's CPU use is under this %% "
                        "(default 5) ...")
    p.add_argument("--quiet-wait", type=float, default=60.0,
                   help="... for at most this many seconds (default 60)")
    p.add_argument("--no-fsync", dest="fsync", action="store_false",
                   help="skip the strace pass that counts fsyncs per workflow")
    p.add_argument("--docs", action="store_true",
                   help="also write docs/benchmarks.md and its chart from this run")
    p.add_argument("--worker-slots", type=int, default=300,
                   help="plait worker's max_concurrent_activities/workflow_tasks (default 300, "
                        "as in the core benchmark; Temporal's worker gets the same)")
    p.add_argument("--out", help="path stem of the result files (default bench/results/compare "
                                 "for a full run of every engine, bench/out/compare-* otherwise)")
    p.add_argument("--keep", action="store_true", help="keep the runs' temporary directories")
    p.add_argument("--plait-ref", default="HEAD",
                   help="git ref of the plait measured (default HEAD: src/ exported to "
                        "bench/out/ so that edits during the run change nothing); 'worktree' "
                        "runs the work tree as it is")


def snapshot_plait(ref: str) -> tuple[Path, str]:
    """Export ``src/`` at git ``ref`` into ``bench/out/`` (git-ignored), so that every plait
    run measures the same code even while the work tree is being edited."""
    sha = subprocess.run(["git", "rev-parse", "--short=12", ref], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    dest = ROOT / "bench" / "out" / f"plait-src-{sha}"
    if not (dest / "src" / "plait" / "__init__.py").exists():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha, "src"], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "src", sha


def main(args: argparse.Namespace) -> int:
    if args.plait_ref != "worktree" and not os.environ.get("PLAIT_COMPARE_SNAPSHOT"):
        # Re-run this command with plait imported from a snapshot of the ref, in this process
        # (the client) and in the server and worker processes (PYTHONPATH comes before the
        # editable install's path entry).
        src, sha = snapshot_plait(args.plait_ref)
        env = {**os.environ, "PLAIT_COMPARE_SNAPSHOT": sha,
               "PYTHONPATH": os.pathsep.join([str(src), str(ROOT)])}
        log(f"plait from {args.plait_ref} = {sha}, exported to {os.path.relpath(src)}")
        os.execve(sys.executable, [sys.executable, "-m", "bench", *sys.argv[1:]], env)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 7
    if args.repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    global NOISE_LIMIT_PCT
    NOISE_LIMIT_PCT = args.noise_limit
    # what bench.core.run_once expects
    args.histories, args.profile, args.profile_workloads = 0, False, set()
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main_async(args))
    return uvloop.run(main_async(args))
