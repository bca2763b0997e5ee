"""History events into a running workflow: one small handler per event type.

A mixin of :class:`~plait.runtime.instance.WorkflowInstance`. :data:`HANDLERS` maps every
:class:`~plait.protocol.events.EventType` to the method that applies it; a test pins that it
covers the closed list. Events that record a command this workflow gave (their match is
checked by :mod:`plait.runtime.replay_check`) or the server's own bookkeeping change nothing
in the workflow and map to :meth:`Events._nothing`. Each handler reads the typed attributes of
its event (:mod:`plait.protocol.attributes`). A type outside the list (a newer server's
history) cannot be decoded at all: :mod:`plait.runtime.wire` raises :class:`UnknownEventError`,
which fails the workflow task and says so.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from msgspec import Struct
from msgspec.structs import asdict

from plait import errors
from plait.interceptor import ExecuteWorkflowInput, WorkflowInboundInterceptor
from plait.protocol import attributes as a
from plait.protocol import failure as failures
from plait.protocol.common import Failure, Header, Payload
from plait.protocol.events import EventType
from plait.protocol.history import EVENT_STRUCTS, Event
from plait.runtime.definitions import WorkflowDefn
from plait.runtime.durable_timer import DurableTimer
from plait.runtime.history_size import HistorySize
from plait.runtime.info import RunIdentity, WorkflowInfo
from plait.runtime.intercepting import WorkflowInterceptors, intercept
from plait.runtime.local_activities import PendingLocal
from plait.runtime.registries import PendingActivity, PendingChild
from plait.runtime.wire import UnknownEventError

if TYPE_CHECKING:
    import contextvars

    from plait.converter import Conversions


__all__ = ["HANDLERS", "Events", "UnknownEventError", "exception_of"]


def exception_of(failure: Failure | None) -> errors.FailureError:
    """The error a failure in a history event describes."""
    return failures.to_exception(asdict_deep(failure) if failure is not None else None)


def asdict_deep(failure: Failure) -> failures.Failure:
    """A failure struct as the dict :mod:`plait.protocol.failure` reads (causes too), with
    the fields it did not carry left out, as they were on the wire."""
    out = {k: v for k, v in asdict(failure).items() if v is not None}
    if failure.cause is not None:
        out["cause"] = asdict_deep(failure.cause)
    return out


class Events:
    """Applying history events; the state they change lives on the instance."""

    conv: Conversions
    defn: WorkflowDefn
    info: WorkflowInfo
    who: RunIdentity
    history_size: HistorySize
    cancel_requested: bool
    recorded: list[Event] | None
    _now: float
    _object: Any
    _main: asyncio.Task[Any] | None
    _context: contextvars.Context
    _activities: dict[str, PendingActivity | PendingLocal]
    _timers: dict[str, DurableTimer]
    _children: dict[str, PendingChild]
    _externals: dict[str, asyncio.Future[None]]
    _signal_handlers: dict[str, Callable[..., Any]]
    interceptors: WorkflowInterceptors | None
    inbound: WorkflowInboundInterceptor | None

    if TYPE_CHECKING:  # provided by the instance and the Handlers mixin
        def create_task(self, coro: Any, *, name: str | None = None, context: Any = None
                        ) -> asyncio.Task[Any]: ...

        def _on_main_done(self, task: asyncio.Task[Any]) -> None: ...

        def call_soon(self, callback: Callable[..., Any], *args: Any,
                      context: Any = None) -> Any: ...

        def _on_signal(self, name: str, payloads: list[Payload],
                       header: Header | None = None) -> None: ...

    def apply_event(self, event: Event) -> None:
        _BY_STRUCT[type(event)](self, event.attributes)

    def _nothing(self, attrs: Any) -> None:
        """A command's own record, or bookkeeping: nothing for the workflow to apply."""

    # -- the run ---------------------------------------------------------------------------
    def _started(self, attrs: a.WorkflowExecutionStartedAttributes) -> None:
        self.info = WorkflowInfo(self.who, attrs, self.history_size)
        self.info.start_time = self._now
        args = self.conv.from_payloads(attrs.input, self.defn.arg_hints)
        interceptors = self.interceptors
        if interceptors is not None:
            self._context.run(intercept, self, interceptors)  # type: ignore[arg-type]
        self._object = self._context.run(self.defn.cls)
        for name, fn in self.defn.signals.items():
            self._signal_handlers[name] = fn.__get__(self._object)
        if interceptors is not None:
            assert self.inbound is not None
            coro = self.inbound.execute_workflow(ExecuteWorkflowInput(
                type=self.defn.cls, run_fn=self.defn.run_fn.__get__(self._object),
                args=args, headers=dict(attrs.header or {})))
        else:
            coro = self.defn.run_fn(self._object, *args)
        self._main = self.create_task(coro, name=f"workflow:{self.defn.name}")
        self._main.add_done_callback(self._on_main_done)

    def _cancel_requested(self, attrs: a.WorkflowExecutionCancelRequestedAttributes) -> None:
        """Cancel the run's code at its current await. A request that came before the run's
        first task finds the code not yet started, and cancelling a task that never ran skips
        its body, ``try``/``except CancelledError`` compensations included: then the cancel
        waits for the loop's next turn, so that the body runs to its first await and receives
        it there, as API.md promises (Temporal's Python SDK defers it the same way)."""
        self.cancel_requested = True
        main = self._main
        if main is None or main.done():
            return
        coro = main.get_coro()
        if (inspect.iscoroutine(coro) and inspect.getcoroutinestate(coro) == inspect.CORO_CREATED
                and not self._recorded_as_closed_at_once()):
            self.call_soon(self._cancel_main)
        else:
            main.cancel()

    def _recorded_as_closed_at_once(self) -> bool:
        """Whether the task being replayed recorded nothing but the run's close as CANCELED:
        a history written before such a cancel reached the code (December 2026). Replayed as
        then, it still matches; a body run to its first await would produce commands it does
        not have (``tests/replay/histories/cancelled_before_first_task_legacy.json``)."""
        recorded = self.recorded
        return (recorded is not None and len(recorded) == 1
                and type(recorded[0]) is EVENT_STRUCTS[EventType.WORKFLOW_EXECUTION_CANCELED])

    def _cancel_main(self) -> None:
        if self._main is not None and not self._main.done():
            self._main.cancel()

    def _signaled(self, attrs: a.WorkflowExecutionSignaledAttributes) -> None:
        self._on_signal(attrs.signal_name, attrs.input, attrs.header)

    # -- activities ------------------------------------------------------------------------
    def _settle_activity(self, activity_id: str) -> PendingActivity | PendingLocal | None:
        """The activity this event settles, unless it was settled already (cancelled)."""
        entry = self._activities.pop(activity_id, None)
        return entry if entry is not None and not entry.future.done() else None

    def _activity_completed(self, attrs: a.ActivityTaskCompletedAttributes) -> None:
        if (entry := self._settle_activity(attrs.activity_id)) is not None:
            entry.future.set_result(self.conv.from_payload(attrs.result, entry.ret_hint))

    def _activity_failed(self, attrs: a.ActivityTaskFailedAttributes
                         | a.ActivityTaskTimedOutAttributes) -> None:
        """Failed or timed out: the failure says which."""
        if (entry := self._settle_activity(attrs.activity_id)) is not None:
            entry.future.set_exception(errors.ActivityError(
                cause=exception_of(attrs.failure),
                activity_type=entry.activity_type, activity_id=attrs.activity_id,
                retry_state=attrs.retry_state))

    def _activity_canceled(self, attrs: a.ActivityTaskCanceledAttributes) -> None:
        if (entry := self._settle_activity(attrs.activity_id)) is not None:
            entry.future.set_exception(errors.ActivityError(
                cause=errors.CancelledError("activity cancelled"),
                activity_type=entry.activity_type, activity_id=attrs.activity_id,
                retry_state="cancel"))

    # -- timers ----------------------------------------------------------------------------
    def _timer_fired(self, attrs: a.TimerFiredAttributes) -> None:
        timer = self._timers.pop(attrs.timer_id, None)
        if timer is not None:
            timer.fire()

    # -- children --------------------------------------------------------------------------
    def _child_started(self, attrs: a.ChildWorkflowExecutionStartedAttributes) -> None:
        child = self._children.get(attrs.seq)
        if child is not None and not child.started.done():
            child.started.set_result(attrs.run_id)

    def _settle_child(self, attrs: _ChildClosed) -> PendingChild | None:
        """The child this closing event settles; None if it was settled already, or if the
        child never started (its id was taken), which fails the start instead."""
        child = self._children.pop(attrs.seq, None)
        if child is None:
            return None
        if isinstance(attrs, a.ChildWorkflowExecutionFailedAttributes) and attrs.start_failed:
            if not child.started.done():
                child.started.set_exception(errors.WorkflowAlreadyStartedError(
                    attrs.failure.message, workflow_id=child.workflow_id))
            return None
        return None if child.result.done() else child

    def _child_completed(self, attrs: a.ChildWorkflowExecutionCompletedAttributes) -> None:
        if (child := self._settle_child(attrs)) is not None:
            child.result.set_result(self.conv.from_payload(attrs.result, child.ret_hint))

    def _child_failed(self, attrs: a.ChildWorkflowExecutionFailedAttributes) -> None:
        self._child_did_not_complete(attrs, exception_of(attrs.failure))

    def _child_canceled(self, attrs: a.ChildWorkflowExecutionCanceledAttributes) -> None:
        self._child_did_not_complete(attrs, errors.CancelledError("child workflow cancelled"))

    def _child_terminated(self, attrs: a.ChildWorkflowExecutionTerminatedAttributes) -> None:
        self._child_did_not_complete(
            attrs, errors.TerminatedError(attrs.reason or "terminated"))

    def _child_timed_out(self, attrs: a.ChildWorkflowExecutionTimedOutAttributes) -> None:
        self._child_did_not_complete(attrs, errors.TimeoutError(
            "child workflow timed out", timeout_type="execution"))

    def _child_did_not_complete(self, attrs: _ChildClosed, cause: BaseException) -> None:
        if (child := self._settle_child(attrs)) is not None:
            child.result.set_exception(errors.ChildWorkflowError(
                cause=cause, workflow_type=child.workflow_type, workflow_id=child.workflow_id))

    # -- other workflows -------------------------------------------------------------------
    def _external_done(self, attrs: a.ExternalWorkflowExecutionSignaledAttributes
                       | a.ExternalWorkflowExecutionCancelRequestedAttributes) -> None:
        """A signal to, or a cancel request of, another workflow was delivered (or not)."""
        fut = self._externals.pop(attrs.seq, None)
        if fut is None or fut.done():
            return
        if attrs.failure is not None:
            fut.set_exception(exception_of(attrs.failure))
        else:
            fut.set_result(None)


_ChildClosed = (a.ChildWorkflowExecutionCompletedAttributes
                | a.ChildWorkflowExecutionFailedAttributes
                | a.ChildWorkflowExecutionCanceledAttributes
                | a.ChildWorkflowExecutionTerminatedAttributes
                | a.ChildWorkflowExecutionTimedOutAttributes)
"""The attributes of the events that close a child."""

_Handler = Callable[[Events, Any], None]
"""A handler, given the attributes struct of its event type."""

HANDLERS: Mapping[EventType, _Handler] = {
    EventType.WORKFLOW_EXECUTION_STARTED: Events._started,
    EventType.WORKFLOW_EXECUTION_CANCEL_REQUESTED: Events._cancel_requested,
    EventType.WORKFLOW_EXECUTION_SIGNALED: Events._signaled,
    EventType.ACTIVITY_TASK_COMPLETED: Events._activity_completed,
    EventType.ACTIVITY_TASK_FAILED: Events._activity_failed,
    EventType.ACTIVITY_TASK_TIMED_OUT: Events._activity_failed,
    EventType.ACTIVITY_TASK_CANCELED: Events._activity_canceled,
    EventType.TIMER_FIRED: Events._timer_fired,
    EventType.CHILD_WORKFLOW_EXECUTION_STARTED: Events._child_started,
    EventType.CHILD_WORKFLOW_EXECUTION_COMPLETED: Events._child_completed,
    EventType.CHILD_WORKFLOW_EXECUTION_FAILED: Events._child_failed,
    EventType.CHILD_WORKFLOW_EXECUTION_CANCELED: Events._child_canceled,
    EventType.CHILD_WORKFLOW_EXECUTION_TERMINATED: Events._child_terminated,
    EventType.CHILD_WORKFLOW_EXECUTION_TIMED_OUT: Events._child_timed_out,
    EventType.EXTERNAL_WORKFLOW_EXECUTION_SIGNALED: Events._external_done,
    EventType.EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED: Events._external_done,
    # The run's close, written by a command or by the server (terminate, timeout): nothing
    # runs after it.
    EventType.WORKFLOW_EXECUTION_COMPLETED: Events._nothing,
    EventType.WORKFLOW_EXECUTION_FAILED: Events._nothing,
    EventType.WORKFLOW_EXECUTION_CANCELED: Events._nothing,
    EventType.WORKFLOW_EXECUTION_TERMINATED: Events._nothing,
    EventType.WORKFLOW_EXECUTION_TIMED_OUT: Events._nothing,
    EventType.WORKFLOW_EXECUTION_CONTINUED_AS_NEW: Events._nothing,
    # Updates are accepted and completed by commands (see Handlers._updates).
    EventType.WORKFLOW_EXECUTION_UPDATE_ACCEPTED: Events._nothing,
    EventType.WORKFLOW_EXECUTION_UPDATE_COMPLETED: Events._nothing,
    # Workflow tasks delimit activations (plait.runtime.activations); they carry no input.
    EventType.WORKFLOW_TASK_SCHEDULED: Events._nothing,
    EventType.WORKFLOW_TASK_STARTED: Events._nothing,
    EventType.WORKFLOW_TASK_COMPLETED: Events._nothing,
    EventType.WORKFLOW_TASK_FAILED: Events._nothing,
    EventType.WORKFLOW_TASK_TIMED_OUT: Events._nothing,
    # The records of commands, and an attempt starting: the workflow waits for the outcome.
    EventType.ACTIVITY_TASK_SCHEDULED: Events._nothing,
    EventType.ACTIVITY_TASK_STARTED: Events._nothing,
    EventType.ACTIVITY_TASK_CANCEL_REQUESTED: Events._nothing,
    EventType.TIMER_STARTED: Events._nothing,
    EventType.TIMER_CANCELED: Events._nothing,
    EventType.MARKER_RECORDED: Events._nothing,
    EventType.START_CHILD_WORKFLOW_EXECUTION_INITIATED: Events._nothing,
    EventType.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: Events._nothing,
    EventType.REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: Events._nothing,
    EventType.UPSERT_SEARCH_ATTRIBUTES: Events._nothing,
}
"""The handler of every event type; complete over the closed list (a test pins it)."""

_BY_STRUCT: dict[type[Struct], _Handler] = {
    EVENT_STRUCTS[etype]: handler for etype, handler in HANDLERS.items()}
"""The handler of each event struct: how :meth:`Events.apply_event` dispatches."""
