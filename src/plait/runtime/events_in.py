"""History events into a running workflow: one small handler per event type.

A mixin of :class:`~plait.runtime.instance.WorkflowInstance`. :data:`HANDLERS` maps every
:class:`~plait.protocol.events.EventType` to the method that applies it; a test pins that it
covers the closed list. Events that record a command this workflow gave (their match is
checked by :mod:`plait.runtime.replay_check`) or the server's own bookkeeping change nothing
in the workflow and map to :meth:`Events._nothing`. A type outside the list (a newer server's
history) raises :class:`UnknownEventError`, which fails the workflow task and says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from plait import errors
from plait.protocol import failure as failures
from plait.protocol.events import EventType
from plait.protocol.payload import decode, decode_args
from plait.runtime.definitions import WorkflowDefn
from plait.runtime.durable_timer import DurableTimer
from plait.runtime.history_size import HistorySize
from plait.runtime.info import WorkflowInfo
from plait.runtime.registries import PendingActivity, PendingChild

if TYPE_CHECKING:
    import contextvars


__all__ = ["HANDLERS", "Events", "UnknownEventError"]


class UnknownEventError(Exception):
    """The history holds an event type this runtime does not know."""


class Events:
    """Applying history events; the state they change lives on the instance."""

    defn: WorkflowDefn
    info: WorkflowInfo
    task_meta: dict[str, Any]
    history_size: HistorySize
    cancel_requested: bool
    _now: float
    _object: Any
    _main: asyncio.Task[Any] | None
    _context: contextvars.Context
    _activities: dict[str, PendingActivity]
    _timers: dict[str, DurableTimer]
    _children: dict[str, PendingChild]
    _externals: dict[str, asyncio.Future[None]]
    _signal_handlers: dict[str, Callable[..., Any]]

    if TYPE_CHECKING:  # provided by the instance and the Handlers mixin
        def create_task(self, coro: Any, *, name: str | None = None, context: Any = None
                        ) -> asyncio.Task[Any]: ...

        def _on_main_done(self, task: asyncio.Task[Any]) -> None: ...

        def _on_signal(self, name: str, payloads: list[Any]) -> None: ...

    def apply_event(self, event: dict[str, Any]) -> None:
        etype = event["event_type"]
        try:
            handler = HANDLERS[EventType(etype)]
        except ValueError:
            raise UnknownEventError(
                f"history event {event.get('event_id')} has type {etype!r}, which this "
                "version of plait does not know (a history from a newer server?)") from None
        handler(self, event.get("attributes") or {})

    def _nothing(self, attrs: dict[str, Any]) -> None:
        """A command's own record, or bookkeeping: nothing for the workflow to apply."""

    # -- the run ---------------------------------------------------------------------------
    def _started(self, attrs: dict[str, Any]) -> None:
        self.info = WorkflowInfo(self.task_meta, attrs, self.history_size)
        self.info.start_time = self._now
        args = decode_args(attrs.get("input") or [], self.defn.arg_hints)
        self._object = self._context.run(self.defn.cls)
        for name, fn in self.defn.signals.items():
            self._signal_handlers[name] = fn.__get__(self._object)
        coro = self.defn.run_fn(self._object, *args)
        self._main = self.create_task(coro, name=f"workflow:{self.defn.name}")
        self._main.add_done_callback(self._on_main_done)

    def _cancel_requested(self, attrs: dict[str, Any]) -> None:
        self.cancel_requested = True
        if self._main is not None and not self._main.done():
            self._main.cancel()

    def _signaled(self, attrs: dict[str, Any]) -> None:
        self._on_signal(attrs["signal_name"], attrs.get("input") or [])

    # -- activities ------------------------------------------------------------------------
    def _settle_activity(self, attrs: dict[str, Any]) -> PendingActivity | None:
        """The activity this event settles, unless it was settled already (cancelled)."""
        entry = self._activities.pop(attrs["activity_id"], None)
        return entry if entry is not None and not entry.future.done() else None

    def _activity_completed(self, attrs: dict[str, Any]) -> None:
        if (entry := self._settle_activity(attrs)) is not None:
            entry.future.set_result(decode(attrs.get("result"), entry.ret_hint))

    def _activity_failed(self, attrs: dict[str, Any]) -> None:
        """Failed or timed out: the failure says which."""
        if (entry := self._settle_activity(attrs)) is not None:
            entry.future.set_exception(errors.ActivityError(
                cause=failures.to_exception(attrs.get("failure")),
                activity_type=entry.activity_type, activity_id=attrs["activity_id"],
                retry_state=attrs.get("retry_state")))

    def _activity_canceled(self, attrs: dict[str, Any]) -> None:
        if (entry := self._settle_activity(attrs)) is not None:
            entry.future.set_exception(errors.ActivityError(
                cause=errors.CancelledError("activity cancelled"),
                activity_type=entry.activity_type, activity_id=attrs["activity_id"],
                retry_state="cancel"))

    # -- timers ----------------------------------------------------------------------------
    def _timer_fired(self, attrs: dict[str, Any]) -> None:
        timer = self._timers.pop(str(attrs["timer_id"]), None)
        if timer is not None:
            timer.fire()

    # -- children --------------------------------------------------------------------------
    def _child_started(self, attrs: dict[str, Any]) -> None:
        child = self._children.get(str(attrs["seq"]))
        if child is not None and not child.started.done():
            child.started.set_result(attrs["run_id"])

    def _settle_child(self, attrs: dict[str, Any]) -> PendingChild | None:
        """The child this closing event settles; None if it was settled already, or if the
        child never started (its id was taken), which fails the start instead."""
        child = self._children.pop(str(attrs["seq"]), None)
        if child is None:
            return None
        if attrs.get("start_failed"):
            if not child.started.done():
                child.started.set_exception(errors.WorkflowAlreadyStartedError(
                    (attrs.get("failure") or {}).get("message", ""),
                    workflow_id=child.workflow_id))
            return None
        return None if child.result.done() else child

    def _child_completed(self, attrs: dict[str, Any]) -> None:
        if (child := self._settle_child(attrs)) is not None:
            child.result.set_result(decode(attrs.get("result"), child.ret_hint))

    def _child_failed(self, attrs: dict[str, Any]) -> None:
        self._child_did_not_complete(attrs, failures.to_exception(attrs.get("failure")))

    def _child_canceled(self, attrs: dict[str, Any]) -> None:
        self._child_did_not_complete(attrs, errors.CancelledError("child workflow cancelled"))

    def _child_terminated(self, attrs: dict[str, Any]) -> None:
        self._child_did_not_complete(
            attrs, errors.TerminatedError(attrs.get("reason") or "terminated"))

    def _child_timed_out(self, attrs: dict[str, Any]) -> None:
        self._child_did_not_complete(attrs, errors.TimeoutError(
            "child workflow timed out", timeout_type="execution"))

    def _child_did_not_complete(self, attrs: dict[str, Any], cause: BaseException) -> None:
        if (child := self._settle_child(attrs)) is not None:
            child.result.set_exception(errors.ChildWorkflowError(
                cause=cause, workflow_type=child.workflow_type, workflow_id=child.workflow_id))

    # -- other workflows -------------------------------------------------------------------
    def _external_done(self, attrs: dict[str, Any]) -> None:
        """A signal to, or a cancel request of, another workflow was delivered (or not)."""
        fut = self._externals.pop(str(attrs["seq"]), None)
        if fut is None or fut.done():
            return
        failure = attrs.get("failure")
        if failure:
            fut.set_exception(failures.to_exception(failure))
        else:
            fut.set_result(None)


_Handler = Callable[[Events, dict[str, Any]], None]

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
