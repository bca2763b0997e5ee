"""Waiting for a quiet machine before a run: this machine is shared, and a busy neighbour
would be measured as engine cost."""

from __future__ import annotations

import asyncio
import os
import time

from bench.procs import machine_cpu_seconds


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
