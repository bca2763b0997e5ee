"""PostgreSQL unreachable for 10 s under load: both servers answer 503 (health and API, in
the API's one error shape), recover by themselves when it is back (same processes), and
every workflow accepted before or started during the outage completes once.

The outage is a TCP proxy between the servers and PostgreSQL that drops every connection and
refuses new ones: to a server that is what a stopped database looks like, and it leaves the
machine's PostgreSQL running for everything else.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

from plait import Client
from tests.faults.pgcluster import PgCluster, check_runs
from tests.store.pgdb import Proxy, fresh_database

OUTAGE = 10.0


def get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


async def wait_status(url: str, status: int, timeout: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        got, body = await asyncio.to_thread(get, url)
        if got == status:
            return body
        assert time.monotonic() < deadline, (url, got, body)
        await asyncio.sleep(0.2)


async def test_a_database_outage_under_load(tmp_path: Path) -> None:
    proxy = Proxy()
    with fresh_database() as url:
        cluster = PgCluster(tmp_path, proxy.url(url), servers=2, session_expiry=5.0)
        try:
            for i in range(2):
                cluster.start_server(i)
            servers = list(cluster.servers)
            for i in range(2):
                cluster.start_worker("out", server=i)
            clients = [await Client.connect(cluster.address_of(i)) for i in range(2)]
            try:
                await _run(cluster, proxy, clients)
            finally:
                for c in clients:
                    await c.close()
            assert cluster.servers == servers  # recovered without a restart
            assert all(p is not None and p.poll() is None for p in servers)
        finally:
            cluster.stop()
            proxy.close()


async def _run(cluster: PgCluster, proxy: Proxy, clients: list[Client]) -> None:
    before = [f"out-{i}" for i in range(100)]
    handles = await asyncio.gather(*(
        clients[i % 2].start_workflow("Steps", 3, 0.1, id=wid, task_queue="out")
        for i, wid in enumerate(before)))
    await asyncio.to_thread(_wait_for_done, cluster, 30)

    proxy.cut()
    cut_at = time.monotonic()
    # Starts issued while the database is away are retried by the client (503, with their
    # request id) until it is back: accepted once, then, not lost.
    during = [f"out-during-{i}" for i in range(20)]
    late = asyncio.gather(*(
        clients[i % 2].start_workflow("Steps", 3, 0.1, id=wid, task_queue="out")
        for i, wid in enumerate(during)))
    for i in range(2):
        body = await wait_status(cluster.address_of(i) + "/health", 503, OUTAGE)
        assert body["error"]["code"] == "unavailable"  # type: ignore[index]
        status, body = await asyncio.to_thread(
            get, cluster.address_of(i) + "/api/v1/namespaces/default/workflow-count")
        assert status == 503 and body["error"]["code"] == "unavailable", body  # type: ignore[index]
        assert "database" in str(body["error"]["message"])  # type: ignore[index]
    await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - cut_at)))
    proxy.restore()

    for i in range(2):
        await wait_status(cluster.address_of(i) + "/health", 200, 30)
    late_handles = await asyncio.wait_for(late, 60)
    ids = before + during
    waiting = [clients[i % 2].get_workflow_handle(h.id)
               for i, h in enumerate([*handles, *late_handles])]
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in waiting)), 120)
    assert await clients[0].count_workflows() == len(ids)
    assert await clients[1].count_workflows(status="COMPLETED") == len(ids)
    reruns = await check_runs(clients[0], cluster, ids, 3, results, stranded=None)
    print(f"activities run again after the outage: {reruns}")


def _wait_for_done(cluster: PgCluster, n: int, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len({p[0] for p in cluster.effect_lines() if p[3] == "done"}) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} workflows made progress")
