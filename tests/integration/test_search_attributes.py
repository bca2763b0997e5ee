"""Listing and counting by search attribute through the client, on SQLite and PostgreSQL:
the attributes a run starts with, upserts, continue-as-new and child workflows all reach the
index, and filtered pages follow the unfiltered order."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from plait import Worker, workflow
from plait.testing import WorkflowEnvironment
from tests.store.pgdb import fresh_schema
from tests.waiting import NotYet, eventually


@workflow.defn
class Tagged:
    @workflow.run
    async def run(self) -> None:
        return None


@workflow.defn
class Pipeline:
    """Upserts its stage; continues as new once, then starts a tagged child."""

    def __init__(self) -> None:
        self.advanced = False

    @workflow.signal
    def advance(self) -> None:
        self.advanced = True

    @workflow.run
    async def run(self, round_: int) -> str:
        await workflow.wait_condition(lambda: self.advanced)
        if round_ == 1:
            workflow.upsert_search_attributes({"stage": "working", "round": 1})
            workflow.continue_as_new(2)
        workflow.upsert_search_attributes({"round": 2})
        await workflow.execute_child_workflow(
            Tagged.run, id=workflow.info().workflow_id + "-child",
            search_attributes={"stage": "child", "parent": workflow.info().workflow_id})
        workflow.upsert_search_attributes({"stage": "done"})
        return "ok"


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
    else:
        with fresh_schema() as url:
            yield url


@pytest.fixture
async def sa_env(db: str | None) -> AsyncIterator[WorkflowEnvironment]:
    async with WorkflowEnvironment.start_local(db=db, session_expiry=3.0) as e:
        yield e


async def ids(env: WorkflowEnvironment, attrs: dict[str, Any], **kw: Any) -> list[str]:
    return [w.workflow_id async for w in env.client.list_workflows(search_attributes=attrs,
                                                                   **kw)]


async def test_list_and_count_by_search_attribute(sa_env: WorkflowEnvironment,
                                                  queue: str) -> None:
    env = sa_env
    async with Worker(env.client, task_queue=queue, workflows=[Tagged]):
        for i in range(12):  # one by one: distinct start times, a known order
            await env.client.execute_workflow(
                Tagged.run, id=f"t-{i:02}", task_queue=queue,
                search_attributes={"customer": f"c-{i % 2}", "tier": i % 3})
        await env.client.execute_workflow(Tagged.run, id="flag-true", task_queue=queue,
                                          search_attributes={"flag": True})
        await env.client.execute_workflow(Tagged.run, id="flag-one", task_queue=queue,
                                          search_attributes={"flag": 1})
    everything = [w async for w in env.client.list_workflows()]
    want = [w.workflow_id for w in everything if w.search_attributes.get("customer") == "c-1"]
    assert want == [f"t-{i:02}" for i in (11, 9, 7, 5, 3, 1)]
    # Pages of 2 from the index: full pages, the same order as the unfiltered list.
    assert await ids(env, {"customer": "c-1"}, page_size=2) == want
    assert await ids(env, {"customer": "c-1", "tier": 0}) == ["t-09", "t-03"]
    assert await ids(env, {"customer": "c-1"}, status="RUNNING") == []
    assert await env.client.count_workflows(search_attributes={"customer": "c-1"}) == 6
    assert await env.client.count_workflows(search_attributes={"customer": "c-1", "tier": 0},
                                            status="COMPLETED", workflow_type="Tagged") == 2
    assert await env.client.count_workflows(search_attributes={"tier": 2.0}) == 4
    assert await env.client.count_workflows(search_attributes={"tier": "2"}) == 0
    # JSON equality: true is not 1 (the filter before the index, in Python, said it was).
    assert await ids(env, {"flag": True}) == ["flag-true"]
    assert await ids(env, {"flag": 1.0}) == ["flag-one"]


async def test_upsert_continue_as_new_and_children_reach_the_index(
        sa_env: WorkflowEnvironment, queue: str) -> None:
    env = sa_env
    count = env.client.count_workflows
    async with Worker(env.client, task_queue=queue, workflows=[Pipeline, Tagged]):
        h = await env.client.start_workflow(Pipeline.run, 1, id="pipe", task_queue=queue,
                                            search_attributes={"stage": "new"})
        assert await count(search_attributes={"stage": "new"}) == 1
        await h.signal(Pipeline.advance)

        async def one_working() -> bool | NotYet:
            n = await count(search_attributes={"stage": "working", "round": 1},
                            status="RUNNING")
            return n == 1 or NotYet(n)

        await eventually(one_working, what="one RUNNING run at stage working, round 1")
        # The new run carries the attributes over: it is the RUNNING one that matched.
        assert await count(search_attributes={"stage": "new"}) == 0
        await env.client.get_workflow_handle("pipe").signal(Pipeline.advance)
        assert await env.client.get_workflow_handle("pipe").result() == "ok"
    first, second = (await count(search_attributes={"stage": "working"},
                                 status="CONTINUED_AS_NEW"),
                     [w async for w in env.client.list_workflows(
                         search_attributes={"stage": "done"})])
    assert first == 1
    assert [(w.workflow_id, w.status) for w in second] == [("pipe", "COMPLETED")]
    assert second[0].search_attributes == {"stage": "done", "round": 2}
    assert await ids(env, {"stage": "child", "parent": "pipe"}) == ["pipe-child"]
    assert await ids(env, {"round": 1}) == ["pipe"]  # the first run, as it closed
