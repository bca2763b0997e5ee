"""Real plait processes for fault tests: a server and workers, killed and restarted at will."""

from __future__ import annotations

import collections
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

APP = Path(__file__).with_name("fault_app.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """One server (restartable on the same database and port) and any number of workers."""

    def __init__(self, tmp: Path, *, session_expiry: float = 2.0) -> None:
        self.tmp = tmp
        self.db = tmp / "plait.db"
        self.effects = tmp / "effects.log"
        self.port = free_port()
        self.address = f"http://127.0.0.1:{self.port}"
        self.session_expiry = session_expiry
        self.server: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self._logs: list[object] = []

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PLAIT_SESSION_EXPIRY"] = str(self.session_expiry)
        env["FAULT_EFFECTS"] = str(self.effects)
        return env

    def start_server(self) -> None:
        log = open(self.tmp / "server.log", "ab")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        self.server = subprocess.Popen(
            [sys.executable, "-m", "plait", "server", "--db", f"sqlite:///{self.db}",
             "--port", str(self.port), "--log-level", "warning"],
            env=self._env(), stdout=log, stderr=log)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.address + "/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not become healthy; see server.log")

    def start_worker(self, queue: str, address: str | None = None) -> subprocess.Popen[bytes]:
        """A worker on ``queue``, talking to the server at ``address`` (default: directly)."""
        log = open(self.tmp / f"worker-{len(self.workers)}.log", "ab")  # noqa: SIM115
        self._logs.append(log)
        proc = subprocess.Popen([sys.executable, str(APP), "--address", address or self.address,
                                 "--queue", queue], env=self._env(),
                                stdout=subprocess.PIPE, stderr=log)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if b"ready" not in line:
            raise RuntimeError(f"worker did not start: {line!r}")
        self.workers.append(proc)
        return proc

    @staticmethod
    def kill(proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def kill_server(self) -> None:
        assert self.server is not None
        self.kill(self.server)
        self.server = None

    def stop(self) -> None:
        for proc in [*self.workers, self.server]:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
        for log in self._logs:
            log.close()  # type: ignore[attr-defined]

    def effect_lines(self) -> list[list[str]]:
        if not self.effects.exists():
            return []
        return [line.split() for line in self.effects.read_text().splitlines() if line]

    def wait_for_effect(self, wid: str, index: int, what: str = "start",
                        timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(p[0] == wid and p[1] == str(index) and p[3] == what
                   for p in self.effect_lines()):
                return
            time.sleep(0.01)
        raise AssertionError(f"{wid} activity {index} never reached {what!r}")

    def done_lines(self) -> dict[tuple[str, int], list[tuple[int, int]]]:
        """(attempt, pid) of every finished attempt, per (workflow id, activity index)."""
        out: dict[tuple[str, int], list[tuple[int, int]]] = collections.defaultdict(list)
        for p in self.effect_lines():
            if p[3] == "done":
                out[(p[0], int(p[1]))].append((int(p[2]), int(p[4])))
        return out

    def done_counts(self) -> collections.Counter[tuple[str, int]]:
        return collections.Counter((p[0], int(p[1])) for p in self.effect_lines()
                                   if p[3] == "done")
