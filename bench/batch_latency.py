"""Does a batch job starve live traffic? (issue 13: "a batch terminate of 1,000 runs while
other workflows keep running: their latency stays within 2x").

    python -m bench.batch_latency [--runs 1000] [--probes 100] [--rounds 3] [--rate 50]

One server (SQLite, shipped defaults) and the benchmark's worker. Each round starts ``--runs``
``IdleOnSignal`` workflows (they wait for a signal), then measures live latency twice, one
after the other: ``--probes`` W2 workflows in sequence (start, one no-op activity, result)
with no batch running (*quiet*), and the same while a batch job terminates the idle runs at
``--rate`` runs a second, the batch started just before the probes (*batch*). The probes
are cut to the batch's duration when it ends first. Reported: p50 and p99 of the probes'
latency in each state, per round and the median ratio batch/quiet, the batch's own rate.
Results go to ``bench/results/batch-latency.md`` (``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.core import percentile
from bench.longrun import IdleOnSignal
from bench.procs import Run
from bench.workloads import OneStep
from plait import Client

ROOT = Path(__file__).resolve().parent.parent


async def _probe(client: Client, queue: str, n: int, tag: str,
                 until: asyncio.Event | None = None) -> list[float]:
    """``n`` OneStep workflows in sequence; their start-to-result latencies (s)."""
    out = []
    for i in range(n):
        if until is not None and until.is_set() and i >= 10:
            break
        began = time.perf_counter()
        await client.execute_workflow(OneStep.run, i, id=f"probe-{tag}-{i}", task_queue=queue)
        out.append(time.perf_counter() - began)
    return out


async def _round(r: int, args: argparse.Namespace) -> dict[str, float]:
    run = Run(f"batch-latency-{r}", worker_slots=300)
    try:
        await run.start()
        client = await Client.connect(run.address)
        try:
            queue = run.task_queue
            sem = asyncio.Semaphore(64)

            async def idle(i: int) -> None:
                async with sem:
                    await client.start_workflow(IdleOnSignal.run, i, id=f"idle-{r}-{i}",
                                                task_queue=queue)
            await asyncio.gather(*(idle(i) for i in range(args.runs)))
            await _probe(client, queue, 10, f"warm-{r}")
            quiet = await _probe(client, queue, args.probes, f"quiet-{r}")
            job = await client.start_batch("terminate", workflow_type="IdleOnSignal",
                                           reason="bench", rate_per_second=args.rate)
            began, done = time.perf_counter(), asyncio.Event()

            async def wait_job() -> float:
                d = await job.wait(timeout=timedelta(seconds=args.runs / args.rate * 4 + 60))
                done.set()
                assert d.done == args.runs, d
                return time.perf_counter() - began
            waiter = asyncio.create_task(wait_job())
            busy = await _probe(client, queue, args.probes, f"batch-{r}", until=done)
            took = await waiter
        finally:
            await client.close()
    finally:
        run.stop()
    return {"quiet_p50": percentile(quiet, 50) * 1e3, "quiet_p99": percentile(quiet, 99) * 1e3,
            "batch_p50": percentile(busy, 50) * 1e3, "batch_p99": percentile(busy, 99) * 1e3,
            "probes_during_batch": len(busy), "batch_rate": args.runs / took}


def _write(path: Path, args: argparse.Namespace, rounds: list[dict[str, float]]) -> None:
    rows = "\n".join(
        f"| {i + 1} | {x['quiet_p50']:.1f} | {x['quiet_p99']:.1f} | {x['batch_p50']:.1f} | "
        f"{x['batch_p99']:.1f} | {x['probes_during_batch']:.0f} | {x['batch_rate']:.0f} |"
        for i, x in enumerate(rounds))
    r50 = statistics.median(x["batch_p50"] / x["quiet_p50"] for x in rounds)
    r99 = statistics.median(x["batch_p99"] / x["quiet_p99"] for x in rounds)
    path.write_text(f"""# Live latency while a batch job terminates {args.runs:,} runs

`python -m bench.batch_latency --runs {args.runs} --probes {args.probes} --rounds {args.rounds} \\
--rate {args.rate}`

Machine: {platform.machine()}, {os.cpu_count()} cores (shared), Python \\
{platform.python_version()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. One server on SQLite,
shipped defaults; the benchmark's worker.

Probes: W2 workflows (one no-op activity each) run in sequence, first with no batch running
(quiet), then while a batch job terminates the {args.runs:,} idle runs at {args.rate} runs a
second (batch). Latency in ms, start to result.

| round | quiet p50 | quiet p99 | batch p50 | batch p99 | probes during batch | batch runs/s |
|---|---|---|---|---|---|---|
{rows}

Median ratio batch/quiet: **p50 {r50:.2f}x, p99 {r99:.2f}x** (the issue's bound: 2x).
""")
    print(path.read_text())


async def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.batch_latency")
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument("--probes", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rate", type=float, default=50.0)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "batch-latency.md")
    args = p.parse_args()
    rounds = [await _round(r, args) for r in range(args.rounds)]
    _write(args.out, args, rounds)


if __name__ == "__main__":
    asyncio.run(main())
