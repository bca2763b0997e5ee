"""W3 with local activities against W3 as the core benchmark runs it (issue 18: local
activities are a speed lever, as Restate's and DBOS's in-process steps are).

    python -m bench.local_w3 [--width 500] [--rounds 5]

One server (SQLite, shipped defaults) and the benchmark's worker per round; in each round one
``FanOut`` workflow (``width`` no-op activities in parallel, each a task through the server)
and one ``FanOutLocal`` (the same steps as local activities, run in the worker and recorded
as markers with the workflow task), one after the other. Reported: start-to-result time of
each, per round, the medians and their ratio, and the history length of each. Results go to
``bench/results/local-w3.md`` (``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.procs import Run
from bench.workloads import FanOut, FanOutLocal
from plait import Client

ROOT = Path(__file__).resolve().parent.parent


async def _timed(client: Client, wf: object, width: int, wid: str, queue: str) -> float:
    began = time.perf_counter()
    result = await client.execute_workflow(wf, width, id=wid, task_queue=queue)  # type: ignore[call-overload]
    took = time.perf_counter() - began
    expected = sum(i + 1 for i in range(width))
    if result != expected:
        raise SystemExit(f"error: {wid} returned {result}, not {expected}")
    return took


async def _round(r: int, width: int) -> tuple[float, float, int, int]:
    run = Run(f"local-w3-{r}", worker_slots=300)
    try:
        await run.start()
        client = await Client.connect(run.address)
        try:
            q = run.task_queue
            remote = await _timed(client, FanOut.run, width, f"w3-{r}", q)
            local = await _timed(client, FanOutLocal.run, width, f"w3-local-{r}", q)
            sizes = [len((await client.get_workflow_handle(w).fetch_history()).events)
                     for w in (f"w3-{r}", f"w3-local-{r}")]
        finally:
            await client.close()
    finally:
        run.stop()
    return remote, local, sizes[0], sizes[1]


async def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.local_w3")
    p.add_argument("--width", type=int, default=500)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "local-w3.md")
    args = p.parse_args()
    rounds = [await _round(r, args.width) for r in range(args.rounds)]
    rows = "\n".join(f"| {i + 1} | {a * 1e3:.0f} | {b * 1e3:.0f} | {b / a:.2f} |"
                     for i, (a, b, _, _) in enumerate(rounds))
    remote = statistics.median(x[0] for x in rounds)
    local = statistics.median(x[1] for x in rounds)
    args.out.write_text(f"""# W3 with local activities

`python -m bench.local_w3 --width {args.width} --rounds {args.rounds}`

Machine: {platform.machine()}, {os.cpu_count()} cores (shared), Python \\
{platform.python_version()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. One server on SQLite,
shipped defaults; the benchmark's worker (300 activity slots).

One workflow running {args.width} no-op steps in parallel, start to result, ms:

| round | activities (W3) | local activities | local / W3 |
|---|---|---|---|
{rows}

Medians: W3 **{remote * 1e3:.0f} ms**, with local activities **{local * 1e3:.0f} ms**
(**{local / remote:.2f}x**). History length: {rounds[0][2]} events with activities,
{rounds[0][3]} with local activities (a marker per step, no scheduled/started/completed
triple, and no task through the server per step).
""")
    print(args.out.read_text())


if __name__ == "__main__":
    asyncio.run(main())
