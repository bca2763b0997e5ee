"""A batch job with two servers on one PostgreSQL database: both runners look for due pages,
each page runs once, and every run is acted on exactly once."""

from __future__ import annotations

from datetime import timedelta

from plait import Client
from tests.integration.test_batches import Gate
from tests.store.test_end_to_end import two_servers


async def test_two_servers_act_on_each_run_once(pg_url: str, queue: str) -> None:
    async with two_servers(pg_url) as (one, two):
        c1, c2 = await Client.connect(one.address), await Client.connect(two.address)
        try:
            for i in range(60):
                await (c1 if i % 2 else c2).start_workflow(Gate.run, id=f"g-{i}", task_queue=queue)
            job = await c1.start_batch(
                "signal", workflow_type="Gate", signal="open", args=["ops"], rate_per_second=40
            )
            done = await c2.get_batch_handle(job.id).wait(timeout=timedelta(seconds=30))
            assert (done.state, done.total, done.done, done.failed) == ("completed", 60, 60, 0)
            for i in range(60):
                history = await c2.get_workflow_handle(f"g-{i}").fetch_history()
                signals = [
                    e for e in history.events if e.event_type == "WORKFLOW_EXECUTION_SIGNALED"
                ]
                assert len(signals) == 1, f"g-{i}"
                assert signals[0].attributes["identity"] == f"batch {job.id}"
        finally:
            await c1.close()
            await c2.close()
