"""Pause survives a kill -9 of the server: paused runs stay paused through the restart (no
workflow task and no new activity attempt while paused, though a live worker polls), then
unpaused they finish, and no activity ran twice."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from plait import Client
from plait.client import WorkflowHandle
from tests.faults.procs import Cluster
from tests.faults.test_worker_crash import check_histories
from tests.waiting import eventually

STEPS = 4


def _started(cluster: Cluster, wid: str) -> int:
    """Activities of ``wid`` that began an attempt (running ones included)."""
    return len({p[1] for p in cluster.effect_lines() if p[0] == wid and p[3] == "start"})


def _none_out(handle: WorkflowHandle[Any]) -> Callable[[], Awaitable[bool]]:
    """Whether no attempt of the run is out at a worker (each handed-out one recorded)."""
    async def check() -> bool:
        described = await handle.describe()
        return all(p.state != "started" for p in described.pending_activities)
    return check


async def test_pause_holds_through_a_server_kill(cluster: Cluster) -> None:
    cluster.start_worker("pz")
    client = await Client.connect(cluster.address)
    try:
        ids = [f"pz-{i}" for i in range(12)]
        handles = await asyncio.gather(*(
            client.start_workflow("Steps", STEPS, 0.2, id=wid, task_queue="pz")
            for wid in ids))
        await asyncio.to_thread(cluster.wait_for_effect, ids[-1], 0, "start")
        await asyncio.gather(*(h.pause(reason="carrier outage") for h in handles))
        # Attempts handed out before the pause finish and are recorded; once none is out,
        # whatever has begun is all that may begin until the unpause.
        for h in handles:
            await eventually(_none_out(h), what=f"{h.id}'s attempts recorded")
        at_pause = {wid: _started(cluster, wid) for wid in ids}
        cluster.kill_server()
        cluster.start_server()
        for h in handles:
            assert (await h.describe()).paused, h.id
        # A control run on the same queue completes: the worker is polling the restarted
        # server, so tasks of the paused runs would have been handed out by now if they could.
        control = await client.start_workflow("Steps", STEPS, 0.0, id="pz-control",
                                              task_queue="pz")
        assert len(await asyncio.wait_for(control.result(), 60)) == STEPS
        for wid in ids:
            assert _started(cluster, wid) <= at_pause[wid], (wid, at_pause[wid])
            assert (await client.get_workflow_handle(wid).describe()).status == "RUNNING"
        await asyncio.gather(*(h.unpause() for h in handles))
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 90)
        assert all(len(r) == STEPS for r in results)
        done = cluster.done_counts()
        assert {k: v for k, v in done.items() if v != 1} == {}
        await check_histories(client, ids, cluster, set(), STEPS)
    finally:
        await client.close()
