"""Define workflows, and the calls workflow code makes (all deterministic, all from history).

    @workflow.defn
    class Order:
        @workflow.run
        async def run(self, order_id: str) -> str:
            await workflow.execute_activity(charge, order_id,
                                            start_to_close_timeout=timedelta(seconds=10))
            return "done"
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import logging
import uuid as _uuid
from collections.abc import Awaitable, Callable, Generator, Iterable, Sequence
from datetime import timedelta
from typing import Any, Generic, Literal, NoReturn, TypedDict, TypeVar, Unpack, overload

import msgspec

from plait import _unsafe
from plait._typing import R, SelfT, Ts
from plait.interceptor import (
    StartActivityInput,
    StartChildWorkflowInput,
    StartLocalActivityInput,
    WorkflowOutboundInterceptor,
)
from plait.protocol import commands as c
from plait.protocol import common
from plait.protocol.common import Header, Memo, SearchAttributes
from plait.protocol.enums import IdReusePolicy
from plait.protocol.enums import ParentClosePolicy as _ParentClosePolicy
from plait.retry import RetryPolicy
from plait.runtime.definitions import DYNAMIC, WorkflowDefn, activity_defn_of, workflow_defn_of
from plait.runtime.instance import ContinueAsNew, WorkflowInfo, WorkflowInstance
from plait.runtime.local_activities import PendingLocal
from plait.runtime.replay_check import user_location

__all__ = [
    "ActivityCancellationType",
    "ChildWorkflowHandle",
    "ExternalWorkflowHandle",
    "HandlerUnfinishedPolicy",
    "ParentClosePolicy",
    "all_handlers_finished",
    "continue_as_new",
    "defn",
    "deprecate_patch",
    "execute_activity",
    "execute_activity_method",
    "execute_child_workflow",
    "execute_local_activity",
    "execute_local_activity_method",
    "get_external_workflow_handle",
    "info",
    "logger",
    "now",
    "patched",
    "query",
    "random",
    "run",
    "set_dynamic_signal_handler",
    "set_signal_handler",
    "signal",
    "sleep",
    "start_activity",
    "start_activity_method",
    "start_child_workflow",
    "start_local_activity",
    "start_local_activity_method",
    "time",
    "unsafe",
    "update",
    "upsert_search_attributes",
    "uuid4",
    "wait",
    "wait_condition",
]

C = TypeVar("C", bound=type)
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

unsafe = _unsafe
"""Temporal's sandbox escape hatches, as no-ops (plait has no sandbox):
``with workflow.unsafe.imports_passed_through(): ...`` runs unchanged."""


class ParentClosePolicy(enum.StrEnum):
    """What happens to a child when its parent closes (Temporal's names, plait's strings:
    either spelling is accepted wherever a policy is)."""

    TERMINATE = "terminate"
    REQUEST_CANCEL = "request_cancel"
    ABANDON = "abandon"


class ActivityCancellationType(enum.StrEnum):
    """How cancelling an activity's handle waits for the activity (see
    :func:`start_activity`); Temporal's names, plait's strings."""

    TRY_CANCEL = "try_cancel"
    WAIT_CANCELLATION_COMPLETED = "wait_cancellation_completed"
    ABANDON = "abandon"


class HandlerUnfinishedPolicy(enum.StrEnum):
    """Temporal warns when a run ends with a handler still running unless told to
    ``ABANDON`` it; plait does not warn, so both values are accepted and mean the same."""

    WARN_AND_ABANDON = "warn_and_abandon"
    ABANDON = "abandon"


# -- definitions -----------------------------------------------------------------------------
@overload
def defn(cls: C) -> C: ...
@overload
def defn(*, name: str | None = None,
         failure_exception_types: Sequence[type[BaseException]] = (),
         sandboxed: bool = True) -> Callable[[C], C]: ...
def defn(cls: Any = None, *, name: str | None = None,
         failure_exception_types: Sequence[type[BaseException]] = (),
         sandboxed: bool = True) -> Any:
    """Mark a class as a workflow; its name defaults to the class name.

    ``sandboxed`` is Temporal's and changes nothing: plait has no sandbox (workflow code is
    ordinary Python; see ``docs/from-temporal.md``)."""
    def wrap(c: C) -> C:
        d = WorkflowDefn.build(c, name, failure_exception_types)
        c.__plait_workflow__ = d  # type: ignore[attr-defined]
        d.run_fn.__plait_workflow_owner__ = c  # type: ignore[attr-defined]
        return c
    return wrap(cls) if cls is not None else wrap


def run(fn: F) -> F:
    """Mark the workflow's entry point (one async method per workflow class)."""
    fn.__plait_run__ = True  # type: ignore[attr-defined]
    return fn


def _handler(marker: str, fn: Any, name: str | None, dynamic: bool = False) -> Any:
    def wrap(f: F) -> F:
        setattr(f, marker, DYNAMIC if dynamic else (name or f.__name__))
        return f
    return wrap(fn) if fn is not None else wrap


def signal(fn: Any = None, *, name: str | None = None, dynamic: bool = False,
           unfinished_policy: HandlerUnfinishedPolicy | str = "warn_and_abandon") -> Any:
    """Mark a signal handler (sync or async). ``dynamic=True`` receives ``(name, *args)`` of
    signals without a handler of their own. ``unfinished_policy``: see
    :class:`HandlerUnfinishedPolicy` (accepted, no effect)."""
    HandlerUnfinishedPolicy(unfinished_policy)
    return _handler("__plait_signal__", fn, name, dynamic)


def set_signal_handler(name: str, handler: Callable[..., Any] | None) -> None:
    """Register a handler at run time; signals that arrived for it earlier are delivered now."""
    _instance().set_signal_handler(name, handler)


def set_dynamic_signal_handler(handler: Callable[..., Any] | None) -> None:
    """Register a handler for every signal name without its own handler."""
    _instance().set_signal_handler(None, handler)


def query(fn: Any = None, *, name: str | None = None, dynamic: bool = False) -> Any:
    """Mark a query handler. (Queries arrive with the messaging issue.)"""
    return _handler("__plait_query__", fn, name, dynamic)


def update(fn: Any = None, *, name: str | None = None, dynamic: bool = False,
           unfinished_policy: HandlerUnfinishedPolicy | str = "warn_and_abandon") -> Any:
    """Mark an update handler (sync or async): the caller gets its return value or error.
    (``unfinished_policy``: see :class:`HandlerUnfinishedPolicy`; accepted, no effect.)

    ``@handler.validator`` marks a sync method that may reject the update before anything is
    written (raise to reject); it must not change state and does not run in replay.
    """
    HandlerUnfinishedPolicy(unfinished_policy)

    def wrap(f: F) -> F:
        _handler("__plait_update__", f, name, dynamic)

        def validator(v: Callable[..., Any]) -> Callable[..., Any]:
            f.__plait_validator__ = v  # type: ignore[attr-defined]
            return v
        f.validator = validator  # type: ignore[attr-defined]
        return f
    return wrap(fn) if fn is not None else wrap


# -- inside a workflow -----------------------------------------------------------------------
def _instance() -> WorkflowInstance:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if not isinstance(loop, WorkflowInstance):
        raise RuntimeError("this call is only valid inside workflow code")
    return loop


def in_workflow() -> bool:
    try:
        return isinstance(asyncio.get_running_loop(), WorkflowInstance)
    except RuntimeError:
        return False


def info() -> WorkflowInfo:
    return _instance().info


def now() -> dt.datetime:
    """The time of the current workflow task, from history (aware, UTC, never backwards)."""
    return dt.datetime.fromtimestamp(_instance().time(), dt.UTC)


def random() -> Any:
    """A ``random.Random`` seeded per run: the same numbers on every replay."""
    return _instance().random()


def uuid4() -> _uuid.UUID:
    return _uuid.UUID(int=_instance().random().getrandbits(128), version=4)


async def sleep(duration: float | timedelta) -> None:
    """A durable timer; ``asyncio.sleep`` inside a workflow is the same thing."""
    seconds = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
    await asyncio.sleep(seconds)


async def wait_condition(fn: Callable[[], bool], *, timeout: float | timedelta | None = None
                         ) -> None:
    """Wait until ``fn()`` is true; raises ``asyncio.TimeoutError`` after ``timeout``."""
    fut = _instance().wait_condition(fn)
    if timeout is None:
        await fut
        return
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
    await asyncio.wait_for(fut, seconds)


async def wait(fs: Iterable[asyncio.Future[T]], *, timeout: float | timedelta | None = None,
               return_when: str = asyncio.ALL_COMPLETED
               ) -> tuple[set[asyncio.Future[T]], set[asyncio.Future[T]]]:
    """Temporal's deterministic ``asyncio.wait``. In plait ``asyncio.wait`` itself is
    deterministic (the workflow's loop is the runtime), so this is that, with a timeout that
    may be a timedelta (a durable timer, as every workflow timeout is)."""
    return await asyncio.wait(fs, timeout=_seconds(timeout), return_when=return_when)


def all_handlers_finished() -> bool:
    """True when no async signal or update handler of this run is still running; wait for it
    before returning so that no update is left without its answer::

        await workflow.wait_condition(workflow.all_handlers_finished)
    """
    return _instance().all_handlers_finished()


def time() -> float:
    """:func:`now` as seconds since the epoch (Temporal's ``workflow.time()``)."""
    return _instance().time()


class _RunContext(logging.Filter):
    """Silences ``workflow.logger`` while the workflow replays (a line is logged once, when
    the code first runs it, not again on every worker that rebuilds the run), and puts the run
    on every record it lets through: ``workflow_id``, ``run_id``, ``workflow_type`` and
    ``task_queue`` as record attributes, for formatters and log pipelines."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return True
        if not isinstance(loop, WorkflowInstance):
            return True
        if loop.replaying or loop.quiet:
            return False
        who = loop.who
        record.workflow_id = who.workflow_id
        record.run_id = who.run_id
        record.workflow_type = who.workflow_type
        record.task_queue = who.task_queue
        record.namespace = who.namespace
        return True


logger = logging.getLogger("plait.workflow.user")
"""A logger that stays silent while a workflow replays; its records carry the run
(``workflow_id``, ``run_id``, ``workflow_type``, ``task_queue``, ``namespace``)."""
logger.addFilter(_RunContext())


# -- activities ----------------------------------------------------------------------------------
def _retry_policy(policy: RetryPolicy | None) -> common.RetryPolicy | None:
    return msgspec.convert(policy.to_dict(), common.RetryPolicy) if policy else None


def _seconds(value: timedelta | float | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class ActivityOptions(TypedDict, total=False):
    """The keyword options of :func:`start_activity` and :func:`execute_activity` (a type for
    editors and type checkers; the defaults are the functions')."""

    task_queue: str | None
    start_to_close_timeout: timedelta | None
    schedule_to_close_timeout: timedelta | None
    schedule_to_start_timeout: timedelta | None
    heartbeat_timeout: timedelta | None
    retry_policy: RetryPolicy | None
    rate_limit_key: str | None
    cancellation_type: (Literal["try_cancel", "wait_cancellation_completed", "abandon"]
                        | ActivityCancellationType)
    header: Header | None


# Typed forms first: an async activity, a sync one (run in a thread), then by name (untyped);
# with Temporal's ``args=[...]`` the arguments are not checked against the activity.
@overload
def start_activity(activity: Callable[..., Awaitable[R]], *, args: Sequence[Any],
                   **options: Unpack[ActivityOptions]) -> asyncio.Future[R]: ...
@overload
def start_activity(activity: Callable[..., R], *, args: Sequence[Any],
                   **options: Unpack[ActivityOptions]) -> asyncio.Future[R]: ...
@overload
def start_activity(activity: Callable[[*Ts], Awaitable[R]], *positional: *Ts,
                   **options: Unpack[ActivityOptions]) -> asyncio.Future[R]: ...
@overload
def start_activity(activity: Callable[[*Ts], R], *positional: *Ts,
                   **options: Unpack[ActivityOptions]) -> asyncio.Future[R]: ...
@overload
def start_activity(activity: str, *positional: Any,
                   **options: Unpack[ActivityOptions]) -> asyncio.Future[Any]: ...
# mypy cannot match the *Ts overloads with an implementation that also takes the args=
# overloads' ``Callable[..., R]`` (it wants the TypeVarTuple in both): the overloads are
# what callers are checked against.
def start_activity(  # type: ignore[misc]
    activity: Callable[..., Any] | str,
    *positional: Any,
    task_queue: str | None = None,
    start_to_close_timeout: timedelta | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    rate_limit_key: str | None = None,
    cancellation_type: (Literal["try_cancel", "wait_cancellation_completed", "abandon"]
                        | ActivityCancellationType) = "try_cancel",
    header: Header | None = None,
    args: Sequence[Any] = (),
) -> asyncio.Future[Any]:
    """Schedule an activity and return at once; await the result for its outcome."""
    if start_to_close_timeout is None and schedule_to_close_timeout is None:
        raise ValueError("an activity needs start_to_close_timeout or schedule_to_close_timeout")
    for value in (start_to_close_timeout, schedule_to_close_timeout, schedule_to_start_timeout,
                  heartbeat_timeout):
        if value is not None and value <= timedelta(0):
            raise ValueError(f"activity timeouts must be positive, not {value}")
    if isinstance(activity, str):
        name, ret_hint = activity, Any
    else:
        d = activity_defn_of(activity)
        name, ret_hint = d.name, d.ret_hint
    if cancellation_type not in ("try_cancel", "wait_cancellation_completed", "abandon"):
        raise ValueError(f"unknown cancellation_type {cancellation_type!r}")
    inst = _instance()
    if _intercepting and inst.outbound is not None:
        return inst.outbound.start_activity(StartActivityInput(
            activity=name, args=(*positional, *args), headers=dict(header or {}),
            ret_type=ret_hint, task_queue=task_queue,
            start_to_close_timeout=start_to_close_timeout,
            schedule_to_close_timeout=schedule_to_close_timeout,
            schedule_to_start_timeout=schedule_to_start_timeout,
            heartbeat_timeout=heartbeat_timeout, retry_policy=retry_policy,
            rate_limit_key=rate_limit_key, cancellation_type=str(cancellation_type)))
    # Scheduled from this frame, not from a helper's: the replay check walks the stack up to
    # the workflow's line for each command, and a frame more costs that walk a step more.
    return inst.schedule_activity(_activity_command(
        inst, name, (*positional, *args), task_queue, start_to_close_timeout,
        schedule_to_close_timeout, schedule_to_start_timeout, heartbeat_timeout,
        retry_policy, rate_limit_key, header), ret_hint, str(cancellation_type))


def _activity_command(inst: WorkflowInstance, name: str, args: Sequence[Any],
                      task_queue: str | None, start_to_close_timeout: timedelta | None,
                      schedule_to_close_timeout: timedelta | None,
                      schedule_to_start_timeout: timedelta | None,
                      heartbeat_timeout: timedelta | None, retry_policy: RetryPolicy | None,
                      rate_limit_key: str | None, header: Header | None
                      ) -> c.ScheduleActivityCommand:
    return c.ScheduleActivityCommand(
        activity_id="",  # the instance numbers it
        activity_type=name,
        task_queue=task_queue or inst.info.task_queue,
        input=inst.conv.to_payloads(args),
        start_to_close_timeout=_seconds(start_to_close_timeout),
        schedule_to_close_timeout=_seconds(schedule_to_close_timeout),
        schedule_to_start_timeout=_seconds(schedule_to_start_timeout),
        heartbeat_timeout=_seconds(heartbeat_timeout),
        retry_policy=_retry_policy(retry_policy),
        rate_limit_key=rate_limit_key,
        header=header or {},
    )


@overload
async def execute_activity(activity: Callable[..., Awaitable[R]], *, args: Sequence[Any],
                           **options: Unpack[ActivityOptions]) -> R: ...
@overload
async def execute_activity(activity: Callable[..., R], *, args: Sequence[Any],
                           **options: Unpack[ActivityOptions]) -> R: ...
@overload
async def execute_activity(activity: Callable[[*Ts], Awaitable[R]], *positional: *Ts,
                           **options: Unpack[ActivityOptions]) -> R: ...
@overload
async def execute_activity(activity: Callable[[*Ts], R], *positional: *Ts,
                           **options: Unpack[ActivityOptions]) -> R: ...
@overload
async def execute_activity(activity: str, *positional: Any,
                           **options: Unpack[ActivityOptions]) -> Any: ...
async def execute_activity(  # type: ignore[misc]  # (see start_activity)
        activity: Callable[..., Any] | str, *positional: Any, **options: Any) -> Any:
    """Run an activity to its final outcome (retries included); raises ``ActivityError``."""
    return await start_activity(activity, *positional, **options)


# Temporal's names for an activity that is a method (``MyActivities.charge``, unbound): in
# plait the plain functions take methods too, bound or not; these are the same calls.
@overload
def start_activity_method(activity: Callable[[SelfT, *Ts], Awaitable[R]], *positional: *Ts,
                          **options: Unpack[ActivityOptions]) -> asyncio.Future[R]: ...
@overload
def start_activity_method(activity: Callable[[SelfT, *Ts], R], *positional: *Ts,
                          **options: Unpack[ActivityOptions]) -> asyncio.Future[R]: ...
def start_activity_method(activity: Callable[[SelfT, *Ts], Any], *positional: *Ts,
                          **options: Any) -> asyncio.Future[Any]:
    """:func:`start_activity` for an activity given as ``Class.method``."""
    fn: Any = activity
    return start_activity(fn, *positional, **options)


@overload
async def execute_activity_method(activity: Callable[[SelfT, *Ts], Awaitable[R]], *positional: *Ts,
                                  **options: Unpack[ActivityOptions]) -> R: ...
@overload
async def execute_activity_method(activity: Callable[[SelfT, *Ts], R], *positional: *Ts,
                                  **options: Unpack[ActivityOptions]) -> R: ...
async def execute_activity_method(activity: Callable[[SelfT, *Ts], Any], *positional: *Ts,
                                  **options: Any) -> Any:
    """:func:`execute_activity` for an activity given as ``Class.method``."""
    fn: Any = activity
    return await start_activity(fn, *positional, **options)


# -- local activities ------------------------------------------------------------------------
class LocalActivityOptions(TypedDict, total=False):
    """The keyword options of :func:`start_local_activity` and :func:`execute_local_activity`."""

    start_to_close_timeout: timedelta | None
    schedule_to_close_timeout: timedelta | None
    retry_policy: RetryPolicy | None
    local_retry_threshold: timedelta
    header: Header | None


@overload
def start_local_activity(activity: Callable[..., Awaitable[R]], *, args: Sequence[Any],
                         **options: Unpack[LocalActivityOptions]) -> asyncio.Future[R]: ...
@overload
def start_local_activity(activity: Callable[..., R], *, args: Sequence[Any],
                         **options: Unpack[LocalActivityOptions]) -> asyncio.Future[R]: ...
@overload
def start_local_activity(activity: Callable[[*Ts], Awaitable[R]], *positional: *Ts,
                         **options: Unpack[LocalActivityOptions]) -> asyncio.Future[R]: ...
@overload
def start_local_activity(activity: Callable[[*Ts], R], *positional: *Ts,
                         **options: Unpack[LocalActivityOptions]) -> asyncio.Future[R]: ...
@overload
def start_local_activity(activity: str, *positional: Any,
                         **options: Unpack[LocalActivityOptions]) -> asyncio.Future[Any]: ...
def start_local_activity(  # type: ignore[misc]  # (see start_activity)
    activity: Callable[..., Any] | str,
    *positional: Any,
    start_to_close_timeout: timedelta | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    local_retry_threshold: timedelta = timedelta(minutes=1),
    header: Header | None = None,
    args: Sequence[Any] = (),
) -> asyncio.Future[Any]:
    """Start a local activity and return at once; await the result for its outcome.

    A local activity runs in this workflow's own worker (it must be registered there),
    while the workflow task is open, with no trip through the server's task queues; its
    outcome is recorded in the history as a MARKER_RECORDED event, and replay reads it from
    there instead of running it again. Failed attempts are retried in the worker per
    ``retry_policy``; once retrying would wait past ``local_retry_threshold``, the next
    attempt waits on a durable timer instead. For short work (milliseconds to seconds):
    the workflow task stays open while it runs."""
    if start_to_close_timeout is None and schedule_to_close_timeout is None:
        raise ValueError("a local activity needs start_to_close_timeout or "
                         "schedule_to_close_timeout")
    for value in (start_to_close_timeout, schedule_to_close_timeout, local_retry_threshold):
        if value is not None and value <= timedelta(0):
            raise ValueError(f"local activity timeouts must be positive, not {value}")
    if isinstance(activity, str):
        name, ret_hint = activity, Any
    else:
        d = activity_defn_of(activity)
        name, ret_hint = d.name, d.ret_hint
    inst = _instance()
    given = StartLocalActivityInput(
        activity=name, args=(*positional, *args), headers=dict(header or {}),
        ret_type=ret_hint, start_to_close_timeout=start_to_close_timeout,
        schedule_to_close_timeout=schedule_to_close_timeout, retry_policy=retry_policy,
        local_retry_threshold=local_retry_threshold)
    if _intercepting and inst.outbound is not None:
        return inst.outbound.start_local_activity(given)
    return _start_local(inst, given)


def _start_local(inst: WorkflowInstance, given: StartLocalActivityInput) -> asyncio.Future[Any]:
    return inst.start_local_activity(PendingLocal(
        future=inst.create_future(), ret_hint=given.ret_type, activity_type=given.activity,
        activity_id="", input=inst.conv.to_payloads(given.args), header=dict(given.headers),
        start_to_close_timeout=_seconds(given.start_to_close_timeout),
        schedule_to_close_timeout=_seconds(given.schedule_to_close_timeout),
        retry_policy=given.retry_policy or RetryPolicy(),
        local_retry_threshold=given.local_retry_threshold.total_seconds(),
        where=user_location()))


@overload
async def execute_local_activity(activity: Callable[..., Awaitable[R]], *, args: Sequence[Any],
                                 **options: Unpack[LocalActivityOptions]) -> R: ...
@overload
async def execute_local_activity(activity: Callable[..., R], *, args: Sequence[Any],
                                 **options: Unpack[LocalActivityOptions]) -> R: ...
@overload
async def execute_local_activity(activity: Callable[[*Ts], Awaitable[R]], *positional: *Ts,
                                 **options: Unpack[LocalActivityOptions]) -> R: ...
@overload
async def execute_local_activity(activity: Callable[[*Ts], R], *positional: *Ts,
                                 **options: Unpack[LocalActivityOptions]) -> R: ...
@overload
async def execute_local_activity(activity: str, *positional: Any,
                                 **options: Unpack[LocalActivityOptions]) -> Any: ...
async def execute_local_activity(  # type: ignore[misc]  # (see start_activity)
        activity: Callable[..., Any] | str, *positional: Any, **options: Any) -> Any:
    """Run a local activity to its final outcome (:func:`start_local_activity`); raises
    ``ActivityError`` as an activity does."""
    return await start_local_activity(activity, *positional, **options)


@overload
def start_local_activity_method(activity: Callable[[SelfT, *Ts], Awaitable[R]],
                                *positional: *Ts, **options: Unpack[LocalActivityOptions]
                                ) -> asyncio.Future[R]: ...
@overload
def start_local_activity_method(activity: Callable[[SelfT, *Ts], R], *positional: *Ts,
                                **options: Unpack[LocalActivityOptions]
                                ) -> asyncio.Future[R]: ...
def start_local_activity_method(activity: Callable[[SelfT, *Ts], Any], *positional: *Ts,
                                **options: Any) -> asyncio.Future[Any]:
    """:func:`start_local_activity` for an activity given as ``Class.method``."""
    fn: Any = activity
    return start_local_activity(fn, *positional, **options)


@overload
async def execute_local_activity_method(activity: Callable[[SelfT, *Ts], Awaitable[R]],
                                        *positional: *Ts,
                                        **options: Unpack[LocalActivityOptions]) -> R: ...
@overload
async def execute_local_activity_method(activity: Callable[[SelfT, *Ts], R], *positional: *Ts,
                                        **options: Unpack[LocalActivityOptions]) -> R: ...
async def execute_local_activity_method(activity: Callable[[SelfT, *Ts], Any],
                                        *positional: *Ts, **options: Any) -> Any:
    """:func:`execute_local_activity` for an activity given as ``Class.method``."""
    fn: Any = activity
    return await start_local_activity(fn, *positional, **options)


def upsert_search_attributes(attrs: SearchAttributes) -> None:
    """Set search attributes (merged into the current ones): list and count filter on them."""
    _instance().upsert_search_attributes(dict(attrs))


# -- changing code under running workflows ----------------------------------------------
def patched(patch_id: str) -> bool:
    """True on the new code path: always for new runs; for a run that started before this
    patch, only from where its history recorded the patch (so old runs replay unchanged)."""
    return _instance().patched(patch_id)


def deprecate_patch(patch_id: str) -> None:
    """Mark that every run still open took the patched path; the old branch can go."""
    _instance().patched(patch_id, deprecated=True)


# -- other workflows ----------------------------------------------------------------------
def _workflow_ref(workflow: Any) -> tuple[str, Any]:
    if isinstance(workflow, str):
        return workflow, Any
    d = workflow_defn_of(workflow)
    return d.name, d.ret_hint


class ExternalWorkflowHandle:
    """Another workflow, by id: signal it or ask it to cancel (durably, from history)."""

    def __init__(self, workflow_id: str, run_id: str | None = None) -> None:
        self.id = workflow_id
        self.run_id = run_id

    async def signal(self, signal: Callable[..., Any] | str, *args: Any) -> None:
        from plait.client import _handler_name

        inst = _instance()
        await inst.external(c.SignalExternalCommand(
            seq="", workflow_id=self.id, run_id=self.run_id,
            signal_name=_handler_name(signal), input=inst.conv.to_payloads(args)))

    async def cancel(self) -> None:
        await _instance().external(c.CancelExternalCommand(
            seq="", workflow_id=self.id, run_id=self.run_id))


class ChildWorkflowHandle(ExternalWorkflowHandle, Generic[R]):
    """A started child: await it for its result (``ChildWorkflowError`` if it failed)."""

    def __init__(self, workflow_id: str, run_id: str, result: asyncio.Future[R]) -> None:
        super().__init__(workflow_id, run_id)
        self._result = result

    def __await__(self) -> Generator[Any, None, R]:
        return self._result.__await__()


def get_external_workflow_handle(workflow_id: str, *, run_id: str | None = None
                                 ) -> ExternalWorkflowHandle:
    return ExternalWorkflowHandle(workflow_id, run_id)


class ChildWorkflowOptions(TypedDict, total=False):
    """The keyword options of :func:`start_child_workflow` and :func:`execute_child_workflow`
    (a type for editors and type checkers; the defaults are the functions')."""

    id: str | None
    task_queue: str | None
    parent_close_policy: Literal["terminate", "request_cancel", "abandon"] | ParentClosePolicy
    execution_timeout: timedelta | None
    task_timeout: timedelta | None
    id_reuse_policy: str
    memo: Memo | None
    search_attributes: SearchAttributes | None
    header: Header | None


@overload
async def start_child_workflow(workflow: Callable[..., Awaitable[R]], *, args: Sequence[Any],
                               **options: Unpack[ChildWorkflowOptions]
                               ) -> ChildWorkflowHandle[R]: ...
@overload
async def start_child_workflow(workflow: Callable[[SelfT, *Ts], Awaitable[R]], *positional: *Ts,
                               **options: Unpack[ChildWorkflowOptions]
                               ) -> ChildWorkflowHandle[R]: ...
@overload
async def start_child_workflow(workflow: str | type, *positional: Any,
                               **options: Unpack[ChildWorkflowOptions]
                               ) -> ChildWorkflowHandle[Any]: ...
async def start_child_workflow(  # type: ignore[misc]  # (see start_activity)
    workflow: Callable[..., Awaitable[Any]] | type | str,
    *positional: Any,
    id: str | None = None,
    task_queue: str | None = None,
    parent_close_policy: Literal["terminate", "request_cancel", "abandon"] | ParentClosePolicy
    = "terminate",
    execution_timeout: timedelta | None = None,
    task_timeout: timedelta | None = None,
    id_reuse_policy: str = "allow_duplicate",
    memo: Memo | None = None,
    search_attributes: SearchAttributes | None = None,
    header: Header | None = None,
    args: Sequence[Any] = (),
) -> ChildWorkflowHandle[Any]:
    """Start a child workflow and return once it has started (the id defaults to
    ``<parent id>-child-<n>``); raises ``WorkflowAlreadyStartedError`` if the id is taken."""
    name, ret_hint = _workflow_ref(workflow)
    inst = _instance()
    if _intercepting and inst.outbound is not None:
        return await inst.outbound.start_child_workflow(StartChildWorkflowInput(
            workflow=name, args=(*positional, *args), headers=dict(header or {}),
            ret_type=ret_hint, id=id, task_queue=task_queue,
            parent_close_policy=str(parent_close_policy), execution_timeout=execution_timeout,
            task_timeout=task_timeout, id_reuse_policy=str(id_reuse_policy), memo=memo,
            search_attributes=search_attributes))
    return await _start_child(inst, name, ret_hint, (*positional, *args), id, task_queue,
                              str(parent_close_policy), execution_timeout, task_timeout,
                              str(id_reuse_policy), memo, search_attributes, header)


async def _start_child(inst: WorkflowInstance, name: str, ret_hint: Any, args: Sequence[Any],
                       id: str | None, task_queue: str | None, parent_close_policy: str,
                       execution_timeout: timedelta | None, task_timeout: timedelta | None,
                       id_reuse_policy: str, memo: Memo | None,
                       search_attributes: SearchAttributes | None, header: Header | None
                       ) -> ChildWorkflowHandle[Any]:
    started, result, wid = inst.start_child(c.StartChildWorkflowCommand(
        seq="", workflow_type=name, workflow_id=id or "", task_queue=task_queue,
        input=inst.conv.to_payloads(args),
        parent_close_policy=_ParentClosePolicy(parent_close_policy),
        execution_timeout=_seconds(execution_timeout), task_timeout=_seconds(task_timeout),
        id_reuse_policy=IdReusePolicy(id_reuse_policy), memo=memo,
        search_attributes=search_attributes, header=header or {}), ret_hint)
    run_id = await started
    return ChildWorkflowHandle(wid, run_id, result)


_intercepting = False
"""Whether any run in this process has interceptors (set once the first chain is made): a
module global is the cheapest test on the path of every activity a workflow starts."""


class _WorkflowCalls(WorkflowOutboundInterceptor):
    """The innermost outbound link of a run's interceptors: the calls themselves."""

    def __init__(self) -> None:
        global _intercepting
        _intercepting = True

    def start_activity(self, input: StartActivityInput) -> asyncio.Future[Any]:
        inst = _instance()
        return inst.schedule_activity(_activity_command(
            inst, input.activity, input.args, input.task_queue, input.start_to_close_timeout,
            input.schedule_to_close_timeout, input.schedule_to_start_timeout,
            input.heartbeat_timeout, input.retry_policy, input.rate_limit_key, input.headers),
            input.ret_type, input.cancellation_type)

    def start_local_activity(self, input: StartLocalActivityInput) -> asyncio.Future[Any]:
        return _start_local(_instance(), input)

    async def start_child_workflow(self, input: StartChildWorkflowInput
                                   ) -> ChildWorkflowHandle[Any]:
        return await _start_child(
            _instance(), input.workflow, input.ret_type, input.args, input.id,
            input.task_queue, input.parent_close_policy, input.execution_timeout,
            input.task_timeout, input.id_reuse_policy, input.memo, input.search_attributes,
            input.headers)


@overload
async def execute_child_workflow(workflow: Callable[..., Awaitable[R]], *, args: Sequence[Any],
                                 **options: Unpack[ChildWorkflowOptions]) -> R: ...
@overload
async def execute_child_workflow(workflow: Callable[[SelfT, *Ts], Awaitable[R]], *positional: *Ts,
                                 **options: Unpack[ChildWorkflowOptions]) -> R: ...
@overload
async def execute_child_workflow(workflow: str | type, *positional: Any,
                                 **options: Unpack[ChildWorkflowOptions]) -> Any: ...
async def execute_child_workflow(  # type: ignore[misc]  # (see start_activity)
        workflow: Callable[..., Awaitable[Any]] | type | str, *positional: Any,
        **options: Any) -> Any:
    """Run a child workflow to its end; raises ``ChildWorkflowError`` when it did not complete."""
    return await (await start_child_workflow(workflow, *positional, **options))


def continue_as_new(*positional: Any, task_queue: str | None = None,
                    workflow: Callable[..., Any] | type | str | None = None,
                    args: Sequence[Any] = ()) -> NoReturn:
    """Close this run as CONTINUED_AS_NEW and start a fresh run (fresh history) of the same
    workflow id with these arguments (``args=[...]``: Temporal's spelling). Never returns."""
    inst = _instance()
    raise ContinueAsNew(c.ContinueAsNewCommand(
        input=inst.conv.to_payloads((*positional, *args)), task_queue=task_queue,
        workflow_type=_workflow_ref(workflow)[0] if workflow is not None else None))


_NOT_IN_PLAIT: dict[str, str] = {}
"""Temporal names plait deliberately lacks, each with what to write instead."""


def __getattr__(name: str) -> Any:
    if name in _NOT_IN_PLAIT:
        raise AttributeError(f"plait.workflow has no {name}: {_NOT_IN_PLAIT[name]} "
                             "(see docs/from-temporal.md)")
    raise AttributeError(f"module 'plait.workflow' has no attribute {name!r}")
