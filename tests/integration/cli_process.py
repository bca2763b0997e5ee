"""Run the ``plait`` CLI as a user does: a real process, its exit code, stdout and stderr."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ["ok", "one_line_error", "plait", "plait_command", "server_and_worker", "stop"]


def plait_command() -> list[str]:
    script = Path(sys.executable).parent / "plait"
    return [str(script)] if script.exists() else [sys.executable, "-m", "plait"]


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def plait(*args: str, address: str | None = None, cwd: Path | None = None,
          stdin: str | None = None,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``plait ARGS`` with PLAIT_ADDRESS set to ``address`` (or unset) and no PLAIT_DEBUG."""
    clean = {k: v for k, v in os.environ.items()
             if k not in ("PLAIT_ADDRESS", "PLAIT_DEBUG", "PLAIT_DB")}
    if address is not None:
        clean["PLAIT_ADDRESS"] = address
    return subprocess.run([*plait_command(), *args], capture_output=True, text=True,
                          timeout=30, env={**clean, **(env or {})}, cwd=cwd, input=stdin)


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The CLI failed the way it promises: non-zero exit, one ``error:`` line, no traceback."""
    assert proc.returncode != 0
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def ok(*args: str, address: str) -> str:
    """``plait ARGS`` that must succeed; its stdout."""
    proc = plait(*args, address=address)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@contextlib.contextmanager
def server_and_worker(tmp: Path, worker_source: str) -> Iterator[str]:
    """A real ``plait server`` on a free port with its database in ``tmp``, and a worker
    process running ``worker_source`` (which prints ``ready`` once it polls); the server's
    address. Their logs stay in ``tmp``."""
    server = subprocess.Popen(
        [*plait_command(), "server", "--db", f"sqlite:///{tmp / 'plait.db'}", "--port", "0"],
        stdout=subprocess.PIPE, stderr=(tmp / "server.log").open("w"), text=True)
    try:
        line = server.stdout.readline() if server.stdout else ""
        assert "plait server on " in line, (tmp / "server.log").read_text()
        addr = line.split("plait server on ", 1)[1].split()[0]
        (tmp / "worker.py").write_text(worker_source)
        worker = subprocess.Popen(
            [sys.executable, str(tmp / "worker.py")], stdout=subprocess.PIPE,
            stderr=(tmp / "worker.log").open("w"), text=True,
            env={**os.environ, "PLAIT_ADDRESS": addr})
        try:
            ready = worker.stdout.readline() if worker.stdout else ""
            assert ready.strip() == "ready", (tmp / "worker.log").read_text()
            yield addr
        finally:
            stop(worker)
    finally:
        stop(server)
