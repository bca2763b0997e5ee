"""Kill -9 the server under load and restart it on the same database: every accepted
workflow completes, nothing is lost or duplicated."""

from __future__ import annotations

import asyncio

from plait import Client
from tests.faults.procs import Cluster
from tests.faults.test_worker_crash import check_histories


async def test_server_killed_under_load(cluster: Cluster) -> None:
    cluster.start_worker("srv")
    client = await Client.connect(cluster.address)
    try:
        ids = [f"srv-{i}" for i in range(40)]
        handles = await asyncio.gather(*(
            client.start_workflow("Steps", 5, 0.1, id=wid, task_queue="srv") for wid in ids))
        await asyncio.to_thread(cluster.wait_for_effect, "srv-0", 1, "done")
        cluster.kill_server()
        # A start issued while the server is down is retried with its request id until the
        # server is back; it must start exactly one run.
        late = asyncio.create_task(client.start_workflow("Steps", 2, 0.05, id="srv-late",
                                                         task_queue="srv"))
        await asyncio.sleep(1.0)
        cluster.start_server()
        late_handle = await asyncio.wait_for(late, 30)
        results = await asyncio.wait_for(
            asyncio.gather(*(h.result() for h in [*handles, late_handle])), 90)
        assert all(len(r) == 5 for r in results[:-1]) and len(results[-1]) == 2
        # The worker survived: no attempt may have run twice.
        done = cluster.done_counts()
        assert {k: v for k, v in done.items() if v != 1} == {}
        assert len(done) == 40 * 5 + 2
        assert await client.count_workflows() == 41
        await check_histories(client, ids, cluster, set(), 5)
    finally:
        await client.close()


async def test_repeated_request_id_starts_once_across_restart(cluster: Cluster) -> None:
    client = await Client.connect(cluster.address)
    try:
        first = await client.start_workflow("Steps", 1, 0.0, id="dedup", task_queue="none",
                                            request_id="r-42")
        cluster.kill_server()
        cluster.start_server()
        again = await client.start_workflow("Steps", 1, 0.0, id="dedup", task_queue="none",
                                            request_id="r-42")
        assert again.run_id == first.run_id
        assert await client.count_workflows() == 1
    finally:
        await client.close()
