"""A worker paused (SIGSTOP) past its session expiry must not run an attempt that the server
handed to its long-poll and that has since completed elsewhere.

Found by the fault campaign (tests/faults/campaign, fault ``worker_stop``): the paused
worker's open long-poll is answered with attempt 1; the session expires, attempt 2 runs on
another worker and its completion is recorded; the paused worker resumes, reads the answer
and starts attempt 1. Promise 2 says an activity whose completion was recorded never runs
again. The worker now re-confirms a lease it cannot believe live before it starts an attempt
(``plait._worker.lease``); ``test_paused_worker.py`` has the same case with the plain fault
processes, this one runs it on the campaign's rig.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from plait import Client
from tests.faults.campaign.check import SLACK
from tests.faults.campaign.rig import Rig

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


async def test_a_resumed_worker_does_not_run_an_attempt_completed_elsewhere(
        tmp_path: Path) -> None:
    rig = Rig(tmp_path, "sqlite", servers=1, workers=3, session_expiry=2.0)
    try:
        rig.start_server(0)
        rig.start_worker(0, "wf")   # workflow tasks only: Handoff's activity goes to "act"
        rig.start_worker(1, "act")  # the worker that will be paused
        client = await Client.connect(rig.address(0))
        try:
            await _run(rig, client)
        finally:
            await client.close()
    finally:
        rig.stop()
        rig.unmount()


async def _run(rig: Rig, client: Client) -> None:
    # The paused worker is demonstrably polling "act": it ran this one.
    await client.execute_workflow("Handoff", "warm-up", "act", id="warm", task_queue="wf")
    paused = rig.workers[1]
    assert paused is not None
    rig.pause(paused)
    handle = await client.start_workflow("Handoff", "h", "act", id="h", task_queue="wf")
    await _until_started(client, "h")  # handed to the paused worker's open long-poll
    rig.start_worker(2, "act")
    assert await asyncio.wait_for(handle.result(), 60) == "step:h"  # attempt 2, elsewhere
    desc = await handle.describe()
    done = max(a.ended_at.timestamp() for a in desc.attempts if a.ended_at)
    recorded = max(a.attempt for a in desc.attempts if a.outcome == "completed")
    await asyncio.sleep(1.0)  # the pause (the fault) outlasts the completion by a second
    rig.resume(paused)
    rig.kill_worker(2)
    # Only the resumed worker serves "act" now: once this completes it has read and acted
    # on whatever its long-poll was handed while it was paused.
    await asyncio.wait_for(client.execute_workflow("Handoff", "after", "act", id="after",
                                                   task_queue="wf"), 60)
    late = [e for e in _starts(rig, "h")
            if e["attempt"] != recorded and float(str(e["t"])) > done + SLACK]
    assert not late, f"started after attempt {recorded}'s completion was recorded: {late}"


async def _until_started(client: Client, wid: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        desc = await client.get_workflow_handle(wid).describe()
        if any(p.state == "started" for p in desc.pending_activities):
            return
        assert time.monotonic() < deadline, desc.pending_activities
        await asyncio.sleep(0.05)


def _starts(rig: Rig, wid: str) -> list[dict[str, object]]:
    lines = rig.effects.read_text().splitlines() if rig.effects.exists() else []
    return [e for e in map(json.loads, lines) if e["wid"] == wid and e["ev"] == "start"]
