"""Run the ``plait`` CLI as a user does: a real process, its exit code, stdout and stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["one_line_error", "plait", "plait_command", "stop"]


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
