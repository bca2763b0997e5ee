"""A worker that reads its answers seconds late must not have its tasks taken for lost.

A heartbeat lists the tasks the worker holds, and the server offers a leased task again when
the list leaves it out. Judged by time (left out 2 s after its answer left), that was wrong
whenever answers reached the worker late: a congested link, a server or worker event loop
lagging on a saturated machine. The worker listed its tasks before it read an answer sent
seconds earlier, the server offered the task again, and the attempt ran twice (CI, the
5,000-workflow PostgreSQL test). Now the worker numbers its requests and the heartbeat says
which it still waits on (``plait.server.sessions``).

Here every reply to the worker arrives 3 s late (a proxy), while its requests reach the
server at once: every poll and eager hand-back is on the wire past the old grace when the
worker's next heartbeat lists what it holds.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from plait import Client
from tests.faults.procs import Cluster
from tests.faults.slow_replies import SlowReplies

DELAY = 3.0
"""Past the old grace (2 s) with room to spare, under the lease's belief (0.8 x expiry)."""
WORKFLOWS = 4
STEPS = 2


async def test_answers_read_late_are_not_taken_for_lost(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, session_expiry=10.0)
    proxy = None
    try:
        cluster.start_server()
        proxy = SlowReplies(cluster.port, DELAY).start()
        worker = cluster.start_worker("slow-replies", proxy.address)
        client = await Client.connect(cluster.address)
        try:
            handles = [await client.start_workflow("Steps", STEPS, 0.2, id=f"late-{i}",
                                                   task_queue="slow-replies")
                       for i in range(WORKFLOWS)]
            results = await asyncio.wait_for(
                asyncio.gather(*(h.result() for h in handles)), 180)
        finally:
            await client.close()
        assert results == [[worker.pid] * STEPS] * WORKFLOWS
        ran = cluster.done_lines()
        assert sorted(ran) == [(f"late-{i}", s) for i in range(WORKFLOWS) for s in range(STEPS)]
        twice = {key: done for key, done in ran.items() if len(done) != 1}
        assert not twice, f"attempts that ran more than once: {twice}"
        log = (tmp_path / "server.log").read_text()
        assert "offering it again" not in log, log
    finally:
        if proxy is not None:
            proxy.stop()
        cluster.stop()
