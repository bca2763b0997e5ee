"""Kill -9 the worker after a local activity's marker is recorded: the worker that takes
the run over replays the marker and does not run the local activity again."""

from __future__ import annotations

import asyncio

from plait import Client
from tests.faults.procs import Cluster


async def test_a_recorded_local_activity_does_not_run_again_after_a_crash(
        cluster: Cluster) -> None:
    doomed = cluster.start_worker("local")
    client = await Client.connect(cluster.address)
    try:
        handle = await client.start_workflow("LocalSteps", 0.1, id="local-0",
                                             task_queue="local")
        # The run waits for its signal once the first marker is in the history.
        for _ in range(500):
            history = await handle.fetch_history()
            if any(e.event_type == "MARKER_RECORDED" for e in history.events):
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the local activity's marker was never recorded")
        cluster.kill(doomed)
        survivor = cluster.start_worker("local")
        await handle.signal("proceed")
        pids = await asyncio.wait_for(handle.result(), 30)
        assert pids == [doomed.pid, survivor.pid]  # the second one ran on the new worker
        done = cluster.done_lines()
        assert done[("local-0", 0)] == [(1, doomed.pid)]  # ran once: not again on replay
        assert done[("local-0", 1)] == [(1, survivor.pid)]
        types = [e.event_type for e in (await handle.fetch_history()).events]
        assert types.count("MARKER_RECORDED") == 2
        assert "ACTIVITY_TASK_SCHEDULED" not in types
    finally:
        await client.close()
