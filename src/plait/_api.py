"""The server's HTTP API as the client and workers call it: one method per endpoint.

This is the only place that knows URLs. Every path segment that carries a name (namespace,
workflow id, task queue, update id, session id) is quoted whole, so a queue named
``team/orders`` or a workflow id ``a/b?c#d é`` is one segment on the wire, never URL syntax.
It also owns the retry rule: a request is repeated after a connection failure, a 503 or a 429
``rate_limited`` (its API key is over the server's ``--key-rate-limit``), with
the :class:`Backoff` of :attr:`Api.backoff`, for up to :attr:`Api.retry_for` seconds, only
when repeating it is harmless: reads, and writes that carry a request id (the server
deduplicates them) or a fencing token (a repeat is rejected, never applied twice). Requests
that must not wait (long-polls, lease heartbeats) are sent once and their callers decide; the
completion batcher repeats one item answered 503 under the same rule. Bodies are JSON
exactly as the server reads them.

The client-facing methods take the request structs of :mod:`plait.protocol` and return its
response structs, each decoded once from the response's bytes by :func:`decode_as`; a
response may carry fields this client does not know (the structs ignore them).

With a payload codec (:attr:`Api.codec`), every payload of a request struct is encoded before
it is sent and every payload of a response struct decoded when it arrives, here, so the
client's and the worker's code above deal in plain envelopes only; the bodies the worker
encodes itself (heartbeats, query answers) are encoded here too, and its completions in
:mod:`plait._worker.completions`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, Literal, TypeVar, cast
from urllib.parse import quote

import msgspec

from plait import errors
from plait._backoff import Backoff
from plait._payloads import decode_message, decode_messages, encode_message, encode_payloads
from plait.codec import PayloadCodec
from plait.converter import Conversions, PayloadConverter
from plait.protocol.batches import (
    BatchDescription,
    BatchList,
    CancelBatchRequest,
    StartBatchRequest,
)
from plait.protocol.common import Payload, RunRef
from plait.protocol.completions import (
    ActivityCancelRequested,
    HeartbeatActivityRequest,
    RespondQueryRequest,
    TokenRequest,
)
from plait.protocol.enums import TaskKind
from plait.protocol.history import Event
from plait.protocol.jsoncodec import dumps, loads
from plait.protocol.ratelimits import RateLimit, RateLimits
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
    Count,
    QueryResponse,
    StartWorkflowResponse,
    TaskQueueDescription,
    UpdateOutcome,
    WorkflowDescription,
    WorkflowList,
    WorkflowResult,
)
from plait.protocol.schedules import (
    BackfillRequest,
    CreateScheduleRequest,
    NoteRequest,
    Scheduled,
    ScheduleDescription,
    ScheduleList,
    ScheduleUpdate,
    TriggerRequest,
)
from plait.protocol.sessions import (
    HeartbeatSessionRequest,
    OpenSessionRequest,
    PollRequest,
    SessionOpened,
)
from plait.protocol.tenancy import (
    ApiKeyInfo,
    ApiKeyList,
    CreateApiKeyRequest,
    CreatedApiKey,
    CreateNamespaceRequest,
    NamespaceInfo,
    NamespaceList,
    RevokedApiKey,
    UpdateNamespaceRequest,
)
from plait.protocol.transport import Request, Response, Transport, Unreachable
from plait.runtime.wire import BatchAnswer, PolledTask, decode_events, decode_tasks, encode

__all__ = ["API", "Api", "CompletionKind", "Json", "decode_as", "error_of", "wire_member"]

log = logging.getLogger("plait.client")
API = "/api/v1"
Json = dict[str, Any]

HISTORY_PAGE = 2_000
"""Events per history request. A run may hold 50,000 events (tens of MB): read in one answer,
the server would load, encode and send it in one stretch of its event loop, holding up every
other request meanwhile (29-41 ms for 15.7 MB here, 6-7 ms in these pages:
``bench/results/long-history.md``)."""
CompletionKind = Literal["workflow_complete", "workflow_fail", "activity_complete",
                         "activity_fail"]
COMPLETION_ROUTES: dict[CompletionKind, str] = {"workflow_complete": "/workflow-tasks/complete",
                     "workflow_fail": "/workflow-tasks/fail",
                     "activity_complete": "/activity-tasks/complete",
                     "activity_fail": "/activity-tasks/fail"}
"""The route of each completion kind when it travels alone (too large for a batch)."""


T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)
_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def decode_as(kind: type[T], data: bytes) -> T:
    """The one place a response's bytes become its struct (validated while decoded; fields
    the struct does not declare are skipped). Raises ``msgspec.DecodeError`` (a
    ``ValidationError`` when the JSON does not fit)."""
    decoder = _DECODERS.get(kind)
    if decoder is None:
        decoder = _DECODERS[kind] = msgspec.json.Decoder(kind)
    value: T = decoder.decode(data)
    return value


def wire_member(kind: type[E], name: str) -> E:
    """A user's policy name as ``kind``'s member. A name that is none travels as it was given,
    so the server refuses it (400 naming the field), as it always did: the server is the one
    place that judges a request."""
    try:
        return kind(name)
    except ValueError:
        return cast(E, name)


def seg(value: str) -> str:
    """One path segment: nothing in a name is URL syntax."""
    return quote(value, safe="")


class Api:
    """The endpoints of one namespace on one server, over a :class:`Transport`."""

    def __init__(self, transport: Transport, namespace: str = "default", *,
                 retry_for: float = 60.0,
                 backoff: Callable[[], Backoff] = Backoff,
                 codec: PayloadCodec | None = None,
                 converter: PayloadConverter | None = None) -> None:
        self.transport = transport
        self.codec = codec
        """Encodes the payloads sent and decodes those received (None: they travel as the
        converter made them)."""
        self.converter = converter
        """The custom payload converter of this client and its workers (None: plait's JSON)."""
        self.conv = Conversions.of(converter)
        """How values become payloads and back, for everything built on this connection."""
        self.namespace = namespace
        self.retry_for = retry_for
        """Seconds a retried request keeps trying through an outage before it raises."""
        self.backoff = backoff
        self._ns = f"{API}/namespaces/{seg(namespace)}"

    @property
    def address(self) -> str:
        return self.transport.address

    async def close(self) -> None:
        await self.transport.close()

    # -- the one request loop -----------------------------------------------------------------
    async def call(self, method: str, path: str, body: Any = None, *,
                   params: Mapping[str, str] | None = None, retry: bool = True,
                   timeout: float = 70.0, decoder: Callable[[bytes], Any] | None = None
                   ) -> Any:
        """One API call (``path`` already quoted); ``body`` is a JSON-able value (a struct
        too) or bytes already encoded. Raises the typed error of the API's error shape.
        ``decoder`` reads a successful response's body (straight into its wire struct); the
        default gives plain JSON values."""
        response = await self._send(method, path, body, params=params, retry=retry,
                                    timeout=timeout)
        if decoder is not None:
            return decoder(response.body)
        return loads(response.body) if response.body else None

    async def call_as(self, kind: type[T], method: str, path: str, body: Any = None, *,
                      params: Mapping[str, str] | None = None, retry: bool = True,
                      timeout: float = 70.0, what: str | None = None) -> T:
        """:meth:`call`, its answer decoded as ``kind``; an answer that is not one is an
        ``RPCError`` (code ``bad_response``) naming the route. With a codec, the request's
        payloads are encoded and the answer's decoded. ``what`` names the operation in a
        ``PayloadTooLargeError``."""
        codec = self.codec
        if codec is not None and isinstance(body, msgspec.Struct):
            body = await encode_message(codec, body)
        response = await self._send(method, path, body, params=params, retry=retry,
                                    timeout=timeout, what=what)
        try:
            answer = decode_as(kind, response.body)
        except msgspec.DecodeError as exc:
            raise errors.RPCError(
                f"unexpected answer to {method} {path} from {self.address}: {exc}",
                status=response.status, code="bad_response") from exc
        if codec is not None and isinstance(answer, msgspec.Struct):
            answer = await decode_message(codec, answer)
        return answer

    async def _send(self, method: str, path: str, body: Any, *,
                    params: Mapping[str, str] | None, retry: bool,
                    timeout: float, what: str | None = None) -> Response:
        """The request loop: the first answer below 400 (repeated as :attr:`retry_for`
        allows), else the typed error."""
        data = body if isinstance(body, bytes) or body is None else dumps(body)
        request = Request(method, path, params, data, timeout)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + (self.retry_for if retry else 0.0)
        backoff: Backoff | None = None  # made at the first failure: most calls never fail
        while True:
            try:
                response = await self.transport.send(request)
            except Unreachable as exc:
                failure: errors.PlaitError = errors.RPCError(
                    f"cannot reach plait server at {self.address}: {exc}", status=0,
                    code="unavailable")
                failure.__cause__ = exc
            else:
                if response.status < 400:
                    return response
                failure = _error(response)
                if what is not None and isinstance(failure, errors.PayloadTooLargeError):
                    raise _too_large(failure, what, len(data or b""))
                # A key over the server's rate did nothing yet: like a 503, wait and repeat.
                if response.status != 503 and not _rate_limited(failure):
                    raise failure
            backoff = backoff or self.backoff()
            delay = backoff.next()
            if not retry or loop.time() + delay > give_up:
                raise failure
            log.debug("retrying %s %s in %.2f s after %s", method, path, delay, failure)
            await asyncio.sleep(delay)

    # -- paths --------------------------------------------------------------------------------
    def _wf(self, workflow_id: str) -> str:
        return f"{self._ns}/workflows/{seg(workflow_id)}"

    # -- workflows ----------------------------------------------------------------------------
    async def start_workflow(self, body: StartWorkflowRequest) -> StartWorkflowResponse:
        """Start (or signal-with-start); with ``body.wait_result`` the server holds the answer
        up to that long for the outcome."""
        what = (f"the signal-with-start ({body.start_signal.signal_name!r}) of workflow "
                if body.start_signal else "the start of workflow ")
        return await self.call_as(StartWorkflowResponse, "POST", f"{self._ns}/workflows", body,
                                  timeout=(body.wait_result or 0.0) + 40.0,
                                  what=f"{what}{body.workflow_id!r} ({body.workflow_type})")

    async def list_workflows(self, params: Mapping[str, str]) -> WorkflowList:
        return await self.call_as(WorkflowList, "GET", f"{self._ns}/workflows", params=params)

    async def count_workflows(self, params: Mapping[str, str]) -> int:
        resp = await self.call_as(Count, "GET", f"{self._ns}/workflow-count", params=params)
        return resp.count

    async def describe_workflow(self, workflow_id: str, run_id: str | None
                                ) -> WorkflowDescription:
        return await self.call_as(WorkflowDescription, "GET", self._wf(workflow_id),
                                  params=_run(run_id))

    async def workflow_history(self, workflow_id: str, run_id: str | None) -> Json:
        """The history document as plain JSON: the runtime replays event dicts and
        :class:`plait.History` keeps every attribute exactly as stored. Read
        :data:`HISTORY_PAGE` events at a time; pages after the first name the run the first
        one was of (a new run cannot slip in between)."""
        path = self._wf(workflow_id) + "/history"
        doc: Json = await self.call("GET", path, params=_page(run_id, 0))
        events: list[Json] = doc["events"]
        page = events
        while len(page) == HISTORY_PAGE:
            page = (await self.call("GET", path, params=_page(doc["run_id"],
                                                              events[-1]["event_id"])))["events"]
            events.extend(page)
        return doc

    async def workflow_result(self, workflow_id: str, run_id: str | None, *,
                              wait: float) -> WorkflowResult:
        """The run's outcome once closed (``closed`` false if it did not close in ``wait``)."""
        return await self.call_as(WorkflowResult, "GET", self._wf(workflow_id) + "/result",
                                  params={"wait": str(wait), **_run(run_id)})

    async def signal_workflow(self, workflow_id: str, body: SignalRequest) -> RunRef:
        return await self.call_as(RunRef, "POST", self._wf(workflow_id) + "/signal", body,
                                  what=f"the signal {body.signal_name!r} to workflow "
                                       f"{workflow_id!r}")

    async def query_workflow(self, workflow_id: str, body: QueryRequest) -> QueryResponse:
        return await self.call_as(QueryResponse, "POST", self._wf(workflow_id) + "/query", body,
                                  timeout=(body.timeout or 10.0) + 10)

    async def update_workflow(self, workflow_id: str, body: UpdateRequest) -> UpdateOutcome:
        return await self.call_as(UpdateOutcome, "POST", self._wf(workflow_id) + "/update",
                                  body, what=f"the update {body.update_name!r} of workflow "
                                             f"{workflow_id!r}")

    async def update_outcome(self, workflow_id: str, run_id: str | None, update_id: str, *,
                             wait: float, wait_for_stage: str | None = None) -> UpdateOutcome:
        stage = {"wait_for_stage": wait_for_stage} if wait_for_stage else {}
        return await self.call_as(
            UpdateOutcome, "GET", f"{self._wf(workflow_id)}/updates/{seg(update_id)}",
            params={"wait": _number(wait), **_run(run_id), **stage})

    async def cancel_workflow(self, workflow_id: str, body: CancelRequest) -> RunRef:
        return await self.call_as(RunRef, "POST", self._wf(workflow_id) + "/cancel", body)

    async def terminate_workflow(self, workflow_id: str, body: TerminateRequest) -> RunRef:
        return await self.call_as(RunRef, "POST", self._wf(workflow_id) + "/terminate", body)

    # -- operating runs -----------------------------------------------------------------------
    async def pause_workflow(self, workflow_id: str, body: PauseRequest) -> RunRef:
        return await self.call_as(RunRef, "POST", self._wf(workflow_id) + "/pause", body)

    async def unpause_workflow(self, workflow_id: str, body: UnpauseRequest) -> RunRef:
        return await self.call_as(RunRef, "POST", self._wf(workflow_id) + "/unpause", body)

    async def reset_workflow(self, workflow_id: str, body: ResetRequest) -> RunRef:
        """The new run's ref."""
        return await self.call_as(RunRef, "POST", self._wf(workflow_id) + "/reset", body)

    async def delete_workflow(self, workflow_id: str, run_id: str | None,
                              request_id: str) -> RunRef:
        return await self.call_as(RunRef, "DELETE", self._wf(workflow_id),
                                  params={**_run(run_id), "request_id": request_id})

    async def control_activity(self, workflow_id: str, activity_id: str, action: str,
                               body: ActivityControlRequest) -> RunRef:
        """``action``: pause, unpause or reset."""
        return await self.call_as(
            RunRef, "POST",
            f"{self._wf(workflow_id)}/activities/{seg(activity_id)}/{seg(action)}", body)

    # -- rate limits --------------------------------------------------------------------------
    async def set_rate_limit(self, body: RateLimit) -> RateLimit:
        return await self.call_as(RateLimit, "PUT", f"{self._ns}/rate-limits", body)

    async def describe_task_queue(self, task_queue: str) -> TaskQueueDescription:
        return await self.call_as(TaskQueueDescription, "GET",
                                  f"{self._ns}/task-queues/{seg(task_queue)}")

    async def list_rate_limits(self) -> list[RateLimit]:
        resp = await self.call_as(RateLimits, "GET", f"{self._ns}/rate-limits")
        return resp.rate_limits

    async def delete_rate_limit(self, task_queue: str, activity_type: str | None) -> None:
        params = {"task_queue": task_queue,
                  **({"activity_type": activity_type} if activity_type else {})}
        await self.call("DELETE", f"{self._ns}/rate-limits", params=params)

    # -- activity attempts (by task token) ----------------------------------------------------
    async def heartbeat_activity(self, token: str, details: list[Payload], *,
                                 retry: bool = True, timeout: float = 70.0
                                 ) -> ActivityCancelRequested:
        """Record heartbeat details; the answer says whether cancellation was requested."""
        if self.codec is not None:
            details = await encode_payloads(self.codec, details)
        body = encode(HeartbeatActivityRequest(token=token, details=details))
        resp: ActivityCancelRequested = await self.call(
            "POST", f"{API}/activity-tasks/heartbeat", body, retry=retry, timeout=timeout,
            decoder=_decoder(ActivityCancelRequested))
        return resp

    async def hand_over_activity(self, token: str) -> None:
        """The attempt will be completed from outside (``raise_complete_async``)."""
        await self.call("POST", f"{API}/activity-tasks/complete-async",
                        encode(TokenRequest(token=token)), decoder=_ignored)

    async def complete(self, kind: CompletionKind, body: Any, *,
                       decoder: Callable[[bytes], Any] | None = None) -> Any:
        """One task completion on its own route (a batch item's ``type`` is ``kind``);
        ``body`` JSON-able or encoded already, the answer read by ``decoder`` if given."""
        return await self.call("POST", API + COMPLETION_ROUTES[kind], body, decoder=decoder)

    async def complete_batch(self, body: bytes) -> BatchAnswer:
        """Several completions in one request; each item is answered on its own."""
        resp: BatchAnswer = await self.call("POST", f"{API}/task-completions", body,
                                            decoder=_decoder(BatchAnswer))
        return resp

    # -- worker sessions and polls ------------------------------------------------------------
    async def open_session(self, body: OpenSessionRequest) -> SessionOpened:
        resp: SessionOpened = await self.call("POST", f"{self._ns}/sessions", encode(body),
                                              decoder=_decoder(SessionOpened))
        return resp

    async def session_heartbeat(self, session_id: str, body: HeartbeatSessionRequest) -> None:
        await self.call("POST", f"{API}/sessions/{seg(session_id)}/heartbeat", encode(body),
                        retry=False, timeout=5, decoder=_ignored)

    async def watch_session(self, session_id: str, *, wait: float) -> None:
        """Held open by the server: when this process dies, the dropped connection tells the
        server at once."""
        await self.call("GET", f"{API}/sessions/{seg(session_id)}/watch",
                        params={"wait": str(wait)}, retry=False, timeout=wait + 10,
                        decoder=_ignored)

    async def close_session(self, session_id: str) -> None:
        await self.call("DELETE", f"{API}/sessions/{seg(session_id)}", retry=False, timeout=5,
                        decoder=_ignored)

    async def poll(self, task_queue: str, *, session_id: str | None, kind: str,
                   max_tasks: int, wait: float,
                   request_no: int | None = None) -> list[PolledTask]:
        """Up to ``max_tasks`` tasks of ``kind``, waiting up to ``wait`` s for the first,
        decoded into their structs (a task that cannot be, as :class:`UnreadableTask`);
        ``request_no``: the poll's number (``plait._worker.inflight``)."""
        body = encode(PollRequest(session_id=session_id, kind=TaskKind(kind),
                                  max_tasks=max_tasks, wait=wait, request_no=request_no))
        tasks: list[PolledTask] = await self.call(
            "POST", f"{self._ns}/task-queues/{seg(task_queue)}/poll", body,
            retry=False, timeout=wait + 10, decoder=decode_tasks)
        if self.codec is not None:
            tasks = await decode_messages(self.codec, tasks)
        return tasks

    async def history_events(self, workflow_id: str, run_id: str) -> list[Event]:
        """A run's history as a worker replays it (``UnknownEventError`` for an event type
        this version does not know)."""
        path = self._wf(workflow_id) + "/history"
        events: list[Event] = []
        while True:
            page: list[Event] = await self.call(
                "GET", path, params=_page(run_id, events[-1].event_id if events else 0),
                decoder=_history_events)
            events.extend(page)
            if len(page) < HISTORY_PAGE:
                break
        if self.codec is not None:
            events = await decode_messages(self.codec, events)
        return events

    async def respond_query(self, answer: RespondQueryRequest) -> None:
        if self.codec is not None:
            answer = await encode_message(self.codec, answer)
        await self.call("POST", f"{API}/query-tasks/respond", encode(answer), decoder=_ignored)

    # -- namespaces and API keys (server-wide, not of this namespace) --------------------------
    async def create_namespace(self, body: CreateNamespaceRequest) -> NamespaceInfo:
        return await self.call_as(NamespaceInfo, "POST", f"{API}/namespaces", body, retry=False)

    async def list_namespaces(self) -> list[NamespaceInfo]:
        resp = await self.call_as(NamespaceList, "GET", f"{API}/namespaces")
        return resp.namespaces

    async def describe_namespace(self, name: str) -> NamespaceInfo:
        return await self.call_as(NamespaceInfo, "GET", f"{API}/namespaces/{seg(name)}")

    async def update_namespace(self, name: str, body: UpdateNamespaceRequest) -> NamespaceInfo:
        return await self.call_as(NamespaceInfo, "POST",
                                  f"{API}/namespaces/{seg(name)}/update", body)

    async def create_api_key(self, body: CreateApiKeyRequest) -> CreatedApiKey:
        return await self.call_as(CreatedApiKey, "POST", f"{API}/api-keys", body, retry=False)

    async def list_api_keys(self) -> list[ApiKeyInfo]:
        resp = await self.call_as(ApiKeyList, "GET", f"{API}/api-keys")
        return resp.api_keys

    async def revoke_api_key(self, key_id: str) -> RevokedApiKey:
        return await self.call_as(RevokedApiKey, "POST",
                                  f"{API}/api-keys/{seg(key_id)}/revoke")

    # -- schedules ----------------------------------------------------------------------------
    def _sched(self, schedule_id: str) -> str:
        return f"{self._ns}/schedules/{seg(schedule_id)}"

    async def create_schedule(self, body: CreateScheduleRequest) -> Scheduled:
        return await self.call_as(Scheduled, "POST", f"{self._ns}/schedules", body)

    async def list_schedules(self, params: Mapping[str, str]) -> ScheduleList:
        return await self.call_as(ScheduleList, "GET", f"{self._ns}/schedules", params=params)

    async def describe_schedule(self, schedule_id: str) -> ScheduleDescription:
        return await self.call_as(ScheduleDescription, "GET", self._sched(schedule_id))

    async def delete_schedule(self, schedule_id: str) -> None:
        await self.call("DELETE", self._sched(schedule_id), retry=False)

    async def update_schedule(self, schedule_id: str, body: ScheduleUpdate) -> Scheduled:
        return await self.call_as(Scheduled, "POST", self._sched(schedule_id) + "/update", body)

    async def pause_schedule(self, schedule_id: str, body: NoteRequest) -> Scheduled:
        return await self.call_as(Scheduled, "POST", self._sched(schedule_id) + "/pause", body)

    async def unpause_schedule(self, schedule_id: str, body: NoteRequest) -> Scheduled:
        return await self.call_as(Scheduled, "POST", self._sched(schedule_id) + "/unpause",
                                  body)

    async def trigger_schedule(self, schedule_id: str, body: TriggerRequest) -> Scheduled:
        return await self.call_as(Scheduled, "POST", self._sched(schedule_id) + "/trigger",
                                  body)

    async def backfill_schedule(self, schedule_id: str, body: BackfillRequest) -> Scheduled:
        return await self.call_as(Scheduled, "POST", self._sched(schedule_id) + "/backfill",
                                  body)

    # -- batch jobs ---------------------------------------------------------------------------
    def _batch(self, batch_id: str) -> str:
        return f"{self._ns}/batches/{seg(batch_id)}"

    async def start_batch(self, body: StartBatchRequest) -> BatchDescription:
        return await self.call_as(BatchDescription, "POST", f"{self._ns}/batches", body)

    async def list_batches(self, params: Mapping[str, str]) -> BatchList:
        return await self.call_as(BatchList, "GET", f"{self._ns}/batches", params=params)

    async def describe_batch(self, batch_id: str) -> BatchDescription:
        return await self.call_as(BatchDescription, "GET", self._batch(batch_id))

    async def cancel_batch(self, batch_id: str, body: CancelBatchRequest) -> BatchDescription:
        return await self.call_as(BatchDescription, "POST", self._batch(batch_id) + "/cancel",
                                  body)


def _run(run_id: str | None) -> dict[str, str]:
    return {"run_id": run_id} if run_id else {}


def _page(run_id: str | None, after: int) -> dict[str, str]:
    """The query of one page of a run's history: the events after event ``after``."""
    return {**_run(run_id), "after": str(after), "page_size": str(HISTORY_PAGE)}


def _number(value: float) -> str:
    """``30`` rather than ``30.0`` where the server was always sent an integer."""
    return str(int(value)) if value == int(value) else str(value)


def _error(response: Response) -> errors.PlaitError:
    try:
        err = loads(response.body)["error"]
        code, message = str(err["code"]), str(err["message"])
    except Exception:
        code = "http_error"
        message = response.body.decode(errors="replace")[:500] or f"HTTP {response.status}"
    return error_of(response.status, code, message)


def error_of(status: int, code: str, message: str) -> errors.PlaitError:
    """The typed error of the API's error shape (also used for one item of a batch)."""
    if code == "workflow_already_started":
        return errors.WorkflowAlreadyStartedError(message)
    if code == "workflow_not_found":
        return errors.WorkflowNotFoundError(message)
    if code == "schedule_already_exists":
        return errors.ScheduleAlreadyExistsError(message)
    if code == "schedule_not_found":
        return errors.ScheduleNotFoundError(message)
    if code == "namespace_not_found":
        return errors.NamespaceNotFoundError(message, status=status, code=code)
    if code == "unauthenticated":
        return errors.UnauthenticatedError(message, status=status, code=code)
    if code == "permission_denied":
        return errors.PermissionDeniedError(message, status=status, code=code)
    if code == "payload_too_large":
        return errors.PayloadTooLargeError(message, status=status, code=code)
    return errors.RPCError(message, status=status, code=code)


def _rate_limited(failure: errors.PlaitError) -> bool:
    return isinstance(failure, errors.RPCError) and failure.code == "rate_limited"


def _too_large(refusal: errors.PayloadTooLargeError, what: str,
               size: int) -> errors.PayloadTooLargeError:
    """The server's 413, saying which operation and how large its request was."""
    return errors.PayloadTooLargeError(
        f"{what} is {size:,} bytes encoded: {refusal.message}; store large data elsewhere "
        "and pass a reference",
        status=refusal.status, code=refusal.code, size=size)


# -- decoding the worker's answers straight into their structs --------------------------------
def _decoder(kind: type[T]) -> Callable[[bytes], T]:
    """A response body as a ``kind`` struct (the decoder :func:`decode_as` keeps for it)."""
    decoder = _DECODERS.get(kind)
    if decoder is None:
        decoder = _DECODERS[kind] = msgspec.json.Decoder(kind)
    fn: Callable[[bytes], T] = decoder.decode
    return fn


def _ignored(body: bytes) -> None:
    """An answer the caller does not read (an acknowledgement)."""


class _HistoryEvents(msgspec.Struct):
    events: msgspec.Raw


_HISTORY = msgspec.json.Decoder(_HistoryEvents)


def _history_events(body: bytes) -> list[Event]:
    return decode_events(_HISTORY.decode(body).events)
