"""The client: start workflows and wait for them, describe, list, count, terminate.

    client = await Client.connect("http://127.0.0.1:7233")
    result = await client.execute_workflow(Order.run, "o-1", id="order-o-1", task_queue="orders")
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import enum
import os
import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Generic, Literal, Required, TypedDict, Unpack, overload

import msgspec

from plait import errors
from plait._api import Api, wire_member
from plait._batches import BatchDescription, BatchHandle, start_request
from plait._payloads import encode_message, encode_payloads
from plait._schedules import (
    ScheduleAction,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleListEntry,
    create_request,
    refused_as_value_error,
    wire_retry_policy,
)
from plait._typing import R, SelfT, Ts
from plait.codec import PayloadCodec
from plait.converter import PayloadConverter
from plait.history import History
from plait.interceptor import (
    ClientInterceptor,
    ClientOutboundInterceptor,
    QueryWorkflowInput,
    SignalWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
)
from plait.protocol import common
from plait.protocol.common import Memo, SearchAttributes
from plait.protocol.enums import IdConflictPolicy, IdReusePolicy, UpdateStatus, WorkflowStatus
from plait.protocol.failure import Failure, to_exception
from plait.protocol.jsoncodec import dumps_str
from plait.protocol.ratelimits import RateLimit
from plait.protocol.requests import (
    ActivityControlRequest,
    CancelRequest,
    PauseRequest,
    QueryRequest,
    ResetRequest,
    SignalRequest,
    StartWorkflowRequest,
    TerminateRequest,
    UnpauseRequest,
    UpdateRequest,
)
from plait.protocol.responses import (
    Attempt,
    TaskQueueDescription,
    UpdateOutcome,
    WorkflowDescription,
    WorkflowOutcome,
    WorkflowResult,
    WorkflowSummary,
)
from plait.protocol.stream import transport_for
from plait.protocol.tenancy import CreateNamespaceRequest, NamespaceInfo, UpdateNamespaceRequest
from plait.protocol.transport import HttpTransport, Transport
from plait.retry import RetryPolicy
from plait.runtime.definitions import workflow_defn_of

__all__ = ["ActivityAttempt", "AsyncActivityHandle", "BatchDescription", "BatchHandle",
           "Client", "NamespaceDescription",
           "PendingActivity",
           "ScheduleAction", "ScheduleDescription", "ScheduleHandle", "ScheduleListEntry",
           "TaskFailure", "WorkflowExecution", "WorkflowExecutionDescription",
           "WorkflowExecutionStatus", "WorkflowFailureError", "WorkflowHandle",
           "WorkflowUpdateFailedError", "WorkflowUpdateHandle", "WorkflowUpdateStage"]

WorkflowFailureError = errors.WorkflowFailureError
"""Where Temporal's code imports it from (``plait.errors`` is its home)."""
WorkflowUpdateFailedError = errors.UpdateFailedError
"""Temporal's name of :class:`plait.errors.UpdateFailedError`."""

DEFAULT_ADDRESS = "http://127.0.0.1:7233"
_NOT_FINAL = frozenset({UpdateStatus.REQUESTED, UpdateStatus.ACCEPTED})
"""Update stages to ask about again."""
EXECUTE_WAIT = 30.0
"""How long ``execute_workflow``'s start request waits for the result before long-polling."""


class WorkflowExecutionStatus(enum.StrEnum):
    """A run's status (Temporal's names; the values are plait's strings, so
    ``desc.status == WorkflowExecutionStatus.COMPLETED`` and ``desc.status == "COMPLETED"``
    are the same test)."""

    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    TERMINATED = "TERMINATED"
    CONTINUED_AS_NEW = "CONTINUED_AS_NEW"
    TIMED_OUT = "TIMED_OUT"


class WorkflowUpdateStage(enum.StrEnum):
    """How far :meth:`WorkflowHandle.start_update` waits: the update was received
    (``ADMITTED``), passed its validator and is in the history (``ACCEPTED``), or finished
    (``COMPLETED``)."""

    ADMITTED = "admitted"
    ACCEPTED = "accepted"
    COMPLETED = "completed"


def _time(ts: float | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(ts, dt.UTC) if ts is not None else None


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def _failure(f: common.Failure | None) -> Failure | None:
    """A failure as the public types and :func:`to_exception` carry it: the plain dict."""
    if f is None:
        return None
    plain: Failure = msgspec.to_builtins(f)
    return plain


@dataclasses.dataclass(frozen=True)
class WorkflowExecution:
    """One run, as ``list_workflows`` returns it."""

    workflow_id: str
    run_id: str
    workflow_type: str
    status: str
    task_queue: str
    start_time: dt.datetime
    close_time: dt.datetime | None
    search_attributes: SearchAttributes

    @staticmethod
    def from_summary(s: WorkflowSummary) -> WorkflowExecution:
        return WorkflowExecution(s.workflow_id, s.run_id, s.workflow_type, s.status.value,
                                 s.task_queue, _utc(s.start_time), _time(s.close_time),
                                 s.search_attributes or {})


@dataclasses.dataclass(frozen=True)
class PendingActivity:
    activity_id: str
    activity_type: str
    attempt: int
    state: str
    """scheduled | started | backing_off | waiting_for_rate_limit"""
    last_failure: Failure | None
    next_attempt_time: dt.datetime | None
    scheduled_time: dt.datetime | None
    paused: bool = False
    """An operator paused it (:meth:`WorkflowHandle.pause_activity`)."""


@dataclasses.dataclass(frozen=True)
class ActivityAttempt:
    activity_id: str
    activity_type: str
    attempt: int
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    outcome: str | None
    """completed | failed | timed_out, or None while it runs"""
    failure: Failure | None
    worker: str | None


@dataclasses.dataclass(frozen=True)
class TaskFailure:
    """Why the workflow's code keeps failing (the workflow is stuck until it is fixed)."""

    message: str
    traceback: str
    attempts: int
    type: str = ""
    cause: str = ""
    """Why, as the worker or the server recorded it: ``workflow_error`` (the code raised), or a
    per-run limit's ``pending_activities_limit_exceeded`` (docs/operations.md "Limits")."""


@dataclasses.dataclass(frozen=True)
class WorkflowExecutionDescription(WorkflowExecution):
    memo: Memo | None
    history_length: int
    pending_activities: list[PendingActivity]
    attempts: list[ActivityAttempt]
    last_task_failure: TaskFailure | None
    raw: dict[str, Any]
    """The description in plain JSON values: every field of the protocol's
    ``WorkflowDescription`` (null where the server sent none)."""
    start_delay: timedelta | None = None
    """How long the start held back the first workflow task (``start_delay``)."""
    paused: bool = False
    """An operator has the run paused (:meth:`WorkflowHandle.pause`)."""
    pause_reason: str = ""
    paused_since: dt.datetime | None = None
    reset_from_run_id: str | None = None
    """This run was made by resetting that run (:meth:`WorkflowHandle.reset`) ..."""
    reset_event_id: int | None = None
    """... to this event of its history ..."""
    reset_reason: str = ""
    """... for this reason."""
    reset_to_run_id: str | None = None
    """A reset of this run made that run."""
    history_size_bytes: int = 0
    """The stored size of the run's events, which the server's history limit counts
    (docs/operations.md "Limits")."""

    @staticmethod
    def from_description(d: WorkflowDescription) -> WorkflowExecutionDescription:
        base = WorkflowExecution.from_summary(d)
        ltf = d.last_task_failure
        return WorkflowExecutionDescription(
            **{f.name: getattr(base, f.name) for f in dataclasses.fields(WorkflowExecution)},
            memo=d.memo, history_length=d.history_length,
            pending_activities=[PendingActivity(
                p.activity_id, p.activity_type, p.attempt, p.state.value,
                _failure(p.last_failure), _time(p.next_attempt_time),
                _time(p.scheduled_time), p.paused) for p in d.pending_activities],
            attempts=[_attempt(a) for a in d.attempts],
            last_task_failure=TaskFailure(ltf.message or "", ltf.traceback or "",
                                          ltf.attempts or 0, ltf.type or "", ltf.cause or "")
            if ltf else None,
            raw=msgspec.to_builtins(d),
            start_delay=timedelta(seconds=d.start_delay) if d.start_delay else None,
            paused=d.paused is not None, pause_reason=d.paused.reason if d.paused else "",
            paused_since=_time(d.paused.time) if d.paused else None,
            reset_from_run_id=d.reset_from_run_id, reset_event_id=d.reset_event_id,
            reset_reason=d.reset_reason or "", reset_to_run_id=d.reset_to_run_id,
            history_size_bytes=d.history_size_bytes,
        )


def _attempt(a: Attempt) -> ActivityAttempt:
    return ActivityAttempt(a.activity_id, a.activity_type, a.attempt, _time(a.started_at),
                           _time(a.ended_at), a.outcome, _failure(a.failure), a.worker)


def _seconds(value: timedelta | float | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class StartWorkflowOptions(TypedDict, total=False):
    """The keyword options of :meth:`Client.start_workflow` and :meth:`Client.execute_workflow`
    (a type for editors and type checkers; the defaults are the methods')."""

    id: Required[str]
    task_queue: Required[str]
    id_reuse_policy: str
    """May a closed workflow's id start again: "allow_duplicate" (default),
    "allow_duplicate_failed_only", "reject_duplicate"."""
    id_conflict_policy: str
    """When the id is running: "fail" (default), "use_existing", "terminate_existing"."""
    search_attributes: Mapping[str, Any] | None
    memo: Mapping[str, Any] | None
    execution_timeout: timedelta | None
    task_timeout: timedelta
    retry_policy: RetryPolicy | None
    start_signal: Callable[..., Any] | str | None
    """Signal-with-start: this signal is delivered in the workflow's first task."""
    start_signal_args: Sequence[Any]
    header: Mapping[str, Any] | None
    request_id: str | None
    """Deduplicates a repeated start (a fresh one by default)."""
    start_delay: timedelta | None
    """Create the run now, but run its first workflow task only after this long (a
    signal-with-start does not cut the wait short)."""


class Client:
    """A connection to a plait server, for one namespace.

    Built by :meth:`connect`; constructed directly over any :class:`Transport` (such as a
    ``MockTransport`` in a unit test)."""

    def __init__(self, transport: Transport, namespace: str = "default", *,
                 retry_for: float = 60.0,
                 interceptors: Sequence[ClientInterceptor] = (),
                 codec: PayloadCodec | None = None,
                 data_converter: object = None,
                 payload_converter: PayloadConverter | None = None) -> None:
        """``interceptors``: wrap this client's start, signal, query and update calls
        (:mod:`plait.interceptor`; the first in the list is the outermost). ``codec`` and
        ``data_converter``: see :meth:`connect`; ``payload_converter``: a converter instance
        (what ``data_converter``'s class builds)."""
        codec, payload_converter = _converters(codec, data_converter, payload_converter)
        self.api = Api(transport, namespace, retry_for=retry_for, codec=codec,
                       converter=payload_converter)
        self.namespace = namespace
        self.interceptors = list(interceptors)
        outbound: ClientOutboundInterceptor = _ClientCalls(self)
        for interceptor in reversed(self.interceptors):
            outbound = interceptor.intercept_client(outbound)
        self._outbound = outbound

    @staticmethod
    async def connect(address: str | None = None, *, namespace: str = "default",
                      api_key: str | None = None,
                      tls: bool | ssl.SSLContext | None = None,
                      retry_timeout: timedelta = timedelta(seconds=60),
                      data_converter: object = None,
                      interceptors: Sequence[ClientInterceptor] = (),
                      codec: PayloadCodec | None = None) -> Client:
        """Address defaults to ``PLAIT_ADDRESS``, else ``http://127.0.0.1:7233``; without a
        scheme (``localhost:7233``) it means ``http://``. An address that cannot be one raises
        ``PlaitError`` here, not at the first call.

        ``api_key`` (else ``PLAIT_API_KEY``) travels as ``Authorization: Bearer <key>``, for
        a server started with ``--auth``; a call it does not admit raises
        ``UnauthenticatedError`` or ``PermissionDeniedError``.

        ``tls``: None uses TLS for an ``https://`` address (verified against
        ``PLAIT_TLS_CA``, with the client certificate of ``PLAIT_TLS_CERT``/``PLAIT_TLS_KEY``,
        when set; else the system's trust store); True, the system's trust store (an address
        without a scheme then means ``https://``); an ``ssl.SSLContext`` for a private CA or a
        client certificate (mutual TLS). TLS asked for on an ``http://`` address raises
        ``PlaitError`` here; a certificate the client does not trust (or a server that
        refuses the client's) raises ``RPCError`` (code ``tls_failed``) at the first call,
        never retried. Workers built on this client use the same connections.

        Calls that are safe to repeat ride out a server restart or an unreachable server for
        up to ``retry_timeout``, then raise. ``data_converter`` is Temporal's
        (:class:`plait.converter.DataConverter`): its ``payload_converter_class``, built with
        no arguments, converts every value this client and its workers send and receive
        (the default is plait's JSON by type hints); its ``payload_codec``, if any, is taken
        as ``codec``; anything plait cannot do raises ``ValueError`` saying why.
        ``codec`` (:mod:`plait.codec`) encodes every payload this client, and every worker
        built on it, sends (arguments, results, failure details) and decodes every payload
        they receive: the server stores only what the codec made.
        ``interceptors`` wrap the client's calls (:mod:`plait.interceptor`); a worker built
        on this client also uses those that are worker interceptors too.
        The client need not be closed: an unclosed one is closed with its event loop.
        """
        codec, converter = _converters(codec, data_converter, None)
        address = address or os.environ.get("PLAIT_ADDRESS") or DEFAULT_ADDRESS
        api_key = api_key or os.environ.get("PLAIT_API_KEY") or None
        return Client(transport_for(HttpTransport(address, api_key, tls)), namespace,
                      retry_for=retry_timeout.total_seconds(), interceptors=interceptors,
                      codec=codec, payload_converter=converter)

    @property
    def address(self) -> str:
        return self.api.address

    @property
    def codec(self) -> PayloadCodec | None:
        """The payload codec this client (and its workers) use, if any."""
        return self.api.codec

    @property
    def payload_converter(self) -> PayloadConverter | None:
        """The custom payload converter this client (and its workers) use, if any."""
        return self.api.converter

    async def close(self) -> None:
        await self.api.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- workflows ----------------------------------------------------------------------------
    @overload
    async def start_workflow(self, workflow: Callable[..., Awaitable[R]], *,
                             args: Sequence[Any], **options: Unpack[StartWorkflowOptions]
                             ) -> WorkflowHandle[R]: ...

    @overload
    async def start_workflow(self, workflow: Callable[[SelfT, *Ts], Awaitable[R]],
                             *positional: *Ts, **options: Unpack[StartWorkflowOptions]
                             ) -> WorkflowHandle[R]: ...

    @overload
    async def start_workflow(self, workflow: str | type, *positional: Any,
                             **options: Unpack[StartWorkflowOptions]) -> WorkflowHandle[Any]: ...

    # mypy cannot match the *Ts overload with an implementation that also takes the args=
    # overload's ``Callable[..., R]``: the overloads are what callers are checked against.
    async def start_workflow(  # type: ignore[misc]
            self, workflow: Callable[..., Awaitable[Any]] | type | str, *positional: Any,
            **options: Any) -> WorkflowHandle[Any]:
        """Start a workflow; raises ``WorkflowAlreadyStartedError`` when its id is running.

        ``workflow`` is the ``@workflow.run`` method (``Order.run``: its arguments and result
        are type-checked) or the workflow's name; ``options`` are
        :class:`StartWorkflowOptions`."""
        return await self._start(workflow, *positional, **options)

    async def _start(
        self,
        workflow: Callable[..., Any] | type | str,
        *positional: Any,
        id: str,
        task_queue: str,
        id_reuse_policy: str = "allow_duplicate",
        id_conflict_policy: str = "fail",
        search_attributes: Mapping[str, Any] | None = None,
        memo: Mapping[str, Any] | None = None,
        execution_timeout: timedelta | None = None,
        task_timeout: timedelta = timedelta(seconds=10),
        retry_policy: RetryPolicy | None = None,
        start_signal: Callable[..., Any] | str | None = None,
        start_signal_args: Sequence[Any] = (),
        header: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        wait_result: float = 0.0,
        args: Sequence[Any] = (),
        start_delay: timedelta | None = None,
    ) -> WorkflowHandle[Any]:
        """:meth:`start_workflow`; ``wait_result`` is :meth:`execute_workflow`'s: the server
        holds the start request up to that many seconds for the result, saving a request.
        ``args=[...]`` is Temporal's spelling of several arguments."""
        name, ret_hint = _workflow_name(workflow)
        return await self._outbound.start_workflow(StartWorkflowInput(
            workflow=name, args=(*positional, *args), id=id, task_queue=task_queue,
            headers=dict(header or {}), ret_type=ret_hint,
            id_reuse_policy=str(id_reuse_policy), id_conflict_policy=str(id_conflict_policy),
            search_attributes=dict(search_attributes) if search_attributes is not None
            else None,
            memo=dict(memo) if memo is not None else None,
            execution_timeout=execution_timeout, task_timeout=task_timeout,
            retry_policy=retry_policy,
            start_signal=_handler_name(start_signal) if start_signal is not None else None,
            start_signal_args=start_signal_args, request_id=request_id,
            start_delay=start_delay, wait_result=wait_result))

    async def _start_call(self, input: StartWorkflowInput) -> WorkflowHandle[Any]:
        """The start itself, once the interceptors have seen it."""
        reuse, conflict = _id_policies(input.id_reuse_policy, input.id_conflict_policy)
        body = StartWorkflowRequest(
            workflow_id=input.id, workflow_type=input.workflow, task_queue=input.task_queue,
            input=self.api.conv.to_payloads(input.args), id_reuse_policy=reuse,
            id_conflict_policy=conflict, search_attributes=input.search_attributes,
            memo=input.memo, execution_timeout=_seconds(input.execution_timeout),
            task_timeout=_seconds(input.task_timeout), header=input.headers,
            request_id=input.request_id or str(uuid.uuid4()),
            retry_policy=wire_retry_policy(input.retry_policy),
            start_signal=SignalRequest(signal_name=input.start_signal,
                                       input=self.api.conv.to_payloads(
                                           input.start_signal_args))
            if input.start_signal is not None else None,
            wait_result=input.wait_result or None,
            start_delay=_seconds(input.start_delay) or None)
        try:
            resp = await self.api.start_workflow(body)
        except errors.WorkflowAlreadyStartedError as e:
            raise errors.WorkflowAlreadyStartedError(e.message, workflow_id=input.id) from None
        handle: WorkflowHandle[Any] = WorkflowHandle(self, input.id, resp.run_id,
                                                     ret_hint=input.ret_type,
                                                     first_run_id=resp.run_id)
        handle._outcome_at_start = resp.outcome
        return handle

    @overload
    async def execute_workflow(self, workflow: Callable[..., Awaitable[R]], *,
                               args: Sequence[Any], **options: Unpack[StartWorkflowOptions]
                               ) -> R: ...

    @overload
    async def execute_workflow(self, workflow: Callable[[SelfT, *Ts], Awaitable[R]],
                               *positional: *Ts, **options: Unpack[StartWorkflowOptions]
                               ) -> R: ...

    @overload
    async def execute_workflow(self, workflow: str | type, *positional: Any,
                               **options: Unpack[StartWorkflowOptions]) -> Any: ...

    async def execute_workflow(  # type: ignore[misc]  # (see start_workflow)
            self, workflow: Callable[..., Awaitable[Any]] | type | str, *positional: Any,
            **options: Any) -> Any:
        """Start a workflow and wait for its result: one request when it ends within
        ``EXECUTE_WAIT`` seconds (the server answers the start with the outcome)."""
        handle = await self._start(workflow, *positional, **options, wait_result=EXECUTE_WAIT)
        outcome = handle._outcome_at_start
        if outcome and outcome.closed and outcome.result is not None \
                and not outcome.result.new_execution_run_id:
            return handle._outcome(outcome.result)
        return await handle.result()

    def get_workflow_handle(self, workflow_id: str, *, run_id: str | None = None,
                            result_type: Any = Any) -> WorkflowHandle[Any]:
        return WorkflowHandle(self, workflow_id, run_id, ret_hint=result_type)

    def get_workflow_handle_for(self, workflow: Callable[..., Awaitable[R]], workflow_id: str,
                                *, run_id: str | None = None) -> WorkflowHandle[R]:
        """A handle whose :meth:`WorkflowHandle.result` is decoded (and typed) as
        ``workflow``'s result."""
        _, ret_hint = _workflow_name(workflow)
        return WorkflowHandle(self, workflow_id, run_id, ret_hint=ret_hint)

    # -- rate limits ---------------------------------------------------------------------
    async def set_rate_limit(self, task_queue: str, activity_type: str | None = None, *,
                             per_second: float, burst: float = 1, per_key: bool = False
                             ) -> None:
        """Limit activity starts on a queue (every server and worker shares the budget);
        with ``per_key`` each ``rate_limit_key`` of ``execute_activity`` has its own."""
        await self.api.set_rate_limit(RateLimit(
            task_queue=task_queue, activity_type=activity_type, per_second=per_second,
            burst=burst, per_key=per_key))

    async def list_rate_limits(self) -> list[dict[str, Any]]:
        """Every limit, each as ``set_rate_limit`` was given it (plain JSON values)."""
        return [msgspec.to_builtins(limit) for limit in await self.api.list_rate_limits()]

    async def delete_rate_limit(self, task_queue: str, activity_type: str | None = None) -> None:
        await self.api.delete_rate_limit(task_queue, activity_type)

    async def describe_task_queue(self, task_queue: str) -> TaskQueueDescription:
        """The workers polling ``task_queue`` (``pollers``) and the tasks waiting on it
        (``backlog``, per kind): no pollers while tasks wait means nothing runs them."""
        return await self.api.describe_task_queue(task_queue)

    def get_async_activity_handle(self, task_token: str) -> AsyncActivityHandle:
        """Complete, fail or heartbeat an activity that called ``raise_complete_async()``."""
        return AsyncActivityHandle(self, task_token)

    async def list_workflows(self, *, workflow_type: str | None = None, status: str | None = None,
                             search_attributes: Mapping[str, Any] | None = None,
                             started_after: dt.datetime | None = None,
                             started_before: dt.datetime | None = None,
                             page_size: int = 500) -> AsyncIterator[WorkflowExecution]:
        """Runs, newest first, filtered; pages are fetched as you iterate.

        ``search_attributes`` matches runs whose attributes equal every given value (JSON
        equality: ``1`` matches ``1.0``, but not ``"1"`` nor ``True``)."""
        params = _filter_params(workflow_type, status, search_attributes, started_after,
                                started_before)
        params["page_size"] = str(page_size)
        while True:
            page = await self.api.list_workflows(params)
            for summary in page.workflows:
                yield WorkflowExecution.from_summary(summary)
            if not page.next_page_token:
                return
            params["next_page_token"] = page.next_page_token

    async def count_workflows(self, *, workflow_type: str | None = None,
                              status: str | None = None,
                              search_attributes: Mapping[str, Any] | None = None,
                              started_after: dt.datetime | None = None,
                              started_before: dt.datetime | None = None) -> int:
        """How many runs :meth:`list_workflows` would give for the same filters."""
        params = _filter_params(workflow_type, status, search_attributes, started_after,
                                started_before)
        return await self.api.count_workflows(params)

    # -- schedules (API.md "Schedules") ---------------------------------------------------------
    async def create_schedule(self, schedule_id: str,
                              workflow: Callable[..., Any] | type | str, *args: Any,
                              task_queue: str, cron: str | None = None,
                              interval: timedelta | float | None = None,
                              timezone: str = "UTC", overlap: str = "skip",
                              catchup_window: timedelta | float = timedelta(days=365),
                              **options: Any) -> ScheduleHandle:
        """Create a schedule that starts ``workflow(*args)`` on ``cron`` (5 fields, or 6 with
        seconds first, in ``timezone``) or every ``interval`` (aligned to the epoch plus
        ``offset``). ``options``: offset, jitter, start_at, end_at, limited_actions, paused,
        note, workflow_id (the runs' id prefix), search_attributes, memo, execution_timeout,
        retry_policy. Raises ``ScheduleAlreadyExistsError``, or ``ValueError`` naming an
        invalid field (nothing is stored then)."""
        name, _ = _workflow_name(workflow)
        body = create_request(schedule_id, {
            "workflow_type": name, "input": self.api.conv.to_payloads(args),
            "task_queue": task_queue,
            "cron": cron, "interval": interval, "timezone": timezone, "overlap": overlap,
            "catchup_window": catchup_window, **options})
        await refused_as_value_error(self.api.create_schedule(body))
        return ScheduleHandle(self.api, schedule_id)

    def get_schedule_handle(self, schedule_id: str) -> ScheduleHandle:
        return ScheduleHandle(self.api, schedule_id)

    async def list_schedules(self, *, page_size: int = 500) -> AsyncIterator[ScheduleListEntry]:
        """Every schedule of the namespace, in id order; pages are fetched as you iterate."""
        params = {"page_size": str(page_size)}
        while True:
            page = await self.api.list_schedules(params)
            for entry in page.schedules:
                yield ScheduleListEntry.from_wire(entry)
            if not page.next_page_token:
                return
            params["next_page_token"] = page.next_page_token

    # -- batch jobs (API.md "Operating running workflows") --------------------------------------
    async def start_batch(self, operation: str, *, workflow_type: str | None = None,
                          status: str | None = None,
                          search_attributes: Mapping[str, Any] | None = None,
                          started_after: dt.datetime | None = None,
                          started_before: dt.datetime | None = None, reason: str = "",
                          signal: Callable[..., Any] | str | None = None,
                          args: Sequence[Any] = (), reset_to: int | str | None = None,
                          reapply_signals: bool = True,
                          rate_per_second: float | None = None) -> BatchHandle:
        """Start a durable job that applies ``operation`` ("terminate", "cancel", "signal",
        "reset", "pause" or "unpause") to every run the filters match now (the filters of
        :meth:`list_workflows`; runs started later are not included). All but reset act on
        running runs. ``signal``: the signal (a handler or its name) and
        ``args`` its arguments; ``reset_to``: an event id or "first_workflow_task" /
        "last_workflow_task". The server acts on at most ``rate_per_second`` runs a second
        (default 50), survives restarts, and acts on each run once. Returns at once;
        ``await job.wait()`` until it has ended. A request the server refuses (a signal
        batch without a signal, a reset before the server can reset) raises ``RPCError``
        (400) saying why."""
        body = start_request(
            operation, workflow_type=workflow_type, status=status,
            search_attributes=search_attributes, started_after=started_after,
            started_before=started_before, reason=reason,
            signal=_handler_name(signal) if signal is not None else None, args=args,
            reset_to=reset_to, reapply_signals=reapply_signals,
            rate_per_second=rate_per_second, to_payloads=self.api.conv.to_payloads)
        desc = await self.api.start_batch(body)
        return BatchHandle(self.api, desc.batch_id)

    def get_batch_handle(self, batch_id: str) -> BatchHandle:
        return BatchHandle(self.api, batch_id)

    async def list_batches(self, *, page_size: int = 100) -> AsyncIterator[BatchDescription]:
        """The namespace's batch jobs, newest first; pages are fetched as you iterate."""
        params = {"page_size": str(page_size)}
        while True:
            page = await self.api.list_batches(params)
            for d in page.batches:
                yield BatchDescription.from_wire(d)
            if not page.next_page_token:
                return
            params["next_page_token"] = page.next_page_token

    # -- namespaces (server-wide: any namespace, whichever this client is bound to) -----------
    async def create_namespace(self, name: str, *, retention: timedelta | None = None,
                               description: str = "") -> NamespaceDescription:
        """Create a namespace (an admin key for ``*`` on a server with ``--auth``);
        ``retention``: how long closed runs are kept (default: the server's, 7 days). A name
        that exists raises ``RPCError`` (``namespace_already_exists``)."""
        info = await self.api.create_namespace(CreateNamespaceRequest(
            name=name, retention=_seconds(retention), description=description))
        return NamespaceDescription.from_wire(info)

    async def list_namespaces(self) -> list[NamespaceDescription]:
        """Every namespace (those the API key covers, with ``--auth``), by name."""
        return [NamespaceDescription.from_wire(n) for n in await self.api.list_namespaces()]

    async def describe_namespace(self, name: str) -> NamespaceDescription:
        """``NamespaceNotFoundError`` if it was never created."""
        return NamespaceDescription.from_wire(await self.api.describe_namespace(name))

    async def update_namespace(self, name: str, *, retention: timedelta | None = None,
                               description: str | None = None) -> NamespaceDescription:
        """Change what is given; the rest is kept."""
        return NamespaceDescription.from_wire(await self.api.update_namespace(
            name, UpdateNamespaceRequest(retention=_seconds(retention),
                                         description=description)))


@dataclasses.dataclass(frozen=True)
class NamespaceDescription:
    name: str
    retention: timedelta
    """How long a closed run is kept."""
    description: str
    created_at: dt.datetime | None
    """None for a namespace older than explicit creation."""

    @staticmethod
    def from_wire(info: NamespaceInfo) -> NamespaceDescription:
        return NamespaceDescription(info.name, timedelta(seconds=info.retention),
                                    info.description,
                                    _utc(info.created_at) if info.created_at else None)


class AsyncActivityHandle:
    """An activity attempt completed from outside its worker (by its task token)."""

    def __init__(self, client: Client, task_token: str) -> None:
        self.client = client
        self.task_token = task_token

    async def complete(self, result: Any = None) -> None:
        payload = self.client.api.conv.to_payload(result)
        codec = self.client.api.codec
        if codec is not None:
            payload = (await encode_payloads(codec, [payload]))[0]
        await self.client.api.complete("activity_complete",
                                       {"token": self.task_token, "result": payload})

    async def fail(self, error: BaseException) -> None:
        """Fail the attempt; the server retries it per the activity's retry policy."""
        from plait.protocol.failure import from_exception

        failure: Any = from_exception(error)
        codec = self.client.api.codec
        if codec is not None:
            failure = await encode_message(codec, msgspec.convert(failure, common.Failure))
        await self.client.api.complete("activity_fail", {"token": self.task_token,
                                                         "failure": failure})

    async def heartbeat(self, *details: Any) -> None:
        api = self.client.api
        await api.heartbeat_activity(self.task_token, api.conv.to_payloads(details))


def _filter_params(workflow_type: str | None, status: str | None,
                   search_attributes: Mapping[str, Any] | None,
                   started_after: dt.datetime | None,
                   started_before: dt.datetime | None) -> dict[str, str]:
    params: dict[str, str] = {}
    if workflow_type:
        params["type"] = workflow_type
    if status:
        params["status"] = status
    if search_attributes:
        params["search_attributes"] = dumps_str(dict(search_attributes))
    if started_after:
        params["started_after"] = str(started_after.timestamp())
    if started_before:
        params["started_before"] = str(started_before.timestamp())
    return params


def _converters(codec: PayloadCodec | None, data_converter: object,
                converter: PayloadConverter | None
                ) -> tuple[PayloadCodec | None, PayloadConverter | None]:
    """The codec and payload converter a client asked for, each given once."""
    if data_converter is None:
        return codec, converter
    from plait.converter import check_data_converter

    converter_codec, made = check_data_converter(data_converter)
    if converter_codec is not None:
        if codec is not None and codec is not converter_codec:
            raise ValueError("give the payload codec once: codec= or "
                             "data_converter=DataConverter(payload_codec=...)")
        codec = converter_codec
    if made is not None:
        if converter is not None:
            raise ValueError("give the payload converter once: payload_converter= or "
                             "data_converter=DataConverter(payload_converter_class=...)")
        converter = made
    return codec, converter


def _result_hint(handler: Callable[..., Any] | str, result_type: Any) -> Any:
    """How to decode a query's or update's result: as asked, else as the handler returns."""
    from plait.protocol.payload import hints_of

    if result_type is not None:
        return result_type
    return Any if isinstance(handler, str) else hints_of(handler)[1]


def _id_policies(reuse: str, conflict: str) -> tuple[IdReusePolicy, IdConflictPolicy]:
    """Temporal's reuse policy ``TERMINATE_IF_RUNNING`` is plait's conflict policy
    ``terminate_existing`` (with duplicates allowed); every other value is plait's own name,
    and one that is none is the server's 400, as it always was."""
    if reuse == "terminate_if_running":
        return IdReusePolicy.ALLOW_DUPLICATE, IdConflictPolicy.TERMINATE_EXISTING
    return wire_member(IdReusePolicy, reuse), wire_member(IdConflictPolicy, conflict)


def _handler_name(handler: Callable[..., Any] | str) -> str:
    """A signal/query/update given by name or by its decorated method."""
    if isinstance(handler, str):
        return handler
    for marker in ("__plait_signal__", "__plait_query__", "__plait_update__"):
        name = getattr(handler, marker, None)
        if isinstance(name, str):
            return name
    raise TypeError(f"{handler!r} is not a signal, query or update handler")


def _workflow_name(workflow: Callable[..., Any] | type | str) -> tuple[str, Any]:
    if isinstance(workflow, str):
        return workflow, Any
    d = workflow_defn_of(workflow)
    return d.name, d.ret_hint


class WorkflowUpdateHandle:
    """An update sent with :meth:`WorkflowHandle.start_update`: ``await result()``."""

    def __init__(self, workflow: WorkflowHandle[Any], update_id: str, run_id: str | None,
                 result_type: Any) -> None:
        self.workflow = workflow
        self.id = update_id
        self.workflow_id = workflow.id
        self.workflow_run_id = run_id
        self._hint = result_type
        self._final: UpdateOutcome | None = None

    async def result(self) -> Any:
        """The handler's result (waits while it runs); ``UpdateFailedError`` if the
        validator rejected it or the handler raised."""
        return await self.workflow._update_outcome(self._final, self.id, self._hint,
                                                   self.workflow_run_id)

    async def _until_accepted(self, resp: UpdateOutcome) -> UpdateOutcome:
        """Wait until the update left the ``requested`` stage: the server holds each request
        until the update is accepted (or final), up to 30 s, so this asks again only when
        the workflow took longer than that to accept it."""
        while resp.status is UpdateStatus.REQUESTED:
            resp = await self.workflow.client.api.update_outcome(
                self.workflow_id, self.workflow_run_id, self.id, wait=30,
                wait_for_stage="accepted")
        return resp


class WorkflowHandle(Generic[R]):
    """A workflow by id (and run); without a run id, calls go to the latest run. ``R`` is
    what :meth:`result` returns (typed when the handle came from ``start_workflow(Wf.run,
    ...)``)."""

    def __init__(self, client: Client, workflow_id: str, run_id: str | None = None, *,
                 ret_hint: Any = Any, first_run_id: str | None = None) -> None:
        self.client = client
        self.id = workflow_id
        self.run_id = run_id
        self.first_run_id = first_run_id
        self._ret_hint = ret_hint
        self._outcome_at_start: WorkflowResult | None = None

    async def result(self, *, timeout: timedelta | None = None) -> R:
        """Wait for the run to close; its result, or ``WorkflowFailureError`` with the cause."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout.total_seconds() if timeout else None
        run_id = self.run_id
        while True:
            wait = 30.0 if deadline is None else max(0.0, min(30.0, deadline - loop.time()))
            resp = await self.client.api.workflow_result(self.id, run_id, wait=wait)
            if resp.closed:
                nxt = resp.result.new_execution_run_id if resp.result else None
                if nxt:  # continued as new, or failed and retried: follow to the last run
                    run_id = nxt
                    continue
                return self._outcome(resp.result)
            if deadline is not None and loop.time() >= deadline:
                raise TimeoutError(f"workflow {self.id} still running")

    def _outcome(self, r: WorkflowOutcome | None) -> R:
        if r is None:  # closed without an outcome: no server of this protocol answers so
            raise errors.WorkflowFailureError("workflow closed without an outcome")
        status = r.status
        if status is WorkflowStatus.COMPLETED:
            result: R = self.client.api.conv.from_payload(r.result, self._ret_hint)
            return result
        if status is WorkflowStatus.FAILED:
            cause: BaseException = to_exception(_failure(r.failure))
            raise errors.WorkflowFailureError("workflow failed", cause=cause)
        if status is WorkflowStatus.TERMINATED:
            raise errors.WorkflowFailureError("workflow terminated", cause=errors.TerminatedError(
                r.reason or "terminated"))
        if status is WorkflowStatus.TIMED_OUT:
            raise errors.WorkflowFailureError("workflow timed out", cause=errors.TimeoutError(
                "workflow execution timeout", timeout_type="execution"))
        if status is WorkflowStatus.CANCELED:
            raise errors.WorkflowFailureError("workflow cancelled",
                                              cause=errors.CancelledError("cancelled"))
        raise errors.WorkflowFailureError(f"workflow closed as {status}")

    async def describe(self) -> WorkflowExecutionDescription:
        desc = await self.client.api.describe_workflow(self.id, self.run_id)
        return WorkflowExecutionDescription.from_description(desc)

    async def fetch_history(self) -> History:
        raw = await self.client.api.workflow_history(self.id, self.run_id)
        return History.from_dict(raw)

    async def signal(self, signal: Callable[..., Any] | str, *positional: Any,
                     request_id: str | None = None, args: Sequence[Any] = ()) -> None:
        """Deliver a signal; it is durable once this returns, and handled in order.
        (``args=[...]``, here and on queries and updates: Temporal's spelling of several
        arguments, after any positional ones.)"""
        await self.client._outbound.signal_workflow(SignalWorkflowInput(
            workflow_id=self.id, run_id=self.run_id, signal=_handler_name(signal),
            args=(*positional, *args), headers={}, request_id=request_id))

    async def query(self, query: Callable[..., Any] | str, *positional: Any,
                    timeout: timedelta = timedelta(seconds=10), args: Sequence[Any] = (),
                    result_type: Any = None, as_of_event: int | None = None) -> Any:
        """Read the workflow's state through its query handler (answered by a worker, from
        its cache or by replay); nothing is written to the history. The result is decoded
        as ``result_type``, by default the handler's return type. With ``as_of_event``, the
        state as it was right after that event of the history (a worker replays the history
        up to the last workflow task completed by then). ``"__stack_trace"`` is answered by
        every workflow: where each of its coroutines waits, a ``file:line in function`` a
        line."""
        return await self.client._outbound.query_workflow(QueryWorkflowInput(
            workflow_id=self.id, run_id=self.run_id, query=_handler_name(query),
            args=(*positional, *args), headers={}, ret_type=_result_hint(query, result_type),
            timeout=timeout, as_of_event=as_of_event))

    async def execute_update(self, update: Callable[..., Any] | str, *positional: Any,
                             id: str | None = None, args: Sequence[Any] = (),
                             result_type: Any = None) -> Any:
        """Send an update and wait for its handler's result; ``UpdateFailedError`` if the
        validator rejected it or the handler raised. The id makes it idempotent."""
        handle = await self.start_update(update, *positional, id=id, args=args,
                                         result_type=result_type,
                                         wait_for_stage=WorkflowUpdateStage.COMPLETED)
        return await handle.result()

    async def get_update_result(self, update_id: str, *, result_type: Any = Any) -> Any:
        """The outcome of an earlier update (waits while it is still running)."""
        return await self._update_outcome(None, update_id, result_type)

    async def start_update(self, update: Callable[..., Any] | str, *positional: Any,
                           wait_for_stage: WorkflowUpdateStage | str,
                           id: str | None = None, args: Sequence[Any] = (),
                           result_type: Any = None) -> WorkflowUpdateHandle:
        """Send an update and return its handle once it reached ``wait_for_stage``:
        ``"admitted"`` (the server has it), ``"accepted"`` (its validator passed and it is in
        the history; a rejection raises ``UpdateFailedError`` here) or ``"completed"``.
        ``await handle.result()`` waits for the handler's result."""
        stage = WorkflowUpdateStage(wait_for_stage)
        return await self.client._outbound.start_workflow_update(StartWorkflowUpdateInput(
            workflow_id=self.id, run_id=self.run_id, update=_handler_name(update),
            update_id=id or str(uuid.uuid4()), args=(*positional, *args), headers={},
            ret_type=_result_hint(update, result_type), wait_for_stage=stage.value))

    async def _start_update_call(self, input: StartWorkflowUpdateInput) -> WorkflowUpdateHandle:
        """The update itself, once the interceptors have seen it."""
        stage = WorkflowUpdateStage(input.wait_for_stage)
        uid = input.update_id
        resp = await self.client.api.update_workflow(self.id, UpdateRequest(
            update_id=uid, update_name=input.update,
            input=self.client.api.conv.to_payloads(input.args),
            run_id=input.run_id, header=input.headers or None,
            wait=0 if stage is WorkflowUpdateStage.ADMITTED else 30,
            wait_for_stage="accepted" if stage is WorkflowUpdateStage.ACCEPTED else None))
        handle = WorkflowUpdateHandle(self, uid, resp.run_id or input.run_id, input.ret_type)
        if stage is WorkflowUpdateStage.ADMITTED:
            return handle
        if stage is WorkflowUpdateStage.ACCEPTED:
            resp = await handle._until_accepted(resp)
        if resp.status not in _NOT_FINAL:
            handle._final = resp
            if resp.status is UpdateStatus.REJECTED:  # as execute_update would have raised
                await handle.result()
        return handle

    def get_update_handle(self, update_id: str, *, workflow_run_id: str | None = None,
                          result_type: Any = Any) -> WorkflowUpdateHandle:
        """A handle on an earlier update, by its id."""
        return WorkflowUpdateHandle(self, update_id, workflow_run_id or self.run_id,
                                    result_type)

    async def _update_outcome(self, resp: UpdateOutcome | None, uid: str, hint: Any,
                              run_id: str | None = None) -> Any:
        # Poll the run that took the update, even if the workflow has moved on to a new run.
        run = run_id or self.run_id
        while resp is None or resp.status in _NOT_FINAL:
            resp = await self.client.api.update_outcome(self.id, run, uid, wait=30)
        if resp.status is UpdateStatus.COMPLETED and resp.failure is None:
            return self.client.api.conv.from_payload(resp.result, hint)
        cause = to_exception(_failure(resp.failure))
        what = "rejected" if resp.status is UpdateStatus.REJECTED else "failed"
        raise errors.UpdateFailedError(f"update {uid} {what}", cause=cause)

    async def cancel(self, reason: str = "") -> None:
        """Ask the workflow to cancel: it sees ``asyncio.CancelledError`` at its current await
        and may run compensations before it ends as CANCELED."""
        await self.client.api.cancel_workflow(self.id, CancelRequest(
            reason=reason, run_id=self.run_id, request_id=str(uuid.uuid4())))

    async def terminate(self, reason: str = "terminated") -> None:
        await self.client.api.terminate_workflow(self.id, TerminateRequest(
            reason=reason, run_id=self.run_id, request_id=str(uuid.uuid4())))

    async def pause(self, reason: str = "") -> None:
        """Pause the run: no workflow task and no new activity attempt of it is handed out
        until :meth:`unpause` (running attempts finish; timers fire; signals and updates are
        kept). On a closed run: ``RPCError`` with code ``workflow_not_running`` (409)."""
        await self.client.api.pause_workflow(self.id, PauseRequest(
            reason=reason or None, run_id=self.run_id, request_id=str(uuid.uuid4())))

    async def unpause(self) -> None:
        """Let a paused run go on."""
        await self.client.api.unpause_workflow(self.id, UnpauseRequest(
            run_id=self.run_id, request_id=str(uuid.uuid4())))

    async def reset(self, event_id: int | None = None, *,
                    to: Literal["first_workflow_task", "last_workflow_task"] | None = None,
                    reason: str = "", reapply_signals: bool = True) -> str:
        """Reset the run (this handle's, else the latest) to ``event_id`` (a
        ``WORKFLOW_TASK_COMPLETED``, or the first ``WORKFLOW_TASK_SCHEDULED``) or to the
        first or last workflow task; returns the new run's id.

        The workflow's running run is terminated (the reason names the reset) and a new run
        of the same workflow id replays the history up to that point on the workers' current
        code: the workflow task completed at the point runs again (a ``workflow.patched``
        branch is taken there), nothing before it does; activities and timers pending then
        are pending again. Signals received after the point are delivered again when
        ``reapply_signals``. ``describe()`` links the runs (``reset_to_run_id`` /
        ``reset_from_run_id``). A point that is not a reset point: ``RPCError`` (400)."""
        if (event_id is None) == (to is None):
            raise ValueError("reset needs exactly one of event_id and to")
        if to is not None and to not in ("first_workflow_task", "last_workflow_task"):
            raise ValueError(f"to must be 'first_workflow_task' or 'last_workflow_task', "
                             f"not {to!r}")
        ref = await self.client.api.reset_workflow(self.id, ResetRequest(
            event_id=event_id, to=to, reason=reason or None,
            reapply_signals=reapply_signals, run_id=self.run_id,
            request_id=str(uuid.uuid4())))
        return ref.run_id

    async def delete(self) -> None:
        """Delete the run with its history, attempt log and visibility rows (a running run
        is terminated first). Afterwards describe and history raise not-found."""
        await self.client.api.delete_workflow(self.id, self.run_id, str(uuid.uuid4()))

    async def pause_activity(self, activity_id: str) -> None:
        """No new attempt of the activity starts until :meth:`unpause_activity` (a running
        attempt goes on)."""
        await self._control_activity(activity_id, "pause")

    async def unpause_activity(self, activity_id: str) -> None:
        await self._control_activity(activity_id, "unpause")

    async def reset_activity(self, activity_id: str) -> None:
        """Start the activity's attempt count again at 1, with a new attempt now (a running
        attempt's result is still taken; should it fail, the next attempt is the first)."""
        await self._control_activity(activity_id, "reset")

    async def _control_activity(self, activity_id: str, action: str) -> None:
        await self.client.api.control_activity(self.id, activity_id, action,
                                               ActivityControlRequest(
                                                   run_id=self.run_id,
                                                   request_id=str(uuid.uuid4())))


class _ClientCalls(ClientOutboundInterceptor):
    """The innermost link of the client's interceptor chain: the calls themselves."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any]:
        return await self.client._start_call(input)

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        await self.client.api.signal_workflow(input.workflow_id, SignalRequest(
            signal_name=input.signal, input=self.client.api.conv.to_payloads(input.args),
            run_id=input.run_id,
            request_id=input.request_id or str(uuid.uuid4()), header=input.headers or None))

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        resp = await self.client.api.query_workflow(input.workflow_id, QueryRequest(
            query_name=input.query, input=self.client.api.conv.to_payloads(input.args),
            run_id=input.run_id,
            timeout=input.timeout.total_seconds(), as_of_event=input.as_of_event,
            header=input.headers or None))
        return self.client.api.conv.from_payload(resp.result, input.ret_type)

    async def start_workflow_update(self, input: StartWorkflowUpdateInput
                                    ) -> WorkflowUpdateHandle:
        handle = self.client.get_workflow_handle(input.workflow_id, run_id=input.run_id)
        return await handle._start_update_call(input)
