"""What a live console page polls, over HTTP on both backends: the counts per status in one
request, and conditional lists and counts (``ETag`` / ``If-None-Match``) that answer 304
while nothing shown changed, and the full answer as soon as something did, also when the
change went through another server sharing the database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from plait import Client, Worker, workflow
from plait.errors import ApplicationError
from plait.testing import WorkflowEnvironment
from tests.store.pgdb import fresh_schema
from tests.store.test_end_to_end import two_servers
from tests.waiting import status_is

NS = "/api/v1/namespaces/default"
STATUSES = ["RUNNING", "COMPLETED", "FAILED", "CANCELED", "TERMINATED", "CONTINUED_AS_NEW",
            "TIMED_OUT"]


@workflow.defn(name="Finish")
class Finish:
    @workflow.run
    async def run(self, fail: bool) -> str:
        if fail:
            raise ApplicationError("no", non_retryable=True)
        return "ok"


@pytest.fixture
async def env(db_url: str) -> AsyncIterator[WorkflowEnvironment]:
    async with WorkflowEnvironment.start_local(db=db_url, session_expiry=3.0) as e:
        yield e


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def get(http: aiohttp.ClientSession, url: str,
              etag: str | None = None) -> tuple[int, str | None, Any]:
    """(status, ETag, JSON body or None) of a GET, conditional when ``etag`` is given."""
    headers = {"If-None-Match": etag} if etag else {}
    async with http.get(url, headers=headers) as r:
        raw = await r.read()
        if r.status == 304:
            assert raw == b""
        return r.status, r.headers.get("ETag"), (await r.json() if raw else None)


async def test_counts_per_status_come_from_one_request(env: WorkflowEnvironment, queue: str,
                                                      http: aiohttp.ClientSession) -> None:
    client = env.client
    sa = {"suite": queue}
    async with Worker(client, task_queue=queue, workflows=[Finish]):
        for i, fail in enumerate([False, False, True]):
            await status_is(await client.start_workflow(
                Finish.run, fail, id=f"{queue}-done-{i}", task_queue=queue,
                search_attributes=sa), "FAILED" if fail else "COMPLETED")
    idle = [await client.start_workflow("Idle", id=f"{queue}-idle-{i}",
                                        task_queue=f"{queue}-nobody", search_attributes=sa)
            for i in range(4)]
    await idle[0].terminate(reason="test")
    await client.start_workflow("Idle", id=f"{queue}-other", task_queue=f"{queue}-nobody")

    base = f"{env.address.rstrip('/')}{NS}/workflow-count"
    flt = f'search_attributes={{"suite":"{queue}"}}'
    status, _, body = await get(http, f"{base}?{flt}&group_by=status")
    assert status == 200
    assert body == {"count": 7, "by_status": {
        "RUNNING": 3, "COMPLETED": 2, "FAILED": 1, "CANCELED": 0, "TERMINATED": 1,
        "CONTINUED_AS_NEW": 0, "TIMED_OUT": 0}}
    for s in STATUSES:  # the same as counting each status alone
        assert body["by_status"][s] == await client.count_workflows(search_attributes=sa,
                                                                    status=s)
    # Without group_by the answer is as before; the other filters apply to the groups.
    assert (await get(http, f"{base}?{flt}"))[2] == {"count": 7}
    assert (await get(http, f"{base}?{flt}&type=Finish&group_by=status"))[2]["by_status"][
        "COMPLETED"] == 2
    assert (await get(http, f"{base}?group_by=status"))[2]["count"] == 8
    status, _, body = await get(http, f"{base}?group_by=type")
    assert status == 400 and "group_by must be one of: status" in body["error"]["message"]


async def test_an_unchanged_list_is_not_modified(env: WorkflowEnvironment, queue: str,
                                                 http: aiohttp.ClientSession) -> None:
    client = env.client
    nobody = f"{queue}-nobody"
    for i in range(3):
        await client.start_workflow("Shown", id=f"{queue}-a{i}", task_queue=nobody)
    url = f"{env.address.rstrip('/')}{NS}/workflows?type=Shown&page_size=50"
    status, tag, body = await get(http, url)
    assert status == 200 and tag and len(body["workflows"]) == 3
    assert (await get(http, url, tag))[:2] == (304, tag)
    assert (await get(http, url, f'W/{tag}, "other"'))[0] == 304  # a list, weak or not

    # A run the page does not show: still 304 (the ETag may be renewed: read again).
    await client.start_workflow("Hidden", id=f"{queue}-b", task_queue=nobody)
    status, renewed, _ = await get(http, url, tag)
    assert status == 304 and renewed
    assert (await get(http, url, renewed))[0] == 304

    # A change the page shows: the whole answer, with a new ETag.
    await client.get_workflow_handle(f"{queue}-a1").terminate(reason="test")
    status, changed, body = await get(http, url, renewed)
    assert status == 200 and changed not in (tag, renewed)
    assert [w["status"] for w in body["workflows"]] == ["RUNNING", "TERMINATED", "RUNNING"]
    await client.start_workflow("Shown", id=f"{queue}-a3", task_queue=nobody)
    status, _, body = await get(http, url, changed)
    assert status == 200 and body["workflows"][0]["workflow_id"] == f"{queue}-a3"

    # An ETag is bound to its URL, and an unknown one gets the answer.
    other = url.replace("page_size=50", "page_size=40")
    assert (await get(http, other, changed))[0] == 200
    assert (await get(http, url, '"nonsense"'))[0] == 200

    # Counts too.
    count = f"{env.address.rstrip('/')}{NS}/workflow-count?group_by=status"
    _, ctag, _ = await get(http, count)
    assert (await get(http, count, ctag))[0] == 304
    await client.start_workflow("Shown", id=f"{queue}-a4", task_queue=nobody)
    status, _, body = await get(http, count, ctag)
    assert status == 200 and body["by_status"]["RUNNING"] == 5


async def test_a_304_reads_the_store_only_where_other_servers_may_write(
        backend: str, env: WorkflowEnvironment, queue: str, http: aiohttp.ClientSession,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite: the server sees every commit, so an unchanged list is a 304 without a read.
    PostgreSQL: other servers may change it, so the store has no listing version and every
    conditional request reads and compares (still a 304 while the rows are the same)."""
    await env.client.start_workflow("Shown", id=f"{queue}-a", task_queue=f"{queue}-nobody")
    url = f"{env.address.rstrip('/')}{NS}/workflows?page_size=50"
    _, tag, _ = await get(http, url)
    assert env.server.service is not None
    store = env.server.service.store
    if backend != "sqlite":
        assert store.listing_version("default") is None
        for _ in range(3):
            assert (await get(http, url, tag))[0] == 304
        return
    assert store.listing_version("default") is not None
    reads = 0
    real = store.read

    async def counted(fn: Any) -> Any:
        nonlocal reads
        # The list route's reads only: other tests' runs may still be read in the background.
        reads += getattr(fn, "__qualname__", "").startswith("list_workflows.")
        return await real(fn)
    monkeypatch.setattr(store, "read", counted)
    for _ in range(3):
        assert (await get(http, url, tag))[0] == 304
    assert reads == 0
    await env.client.start_workflow("Shown", id=f"{queue}-b", task_queue=f"{queue}-nobody")
    reads = 0
    assert (await get(http, url, tag))[0] == 200
    assert reads == 1


async def test_a_change_through_another_server_ends_the_304s(
        queue: str, http: aiohttp.ClientSession) -> None:
    with fresh_schema() as url:
        async with two_servers(url) as (one, two):
            writer = await Client.connect(two.address)
            try:
                await writer.start_workflow("Shown", id=f"{queue}-a", task_queue=queue)
                page = f"{one.address}{NS}/workflows?page_size=50"
                _, tag, _ = await get(http, page)
                assert (await get(http, page, tag))[0] == 304
                await writer.get_workflow_handle(f"{queue}-a").terminate(reason="elsewhere")
                status, _, body = await get(http, page, tag)
                assert status == 200 and body["workflows"][0]["status"] == "TERMINATED"
            finally:
                await writer.close()
