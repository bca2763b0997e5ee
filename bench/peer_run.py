"""One repetition of one workload on a peer engine (Temporal, DBOS, Restate): its server
processes, started on free ports and fresh storage, and its driver in the peer's own
virtualenv."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from bench.peers import install
from bench.procs import ROOT, BenchError, free_port
from bench.proctree import postgres_pids

PG = os.environ.get("PLAIT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
# Log lines that say nothing about the run: restate-server's version check against GitHub
# (octocrab; this machine reaches no such host), hypercorn noting that the restate ASGI app
# has no lifespan handler.
HARMLESS = r"octocrab|client error \(Connect\)|ASGI Framework Lifespan error"


def _peer_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLAIT_", "VIRTUAL_ENV"))}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    env["SCARF_ANALYTICS"] = "false"
    return env


def port_open(port: int) -> bool:
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
        await self._wait("temporal server", lambda: port_open(port))
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
        await self._wait("restate service", lambda: port_open(svc))
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
