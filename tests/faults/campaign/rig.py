"""The campaign's processes: servers (one on SQLite, several on a PostgreSQL of its own),
workers each behind a :class:`~tests.faults.campaign.proxy.Proxy` to its server, and the
handles the fault injector pulls (kill, stop, restart, partition, slow down, fill the disk,
fail fsync).

SQLite lives on a small tmpfs of its own when the campaign may mount one (root), so the disk
can be filled without filling the machine's; the server runs with an ``LD_PRELOAD`` shim that
fails ``fsync``/``fdatasync`` with EIO while a flag file exists.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import IO

from tests.faults.campaign.pg import OwnPostgres
from tests.faults.campaign.proxy import Proxy
from tests.faults.procs import free_port

QUEUE = "campaign"
SHIM = Path(__file__).with_name("failfsync.c")


def build_shim(out: Path) -> Path | None:
    """Compile the fsync shim; None (and the fault is skipped) without a C compiler."""
    lib = out / "failfsync.so"
    try:
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(lib), str(SHIM), "-ldl"],
                       check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return lib


def mount_tmpfs(path: Path, size_mb: int) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)],
                          capture_output=True)
    return done.returncode == 0


class Rig:
    def __init__(self, tmp: Path, backend: str, *, servers: int, workers: int,
                 session_expiry: float) -> None:
        self.tmp, self.backend = tmp, backend
        self.effects = tmp / "effects.log"
        self.session_expiry = session_expiry
        self.fsync_flag = tmp / "fsync-fails"
        self.disk = tmp / "disk"
        self.pg: OwnPostgres | None = None
        self.shim: Path | None = None
        self.tmpfs = False
        if backend == "sqlite":
            servers = 1
            self.tmpfs = mount_tmpfs(self.disk, 256)
            self.shim = build_shim(tmp)
            self.db_url = f"sqlite:///{self.disk / 'plait.db'}"
        else:
            self.pg = OwnPostgres()
            self.pg.start()
            self.db_url = self.pg.create_database(f"campaign_{uuid.uuid4().hex[:8]}")
        self.ports = [free_port() for _ in range(servers)]
        self.servers: list[subprocess.Popen[bytes] | None] = [None] * servers
        self.proxies: list[Proxy] = []
        self.workers: list[subprocess.Popen[bytes] | None] = [None] * workers
        self.stopped: set[int] = set()  # pids under SIGSTOP
        self.refused_starts = 0  # server processes that exited before they were healthy
        self._logs: list[IO[bytes]] = []

    def address(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PLAIT_SESSION_EXPIRY"] = str(self.session_expiry)
        env["FAULT_EFFECTS"] = str(self.effects)
        return env

    def _log(self, name: str) -> IO[bytes]:
        log = open(self.tmp / name, "ab")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        return log

    # -- servers ------------------------------------------------------------------------------
    def start_server(self, i: int, timeout: float = 90) -> None:
        """Start server ``i`` and wait until it is healthy; one that exits at once (it may
        refuse to start while its disk fails) is started again until ``timeout``."""
        env = self._env()
        if self.shim is not None:
            env["LD_PRELOAD"] = str(self.shim)
            env["FAULT_FSYNC_FLAG"] = str(self.fsync_flag)
        deadline = time.monotonic() + timeout
        while True:
            log = self._log(f"server-{i}.log")
            proc = subprocess.Popen(
                [sys.executable, "-m", "plait", "server", "--db", self.db_url,
                 "--port", str(self.ports[i]), "--log-level", "warning"],
                env=env, stdout=log, stderr=log)
            self.servers[i] = proc
            while proc.poll() is None and self.health(i) != 200:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server {i} is not healthy after {timeout} s")
                time.sleep(0.1)
            if proc.poll() is None:
                return
            self.refused_starts += 1
            time.sleep(0.5)

    def health(self, i: int) -> int:
        try:
            with urllib.request.urlopen(self.address(i) + "/health", timeout=2) as r:
                return int(r.status)
        except urllib.error.HTTPError as e:
            return int(e.code)
        except OSError:
            return 0

    def wait_health(self, i: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.health(i) != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"server {i} is not healthy after {timeout} s")
            time.sleep(0.1)

    def kill_server(self, i: int) -> None:
        proc = self.servers[i]
        if proc is not None:
            self._kill(proc)
        self.servers[i] = None

    # -- workers ------------------------------------------------------------------------------
    def server_of(self, slot: int) -> int:
        return slot % len(self.ports)

    def start_worker(self, slot: int, queue: str = QUEUE) -> None:
        while len(self.proxies) <= slot:
            self.proxies.append(Proxy(self.ports[self.server_of(len(self.proxies))]))
        address = f"http://127.0.0.1:{self.proxies[slot].port}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.campaign.app", "--address", address,
             "--queue", queue], env=self._env(), stdout=subprocess.PIPE,
            stderr=self._log(f"worker-{slot}.log"))
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if b"ready" not in line:
            raise RuntimeError(f"worker {slot} did not start: {line!r}")
        self.workers[slot] = proc

    def kill_worker(self, slot: int) -> None:
        proc = self.workers[slot]
        if proc is not None:
            self._kill(proc)
        self.workers[slot] = None

    # -- signals ------------------------------------------------------------------------------
    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        self.stopped.discard(proc.pid)

    def pause(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGSTOP)
        self.stopped.add(proc.pid)

    def resume(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGCONT)
        self.stopped.discard(proc.pid)

    # -- the disk -----------------------------------------------------------------------------
    def fill_disk(self) -> None:
        """Take every free byte of the database's tmpfs (a ballast file)."""
        fd = os.open(self.disk / "ballast", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            st = os.statvfs(self.disk)
            with contextlib.suppress(OSError):
                os.posix_fallocate(fd, os.fstat(fd).st_size, st.f_bavail * st.f_frsize)
            chunk = b"\0" * 4096
            with contextlib.suppress(OSError):
                while os.write(fd, chunk):  # what fallocate left, a page at a time
                    pass
        finally:
            os.close(fd)

    def free_disk(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.disk / "ballast").unlink()

    def fail_fsync(self, on: bool) -> None:
        if on:
            self.fsync_flag.touch()
        else:
            with contextlib.suppress(FileNotFoundError):
                self.fsync_flag.unlink()

    # -- teardown -----------------------------------------------------------------------------
    def stop(self) -> None:
        self.fail_fsync(False)
        self.free_disk()
        for proc in [*self.workers, *self.servers]:
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(OSError):
                    proc.send_signal(signal.SIGCONT)
                proc.kill()
                proc.wait(10)
        for p in self.proxies:
            p.heal()
        for log in self._logs:
            log.close()

    def unmount(self) -> None:
        if self.pg is not None:
            self.pg.stop()
        if self.tmpfs:
            subprocess.run(["umount", "-l", str(self.disk)], check=False)
