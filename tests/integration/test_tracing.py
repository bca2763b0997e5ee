"""``plait.contrib.opentelemetry.TracingInterceptor`` (issue 14): one trace from the client's
start through the workflow, its activity, its child and the child's activity, the context
carried in headers; a replay in the middle writes no span twice."""

from __future__ import annotations

from datetime import timedelta

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from plait import Worker, activity, workflow
from plait.client import Client
from plait.contrib.opentelemetry import TracingInterceptor
from plait.errors import ApplicationError
from plait.retry import RetryPolicy
from plait.testing import WorkflowEnvironment
from tests.waiting import history_has


@activity.defn
async def shout(text: str) -> str:
    return text.upper()


@activity.defn
def whisper(text: str) -> str:
    if activity.info().attempt == 1:
        raise ApplicationError("not yet")
    return text.lower()


@workflow.defn
class Child:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(
            whisper, text, start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=10)))


@workflow.defn
class Parent:
    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self, text: str) -> list[str]:
        loud = await workflow.execute_activity(shout, text,
                                               start_to_close_timeout=timedelta(seconds=10))
        await workflow.wait_condition(lambda: self.go)
        quiet = await workflow.execute_child_workflow(Child.run, text, id=f"{text}-child")
        return [loud, quiet]

    @workflow.signal
    def release(self) -> None:
        self.go = True

    @workflow.query
    def released(self) -> bool:
        return self.go


def by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, list[ReadableSpan]]:
    out: dict[str, list[ReadableSpan]] = {}
    for s in spans:
        out.setdefault(s.name, []).append(s)
    return out


async def test_one_trace_through_workflow_activity_and_child(env: WorkflowEnvironment,
                                                             queue: str) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = TracingInterceptor(provider.get_tracer("test"))
    client = Client(env.client.api.transport, interceptors=[tracing])
    wid = f"{queue}-p"
    async with Worker(client, task_queue=queue, workflows=[Parent, Child],
                      activities=[shout, whisper]) as worker:
        handle = await client.start_workflow(Parent.run, wid, id=wid, task_queue=queue)
        await history_has(handle, "ACTIVITY_TASK_COMPLETED")
        await history_has(handle, "WORKFLOW_TASK_COMPLETED", 2)
        worker.workflow_tasks.evict_all()  # the next task replays the run from its start
        assert await handle.query(Parent.released) is False  # a copy rebuilt by replay too
        await handle.signal(Parent.release)
        assert await handle.result() == [wid.upper(), wid.lower()]

    spans = by_name(exporter.get_finished_spans())
    expected = ["StartWorkflow:Parent", "RunWorkflow:Parent", "StartActivity:shout",
                "RunActivity:shout", "QueryWorkflow:released", "HandleQuery:released",
                "SignalWorkflow:release", "HandleSignal:release", "StartChildWorkflow:Child",
                "RunWorkflow:Child", "StartActivity:whisper"]
    for name in expected:  # once each: the replays wrote none again
        assert len(spans.get(name, [])) == 1, (name, sorted(spans))
    assert len(spans["RunActivity:whisper"]) == 2  # two attempts
    assert set(spans) == {*expected, "RunActivity:whisper"}
    # The run's trace: the start and all that the run did. A signal or a query is a call of
    # its own (its own trace, unless the caller has a span open), continued in the workflow.
    own_calls = {"SignalWorkflow:release", "HandleSignal:release", "QueryWorkflow:released"}
    run_trace = {s.context.trace_id for n, ss in spans.items() if n not in own_calls
                 for s in ss}
    assert run_trace == {spans["StartWorkflow:Parent"][0].context.trace_id}

    def one(name: str) -> ReadableSpan:
        return spans[name][0]

    def parent_of(name: str) -> str:
        parent = one(name).parent
        assert parent is not None, name
        return next(n for n, ss in spans.items()
                    if any(s.context.span_id == parent.span_id for s in ss))

    assert one("StartWorkflow:Parent").parent is None
    assert parent_of("RunWorkflow:Parent") == "StartWorkflow:Parent"
    assert parent_of("StartActivity:shout") == "StartWorkflow:Parent"
    assert parent_of("RunActivity:shout") == "StartActivity:shout"
    assert parent_of("HandleSignal:release") == "SignalWorkflow:release"
    assert parent_of("HandleQuery:released") == "StartWorkflow:Parent"
    assert parent_of("StartChildWorkflow:Child") == "StartWorkflow:Parent"
    assert parent_of("RunWorkflow:Child") == "StartChildWorkflow:Child"
    assert parent_of("StartActivity:whisper") == "StartChildWorkflow:Child"
    failed, ok = sorted(spans["RunActivity:whisper"],
                        key=lambda s: s.attributes["plait.attempt"])  # type: ignore[index]
    assert not failed.status.is_ok and failed.events[0].name == "exception"
    assert ok.status.is_unset
    assert one("RunActivity:shout").attributes["plait.workflow_id"] == wid  # type: ignore[index]
