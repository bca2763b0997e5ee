"""``handle.query(..., as_of_event=N)``: the workflow's state right after event N of its
history, from a fresh replay; the live (cached) instance is not touched."""

from __future__ import annotations

import pytest

from plait import Worker, workflow
from plait.client import WorkflowHandle
from plait.errors import RPCError
from plait.history import History
from plait.testing import WorkflowEnvironment
from tests.waiting import history_has


@workflow.defn
class Counter:
    def __init__(self) -> None:
        self.count = 0
        self.done = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.done)
        return self.count

    @workflow.signal
    def bump(self, by: int) -> None:
        self.count += by

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def value(self) -> int:
        return self.count


def expected_as_of(history: History, n: int) -> int | None:
    """The count the workflow had acted on by event ``n``: the bumps recorded before the
    last completed workflow task at or before ``n`` (None: no task had completed yet)."""
    completed = [
        e.event_id
        for e in history.events
        if e.event_type == "WORKFLOW_TASK_COMPLETED" and e.event_id <= n
    ]
    if not completed:
        return None
    return sum(
        e.attributes["input"][0]["data"]
        for e in history.events
        if e.event_type == "WORKFLOW_EXECUTION_SIGNALED"
        and e.attributes["signal_name"] == "bump"
        and e.event_id < completed[-1]
    )


async def bump(h: WorkflowHandle[Counter, int], by: int, tasks: int) -> None:
    await h.signal(Counter.bump, by)
    await history_has(h, "WORKFLOW_TASK_COMPLETED", tasks)


async def test_as_of_event_answers_from_the_past(env: WorkflowEnvironment, queue: str) -> None:
    async with Worker(env.client, task_queue=queue, workflows=[Counter]):
        h = await env.client.start_workflow(Counter.run, id="counter", task_queue=queue)
        await history_has(h, "WORKFLOW_TASK_COMPLETED", 1)
        for i, by in enumerate([1, 10, 100], start=2):
            await bump(h, by, i)
        assert await h.query(Counter.value) == 111
        history = await h.fetch_history()
        seen = set()
        for event in history.events:
            want = expected_as_of(history, event.event_id)
            if want is None:
                with pytest.raises(RPCError) as info:
                    await h.query(Counter.value, as_of_event=event.event_id)
                assert "had not completed a workflow task" in info.value.message
                continue
            got = await h.query(Counter.value, as_of_event=event.event_id)
            assert got == want, (event.event_id, event.event_type)
            seen.add(got)
        assert seen == {0, 1, 11, 111}  # every step of the count was visible
        # The live instance is untouched: it still counts on from where it was.
        assert await h.query(Counter.value) == 111
        await bump(h, 1000, 5)
        assert await h.query(Counter.value) == 1111
        last = len((await h.fetch_history()).events)
        with pytest.raises(RPCError) as info:
            await h.query(Counter.value, as_of_event=last + 1)
        assert info.value.status == 400 and info.value.code == "bad_request"
        assert f"has events 1 to {last}" in info.value.message
        with pytest.raises(RPCError) as info:
            await h.query(Counter.value, as_of_event=0)
        assert info.value.status == 400
        await h.signal(Counter.finish)
        assert await h.result() == 1111
        history = await h.fetch_history()
        assert "WORKFLOW_TASK_FAILED" not in [e.event_type for e in history.events]
        # A closed run answers about its past too, and about its end.
        assert await h.query(Counter.value, as_of_event=8) == expected_as_of(history, 8)
        assert await h.query(Counter.value, as_of_event=len(history.events)) == 1111


async def test_as_of_event_stack_trace(env: WorkflowEnvironment, queue: str) -> None:
    """The built-in stack query works on a past state too (a fresh replay up to it)."""
    async with Worker(env.client, task_queue=queue, workflows=[Counter]):
        h = await env.client.start_workflow(Counter.run, id="counter-st", task_queue=queue)
        await bump(h, 1, 2)
        text = await h.query("__stack_trace", as_of_event=4)
        assert text.splitlines()[0].endswith(" in Counter.run"), text
        await h.signal(Counter.finish)
        await h.result()
        assert await h.query("__stack_trace") == ""
        assert (await h.query("__stack_trace", as_of_event=4)) == text
