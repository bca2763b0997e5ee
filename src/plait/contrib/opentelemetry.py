"""OpenTelemetry tracing for plait (``pip install plait[otel]``): one trace from the client's
start through every workflow task, activity and child.

    from plait.contrib.opentelemetry import TracingInterceptor

    client = await Client.connect(address, interceptors=[TracingInterceptor()])
    worker = Worker(client, task_queue="q", workflows=[...])  # takes it from the client

The span context travels in the plait headers of each call (W3C ``traceparent``, through
OpenTelemetry's configured propagator), so a trace crosses processes: client, workflow
worker, activity worker, a child on another worker.

Spans (``plait.workflow_id``, ``plait.run_id`` and the like as attributes):

- client: ``StartWorkflow:TYPE``, ``SignalWorkflow:NAME``, ``QueryWorkflow:NAME``,
  ``StartWorkflowUpdate:NAME``, each as long as the call;
- workflow: ``RunWorkflow:TYPE``, ``HandleSignal:NAME``, ``HandleQuery:NAME``,
  ``StartActivity:TYPE``, ``StartChildWorkflow:TYPE``. A workflow lives across tasks, workers
  and replays, so these are points in time (started and ended at once), written only when
  the code runs for the first time: replaying a run (after an eviction, on another worker,
  after a restart) writes none again. Their parent is the context the run was started with
  (the client's ``StartWorkflow`` span, or the parent's ``StartChildWorkflow``);
- activity: ``RunActivity:TYPE``, as long as the attempt, a child of its ``StartActivity``;
  a failure is recorded on it (``record_exception``, error status).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from plait import activity, workflow
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
from plait.workflow import ChildWorkflowHandle

__all__ = ["TracingInterceptor"]

Attributes = Mapping[str, str | int]


def _inject(headers: dict[str, str]) -> None:
    """Write the current span context into ``headers`` (the propagator's keys)."""
    propagate.inject(headers)


def _extract(headers: Mapping[str, str]) -> otel_context.Context:
    return propagate.extract(dict(headers))


class TracingInterceptor(Interceptor):
    """Traces a client and the workers built on it (see the module's docstring);
    ``tracer``: by default the global provider's, named ``plait``."""

    def __init__(self, tracer: Tracer | None = None) -> None:
        self.tracer = tracer or trace.get_tracer("plait")

    def intercept_client(self, next: ClientOutboundInterceptor) -> ClientOutboundInterceptor:
        return _ClientTracing(next, self.tracer)

    def intercept_activity(self, next: ActivityInboundInterceptor
                           ) -> ActivityInboundInterceptor:
        return _ActivityTracing(next, self.tracer)

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput
                                   ) -> type[WorkflowInboundInterceptor]:
        tracer = self.tracer

        class _Bound(_WorkflowTracing):
            pass
        _Bound.tracer = tracer
        return _Bound


# -- the client -----------------------------------------------------------------------------------
class _ClientTracing(ClientOutboundInterceptor):
    def __init__(self, next: ClientOutboundInterceptor, tracer: Tracer) -> None:
        super().__init__(next)
        self.tracer = tracer

    @contextmanager
    def _span(self, name: str, attributes: Attributes,
              headers: dict[str, str] | None) -> Iterator[Span]:
        with self.tracer.start_as_current_span(name, kind=SpanKind.CLIENT,
                                               attributes=attributes) as span:
            if headers is not None:
                _inject(headers)
            yield span

    async def start_workflow(self, input: StartWorkflowInput) -> Any:
        with self._span(f"StartWorkflow:{input.workflow}",
                        {"plait.workflow_id": input.id, "plait.task_queue": input.task_queue},
                        input.headers) as span:
            handle = await super().start_workflow(input)
            if handle.run_id:
                span.set_attribute("plait.run_id", handle.run_id)
            return handle

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        with self._span(f"SignalWorkflow:{input.signal}",
                        {"plait.workflow_id": input.workflow_id}, input.headers):
            await super().signal_workflow(input)

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        with self._span(f"QueryWorkflow:{input.query}",
                        {"plait.workflow_id": input.workflow_id}, input.headers):
            return await super().query_workflow(input)

    async def start_workflow_update(self, input: StartWorkflowUpdateInput) -> Any:
        with self._span(f"StartWorkflowUpdate:{input.update}",
                        {"plait.workflow_id": input.workflow_id,
                         "plait.update_id": input.update_id}, input.headers):
            return await super().start_workflow_update(input)


# -- activities -----------------------------------------------------------------------------------
class _ActivityTracing(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, tracer: Tracer) -> None:
        super().__init__(next)
        self.tracer = tracer

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        with self.tracer.start_as_current_span(
                f"RunActivity:{info.activity_type}", context=_extract(input.headers),
                kind=SpanKind.SERVER, attributes={
                    "plait.workflow_id": info.workflow_id, "plait.run_id": info.run_id,
                    "plait.activity_id": info.activity_id, "plait.attempt": info.attempt}):
            return await super().execute_activity(input)


# -- workflows ------------------------------------------------------------------------------------
class _WorkflowTracing(WorkflowInboundInterceptor):
    """One per run; ``run_context``: what the run was started with, the parent of its
    spans. Spans are written only when not replaying (each marks a moment of the run)."""

    tracer: Tracer

    def __init__(self, next: WorkflowInboundInterceptor) -> None:
        super().__init__(next)
        self.run_context: otel_context.Context | None = None

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_WorkflowOutboundTracing(outbound, self))

    def point(self, name: str, parent: otel_context.Context | None,
              attributes: Attributes | None = None, *, kind: SpanKind = SpanKind.INTERNAL
              ) -> Span | None:
        """A span started and ended now, unless the workflow replays (None then)."""
        if workflow.unsafe.is_replaying():
            return None
        info = workflow.info()
        span = self.tracer.start_span(name, context=parent, kind=kind, attributes={
            "plait.workflow_id": info.workflow_id, "plait.run_id": info.run_id,
            **(attributes or {})})
        span.end()
        return span

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        self.run_context = _extract(input.headers)
        self.point(f"RunWorkflow:{workflow.info().workflow_type}", self.run_context,
                   kind=SpanKind.SERVER)
        return await super().execute_workflow(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        self.point(f"HandleSignal:{input.signal}", _extract(input.headers),
                   kind=SpanKind.SERVER)
        await super().handle_signal(input)

    def handle_query(self, input: HandleQueryInput) -> Any:
        # A query never writes history: its span is the moment it was answered, under the
        # run's context (a query carries no headers to the worker).
        span = self.tracer.start_span(f"HandleQuery:{input.query}", context=self.run_context,
                                      kind=SpanKind.SERVER)
        try:
            return super().handle_query(input)
        except Exception as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, str(exc)))
            raise
        finally:
            span.end()


class _WorkflowOutboundTracing(WorkflowOutboundInterceptor):
    def __init__(self, next: WorkflowOutboundInterceptor, run: _WorkflowTracing) -> None:
        super().__init__(next)
        self.run = run

    def _carry(self, name: str, headers: dict[str, str], attributes: Attributes) -> None:
        span = self.run.point(name, self.run.run_context, attributes, kind=SpanKind.CLIENT)
        if span is not None:
            _inject_span(span, headers)

    def start_activity(self, input: StartActivityInput) -> asyncio.Future[Any]:
        self._carry(f"StartActivity:{input.activity}", input.headers,
                    {"plait.activity_type": input.activity})
        return super().start_activity(input)

    async def start_child_workflow(self, input: StartChildWorkflowInput
                                   ) -> ChildWorkflowHandle[Any]:
        self._carry(f"StartChildWorkflow:{input.workflow}", input.headers,
                    {"plait.child_workflow_type": input.workflow})
        return await super().start_child_workflow(input)


def _inject_span(span: Span, headers: dict[str, str]) -> None:
    """Write ``span``'s context into ``headers``: what the activity or child continues."""
    propagate.inject(headers, context=trace.set_span_in_context(span))
