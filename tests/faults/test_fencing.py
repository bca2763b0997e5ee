"""A worker that was presumed dead comes back late: its completion is rejected, and the
newer state (another worker's result) stands."""

from __future__ import annotations

import asyncio
import signal

from plait import Client
from tests.faults.procs import Cluster


async def test_late_completion_from_frozen_worker_is_rejected(cluster: Cluster) -> None:
    frozen = cluster.start_worker("fence")
    client = await Client.connect(cluster.address)
    try:
        handle = await client.start_workflow("Steps", 1, 2.0, id="fence-1", task_queue="fence")
        await asyncio.to_thread(cluster.wait_for_effect, "fence-1", 0)
        frozen.send_signal(signal.SIGSTOP)  # alive but silent: its session will expire
        rescuer = cluster.start_worker("fence")
        result = await asyncio.wait_for(handle.result(), 30)
        assert result == [rescuer.pid]
        frozen.send_signal(signal.SIGCONT)
        # The frozen worker finishes its attempt and reports: the server refuses it.
        await asyncio.to_thread(cluster.wait_for_effect, "fence-1", 0, "done")
        await asyncio.sleep(0.5)
        history = await handle.fetch_history()
        completions = [e for e in history.events if e.event_type == "ACTIVITY_TASK_COMPLETED"]
        assert len(completions) == 1
        assert completions[0].attributes["result"]["data"] == rescuer.pid
        assert history.events[-1].event_type == "WORKFLOW_EXECUTION_COMPLETED"
        log = (cluster.tmp / "worker-0.log").read_text()
        assert "not recorded" in log and "stale_task" in log
    finally:
        await client.close()
