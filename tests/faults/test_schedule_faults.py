"""Schedules under real processes: two ``plait server`` processes on one PostgreSQL database
fire a 1-second schedule (each due time starts exactly once, none is missed), and a server
killed with SIGKILL across due times starts, when it comes back, the ones inside the catch-up
window once each and counts the older ones as skipped."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from plait import Client
from tests.faults.pgcluster import PgCluster
from tests.faults.procs import Cluster
from tests.store.pgdb import fresh_database
from tests.waiting import NotYet, eventually


def due_of(wid: str, prefix: str) -> float:
    stamp = wid[len(prefix) + 1:]
    return dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()


async def runs_by_id(client: Client, sid: str) -> collections.Counter[str]:
    """How many runs each workflow id of the schedule has (a second start of a completed id
    would be a second run)."""
    return collections.Counter([d.workflow_id async for d in
                                client.list_workflows(search_attributes={"ScheduleId": sid})])


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[PgCluster]:
    with fresh_database() as url:
        cluster = PgCluster(tmp_path, url, servers=2)
        try:
            cluster.start_server(0)
            cluster.start_server(1)
            yield cluster
        finally:
            cluster.stop()


async def test_two_servers_start_each_due_time_once(two_servers: PgCluster) -> None:
    cluster = two_servers
    cluster.start_worker("sched", server=1)  # runs complete: a double start would show
    a, b = [await Client.connect(cluster.address_of(i)) for i in range(2)]
    try:
        sched = await a.create_schedule("tick", "Steps", 0, 0.0, task_queue="sched",
                                        interval=timedelta(seconds=1), overlap="allow_all")

        async def enough() -> collections.Counter[str] | NotYet:
            runs = await runs_by_id(b, "tick")
            return runs if len(runs) >= 8 else NotYet(runs)
        await eventually(enough, what="8 scheduled runs", timeout=30)
        await sched.delete()
        runs = await runs_by_id(b, "tick")
        assert all(n == 1 for n in runs.values()), runs
        dues = sorted(due_of(w, "tick") for w in runs)
        assert dues == [dues[0] + i for i in range(len(dues))], "a due time was missed"
        closed = await eventually(lambda: _all_closed(b, "tick", len(dues)),
                                  what="every run completed", timeout=30)
        assert closed == len(dues)
        # the decisions counted by both servers add up to one start per due time
        started = [_started_metric(cluster.address_of(i)) for i in range(2)]
        assert sum(started) == len(dues), started
    finally:
        await a.close()
        await b.close()


def _started_metric(address: str) -> float:
    with urllib.request.urlopen(address + "/metrics", timeout=5) as r:
        text = r.read().decode()
    prefix = 'plait_schedule_actions_total{namespace="default",outcome="started"} '
    return sum(float(line[len(prefix):]) for line in text.splitlines()
               if line.startswith(prefix))


async def _all_closed(client: Client, sid: str, n: int) -> int | NotYet:
    done = [d async for d in client.list_workflows(search_attributes={"ScheduleId": sid})
            if d.status == "COMPLETED"]
    return len(done) if len(done) >= n else NotYet(len(done))


@pytest.fixture
def one_server(tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path)
    cluster.start_server()
    try:
        yield cluster
    finally:
        cluster.stop()


INTERVAL = 2.0
WINDOW = 10.0
DOWN = 16.0


async def test_a_killed_server_catches_up_within_the_window(one_server: Cluster) -> None:
    cluster = one_server
    client = await Client.connect(cluster.address)
    try:
        await client.create_schedule("cu", "Steps", 0, 0.0, task_queue="nobody",
                                     interval=timedelta(seconds=INTERVAL),
                                     overlap="allow_all",
                                     catchup_window=timedelta(seconds=WINDOW))
        await eventually(lambda: _some_runs(client), what="a first scheduled run")
        cluster.kill_server()
        killed = time.time()
        await asyncio.sleep(DOWN)  # the outage itself: due times pass with no server up
        cluster.start_server()
        back = time.time()

        async def caught_up() -> collections.Counter[str] | NotYet:
            runs = await runs_by_id(client, "cu")
            return runs if max(due_of(w, "cu") for w in runs) >= back - INTERVAL \
                else NotYet(runs)
        runs = await eventually(caught_up, what="due times after the restart", timeout=20)
        d = await client.get_schedule_handle("cu").describe()
    finally:
        await client.close()
    assert all(n == 1 for n in runs.values()), runs
    missed = [t for t in _dues(killed, back) if t not in {due_of(w, "cu") for w in runs}]
    started_late = [due_of(w, "cu") for w in runs if killed < due_of(w, "cu") <= back]
    # due times more than the window older than the restart were skipped, not started...
    assert missed and all(t < back - WINDOW + INTERVAL for t in missed), (missed, back)
    # ...those inside it started once each, in a catch-up, not dropped
    assert started_late and all(t >= back - WINDOW - INTERVAL for t in started_late)
    assert d.num_skipped >= len(missed) - 1  # the one at the kill may have started


def _dues(after: float, upto: float) -> list[float]:
    first = (after // INTERVAL + 1) * INTERVAL
    return [first + i * INTERVAL for i in range(int((upto - first) // INTERVAL) + 1)]


async def _some_runs(client: Client) -> bool:
    return len(await runs_by_id(client, "cu")) > 0
