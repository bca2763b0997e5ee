"""Counting a process's fsync/fdatasync calls with strace (the durability cost per workflow)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import subprocess
from pathlib import Path

from bench.procs import BenchError

FSYNC_CALLS = ("fsync", "fdatasync")


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
