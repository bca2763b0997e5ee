"""Process trees: a peer engine's server may serve from child processes (hypercorn does), so
its CPU and memory are summed over the whole tree."""

from __future__ import annotations

import contextlib
from pathlib import Path

from bench.procs import cpu_seconds, peak_rss_mib


def process_tree(pid: int) -> list[int]:
    """A process and all its descendants (hypercorn, for one, serves from a child process)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (d / "stat").read_text()
                ppid = int(stat[stat.rindex(")") + 2:].split()[1])
                children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def tree_cpu_s(pid: int) -> dict[int, float]:
    return {p: c for p in process_tree(pid) if (c := cpu_seconds(p)) is not None}


def tree_rss_mib(pid: int) -> float | None:
    """Sum of the peak RSS of a process and its descendants."""
    vals = [v for p in process_tree(pid) if (v := peak_rss_mib(p)) is not None]
    return sum(vals) if vals else None


def postgres_pids() -> list[int]:
    """Every process of the local PostgreSQL server (postmaster, its helpers, backends)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError):
                if (d / "comm").read_text().strip() == "postgres":
                    out.append(int(d.name))
    return sorted(out)
