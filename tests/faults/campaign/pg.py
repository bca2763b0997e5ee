"""A PostgreSQL cluster of the campaign's own (``initdb`` into a temporary directory, its
own port), so killing its postmaster with SIGKILL takes down nothing but this campaign.

The machine's shared PostgreSQL is never touched: other test runs use it at the same time.
As root, the server runs as the ``postgres`` user (it refuses to run as root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from tests.faults.procs import free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or name]
    return found[-1]


class OwnPostgres:
    """Its files go to a fresh directory of its own under the system's temporary directory
    (a test's ``tmp_path`` is often unreadable for the ``postgres`` user); :meth:`stop`
    removes it."""

    def __init__(self) -> None:
        root = self.root = Path(tempfile.mkdtemp(prefix="plait-campaign-pg-"))
        self.data = root / "pgdata"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        self._run(_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "--no-sync")
        with open(self.data / "postgresql.conf", "a") as conf:
            # fsync stays on: the campaign checks what survives a kill -9 of the postmaster.
            conf.write("max_connections = 200\nshared_buffers = 32MB\n")

    def _run(self, *argv: str, check: bool = True) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *argv], check=check, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def start(self) -> None:
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "pg.log"),
                  "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1",
                  "-w", "-t", "60", "start")
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill9(self) -> None:
        """SIGKILL the postmaster and every backend (a crash, not a shutdown), as the OOM
        killer or a power cut would; the next :meth:`start` runs crash recovery."""
        pid = self.postmaster_pid()
        if pid is None:
            return
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
        for p in [pid, *map(int, children.stdout.split())]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
                time.sleep(0.05)
            except ProcessLookupError:
                break
        time.sleep(0.2)  # the backends, orphaned, notice and exit

    def stop(self) -> None:
        if self.postmaster_pid() is not None:
            self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop",
                      check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + "/" + name
