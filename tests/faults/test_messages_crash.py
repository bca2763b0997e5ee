"""Signals and updates across worker crashes: accepted means handled, exactly once."""

from __future__ import annotations

import asyncio

from plait import Client
from tests.faults.procs import Cluster


async def test_signals_sent_around_a_worker_kill_are_each_handled_once(
        cluster: Cluster) -> None:
    worker = cluster.start_worker("inbox")
    client = await Client.connect(cluster.address)
    try:
        h = await client.start_workflow("Inbox", id="inbox-1", task_queue="inbox")
        sent = [f"s{i}" for i in range(30)]
        for item in sent[:10]:
            await h.signal("put", item)
        cluster.kill(worker)  # some of these are handled, some only in the history
        for item in sent[10:20]:  # accepted while no worker runs: durable, not lost
            await h.signal("put", item)
        cluster.start_worker("inbox")
        for item in sent[20:]:
            await h.signal("put", item)
        await h.signal("close")
        assert await asyncio.wait_for(h.result(), 30) == sent
    finally:
        await client.close()


async def test_update_in_flight_at_a_worker_kill_completes_once(cluster: Cluster) -> None:
    worker = cluster.start_worker("upd")
    client = await Client.connect(cluster.address)
    try:
        h = await client.start_workflow("Inbox", id="inbox-2", task_queue="upd")
        assert await h.execute_update("put_checked", "first", id="u-1") == 1
        pending = asyncio.create_task(h.execute_update("put_checked", "second", id="u-2"))
        await asyncio.to_thread(cluster.wait_for_effect, "inbox-2", 1)  # its activity runs
        cluster.kill(worker)
        cluster.start_worker("upd")
        assert await asyncio.wait_for(pending, 30) == 2
        # Asking again (as a client would after losing the response) returns the outcome.
        assert await h.execute_update("put_checked", "second", id="u-2") == 2
        assert await h.query("count") == 2
        await h.signal("close")
        assert await asyncio.wait_for(h.result(), 30) == ["first", "second"]
        history = await h.fetch_history()
        types = [e.event_type for e in history.events]
        assert types.count("WORKFLOW_EXECUTION_UPDATE_ACCEPTED") == 2
        assert types.count("WORKFLOW_EXECUTION_UPDATE_COMPLETED") == 2
    finally:
        await client.close()
