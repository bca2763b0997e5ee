"""``python -m bench.capacity``: the PostgreSQL capacity model of docs/operations.md, fed with
costs measured here, and checked against the cells this machine can run.

    .venv/bin/python -m bench.capacity                 # measure 1, 2, 3 servers (~2 min)
    .venv/bin/python -m bench.capacity --servers 1     # the costs only

Each cell is one of ``bench.pg``'s (a fresh database, S real servers, one ``bench.worker``
process, ``--n`` ``ThreeSteps`` workflows started at once). Around the cell this reads, from
PostgreSQL itself, the writing transactions committed (transaction ids spent: the cell's
servers should be the only writers while it runs) and the WAL written
(``pg_current_wal_lsn()``), and from ``/proc`` the CPU of the servers, the worker, every
``postgres`` process and this harness. Divided by the workflows they are the model's inputs:

- ``s``: server CPU per workflow (scales out: each server machine adds cores);
- ``p``: PostgreSQL CPU per workflow (does not scale out: one primary takes every write);
- ``c``: commits per workflow, and ``b``: WAL bytes per workflow (the primary's flush rate
  and WAL bandwidth).

The model (docs/operations.md, *Capacity model*) predicts the workflows per second of N
servers with ``k`` cores each against one primary with ``P`` cores as the least of
``N*k*u/s`` (the servers), ``P*u/p`` (the primary's CPU), ``F*g/c`` (its WAL flushes, ``g``
commits sharing a flush) and ``B/b`` (its WAL bandwidth), ``u`` being the share of a core
usable before latency climbs (0.7 by default).

On this machine every process shares the same 2 cores, so the check is the single-machine
form: ``cores / (s + p + worker + harness)``. The 1-server cell's costs predict every cell
(more servers on the same cores add no capacity); the table shows prediction against
measurement, and how much CPU other processes of the machine took meanwhile (run it on a
quiet machine: what others take, the cell cannot have).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench import pg
from bench.procs import cpu_seconds

__all__ = ["Costs", "main", "predict"]

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Costs:
    """What one W1 workflow costs, as measured in one cell."""

    server_ms: float
    postgres_ms: float
    worker_ms: float
    harness_ms: float
    commits: float
    wal_bytes: float

    @property
    def total_ms(self) -> float:
        return self.server_ms + self.postgres_ms + self.worker_ms + self.harness_ms


def predict(costs: Costs, *, servers: int, server_cores: float, pg_cores: float,
            flushes_per_s: float = 5_000.0, commits_per_flush: float = 8.0,
            wal_mb_per_s: float = 400.0, usable: float = 0.7) -> dict[str, float]:
    """Workflows per second each resource allows on separate machines, and the least of them
    (``limit``). The defaults are a modest dedicated primary: an NVMe flush of ~0.2 ms
    (5,000/s), 8 commits riding each flush under load (PostgreSQL's group commit), 400 MB/s
    of WAL."""
    bounds = {
        "servers": servers * server_cores * usable * 1000 / costs.server_ms,
        "postgres_cpu": pg_cores * usable * 1000 / costs.postgres_ms,
        "wal_flushes": flushes_per_s * commits_per_flush / costs.commits,
        "wal_bandwidth": wal_mb_per_s * 1e6 / costs.wal_bytes,
    }
    bounds["limit"] = min(bounds.values())
    return bounds


def _pg_counters() -> tuple[int, int]:
    """(the next transaction id, the WAL position in bytes), read from PostgreSQL. Only a
    transaction that writes takes an id, and only those flush WAL at commit, so the ids
    spent are the commits that cost a flush (reading the next id spends none)."""
    with psycopg.connect(pg.PG, autocommit=True) as conn:
        commits = conn.execute(
            "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint").fetchone()
        wal = conn.execute(
            "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
    assert commits is not None and wal is not None
    return int(commits[0]), int(wal[0])


@dataclass
class Cell:
    servers: int
    throughput: float
    others: float
    """Cores that processes outside the cell kept busy while it ran."""
    costs: Costs


def measure(servers: int, n: int) -> Cell:
    """One bench.pg cell with the PostgreSQL counters and this harness's CPU around it."""
    args = argparse.Namespace(profile=False, out=str(ROOT / "bench" / "out" / "pg.md"))
    commits0, wal0 = _pg_counters()
    me0 = cpu_seconds(os.getpid()) or 0.0
    result = pg.run_cell(servers, 1, n, args)
    me1 = cpu_seconds(os.getpid()) or 0.0
    commits1, wal1 = _pg_counters()
    cpu = result["cpu"]
    own = cpu["servers"] + cpu["workers"] + cpu["postgres"] + (me1 - me0)
    # The machine's CPU over the cell's driving phase (run_cell reads it around the drive).
    others = (cpu["machine"] - own) / result["wall"] if "machine" in cpu else 0.0
    return Cell(servers, result["throughput"], max(others, 0.0), Costs(
        server_ms=cpu["servers"] / n * 1000, postgres_ms=cpu["postgres"] / n * 1000,
        worker_ms=cpu["workers"] / n * 1000,
        # The harness drives the cell inside run_cell; its own CPU includes starting the
        # processes, so it is an upper bound.
        harness_ms=(me1 - me0) / n * 1000,
        commits=(commits1 - commits0) / n, wal_bytes=(wal1 - wal0) / n))


def one_machine(costs: Costs) -> float:
    """Workflows per second when every process shares this machine's cores."""
    return (os.cpu_count() or 1) * 1000 / costs.total_ms


def report(cells: list[Cell]) -> str:
    base = cells[0]
    lines = [
        "| servers | measured wf/s | predicted from the 1-server costs | ratio | server ms/wf "
        "| postgres ms/wf | worker ms/wf | harness ms/wf | commits/wf | WAL bytes/wf "
        "| other processes |",
        "|---|---|---|---|---|---|---|---|---|---|---|"]
    for cell in cells:
        c = cell.costs
        guess = one_machine(base.costs)
        lines.append(
            f"| {cell.servers} | {cell.throughput:.0f} | {guess:.0f} | "
            f"{cell.throughput / guess:.2f} | {c.server_ms:.2f} | {c.postgres_ms:.2f} | "
            f"{c.worker_ms:.2f} | {c.harness_ms:.2f} | {c.commits:.1f} | {c.wal_bytes:,.0f} | "
            f"{cell.others:.2f} cores |")
    lines += ["", "Separate machines, from the 1-server costs (4-core servers, u = 0.7):", "",
              "| servers | primary cores | servers allow | primary CPU allows | WAL flushes "
              "allow | WAL bandwidth allows | predicted wf/s |",
              "|---|---|---|---|---|---|---|"]
    for n_servers, cores in ((1, 8), (2, 8), (4, 8), (4, 16), (8, 16), (8, 32), (16, 32)):
        b = predict(base.costs, servers=n_servers, server_cores=4, pg_cores=cores)
        lines.append(
            f"| {n_servers} | {cores} | {b['servers']:,.0f} | {b['postgres_cpu']:,.0f} | "
            f"{b['wal_flushes']:,.0f} | {b['wal_bandwidth']:,.0f} | **{b['limit']:,.0f}** |")
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--servers", default="1,2,3", help="server counts to measure (first: 1)")
    p.add_argument("--n", type=int, default=1000, help="workflows per cell")
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "capacity.md"))
    args = p.parse_args()
    counts = [int(x) for x in args.servers.split(",")]
    if counts[0] != 1:
        print("error: --servers must start with 1 (its costs feed the model)", file=sys.stderr)
        return 2
    cells = []
    for servers in counts:
        cells.append(measure(servers, args.n))
        print(f"{servers} server(s): {cells[-1].throughput:.0f} wf/s", flush=True)
    text = (f"# Capacity model check\n\n`{' '.join(['python -m bench.capacity', *sys.argv[1:]])}`"
            f", {args.n} workflows per cell, {os.cpu_count()} CPUs, one worker process.\n\n"
            + report(cells))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
