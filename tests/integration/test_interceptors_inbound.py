"""Interceptors on the worker's inbound side for updates and queries (issue 14): a
workflow's inbound interceptor wraps each update's validator and handler, and sees the
headers the client's interceptors set on an update or a query."""

from __future__ import annotations

from typing import Any

import pytest

from plait import Worker, workflow
from plait.client import Client
from plait.errors import ApplicationError, UpdateFailedError
from plait.interceptor import (
    ClientOutboundInterceptor,
    HandleQueryInput,
    HandleUpdateInput,
    Interceptor,
    QueryWorkflowInput,
    StartWorkflowUpdateInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)
from plait.testing import WorkflowEnvironment

seen: list[tuple[str, str, dict[str, str], bool]] = []
"""(what, name, headers, replaying), as the workflow's inbound interceptor saw them."""


class TagClient(ClientOutboundInterceptor):
    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        input.headers["tenant"] = "acme"
        return await super().query_workflow(input)

    async def start_workflow_update(self, input: StartWorkflowUpdateInput) -> Any:
        blocked = input.update_id.startswith("blocked")
        input.headers["tenant"] = "blocked" if blocked else "acme"
        return await super().start_workflow_update(input)


class TagInbound(WorkflowInboundInterceptor):
    def handle_query(self, input: HandleQueryInput) -> Any:
        seen.append(("query", input.query, dict(input.headers), False))
        return super().handle_query(input)

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        seen.append(("validator", input.update, dict(input.headers),
                     workflow.unsafe.is_replaying()))
        if input.headers.get("tenant") == "blocked":
            raise ApplicationError("this tenant may not update", type="Blocked")
        super().handle_update_validator(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        seen.append(("handler", input.update, dict(input.headers),
                     workflow.unsafe.is_replaying()))
        return ("intercepted", await super().handle_update_handler(input))


class Tag(Interceptor):
    def intercept_client(self, next: ClientOutboundInterceptor) -> ClientOutboundInterceptor:
        return TagClient(next)

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput
                                   ) -> type[WorkflowInboundInterceptor]:
        return TagInbound


@workflow.defn
class Counter:
    def __init__(self) -> None:
        self.value = 0

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.value >= 10)
        return self.value

    @workflow.update
    def add(self, by: int) -> int:
        self.value += by
        return self.value

    @add.validator
    def check(self, by: int) -> None:
        if by < 0:
            raise ValueError("only positive steps")

    @workflow.query
    def current(self) -> int:
        return self.value


async def test_updates_and_queries_pass_the_inbound_interceptor_with_their_headers(
        env: WorkflowEnvironment, queue: str) -> None:
    seen.clear()
    client = Client(env.client.api.transport, interceptors=[Tag()])
    acme = {"tenant": "acme"}
    async with Worker(client, task_queue=queue, workflows=[Counter]) as worker:
        handle = await client.start_workflow(Counter.run, id=f"{queue}-c", task_queue=queue)
        assert await handle.execute_update(Counter.add, 3, result_type=Any) == \
            ["intercepted", 3]
        assert ("validator", "add", acme, False) in seen
        assert ("handler", "add", acme, False) in seen
        assert await handle.query(Counter.current) == 3
        assert ("query", "current", acme, False) in seen
        # The workflow's own validator still runs, inside the chain.
        with pytest.raises(UpdateFailedError, match="only positive steps"):
            await handle.execute_update(Counter.add, -1)
        # An interceptor's validator may refuse an update on its headers.
        with pytest.raises(UpdateFailedError, match="this tenant may not update"):
            await handle.execute_update(Counter.add, 1, id="blocked-1")
        # Replayed, the accepted update's handler sees the headers it had: they are in
        # its WORKFLOW_EXECUTION_UPDATE_ACCEPTED event. Its validator does not run again.
        worker.workflow_tasks.evict_all()
        seen.clear()
        assert await handle.execute_update(Counter.add, 7, result_type=Any) == \
            ["intercepted", 10]
        assert ("handler", "add", acme, True) in seen
        assert [s for s in seen if s[0] == "validator"] == [("validator", "add", acme, False)]
        assert await handle.result() == 10
    history = await handle.fetch_history()
    accepted = [e for e in history.events
                if e.event_type == "WORKFLOW_EXECUTION_UPDATE_ACCEPTED"]
    assert [e.attributes.get("header") for e in accepted] == [acme, acme]
