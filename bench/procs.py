"""Subprocesses of a benchmark run: a real ``plait server``, a real worker, and py-spy.

Each run gets a fresh temporary directory (database and logs), a free port, and processes
that the harness started itself and stops by their own pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """The run could not be set up (server or worker did not come up)."""


def in_repo(path: object) -> str:
    """A path inside the repository as the repository names it, so committed results carry
    no machine's directories (other paths unchanged)."""
    return str(path).removeprefix(str(ROOT) + "/")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mib(pid: int) -> float | None:
    """VmHWM (peak resident set size) of a live process, in MiB."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    m = re.search(r"^VmHWM:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) / 1024 if m else None


def cpu_seconds(pid: int, tid: int | None = None) -> float | None:
    """User + system CPU time a live process (or one of its threads) has used so far."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid is not None else f"/proc/{pid}/stat"
    try:
        stat = Path(path).read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU time of each live thread of a process, by thread id (the main thread's is pid)."""
    out: dict[int, float] = {}
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return out
    for tid in tids:
        v = cpu_seconds(pid, tid)
        if v is not None:
            out[tid] = v
    return out


def machine_cpu_seconds() -> tuple[float, float] | None:
    """(busy, steal): CPU time all processes of the machine have used, and time the
    hypervisor gave this machine's CPUs to someone else (from /proc/stat)."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, first[1:9])
    return (user + nice + system + irq + softirq) / _CLK_TCK, steal / _CLK_TCK


TCP_COUNTERS = ("ListenOverflows", "ListenDrops", "TCPSynRetrans")


def tcp_counters() -> dict[str, int]:
    """Machine-wide TCP counters that show connection attempts being dropped: a full accept
    queue (ListenOverflows/ListenDrops) makes the client resend its SYN after 1 s."""
    try:
        lines = [ln.split() for ln in Path("/proc/net/netstat").read_text().splitlines()
                 if ln.startswith("TcpExt:")]
    except OSError:
        return {}
    if len(lines) < 2:
        return {}
    row = dict(zip(lines[0][1:], lines[1][1:], strict=False))
    return {k: int(row[k]) for k in TCP_COUNTERS if k in row}


def _make_key(db: str, role: str) -> str:
    """A key for namespace ``default`` with ``role``, made on the database directly (how the
    first keys of a deployment are made); the key is the last line of the command's output."""
    out = subprocess.run(
        [sys.executable, "-m", "plait", "apikey", "create", "--db", db, "--namespace",
         "default", "--role", role, "--name", f"bench {role}"],
        capture_output=True, text=True, env=_env(), check=False)
    if out.returncode != 0:
        raise BenchError(f"plait apikey create failed: {out.stderr.strip()}")
    return out.stdout.strip().splitlines()[-1]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PLAIT_ADDRESS", None)
    env.pop("PLAIT_DB", None)
    return env


def _terminate(proc: subprocess.Popen[bytes], grace: float) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None  # did not stop by itself
    return proc.returncode


class Run:
    """One server + one worker on a fresh database, for one repetition of one workload."""

    def __init__(self, name: str, *, worker_slots: int | tuple[int, int] | None,
                 keep: bool = False, auth: bool = False) -> None:
        """``worker_slots``: the worker's activity and workflow-task slots (one number for
        both, or the two); None constructs its ``Worker`` with no tuning arguments at all
        (``bench.defaults``)."""
        self.name = name
        self.auth = auth
        self.api_key: str | None = None
        """With ``auth``: the harness's key (a writer's of ``default``); the worker has its
        own (a worker's of ``default``), as a deployment would."""
        self._worker_key = ""
        self.keep = keep
        self.dir = Path(tempfile.mkdtemp(prefix=f"plait-bench-{name}-"))
        self.port = free_port()
        self.address = f"http://127.0.0.1:{self.port}"
        self.task_queue = "bench"
        self.worker_slots = worker_slots
        self.server: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.server_log = self.dir / "server.log"
        self.worker_log = self.dir / "worker.log"
        self.unclean_exit: list[str] = []
        # argv after the interpreter; W7 swaps in a shim that counts SQL statements
        self.server_cmd: list[str] = ["-m", "plait", "server"]
        self.db: str | None = None
        """The server's ``--db`` (None: a fresh SQLite file in the run's directory)."""

    async def start(self, timeout: float = 30.0) -> None:
        await self.start_server(timeout)
        self.worker = self.spawn_worker()
        await self.wait_ready(self.worker, timeout)

    async def start_server(self, timeout: float = 30.0) -> None:
        db = self.db or f"sqlite:///{self.dir / 'plait.db'}"
        extra: list[str] = []
        if self.auth:
            # The server checks a key on every call (--auth); /metrics stays open to the
            # harness's scrape, which is not what is measured.
            self.api_key = await asyncio.to_thread(_make_key, db, "writer")
            self._worker_key = await asyncio.to_thread(_make_key, db, "worker")
            extra = ["--auth", "--public-metrics"]
        self.server = subprocess.Popen(
            [sys.executable, *self.server_cmd, "--db", db, "--port", str(self.port),
             "--log-level", "warning", *extra],
            stdout=subprocess.DEVNULL, stderr=self.server_log.open("ab"), env=_env(),
            cwd=self.dir)
        await self._wait_health(timeout)

    def spawn_worker(self, *extra: str) -> subprocess.Popen[bytes]:
        """A worker process (not waited for: see ``wait_ready``); its log is appended to
        ``worker.log``, so a restarted worker's lines are kept too."""
        given = self.worker_slots
        acts, wfts = given if isinstance(given, tuple) else (given, given)
        slots = ["--defaults"] if given is None else [
            "--max-concurrent-activities", str(acts),
            "--max-concurrent-workflow-tasks", str(wfts)]
        return subprocess.Popen(
            [sys.executable, "-m", "bench.worker", "--address", self.address,
             "--task-queue", self.task_queue, *slots, *extra],
            stdout=subprocess.PIPE, stderr=self.worker_log.open("ab"),
            env=_env(PLAIT_API_KEY=self._worker_key) if self.auth else _env(), cwd=ROOT)

    async def _wait_health(self, timeout: float) -> None:
        assert self.server is not None
        give_up = time.monotonic() + timeout
        url = self.address + "/health"
        while time.monotonic() < give_up:
            if self.server.poll() is not None:
                raise BenchError(f"plait server exited with {self.server.returncode}:\n"
                                 + self.server_log.read_text(errors="replace")[-2000:])
            try:
                ok = await asyncio.to_thread(_get_ok, url)
            except OSError:
                ok = False
            if ok:
                return
            await asyncio.sleep(0.05)
        raise BenchError(f"plait server not healthy at {url} after {timeout:.0f}s")

    async def wait_ready(self, worker: subprocess.Popen[bytes], timeout: float) -> None:
        assert worker.stdout is not None
        try:
            line = await asyncio.wait_for(asyncio.to_thread(worker.stdout.readline), timeout)
        except TimeoutError:
            line = b""
        if line.strip() != b"READY":
            raise BenchError("bench worker did not become ready:\n"
                             + self.worker_log.read_text(errors="replace")[-2000:])

    def sample(self) -> dict[str, Any]:
        """Peak RSS and CPU time (whole process, and per thread) of server and worker."""
        assert self.server is not None and self.worker is not None
        return {"server_rss_mib": peak_rss_mib(self.server.pid),
                "worker_rss_mib": peak_rss_mib(self.worker.pid),
                "server_cpu_s": cpu_seconds(self.server.pid),
                "worker_cpu_s": cpu_seconds(self.worker.pid),
                "server_threads": thread_cpu_seconds(self.server.pid),
                "worker_threads": thread_cpu_seconds(self.worker.pid)}

    def scrape_metrics(self) -> dict[str, float]:
        """The server's plait_* counters from /metrics (Prometheus text format)."""
        try:
            with urllib.request.urlopen(self.address + "/metrics", timeout=10) as r:
                text = r.read().decode()
        except OSError:
            return {}
        out: dict[str, float] = {}
        for line in text.splitlines():
            if not line.startswith("plait_") or "_created" in line.split(" ", 1)[0]:
                continue
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                continue
        return out

    def stop(self) -> None:
        for what, proc, grace in (("worker", self.worker, 15.0), ("server", self.server, 10.0)):
            if proc is None:
                continue
            if proc.poll() is not None:
                self.unclean_exit.append(f"{what} had already exited with {proc.returncode} "
                                         "before the harness stopped it")
                continue
            rc = _terminate(proc, grace)
            if rc is None:
                self.unclean_exit.append(f"{what} did not stop within {grace:.0f}s of SIGTERM "
                                         "and was killed")
            elif rc != 0:
                self.unclean_exit.append(f"{what} exited with {rc} after SIGTERM")
            if proc.stdout is not None:
                proc.stdout.close()

    def log_problems(self) -> dict[str, list[str]]:
        """Warning/error lines and tracebacks of the server and worker logs."""
        out: dict[str, list[str]] = {}
        for what, path in (("server", self.server_log), ("worker", self.worker_log)):
            lines = path.read_text(errors="replace").splitlines() if path.exists() else []
            # The processes log at warning level: every line is worth a look.
            bad = [ln for ln in lines if ln.strip()]
            if bad:
                out[what] = bad
        return out

    def cleanup(self) -> None:
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def _get_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as r:
        return bool(r.status == 200)


class Profiler:
    """py-spy attached to a live process; writes its samples (raw, collapsed stacks) on stop."""

    def __init__(self, pid: int, out: Path, rate: int = 100,
                 extra: tuple[str, ...] = ()) -> None:
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(exe).exists():
            raise BenchError("py-spy not found (install it: .venv/bin/pip install py-spy)")
        self.out = out
        self.log = out.with_suffix(".log")
        self.proc = subprocess.Popen(
            [exe, "record", "--pid", str(pid), "--rate", str(rate), "--threads",
             "--format", "raw", "-o", str(out), *extra],
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(30)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
