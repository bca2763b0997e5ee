"""Where a workflow's latency goes: the gaps between consecutive events of its history.

After a workload (outside the timed part), the harness fetches the histories of a sample of
its workflows. Event timestamps come from the server's clock, which is this machine's clock,
so the harness's own wall-clock times of the start call and of the result's arrival line up
with them. Each gap between two consecutive events is charged to its transition, for
example ``WORKFLOW_TASK_SCHEDULED -> WORKFLOW_TASK_STARTED`` (waiting for a worker to take
the task); ``client start -> WORKFLOW_EXECUTION_STARTED`` is the start call until the server
wrote the run, and ``WORKFLOW_EXECUTION_COMPLETED -> client result`` is the result long-poll
noticing the close. The transitions' average contributions add up to the average latency.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import statistics
from typing import Any

from bench.workloads import Outcome
from plait import Client


def _transitions(o: Outcome, events: list[Any]) -> list[tuple[str, float]]:
    points: list[tuple[str, float]] = [("client start", o.wall_start)]
    points += [(e.event_type, e.timestamp.timestamp()) for e in events]
    if o.wall_result is not None:
        points.append(("client result", o.wall_result))
    return [(f"{a} -> {b}", tb - ta) for (a, ta), (b, tb) in itertools.pairwise(points)]


async def breakdown(client: Client, outcomes: list[Outcome], sample: int) -> dict[str, Any]:
    """Average time per workflow spent in each transition, over a sample of workflows."""
    done = [o for o in outcomes if o.t_result is not None and o.error is None]
    if not done or sample <= 0:
        return {}
    step = max(1, len(done) // sample)
    picked = done[::step][:sample]
    sem = asyncio.Semaphore(16)

    async def history(o: Outcome) -> list[Any]:
        async with sem:
            h = await client.get_workflow_handle(o.workflow_id).fetch_history()
            return h.events

    histories = await asyncio.gather(*(history(o) for o in picked))
    total: dict[str, float] = collections.defaultdict(float)
    count: collections.Counter[str] = collections.Counter()
    gaps: dict[str, list[float]] = collections.defaultdict(list)
    latencies = []
    for o, events in zip(picked, histories, strict=True):
        latencies.append(o.latency)
        for name, gap in _transitions(o, events):
            total[name] += gap
            count[name] += 1
            gaps[name].append(gap)
    n = len(picked)
    rows = [{"transition": name, "avg_ms_per_workflow": 1e3 * t / n,
             "occurrences_per_workflow": count[name] / n,
             "median_gap_ms": 1e3 * statistics.median(gaps[name]),
             "max_gap_ms": 1e3 * max(gaps[name])}
            for name, t in sorted(total.items(), key=lambda kv: -kv[1])]
    return {"workflows": n, "avg_latency_ms": 1e3 * statistics.fmean(latencies),
            "transitions": rows}


def to_markdown(b: dict[str, Any], top: int = 8) -> list[str]:
    if not b:
        return []
    out = [f"Where the latency goes (history of {b['workflows']} sampled workflow(s) of the "
           f"last passing repetition; average latency {b['avg_latency_ms']:,.0f} ms):", "",
           "| transition | avg ms per workflow | times per workflow | median gap ms | max gap ms |",
           "|---|---|---|---|---|"]
    for r in b["transitions"][:top]:
        out.append(f"| {r['transition']} | {r['avg_ms_per_workflow']:,.1f} | "
                   f"{r['occurrences_per_workflow']:.1f} | {r['median_gap_ms']:,.1f} | "
                   f"{r['max_gap_ms']:,.1f} |")
    return out
