"""Kill -9 a worker in the middle of real work: the workflow resumes at the next step, and
no activity whose completion was recorded runs again."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from plait import Client
from tests.faults.procs import Cluster


async def check_histories(client: Client, ids: list[str], cluster: Cluster,
                          killed: set[int], steps: int) -> None:
    """Contiguous histories, and no activity ran again after its completion was recorded.

    An attempt may finish its side effect and die before reporting it; then its completion
    was never recorded and a rerun is correct (at-least-once). So every activity's recorded
    attempt must be the last one that ran, and any earlier finished attempt must come from a
    killed worker.
    """
    done = cluster.done_lines()
    for wid in ids:
        history = await client.get_workflow_handle(wid).fetch_history()
        event_ids = [e.event_id for e in history.events]
        assert event_ids == list(range(1, len(event_ids) + 1)), wid
        assert history.events[-1].event_type == "WORKFLOW_EXECUTION_COMPLETED"
        index_of = {e.attributes["activity_id"]: e.attributes["input"][1]["data"]
                    for e in history.events if e.event_type == "ACTIVITY_TASK_SCHEDULED"}
        recorded = {index_of[e.attributes["activity_id"]]: e.attributes["attempt"]
                    for e in history.events if e.event_type == "ACTIVITY_TASK_STARTED"}
        assert len(recorded) == steps, wid
        for index, attempt in sorted(recorded.items()):
            runs = done[(wid, index)]
            assert max(a for a, _ in runs) == attempt, (wid, index, runs, attempt)
            assert sum(1 for a, _ in runs if a == attempt) == 1, (wid, index, runs)
            early = [pid for a, pid in runs if a < attempt]
            assert set(early) <= killed, (wid, index, runs, killed)


async def test_worker_killed_mid_activity_resumes_elsewhere(cluster: Cluster) -> None:
    worker = cluster.start_worker("crash")
    client = await Client.connect(cluster.address)
    try:
        ids = [f"crash-{i}" for i in range(5)]
        handles = [await client.start_workflow("Steps", 10, 0.3, id=wid, task_queue="crash")
                   for wid in ids]
        await asyncio.to_thread(cluster.wait_for_effect, "crash-0", 4)
        cluster.kill(worker)
        killed_at = time.monotonic()
        cluster.start_worker("crash")
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 60)
        resumed_in = time.monotonic() - killed_at
        assert all(len(r) == 10 for r in results)
        # The expiry is 2 s and the rest of the work about 2 s: well within 10 s.
        assert resumed_in < 10, resumed_in
        desc = await client.get_workflow_handle("crash-0").describe()
        lost = [a for a in desc.attempts if a.outcome == "failed"]
        assert lost and "worker lost" in (lost[0].failure or {})["message"]
        await check_histories(client, ids, cluster, {worker.pid}, 10)
    finally:
        await client.close()


async def test_worker_killed_between_tasks_with_a_second_worker_running(
        cluster: Cluster) -> None:
    doomed = cluster.start_worker("pair")
    cluster.start_worker("pair")
    client = await Client.connect(cluster.address)
    try:
        ids = [f"pair-{i}" for i in range(20)]
        handles = [await client.start_workflow("Steps", 6, 0.1, id=wid, task_queue="pair")
                   for wid in ids]
        await asyncio.to_thread(cluster.wait_for_effect, "pair-0", 2, "done")
        cluster.kill(doomed)
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 60)
        assert all(len(r) == 6 for r in results)
        await check_histories(client, ids, cluster, {doomed.pid}, 6)
    finally:
        await client.close()


async def test_a_killed_worker_is_noticed_at_once_whatever_the_expiry(tmp_path: Path) -> None:
    """With the default 5 s session expiry and a 60 s start_to_close, the activity a killed
    worker held goes to the other worker within a second: its watch connection dropped."""
    cluster = Cluster(tmp_path, session_expiry=5.0)
    try:
        cluster.start_server()
        doomed = cluster.start_worker("watch")
        client = await Client.connect(cluster.address)
        try:
            handle = await client.start_workflow("Steps", 10, 0.3, id="watch-0",
                                                 task_queue="watch")
            await asyncio.to_thread(cluster.wait_for_effect, "watch-0", 4)
            cluster.start_worker("watch")
            await asyncio.sleep(1.0)  # the second worker is up and polling
            cluster.kill(doomed)
            killed_at = time.monotonic()
            assert len(await asyncio.wait_for(handle.result(), 30)) == 10
            took = time.monotonic() - killed_at
            # Left: activities 4 (again) to 9, 6 x 0.3 s = 1.8 s; the expiry alone was 5 s.
            assert took < 1.8 + 1.5, took
            await check_histories(client, ["watch-0"], cluster, {doomed.pid}, 10)
        finally:
            await client.close()
    finally:
        cluster.stop()
