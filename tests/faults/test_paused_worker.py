"""A worker paused longer than its session expiry (a GC or VM pause, an event loop blocked by
CPU-bound code; here SIGSTOP) must not start, when it resumes, an attempt the server handed
to its open long-poll and has since re-dispatched: by then another worker may have run it and
its completion may be recorded, and the activity's side effect would happen twice."""

from __future__ import annotations

import asyncio
import collections
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from plait import Client
from plait.server.sessions import UNACKED_GRACE
from tests.faults.procs import Cluster

SHORT_EXPIRY = 15.0
IDLE_BEAT = SHORT_EXPIRY / 2.5
"""How often an idle worker heartbeats (``plait.worker``): 6 s."""
PAUSE = IDLE_BEAT + 1.0
"""Long enough that the paused worker's heartbeat falls due during it (so it is the first
thing sent on resuming) and past the server's grace for unacknowledged tasks; short enough
that the session survives: it was renewed at most ``IDLE_BEAT`` before the pause."""

DROPPED = "not started: its lease could not be confirmed"
"""What a worker logs for each task it refuses to start (``plait._worker.activities``)."""


async def _wait(what: str, check: Callable[[], Awaitable[bool]],
                timeout: float = 30.0) -> None:
    """Poll ``check`` until it holds: observable state, never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_worker_paused_past_its_expiry_does_not_start_stale_attempts(
        tmp_path: Path) -> None:
    """The issue's reproduction: one worker for workflows, one for activities on another
    queue; the activity worker is stopped while it long-polls; the server hands it attempts,
    its session expires, a second activity worker completes them; the first one resumes and
    reads the stale poll response. No attempt may start after its workflow's completion."""
    cluster = Cluster(tmp_path)  # session expiry 2 s
    try:
        cluster.start_server()
        cluster.start_worker("paused-wf")
        paused = cluster.start_worker("paused-acts")
        client = await Client.connect(cluster.address)
        try:
            # A first run that the soon-paused worker completes: when its result is in, both
            # of that worker's activity pollers are back in their long-polls at the server.
            warm = await client.execute_workflow("Remote", "paused-acts", 0.1, id="warm",
                                                 task_queue="paused-wf")
            assert warm == paused.pid
            paused.send_signal(signal.SIGSTOP)
            ids = [f"paused-{i}" for i in range(4)]
            handles = [await client.start_workflow("Remote", "paused-acts", 0.1, id=wid,
                                                   task_queue="paused-wf") for wid in ids]

            async def handed_to_paused() -> bool:
                descs = [await h.describe() for h in handles]
                return sum(1 for d in descs for p in d.pending_activities
                           if p.state == "started") >= 1
            await _wait("an attempt handed to the paused worker's long-poll", handed_to_paused)

            rescuer = cluster.start_worker("paused-acts")
            results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 60)
            assert set(results) == {rescuer.pid}

            # The paused worker's session expired (the rescuer could not have run the attempts
            # it held otherwise): those attempts ended "worker lost".
            stale: dict[str, int] = {}  # workflow id -> the attempt the paused worker holds
            for wid, h in zip(ids, handles, strict=True):
                for a in (await h.describe()).attempts:
                    if a.outcome == "failed" and "worker lost" in (a.failure or {})["message"]:
                        stale[wid] = a.attempt
            assert stale, "no attempt was lost with the paused worker's session"

            paused.send_signal(signal.SIGCONT)
            log = cluster.tmp / "worker-1.log"

            async def stale_handled() -> bool:
                starts = {(p[0], int(p[2])) for p in cluster.effect_lines() if p[3] == "start"}
                text = log.read_text() if log.exists() else ""
                return all((wid, att) in starts for wid, att in stale.items()) \
                    or text.count(DROPPED) >= len(stale)
            await _wait("the resumed worker to handle its stale poll response", stale_handled)

            late = [(p[0], p[2]) for p in cluster.effect_lines()
                    if p[3] == "start" and p[0] in stale and int(p[2]) == stale[p[0]]]
            assert late == [], f"{len(late)} attempts started after their run completed: {late}"
            for h in handles:
                history = await h.fetch_history()
                done = [e for e in history.events if e.event_type == "ACTIVITY_TASK_COMPLETED"]
                assert len(done) == 1
                assert done[0].attributes["result"]["data"] == rescuer.pid
        finally:
            await client.close()
    finally:
        cluster.stop()


async def test_a_worker_paused_shorter_than_its_expiry_runs_each_attempt_once(
        tmp_path: Path) -> None:
    """A pause longer than the grace for unacknowledged tasks (2 s) but inside the session
    expiry: when the worker resumes, its first heartbeat may leave before it has read the
    poll response, so the server takes the attempt for undelivered and offers it again (to
    the rescuer, or to the paused worker's other poll). The attempt must run once in all,
    not twice at the same time; on the old code it ran twice in 4 of 6 runs."""
    cluster = Cluster(tmp_path, session_expiry=SHORT_EXPIRY)
    assert UNACKED_GRACE < PAUSE < SHORT_EXPIRY - IDLE_BEAT - 1.0
    try:
        cluster.start_server()
        cluster.start_worker("short-wf")
        paused = cluster.start_worker("short-acts")
        client = await Client.connect(cluster.address)
        try:
            warm = await client.execute_workflow("Remote", "short-acts", 0.1, id="warm",
                                                 task_queue="short-wf")
            assert warm == paused.pid
            paused.send_signal(signal.SIGSTOP)
            stopped_at = time.monotonic()
            ids = [f"short-{i}" for i in range(4)]
            handles = [await client.start_workflow("Remote", "short-acts", 0.1, id=wid,
                                                   task_queue="short-wf") for wid in ids]

            async def handed_to_paused() -> bool:
                descs = [await h.describe() for h in handles]
                return sum(1 for d in descs for p in d.pending_activities
                           if p.state == "started") >= 1
            await _wait("an attempt handed to the paused worker's long-poll", handed_to_paused)
            cluster.start_worker("short-acts")
            await asyncio.sleep(stopped_at + PAUSE - time.monotonic())
            paused.send_signal(signal.SIGCONT)
            await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 60)
            # A second start of an attempt would have come at once on resuming, before any
            # other worker was offered it: it would be in the log by now.
            starts = collections.Counter(p[0] for p in cluster.effect_lines()
                                         if p[3] == "start" and p[0] in ids)
            assert sorted(starts) == ids and set(starts.values()) == {1}, starts
        finally:
            await client.close()
    finally:
        cluster.stop()
