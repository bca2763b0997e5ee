"""A long history is read a page at a time (``plait._api.HISTORY_PAGE`` events a request), by
the client's ``fetch_history`` and by a worker replaying a run it does not hold, and a long
run's workflow task carries only its new events (``plait.server.dispatch``): the server never
reads and encodes a whole long history into one answer. Here the page is made 4 events long
and a history long past 3 events, so a short run shows both."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from plait import Worker, _api
from plait.protocol.history import Event
from plait.server import dispatch
from plait.testing import WorkflowEnvironment
from tests.integration.test_query_as_of import Counter, bump
from tests.waiting import history_has

PAGE = 4
HISTORY_ROUTE = "/api/v1/namespaces/{ns}/workflows/{wid}/history"


def history_requests() -> float:
    return REGISTRY.get_sample_value("plait_http_requests_total",
                                     {"route": HISTORY_ROUTE, "status": "200"}) or 0.0


@pytest.fixture
def short_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_api, "HISTORY_PAGE", PAGE)


@pytest.mark.usefixtures("short_pages")
async def test_a_history_is_read_in_pages_whole_and_in_order(env: WorkflowEnvironment,
                                                             queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Counter],
                      max_cached_workflows=0):
        h = await env.client.start_workflow(Counter.run, id=f"{queue}-pages",
                                            task_queue=queue)
        await history_has(h, "WORKFLOW_TASK_COMPLETED", 1)
        for i, by in enumerate([1, 10, 100], start=2):
            await bump(h, by, i)
        before = history_requests()
        history = await h.fetch_history()
        n = len(history.events)
        assert [e.event_id for e in history.events] == list(range(1, n + 1))
        assert n > 2 * PAGE
        # ceil(n / PAGE) pages, and one more (empty) if the last was full.
        assert history_requests() - before == n // PAGE + 1
        # The same history, asked for in one answer (page_size 0: all of it).
        whole = await env.client.api.call(
            "GET", env.client.api._wf(h.id) + "/history", params={"run_id": history.run_id})
        assert [e["event_id"] for e in whole["events"]] == list(range(1, n + 1))
        # Nothing cached: the worker answers the query from the run's history, in pages.
        before = history_requests()
        assert await h.query(Counter.value) == 111
        assert history_requests() - before == n // PAGE + 1
        await h.signal(Counter.finish)
        assert await h.result() == 111


@pytest.mark.usefixtures("short_pages")
async def test_a_long_runs_task_carries_its_new_events_only(env: WorkflowEnvironment,
                                                            queue: str,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """The run moves to a worker that does not have it cached (the first one stopped): its
    task carries the events after the last completed task only, and the new worker reads
    the whole history, in pages, to replay it. A short history would have come whole."""
    monkeypatch.setattr(dispatch, "FULL_HISTORY_IN_TASK", 3)
    replays: list[int] = []  # the length of each history a worker read to replay
    read = _api.Api.history_events

    async def counted(api: _api.Api, workflow_id: str, run_id: str) -> list[Event]:
        events = await read(api, workflow_id, run_id)
        replays.append(len(events))
        return events
    monkeypatch.setattr(_api.Api, "history_events", counted)
    async with Worker(env.client, task_queue=queue, workflows=[Counter]):
        h = await env.client.start_workflow(Counter.run, id=f"{queue}-long",
                                            task_queue=queue)
        await history_has(h, "WORKFLOW_TASK_COMPLETED", 1)
        await bump(h, 1, 2)
    async with Worker(env.client, task_queue=queue, workflows=[Counter]):
        await bump(h, 10, 3)
        assert len(replays) == 1 and replays[0] > 2 * PAGE  # read whole, in pages
        await bump(h, 100, 4)  # now cached there (sticky): the new events are enough
        assert len(replays) == 1
        await h.signal(Counter.finish)
        assert await h.result() == 111
    history = await h.fetch_history()
    assert "WORKFLOW_TASK_FAILED" not in [e.event_type for e in history.events]
