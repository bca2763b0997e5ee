"""A start hands its first workflow task to a poll parked on its queue, with real processes
on PostgreSQL, where the hand-off's claim goes with COMMIT and its answer is read only after
(``plait.server.dispatch._claim_known``). Here the parked poll is a stopped worker's
(SIGSTOP) whose session has expired and been deleted: the claim leases nothing, the start
still succeeds, the poll is answered with its session's error, and the task goes at once to
the next live worker; the stopped worker, resumed, runs nothing of it."""

from __future__ import annotations

import asyncio
import re
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from plait import Client
from tests.faults.pgcluster import PgCluster
from tests.store.pgdb import fresh_database
from tests.waiting import NotYet, eventually

POLL_404 = re.compile(
    r'^plait_http_requests_total\{[^}]*route="[^"]*/poll"[^}]*status="404"[^}]*\} ([0-9.e+]+)$')
ORPHANED = "which no longer exists"
"""What the session sweep logs when it finds a task leased to a session that is gone
(``plait.server.sessions.expire_due``): the safety net, which this path must not need."""


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[PgCluster, str]]:
    with fresh_database() as url:
        c = PgCluster(tmp_path, url, servers=1)
        try:
            c.start_server(0)
            yield c, url
        finally:
            c.stop()


def _poll_404s(address: str) -> float:
    with urllib.request.urlopen(address + "/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(float(m.group(1)) for line in text.splitlines()
               if (m := POLL_404.match(line)))


async def _sessions(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT count(*) FROM sessions")
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


async def test_a_start_handed_to_a_stopped_workers_poll_goes_to_a_live_worker(
        cluster: tuple[PgCluster, str]) -> None:
    c, url = cluster
    stopped = c.start_worker("handoff")
    client = await Client.connect(c.address_of(0))
    try:
        # Its first run done, the worker's workflow poller has polled again (it does so on
        # receiving a task, before completing it): that poll is parked at the server.
        warm = await client.execute_workflow("Steps", 1, 0.0, id="warm", task_queue="handoff")
        assert warm == [stopped.pid]
        stopped.send_signal(signal.SIGSTOP)
        try:
            # Its session expires (2 s) and the sweep deletes it; the poll stays parked.
            await eventually(lambda: _sessions_are(url, 0),
                             what="the stopped worker's session deleted", timeout=30)
            before = await asyncio.to_thread(_poll_404s, c.address_of(0))
            handle = await client.start_workflow("Steps", 1, 0.0, id="handed",
                                                 task_queue="handoff")
            # The hand-off leased nothing: the parked poll is answered with its own claim's
            # error (a 404: session unknown), not with the task.
            await eventually(lambda: _more_404s(c.address_of(0), before),
                             what="the parked poll answered 404", timeout=15)
            live = c.start_worker("handoff")
            result = await asyncio.wait_for(handle.result(), 30)
            assert result == [live.pid]  # the live worker ran it, while the other is stopped
        finally:
            stopped.send_signal(signal.SIGCONT)
        # Resumed, the first worker reads the 404, opens a new session, and serves again;
        # it never ran the handed-off run's activity.
        await eventually(lambda: _sessions_are(url, 2), what="the resumed worker's new session",
                         timeout=30)
        done = [(p[0], p[4]) for p in c.effect_lines() if p[3] == "done"]
        assert done.count(("handed", str(live.pid))) == 1, done
        assert ("handed", str(stopped.pid)) not in done, done
        server_log = (c.tmp / "server-0.log").read_text()
        assert ORPHANED not in server_log, server_log
    finally:
        await client.close()


async def _sessions_are(url: str, n: int) -> bool | NotYet:
    seen = await _sessions(url)
    return seen == n or NotYet(seen)


async def _more_404s(address: str, before: float) -> bool:
    return await asyncio.to_thread(_poll_404s, address) > before
