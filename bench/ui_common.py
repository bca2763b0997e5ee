"""What the parts of ``python -m bench.ui`` share: the browser, the namespace, a database of
many closed runs written straight through the store, and how results are noted."""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bench import list_scale
from plait.store.sqlite import SQLiteStore

__all__ = ["CHROMIUM", "NS", "fill_runs", "machine", "note"]

CHROMIUM = os.environ.get("PLAIT_CHROMIUM", "/usr/bin/chromium")
NS = "default"


def note(out: list[str], line: str) -> None:
    """A result line, kept and shown at once (a slow phase is seen while it runs)."""
    out.append(line)
    print(line, file=sys.stderr, flush=True)


def _row(i: int, runs: int) -> Any:
    return dataclasses.replace(list_scale.row(i, runs), namespace=NS)


async def fill_runs(path: Path, runs: int) -> float:
    """``runs`` closed runs (``bench.list_scale``'s rows, 1,000 per transaction) in a fresh
    database at ``path``; the seconds it took."""
    store = SQLiteStore(str(path))
    t = time.perf_counter()
    try:
        for lo in range(0, runs, 1000):

            def go(txn: Any, lo: int = lo) -> None:
                for i in range(lo, min(lo + 1000, runs)):
                    txn.insert_execution(_row(i, runs))

            await store.write(go)
    finally:
        await store.close()
    return time.perf_counter() - t


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"
