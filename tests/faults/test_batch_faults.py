"""Batch jobs against a real ``plait server`` process: a signal batch closes 200 waiting
workflows, a terminate batch by type leaves other types alone, and a batch whose server is
killed with SIGKILL mid-way finishes after the restart, having acted on every run exactly
once."""

from __future__ import annotations

import asyncio
import collections
from datetime import timedelta

from plait import Client
from tests.faults.procs import Cluster
from tests.waiting import NotYet, eventually

T60 = timedelta(seconds=60)


async def _start(client: Client, workflow: str, prefix: str, n: int, *args: object) -> None:
    for chunk in range(0, n, 50):
        await asyncio.gather(
            *(
                client.start_workflow(workflow, *args, id=f"{prefix}-{i}", task_queue="batch")
                for i in range(chunk, min(n, chunk + 50))
            )
        )


async def _signal_counts(
    client: Client, prefix: str, n: int, name: str
) -> collections.Counter[int]:
    """How many runs got the signal how many times."""
    counts: collections.Counter[int] = collections.Counter()
    for i in range(n):
        history = await client.get_workflow_handle(f"{prefix}-{i}").fetch_history()
        counts[
            sum(
                e.event_type == "WORKFLOW_EXECUTION_SIGNALED"
                and e.attributes["signal_name"] == name
                for e in history.events
            )
        ] += 1
    return counts


async def test_a_signal_batch_closes_200_waiting_workflows(cluster: Cluster) -> None:
    cluster.start_worker("batch")
    client = await Client.connect(cluster.address)
    try:
        await _start(client, "Inbox", "inbox", 200)
        await _start(client, "Steps", "steps", 5, 1, 60.0)  # busy in an activity: not Inbox
        assert await client.count_workflows(workflow_type="Inbox", status="RUNNING") == 200
        job = await client.start_batch(
            "signal", workflow_type="Inbox", signal="close", rate_per_second=500
        )
        done = await job.wait(timeout=T60)
        assert (done.state, done.total, done.done, done.failed) == ("completed", 200, 200, 0)

        async def all_completed() -> int | NotYet:
            n = await client.count_workflows(workflow_type="Inbox", status="COMPLETED")
            return n if n == 200 else NotYet(n)

        await eventually(all_completed, timeout=60, what="every Inbox run completed")
        assert await _signal_counts(client, "inbox", 200, "close") == {1: 200}

        terminate = await client.start_batch(
            "terminate", workflow_type="Steps", reason="stop the long ones"
        )
        assert (await terminate.wait(timeout=T60)).done == 5
        assert await client.count_workflows(workflow_type="Steps", status="TERMINATED") == 5
        assert await client.count_workflows(workflow_type="Inbox", status="COMPLETED") == 200
        assert await client.count_workflows(status="RUNNING") == 0
    finally:
        await client.close()


async def test_a_batch_survives_a_server_kill(cluster: Cluster) -> None:
    """At 20 runs a second, 120 runs take six seconds: the server is killed once the job
    is under way, and restarted; the job resumes from its last committed page."""
    client = await Client.connect(cluster.address)
    try:
        await _start(client, "Inbox", "kill", 120)
        job = await client.start_batch(
            "signal", workflow_type="Inbox", signal="put", args=["x"], rate_per_second=20
        )

        async def under_way() -> int | NotYet:
            d = await job.describe()
            return d.done if 10 <= d.done < 100 else NotYet(d.done)

        await eventually(under_way, timeout=30, what="the job half done")
        cluster.kill_server()
        cluster.start_server()
        done = await job.wait(timeout=T60)
        assert (done.state, done.total, done.done, done.failed) == ("completed", 120, 120, 0)
        assert await _signal_counts(client, "kill", 120, "put") == {1: 120}
    finally:
        await client.close()
