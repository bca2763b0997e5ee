"""Scale with faults: 3 servers and 4 worker processes on one PostgreSQL run 5,000 workflows of
3 activities each; one server and one worker are killed with SIGKILL midway (the server comes
back, the worker does not). Afterwards every workflow completed once with the right result,
every history has contiguous event ids, and no activity ran after its completion was
recorded (each attempt's side effects are counted in the effects log).

``PLAIT_SCALE_WORKFLOWS`` changes the number of workflows (default 5,000).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from plait import Client
from tests.faults.pgcluster import PgCluster, check_runs
from tests.store.pgdb import fresh_database

WORKFLOWS = int(os.environ.get("PLAIT_SCALE_WORKFLOWS", "5000"))
STEPS = 3

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture
def scale_cluster(tmp_path: Path) -> Iterator[PgCluster]:
    with fresh_database() as url:
        # The default session expiry: on a small machine running everything at once, a 2 s
        # expiry (the other fault tests) makes live workers look dead.
        cluster = PgCluster(tmp_path, url, servers=3, session_expiry=5.0)
        try:
            for i in range(3):
                cluster.start_server(i)
            yield cluster
        finally:
            cluster.stop()


async def test_five_thousand_workflows_survive_a_killed_server_and_worker(
        scale_cluster: PgCluster) -> None:
    cluster = scale_cluster
    workers = [cluster.start_worker("scale", server=i % 3) for i in range(4)]
    clients = [await Client.connect(cluster.address_of(i)) for i in range(3)]
    try:
        ids = [f"s-{i}" for i in range(WORKFLOWS)]
        gate = asyncio.Semaphore(100)

        async def start(i: int, wid: str) -> None:
            async with gate:
                await clients[i % 3].start_workflow("Steps", STEPS, 0.0, id=wid,
                                                    task_queue="scale")
        starting = asyncio.gather(*(start(i, wid) for i, wid in enumerate(ids)))
        await asyncio.to_thread(_wait_for_done, cluster, WORKFLOWS // 3)
        # Midway: a server (its worker, worker 2, is cut off until it comes back) and a
        # worker on another server (worker 0, gone for good).
        cluster.kill_server(2)
        cluster.kill(workers[0])
        await asyncio.sleep(3.0)
        cluster.start_server(2)
        # Generous deadlines: CI machines are small and may be busy with other work too.
        deadline = time.monotonic() + 450
        await asyncio.wait_for(starting, deadline - time.monotonic())
        survivor = clients[1]
        while (done := await survivor.count_workflows(status="COMPLETED")) < WORKFLOWS:
            assert time.monotonic() < deadline, f"{done} of {WORKFLOWS} workflows completed"
            await asyncio.sleep(1.0)
        assert await survivor.count_workflows() == WORKFLOWS  # each started once
        # Results as the histories record them (the result call returns the same payload;
        # the smaller tests use it).
        reruns = await check_runs(survivor, cluster, ids, STEPS, None, stranded=None)
        print(f"{WORKFLOWS} workflows; activities run again after a lost worker: {reruns}")
        done = cluster.attempt_lines("done")
        assert len(done) == WORKFLOWS * STEPS  # every activity's side effect happened
    finally:
        for c in clients:
            await c.close()


def _wait_for_done(cluster: PgCluster, n: int, timeout: float = 300) -> None:
    """Until ``n`` workflows have finished their last activity."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        finished = {p[0] for p in cluster.effect_lines()
                    if p[3] == "done" and p[1] == str(STEPS - 1)}
        if len(finished) >= n:
            return
        time.sleep(0.2)
    raise AssertionError(f"fewer than {n} workflows finished")
