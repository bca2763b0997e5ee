"""Interceptors (issue 14): the client's wrap start, signal, query and update; the worker's
wrap each activity attempt and each run's entry points and outbound calls; the headers they
set travel with the start, the signal, the activity and the child."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from plait import Worker, activity, workflow
from plait.client import Client
from plait.interceptor import (
    ActivityInboundInterceptor,
    ClientOutboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    HandleQueryInput,
    HandleSignalInput,
    Interceptor,
    QueryWorkflowInput,
    SignalWorkflowInput,
    StartActivityInput,
    StartChildWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from plait.testing import WorkflowEnvironment
from plait.workflow import ChildWorkflowHandle
from tests.waiting import history_has

seen: list[tuple[str, str, dict[str, str]]] = []
"""(where, what, headers), as the interceptors saw them (workflow ones: not in replay)."""


def note(where: str, what: str, headers: dict[str, str]) -> None:
    if workflow.in_workflow() and workflow.unsafe.is_replaying():
        return
    seen.append((where, what, dict(headers)))


class TenantClient(ClientOutboundInterceptor):
    async def start_workflow(self, input: StartWorkflowInput) -> Any:
        input.headers["tenant"] = "acme"
        note("client", f"start {input.workflow}", input.headers)
        return await super().start_workflow(input)

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        input.headers["tenant"] = "acme"
        note("client", f"signal {input.signal}", input.headers)
        await super().signal_workflow(input)

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        note("client", f"query {input.query}", input.headers)
        return await super().query_workflow(input)

    async def start_workflow_update(self, input: StartWorkflowUpdateInput) -> Any:
        input.headers["tenant"] = "acme"
        note("client", f"update {input.update}", input.headers)
        return await super().start_workflow_update(input)


class TenantActivity(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        note("activity", activity.info().activity_type, input.headers)
        return await super().execute_activity(input)


class TenantOutbound(WorkflowOutboundInterceptor):
    """Passes the run's tenant on to what it starts (how a tracer carries its context)."""

    def tenant(self) -> dict[str, str]:
        t = workflow.info().headers.get("tenant")
        return {"tenant": t} if t else {}

    def start_activity(self, input: StartActivityInput) -> asyncio.Future[Any]:
        input.headers.update(self.tenant())
        return super().start_activity(input)

    async def start_child_workflow(self, input: StartChildWorkflowInput
                                   ) -> ChildWorkflowHandle[Any]:
        input.headers.update(self.tenant())
        return await super().start_child_workflow(input)


class TenantInbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(TenantOutbound(outbound))

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        note("workflow", f"run {input.type.__name__}", input.headers)
        return await super().execute_workflow(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        note("workflow", f"signal {input.signal}", input.headers)
        if input.signal == "slow_release":
            await asyncio.sleep(0)  # an interceptor that waits: the handler still runs
        await super().handle_signal(input)

    def handle_query(self, input: HandleQueryInput) -> Any:
        return ("intercepted", super().handle_query(input))


class Tenant(Interceptor):
    def __init__(self) -> None:
        self.told: list[WorkflowInterceptorClassInput] = []

    def intercept_client(self, next: ClientOutboundInterceptor) -> ClientOutboundInterceptor:
        return TenantClient(next)

    def intercept_activity(self, next: ActivityInboundInterceptor
                           ) -> ActivityInboundInterceptor:
        return TenantActivity(next)

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput
                                   ) -> type[WorkflowInboundInterceptor]:
        self.told.append(input)
        return TenantInbound


@activity.defn
async def shout(text: str) -> str:
    return text.upper()


@activity.defn
def whisper(text: str) -> str:  # sync: the function runs in the pool, in the attempt's context
    return f"{text.lower()} ({activity.info().activity_type})"


@workflow.defn
class Child:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(whisper, text,
                                               start_to_close_timeout=timedelta(seconds=10))


@workflow.defn
class Parent:
    def __init__(self) -> None:
        self.released = 0
        self.value = 1

    @workflow.run
    async def run(self, text: str) -> list[str]:
        loud = await workflow.execute_activity(shout, text,
                                               start_to_close_timeout=timedelta(seconds=10))
        await workflow.wait_condition(lambda: self.released >= 2)
        quiet = await workflow.execute_child_workflow(Child.run, text, id=f"{text}-child")
        return [loud, quiet]

    @workflow.signal
    def release(self) -> None:
        self.released += 1

    @workflow.signal
    def slow_release(self) -> None:
        self.released += 1

    @workflow.query
    def current(self) -> int:
        return self.released

    @workflow.update
    def bump(self, by: int) -> int:
        self.value += by
        return self.value


async def test_headers_reach_the_activity_and_the_child(env: WorkflowEnvironment,
                                                        queue: str) -> None:
    seen.clear()
    tenant = Tenant()
    client = Client(env.client.api.transport, interceptors=[tenant])
    wid = f"{queue}-p"
    async with Worker(client, task_queue=queue, workflows=[Parent, Child],
                      activities=[shout, whisper]) as worker:
        handle = await client.start_workflow(Parent.run, wid, id=wid, task_queue=queue)
        await history_has(handle, "ACTIVITY_TASK_COMPLETED")
        await history_has(handle, "WORKFLOW_TASK_COMPLETED", 2)
        worker.workflow_tasks.evict_all()  # the next task replays the run, interceptors too
        await handle.signal(Parent.release)
        assert await handle.execute_update(Parent.bump, 2) == 3  # after the signal, in order
        assert await handle.query(Parent.current, result_type=Any) == ["intercepted", 1]
        await handle.signal("slow_release")
        assert await handle.result() == [wid.upper(), f"{wid.lower()} (whisper)"]

    acme = {"tenant": "acme"}
    assert tenant.told == [WorkflowInterceptorClassInput(queue, frozenset({"Parent", "Child"}))]
    assert ("client", "start Parent", acme) in seen
    assert ("workflow", "run Parent", acme) in seen
    assert ("activity", "shout", acme) in seen
    assert ("client", "signal release", acme) in seen
    assert ("workflow", "signal release", acme) in seen
    assert ("workflow", "signal slow_release", acme) in seen
    assert ("client", "query current", {}) in seen
    assert ("client", "update bump", acme) in seen
    assert ("workflow", "run Child", acme) in seen  # carried by the parent's outbound side
    assert ("activity", "whisper", acme) in seen    # and on by the child's
    # Each once: not again in the replay after the eviction.
    assert sum(1 for s in seen if s[:2] == ("workflow", "run Parent")) == 1
    assert sum(1 for s in seen if s[:2] == ("activity", "shout")) == 1
    history = await handle.fetch_history()
    scheduled = [e for e in history.events if e.event_type == "ACTIVITY_TASK_SCHEDULED"]
    assert [e.attributes["header"] for e in scheduled] == [acme]


class Order(Interceptor):
    """Records the order the chain runs in: the first in the list is the outermost."""

    def __init__(self, name: str, calls: list[str]) -> None:
        self.name, self.calls = name, calls

    def intercept_client(self, next: ClientOutboundInterceptor) -> ClientOutboundInterceptor:
        outer = self

        class Recording(ClientOutboundInterceptor):
            async def start_workflow(self, input: StartWorkflowInput) -> Any:
                outer.calls.append(outer.name)
                return await super().start_workflow(input)
        return Recording(next)


async def test_the_first_interceptor_is_the_outermost(env: WorkflowEnvironment,
                                                      queue: str) -> None:
    calls: list[str] = []
    client = Client(env.client.api.transport,
                    interceptors=[Order("a", calls), Order("b", calls)])
    async with Worker(client, task_queue=queue, workflows=[Child], activities=[whisper]):
        assert await client.execute_workflow(Child.run, "X", id=f"{queue}-o",
                                             task_queue=queue) == "x (whisper)"
    assert calls == ["a", "b"]
