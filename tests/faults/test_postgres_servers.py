"""Three ``plait server`` processes on one PostgreSQL database, a worker on each; one server
is killed with SIGKILL in the middle of a few hundred workflows and restarted. Every workflow
completes once with the right result, every history is contiguous, and no activity runs
after its completion was recorded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from plait import Client
from tests.faults.pgcluster import PgCluster, check_runs
from tests.store.pgdb import fresh_database

WORKFLOWS = 300
STEPS = 3


@pytest.fixture
def pg_cluster(tmp_path: Path) -> Iterator[PgCluster]:
    with fresh_database() as url:
        cluster = PgCluster(tmp_path, url, servers=3)
        try:
            for i in range(3):
                cluster.start_server(i)
            yield cluster
        finally:
            cluster.stop()


async def test_a_server_killed_mid_run_loses_nothing(pg_cluster: PgCluster) -> None:
    cluster = pg_cluster
    workers = [cluster.start_worker("pg", server=i) for i in range(3)]
    clients = [await Client.connect(cluster.address_of(i)) for i in range(3)]
    try:
        ids = [f"pg-{i}" for i in range(WORKFLOWS)]
        # Any server answers any request: starts go round-robin over all three.
        handles = await asyncio.gather(*(
            clients[i % 3].start_workflow("Steps", STEPS, 0.05, id=wid, task_queue="pg")
            for i, wid in enumerate(ids)))
        await asyncio.to_thread(_wait_for_done, cluster, WORKFLOWS // 4)
        cluster.kill_server(0)  # its worker is cut off; its leases expire and move
        killed_at = time.monotonic()
        # While it is down, the others keep accepting and running work.
        late = [f"pg-late-{i}" for i in range(20)]
        late_handles = await asyncio.gather(*(
            clients[1 + i % 2].start_workflow("Steps", STEPS, 0.05, id=wid, task_queue="pg")
            for i, wid in enumerate(late)))
        await asyncio.sleep(2.0)
        cluster.start_server(0)
        # Results are read through servers 1 and 2, whichever server ran what.
        waiting = [clients[1 + i % 2].get_workflow_handle(h.id)
                   for i, h in enumerate([*handles, *late_handles])]
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in waiting)), 120)
        elapsed = time.monotonic() - killed_at
        all_ids = [*ids, *late]
        assert await clients[2].count_workflows() == len(all_ids)
        assert await clients[1].count_workflows(status="COMPLETED") == len(all_ids)
        await check_runs(clients[2], cluster, all_ids, STEPS, results,
                         stranded={workers[0].pid})
        # The cut-off worker's tasks moved after its session expired (2 s), not its
        # activities' 120 s start_to_close timeout.
        assert elapsed < 60, elapsed
    finally:
        for c in clients:
            await c.close()


def _wait_for_done(cluster: PgCluster, n: int, timeout: float = 60) -> None:
    """Until ``n`` workflows have finished at least one activity."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len({p[0] for p in cluster.effect_lines() if p[3] == "done"}) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} workflows made progress")
