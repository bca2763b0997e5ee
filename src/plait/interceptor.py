"""Interceptors: code that wraps every client call, workflow and activity, shaped as in
Temporal's Python SDK. Tracing, metrics by tenant, and context propagation hang on them.

    class Tenant(Interceptor):
        def intercept_client(self, next):            # client side
            return AddTenant(next)
        def intercept_activity(self, next):          # worker side: activities
            return ReadTenant(next)
        def workflow_interceptor_class(self, input):  # worker side: workflows
            return TenantWorkflow

    client = await Client.connect(address, interceptors=[Tenant()])
    worker = Worker(client, task_queue="q", workflows=[...], interceptors=[Tenant()])

Each interceptor wraps the next one (``self.next``), and each operation takes one input
object whose ``headers`` (``dict[str, str]``) it may change: headers travel with the start,
the signal, the update, the activity and the child, and arrive in the input of the code that
runs them (``execute_workflow``, ``handle_signal``, ``execute_activity``). The first
interceptor in the list is the outermost: it sees a call first and its result last.

Workflow interceptors run inside the workflow, on its deterministic loop: they must be
deterministic too (``workflow.now()``, not ``time.time()``), and they run again when the
workflow replays, so they must not act on the outside world unless
``workflow.unsafe.is_replaying()`` is false.
A query's headers travel with it to the worker (``handle_query`` sees them) but are not
stored; an update's are stored with it, so ``handle_update_handler`` sees them in replay too.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plait.client import WorkflowHandle, WorkflowUpdateHandle
    from plait.retry import RetryPolicy
    from plait.workflow import ChildWorkflowHandle

__all__ = [
    "ActivityInboundInterceptor",
    "ClientInterceptor",
    "ClientOutboundInterceptor",
    "ExecuteActivityInput",
    "ExecuteWorkflowInput",
    "HandleQueryInput",
    "HandleSignalInput",
    "HandleUpdateInput",
    "Interceptor",
    "QueryWorkflowInput",
    "SignalWorkflowInput",
    "StartActivityInput",
    "StartChildWorkflowInput",
    "StartLocalActivityInput",
    "StartWorkflowInput",
    "StartWorkflowUpdateInput",
    "WorkerInterceptor",
    "WorkflowInboundInterceptor",
    "WorkflowInterceptorClassInput",
    "WorkflowOutboundInterceptor",
]


# -- the client ---------------------------------------------------------------------------------
@dataclasses.dataclass
class StartWorkflowInput:
    """:meth:`ClientOutboundInterceptor.start_workflow`: ``Client.start_workflow`` and
    ``execute_workflow`` (the options are :class:`plait.client.StartWorkflowOptions`)."""

    workflow: str
    """The workflow type."""
    args: Sequence[Any]
    id: str
    task_queue: str
    headers: dict[str, str]
    ret_type: Any
    """What the handle's ``result()`` decodes to."""
    id_reuse_policy: str = "allow_duplicate"
    id_conflict_policy: str = "fail"
    search_attributes: dict[str, Any] | None = None
    memo: dict[str, Any] | None = None
    execution_timeout: timedelta | None = None
    task_timeout: timedelta = timedelta(seconds=10)
    retry_policy: RetryPolicy | None = None
    start_signal: str | None = None
    start_signal_args: Sequence[Any] = ()
    request_id: str | None = None
    start_delay: timedelta | None = None
    wait_result: float = 0.0
    """Seconds the server may hold the start for the result (``execute_workflow``)."""


@dataclasses.dataclass
class SignalWorkflowInput:
    """:meth:`ClientOutboundInterceptor.signal_workflow`: ``WorkflowHandle.signal``."""

    workflow_id: str
    run_id: str | None
    signal: str
    args: Sequence[Any]
    headers: dict[str, str]
    request_id: str | None = None


@dataclasses.dataclass
class QueryWorkflowInput:
    """:meth:`ClientOutboundInterceptor.query_workflow`: ``WorkflowHandle.query``. Its
    headers go with the query to the worker's ``handle_query``."""

    workflow_id: str
    run_id: str | None
    query: str
    args: Sequence[Any]
    headers: dict[str, str]
    ret_type: Any
    timeout: timedelta
    as_of_event: int | None = None
    """Answer from the state right after this event of the run's history (None: now)."""


@dataclasses.dataclass
class StartWorkflowUpdateInput:
    """:meth:`ClientOutboundInterceptor.start_workflow_update`: ``WorkflowHandle
    .start_update`` and ``execute_update`` (which waits for the ``completed`` stage)."""

    workflow_id: str
    run_id: str | None
    update: str
    update_id: str
    args: Sequence[Any]
    headers: dict[str, str]
    ret_type: Any
    wait_for_stage: str
    """``admitted``, ``accepted`` or ``completed``."""


class ClientOutboundInterceptor:
    """Wraps the client's calls; each method passes its input on to ``self.next``."""

    def __init__(self, next: ClientOutboundInterceptor) -> None:
        self.next = next

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any]:
        return await self.next.start_workflow(input)

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        await self.next.signal_workflow(input)

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        return await self.next.query_workflow(input)

    async def start_workflow_update(self, input: StartWorkflowUpdateInput
                                    ) -> WorkflowUpdateHandle:
        return await self.next.start_workflow_update(input)


class ClientInterceptor:
    """What ``Client.connect(..., interceptors=[...])`` takes."""

    def intercept_client(self, next: ClientOutboundInterceptor) -> ClientOutboundInterceptor:
        """Return an interceptor that wraps ``next`` (or ``next`` itself to add nothing)."""
        return next


# -- activities ---------------------------------------------------------------------------------
@dataclasses.dataclass
class ExecuteActivityInput:
    """:meth:`ActivityInboundInterceptor.execute_activity`: one attempt of an activity.
    ``activity.info()`` is available while it runs."""

    fn: Callable[..., Any]
    args: Sequence[Any]
    headers: dict[str, str]
    """As the workflow's ``start_activity`` (and its interceptors) sent them."""
    is_async: bool
    """False: ``fn`` is a plain function, which the innermost interceptor runs in the
    worker's thread pool."""


class ActivityInboundInterceptor:
    """Wraps each activity attempt; runs on the worker's event loop, in the attempt's
    context (for a sync activity too: only ``fn`` itself goes to a thread)."""

    def __init__(self, next: ActivityInboundInterceptor) -> None:
        self.next = next

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        return await self.next.execute_activity(input)


# -- workflows ----------------------------------------------------------------------------------
@dataclasses.dataclass
class WorkflowInterceptorClassInput:
    """What :meth:`WorkerInterceptor.workflow_interceptor_class` is told (once per worker)."""

    task_queue: str
    workflow_types: frozenset[str]


@dataclasses.dataclass
class ExecuteWorkflowInput:
    """:meth:`WorkflowInboundInterceptor.execute_workflow`: the run's ``@workflow.run``."""

    type: type
    run_fn: Callable[..., Any]
    """The run method, bound to the workflow object."""
    args: Sequence[Any]
    headers: dict[str, str]
    """As the start (or the parent's ``start_child_workflow``) sent them."""


@dataclasses.dataclass
class HandleSignalInput:
    """:meth:`WorkflowInboundInterceptor.handle_signal`: one signal, to its handler."""

    signal: str
    args: Sequence[Any]
    headers: dict[str, str]


@dataclasses.dataclass
class HandleQueryInput:
    """:meth:`WorkflowInboundInterceptor.handle_query`: one query, to its handler, with the
    headers the client's interceptors set."""

    query: str
    args: Sequence[Any]
    headers: dict[str, str]


@dataclasses.dataclass
class HandleUpdateInput:
    """:meth:`WorkflowInboundInterceptor.handle_update_validator` and
    :meth:`~WorkflowInboundInterceptor.handle_update_handler`: one update, to its validator
    or its handler, with the headers the client's interceptors set."""

    id: str
    update: str
    args: Sequence[Any]
    headers: dict[str, str]


@dataclasses.dataclass
class StartActivityInput:
    """:meth:`WorkflowOutboundInterceptor.start_activity`: ``workflow.start_activity`` (and
    ``execute_activity``) with its options."""

    activity: str
    args: Sequence[Any]
    headers: dict[str, str]
    ret_type: Any
    task_queue: str | None = None
    start_to_close_timeout: timedelta | None = None
    schedule_to_close_timeout: timedelta | None = None
    schedule_to_start_timeout: timedelta | None = None
    heartbeat_timeout: timedelta | None = None
    retry_policy: RetryPolicy | None = None
    rate_limit_key: str | None = None
    cancellation_type: str = "try_cancel"


@dataclasses.dataclass
class StartLocalActivityInput:
    """:meth:`WorkflowOutboundInterceptor.start_local_activity`: ``workflow
    .start_local_activity`` (and ``execute_local_activity``) with its options; the headers
    reach the attempt's ``execute_activity`` on this worker."""

    activity: str
    args: Sequence[Any]
    headers: dict[str, str]
    ret_type: Any
    start_to_close_timeout: timedelta | None = None
    schedule_to_close_timeout: timedelta | None = None
    retry_policy: RetryPolicy | None = None
    local_retry_threshold: timedelta = timedelta(minutes=1)


@dataclasses.dataclass
class StartChildWorkflowInput:
    """:meth:`WorkflowOutboundInterceptor.start_child_workflow`: ``workflow
    .start_child_workflow`` (and ``execute_child_workflow``) with its options."""

    workflow: str
    args: Sequence[Any]
    headers: dict[str, str]
    ret_type: Any
    id: str | None = None
    task_queue: str | None = None
    parent_close_policy: str = "terminate"
    execution_timeout: timedelta | None = None
    task_timeout: timedelta | None = None
    id_reuse_policy: str = "allow_duplicate"
    memo: dict[str, Any] | None = None
    search_attributes: dict[str, Any] | None = None


class WorkflowOutboundInterceptor:
    """Wraps what workflow code asks of the outside; each method passes on to ``next``."""

    def __init__(self, next: WorkflowOutboundInterceptor) -> None:
        self.next = next

    def start_activity(self, input: StartActivityInput) -> asyncio.Future[Any]:
        return self.next.start_activity(input)

    def start_local_activity(self, input: StartLocalActivityInput) -> asyncio.Future[Any]:
        return self.next.start_local_activity(input)

    async def start_child_workflow(self, input: StartChildWorkflowInput
                                   ) -> ChildWorkflowHandle[Any]:
        return await self.next.start_child_workflow(input)


class WorkflowInboundInterceptor:
    """Wraps a run's entry points: one chain per run, made when the run starts on a worker
    (again after a replay), from the classes the worker's interceptors gave."""

    def __init__(self, next: WorkflowInboundInterceptor) -> None:
        self.next = next

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        """Called once, before ``execute_workflow``, with the workflow's outbound side; wrap
        it to intercept outbound calls: ``super().init(MyOutbound(outbound))``."""
        self.next.init(outbound)

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        return await self.next.execute_workflow(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        await self.next.handle_signal(input)

    def handle_query(self, input: HandleQueryInput) -> Any:
        """Queries only read: this is a plain method, as the query handler is."""
        return self.next.handle_query(input)

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        """The update's validator (a plain method, as validators are; not run in replay).
        Raising rejects the update."""
        self.next.handle_update_validator(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        """The update's handler, once the update is accepted; its result is the update's."""
        return await self.next.handle_update_handler(input)


class WorkerInterceptor:
    """What ``Worker(..., interceptors=[...])`` takes."""

    def intercept_activity(self, next: ActivityInboundInterceptor
                           ) -> ActivityInboundInterceptor:
        """Return an interceptor that wraps ``next`` (or ``next`` itself to add nothing)."""
        return next

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput
                                   ) -> type[WorkflowInboundInterceptor] | None:
        """The class to wrap each run's inbound side with, or None."""
        return None


class Interceptor(ClientInterceptor, WorkerInterceptor):
    """Both sides in one object (pass it to the client and to the worker)."""
