"""A running workflow: its own asyncio event loop, driven only by history events.

The instance *is* the event loop of the workflow's coroutines. ``call_soon`` queues work that
runs when an activation runs; ``call_later`` becomes a durable timer command, so
``asyncio.sleep`` and ``asyncio.wait_for`` are durable too; ``time()`` is the workflow task's
time from history. An activation applies new events (one handler per event type,
:mod:`~plait.runtime.events_in`), runs every ready callback until nothing can move, and
returns the commands the code produced, or the workflow task's failure: it never raises. In
replay, those commands are checked against the ones recorded in history. An instance that
leaves the worker's cache is unwound on this loop (:mod:`~plait.runtime.eviction`).
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import logging
import random
import uuid
from collections.abc import Callable
from typing import Any

from plait import errors
from plait.converter import DEFAULT_CONVERSIONS, Conversions
from plait.interceptor import WorkflowInboundInterceptor, WorkflowOutboundInterceptor
from plait.protocol import commands as c
from plait.protocol.commands import CLOSING, Command
from plait.protocol.common import Header, Payload, SearchAttributes
from plait.protocol.completions import UpdateRejection
from plait.protocol.history import Event
from plait.protocol.tasks import UpdateRequested
from plait.runtime.activations import Activation, split
from plait.runtime.definitions import WorkflowDefn
from plait.runtime.durable_timer import DurableTimer
from plait.runtime.events_in import Events, UnknownEventError
from plait.runtime.eviction import unwind
from plait.runtime.handlers import Handlers, failure_of
from plait.runtime.history_size import HistorySize
from plait.runtime.info import RunIdentity, WorkflowInfo
from plait.runtime.intercepting import WorkflowInterceptors
from plait.runtime.local_activities import LocalActivities, MarkerDetails, PendingLocal
from plait.runtime.outcome import ActivationResult, TaskFailure
from plait.runtime.registries import PendingActivity, PendingChild, WaitingCondition
from plait.runtime.replay_check import Issued, mismatch, patch_id, user_location

__all__ = ["ActivationResult", "ActivityFuture", "ContinueAsNew", "TaskFailure", "WorkflowInfo",
           "WorkflowInstance", "new_instance"]

log = logging.getLogger("plait.workflow")


class ActivityFuture(asyncio.Future[Any]):
    """An activity's outcome; ``cancel()`` asks the activity to stop, per cancellation type.

    ``try_cancel``: ask, and cancel this future at once. ``wait_cancellation_completed``: ask,
    and stay pending until the activity has stopped (then the awaiting task is cancelled).
    ``abandon``: cancel this future without asking the activity.
    """

    def __init__(self, instance: WorkflowInstance, activity_id: str, mode: str) -> None:
        super().__init__(loop=instance)
        self._instance, self.activity_id, self._mode = instance, activity_id, mode
        self._asked = False

    def cancel(self, msg: Any = None) -> bool:
        if self.done():
            return False
        if self._mode != "abandon" and not self._asked:
            self._asked = True
            self._instance._request_cancel_activity(self.activity_id)
        if self._mode == "wait_cancellation_completed":
            return False
        self._instance._activities.pop(self.activity_id, None)
        return super().cancel(msg)


class ContinueAsNew(BaseException):
    """Raised by ``workflow.continue_as_new``: ends this run and starts the next one.

    A BaseException, so ``except Exception`` in workflow code cannot swallow it.
    """

    def __init__(self, command: c.ContinueAsNewCommand) -> None:
        super().__init__("continue as new")
        self.command = command


class WorkflowInstance(Events, Handlers, LocalActivities, asyncio.AbstractEventLoop):
    """One run of a workflow, and the event loop its coroutines run on."""

    quiet = False
    """Set (on the instance) while a copy rebuilt to answer a query runs the workflow's code:
    ``workflow.logger`` stays silent as in replay, since the worker that runs the run's next
    task runs that code again. A class default, so cached instances carry no extra key."""

    interceptors: WorkflowInterceptors | None = None
    """The worker's workflow interceptors, when it has some (set by :func:`new_instance`);
    like the chains below, a class default for the runs of a worker without any."""
    inbound: WorkflowInboundInterceptor | None = None
    """The run's inbound chain (:mod:`plait.runtime.intercepting`), made when it starts."""
    outbound: WorkflowOutboundInterceptor | None = None
    """The run's outbound chain: ``plait.workflow`` calls it when set."""

    conv: Conversions = DEFAULT_CONVERSIONS
    """How the run's values become payloads and back (its worker's converter)."""

    def __init__(self, defn: WorkflowDefn, who: RunIdentity) -> None:
        self.defn = defn
        # Only who the run is: the task itself (its events, its token) would stay alive as
        # long as the instance sits in the worker's cache, about half of an idle one's memory.
        self.who = who
        self.history_size = HistorySize()
        self.info = WorkflowInfo(who, None, self.history_size)
        self.upto = 0
        self.clock_offset = 0.0
        """The server's clock minus this process's monotonic clock, as of the last task the
        worker was handed: how a chained step estimates its start time."""
        self.closed = False
        self.recorded: list[Event] | None = None
        """The command events the activation being replayed recorded; None while live. (Not
        a separate flag: a 30th attribute would cost every cached instance its shared key
        table, ``tests/unit/test_cache_memory.py``.)"""
        self._ready: collections.deque[asyncio.Handle] = collections.deque()
        self._tasks: list[asyncio.Task[Any]] | None = []
        """The workflow's tasks not known to be done, in creation order (eviction unwinds
        them in that order); None once evicted."""
        self._commands: list[Issued] = []
        """The commands of this activation so far, each with the line that issued it."""
        self._seq = 0
        self._now = 0.0
        self._activities: dict[str, PendingActivity | PendingLocal] = {}
        self._timers: dict[str, DurableTimer] = {}
        self._conditions: list[WaitingCondition] = []
        self._children: dict[str, PendingChild] = {}
        self._externals: dict[str, asyncio.Future[None]] = {}
        self._signal_handlers: dict[str, Callable[..., Any]] = {}
        self._pending_signals: dict[str, list[tuple[list[Payload], Header | None]]] = {}
        self.cancel_requested = False
        self.rejections: list[UpdateRejection] = []
        """Updates refused by their validator in the last activation (no history event)."""
        self._known_patches: set[str] = set()
        self._patch_memo: dict[str, bool] = {}
        self._random: random.Random | None = None
        self._object: Any = None
        self._main: asyncio.Task[Any] | None = None
        self._failure: TaskFailure | None = None
        self._context = contextvars.copy_context()

    # -- driving --------------------------------------------------------------------------------
    @property
    def replaying(self) -> bool:
        """Whether the activation running is replayed from history (or the instance is being
        unwound, its log lines silenced alike)."""
        return self.recorded is not None

    def replay_then_activate(self, events: list[Event], live_time: float | None,
                             updates: list[UpdateRequested] | None = None
                             ) -> ActivationResult:
        """Rebuild state from a full history, then run the live activation (if any) with the
        update requests its task delivers. Stops at the first activation that fails."""
        result = ActivationResult([])
        self._known_patches.update(pid for e in events if (pid := patch_id(e)))
        for act in split(events, live_time):
            result = self.activate(act, updates if act.commands is None else None)
            if result.failure is not None:
                break
        return result

    def activate(self, act: Activation, updates: list[UpdateRequested] | None = None,
                 local: MarkerDetails | None = None) -> ActivationResult:
        """Apply an activation's events, run the workflow until nothing can move, and give
        back its commands (checked against history when replayed) or why the task failed.
        Never raises: the worker reports a failure as a failed workflow task. ``local``: a
        local activity's outcome the worker feeds in (live, with no events)."""
        self.recorded = act.commands
        self._now = max(self._now, act.time)
        self.rejections = []
        try:
            self._run_activation(act, updates or [], local)
        except UnknownEventError as exc:
            self._failure = TaskFailure.of(exc, "unknown_event")
        except Exception as exc:  # a bug below the workflow code: still a visible failure
            self._failure = TaskFailure.of(exc, "worker_error")
        issued, self._commands = _until_close(self._commands), []
        if self._failure is None and act.commands is not None:
            problem = mismatch(issued, act.commands)
            if problem is not None and (waiting := self.locals_to_run()):
                # No command: the code started a local activity where history has
                # something else (an activity changed to a local one, say).
                problem += (f" (the code started local activity "
                            f"{waiting[0].activity_type!r} at {waiting[0].where}, which this "
                            "history does not record)")
            if problem is not None:
                self._failure = TaskFailure.of(errors.NonDeterminismError(
                    f"workflow {self.info.workflow_id} ({self.defn.name}): {problem}"),
                    "non_determinism")
        if self._failure is not None:
            return ActivationResult.failed(self._failure)
        commands = [i.command for i in issued]
        self.history_size.observe_commands(commands)
        self.upto = max(self.upto, act.last_event_id)
        self.recorded = None
        if self._tasks is not None:
            self._tasks = [t for t in self._tasks if not t.done()]
        return ActivationResult(commands)

    def resolve_local(self, details: MarkerDetails, time: float) -> ActivationResult:
        """A live activation that records a local activity's outcome (run by the worker
        while the task ``time`` is open) and runs the workflow on from it."""
        # The task's update rejections so far stay: they are answered with the task.
        rejections = self.rejections
        result = self.activate(Activation([], time, None, self.upto), local=details)
        self.rejections = rejections + self.rejections
        return result

    def _run_activation(self, act: Activation, updates: list[UpdateRequested],
                        local: MarkerDetails | None = None) -> None:
        # The whole activation runs on the workflow's loop: __init__, sync signal handlers
        # and update validators may use workflow.now(), info() and the rest.
        previous = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(self)
        try:
            self.history_size.observe_events(act.inputs)
            for event in act.inputs:
                self.apply_event(event)
            self._updates(act, updates)
            if local is not None:
                self._settle_local(local)
            self._run_until_idle()
            if act.commands is not None:
                self._replay_locals(act.commands)
        finally:
            asyncio.events._set_running_loop(previous)

    def evict(self) -> None:
        """Unwind the workflow's coroutines on this loop (:mod:`plait.runtime.eviction`):
        their cleanup runs now, once, and never later from the garbage collector. Whatever
        it asks for is dropped; the instance is dead afterwards. Its log lines are silenced
        as in replay: the run has not moved, it only leaves this worker."""
        tasks, self._tasks = self._tasks, None
        if tasks is None:
            return
        self.cancel_local_jobs()
        self.recorded = []  # silenced as in replay
        previous = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(self)
        try:
            unwind(self, tasks)
        finally:
            asyncio.events._set_running_loop(previous)
            self._ready.clear()
            self._commands.clear()
            self._conditions.clear()

    @property
    def evicted(self) -> bool:
        # Derived, not stored: a 30th attribute would turn every cached instance's __dict__
        # from a key-sharing dict (~300 bytes) into a plain one (~1.6 KB); test_cache_memory.
        return self._tasks is None

    def waits_only_on(self, activity_id: str) -> bool:
        """Whether this activity is the one thing the workflow waits for from outside (no
        other activity or child is out): a worker may then run the task its result unblocks
        right away (a chained step). With several out, results are better gathered into one
        task by the server than recorded as a task each."""
        return len(self._activities) == 1 and activity_id in self._activities \
            and all(child.result.done() for child in self._children.values())

    def _run_until_idle(self) -> None:
        """Run ready callbacks until nothing moves; stop at the first failure of the task."""
        while True:
            while self._ready:
                handle = self._ready.popleft()
                if not handle._cancelled:
                    handle._run()
                if self._failure is not None:
                    return
            if not self._check_conditions():
                break

    def _check_conditions(self) -> bool:
        moved = False
        for cond in list(self._conditions):
            if cond.future.done():
                self._conditions.remove(cond)
                continue
            try:
                ok = cond.predicate()
            except BaseException as exc:
                self._conditions.remove(cond)
                cond.future.set_exception(exc)
                moved = True
                continue
            if ok:
                self._conditions.remove(cond)
                cond.future.set_result(True)
                moved = True
        return moved

    # -- the end of the run ----------------------------------------------------------------
    def _on_main_done(self, task: asyncio.Task[Any]) -> None:
        if self.closed:
            return
        if task.cancelled():
            self._close(c.CancelWorkflowCommand(details="cancelled"))
            return
        exc = task.exception()
        if exc is None:
            self._close(c.CompleteWorkflowCommand(result=self.conv.to_payload(task.result())))
        elif isinstance(exc, ContinueAsNew):
            self._close(exc.command)
        elif self._fails_workflow(exc):
            self._close(c.FailWorkflowCommand(failure=failure_of(exc)))
        else:
            self._failure = TaskFailure.of(exc)

    def _close(self, command: Command) -> None:
        self.closed = True
        self._commands.append(Issued(command, ""))

    # -- commands out (called by plait.workflow) ----------------------------------------------
    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def schedule_activity(self, command: c.ScheduleActivityCommand, ret_hint: Any,
                          cancellation_type: str = "try_cancel") -> ActivityFuture:
        """Issue ``command`` under the next id (its ``activity_id`` is set here)."""
        aid = command.activity_id = str(self.next_seq())
        self._commands.append(Issued(command, user_location()))
        fut = ActivityFuture(self, aid, cancellation_type)
        self._activities[aid] = PendingActivity(fut, ret_hint, command.activity_type)
        return fut

    def start_child(self, command: c.StartChildWorkflowCommand, ret_hint: Any
                    ) -> tuple[asyncio.Future[str], asyncio.Future[Any], str]:
        """Issue ``command`` under the next seq; an empty ``workflow_id`` becomes
        ``<parent id>-child-<seq>``."""
        seq = command.seq = str(self.next_seq())
        wid = command.workflow_id = command.workflow_id or f"{self.info.workflow_id}-child-{seq}"
        self._commands.append(Issued(command, user_location()))
        started: asyncio.Future[str] = self.create_future()
        result: asyncio.Future[Any] = self.create_future()
        self._children[seq] = PendingChild(started, result, ret_hint, wid,
                                           command.workflow_type)
        return started, result, wid

    def external(self, command: c.SignalExternalCommand | c.CancelExternalCommand
                 ) -> asyncio.Future[None]:
        """Signal or cancel another workflow; the future resolves once it was delivered."""
        seq = command.seq = str(self.next_seq())
        self._commands.append(Issued(command, user_location()))
        fut: asyncio.Future[None] = self.create_future()
        self._externals[seq] = fut
        return fut

    def patched(self, patch_id: str, deprecated: bool = False) -> bool:
        """New code path? Recorded as a marker the first time it runs; in replay, true only
        where the history has that marker. One answer per run (memoized)."""
        if patch_id in self._patch_memo:
            return self._patch_memo[patch_id]
        use = patch_id in self._known_patches if self.replaying else True
        self._patch_memo[patch_id] = use
        if use:
            self._commands.append(Issued(c.RecordMarkerCommand(
                marker_name="patch", details={"patch_id": patch_id, "deprecated": deprecated}),
                user_location()))
        return use

    def upsert_search_attributes(self, attrs: SearchAttributes) -> None:
        self.info.search_attributes.update(attrs)
        self._commands.append(Issued(c.UpsertSearchAttributesCommand(search_attributes=attrs),
                                     user_location()))

    def _request_cancel_activity(self, aid: str) -> None:
        if self.closed:
            return
        self._commands.append(Issued(c.RequestCancelActivityCommand(activity_id=aid),
                                     user_location()))

    def start_timer(self, seconds: float, callback: Callable[..., Any],
                    args: tuple[Any, ...]) -> DurableTimer:
        tid = str(self.next_seq())
        self._commands.append(Issued(c.StartTimerCommand(timer_id=tid, duration=seconds),
                                     user_location()))
        timer = DurableTimer(self, tid, callback, args)
        self._timers[tid] = timer
        return timer

    def _cancel_timer(self, tid: str) -> None:
        if self._timers.pop(tid, None) is not None:
            self._commands.append(Issued(c.CancelTimerCommand(timer_id=tid), user_location()))

    def wait_condition(self, fn: Callable[[], bool]) -> asyncio.Future[bool]:
        fut: asyncio.Future[bool] = self.create_future()
        self._conditions.append(WaitingCondition(fn, fut))
        return fut

    def random(self) -> random.Random:
        """Seeded by the run id, made on first use: its 2.5 KB state is the largest part of
        an idle cached workflow that never asks for randomness."""
        if self._random is None:
            rid = self.info.run_id
            self._random = random.Random(uuid.UUID(rid).int if _is_uuid(rid) else rid)
        return self._random

    # -- the asyncio.AbstractEventLoop surface the workflow's coroutines use ------------------
    # The signatures widen asyncio's (our timers are durable handles, not TimerHandles).
    def call_soon(  # type: ignore[override]
            self, callback: Callable[..., Any], *args: Any,
            context: contextvars.Context | None = None) -> asyncio.Handle:
        handle = asyncio.Handle(callback, args, self, context or self._context)
        self._ready.append(handle)
        return handle

    def call_later(  # type: ignore[override]
            self, delay: float, callback: Callable[..., Any], *args: Any,
            context: contextvars.Context | None = None) -> Any:
        if delay <= 0:
            return self.call_soon(callback, *args, context=context)
        return self.start_timer(delay, callback, args)

    def call_at(  # type: ignore[override]
            self, when: float, callback: Callable[..., Any], *args: Any,
            context: contextvars.Context | None = None) -> Any:
        return self.call_later(when - self.time(), callback, *args, context=context)

    def time(self) -> float:
        return self._now

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.Future(loop=self)

    def create_task(self, coro: Any, *, name: str | None = None,
                    context: contextvars.Context | None = None) -> asyncio.Task[Any]:
        task = asyncio.Task(coro, loop=self, name=name, context=context or self._context)
        if self._tasks is not None:
            self._tasks.append(task)
        elif hasattr(coro, "close"):  # started by cleanup while evicted: it never runs
            coro.close()
        return task

    def get_debug(self) -> bool:
        return False

    def is_running(self) -> bool:
        return True

    def is_closed(self) -> bool:
        return False

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, BaseException) and self._failure is None and not self.evicted \
                and not isinstance(exc, asyncio.CancelledError):
            self._failure = TaskFailure.of(exc)
        elif exc is None:
            log.debug("workflow loop: %s", context.get("message"))

    def get_exception_handler(self) -> None:
        return None

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        self.call_exception_handler(context)

    def get_task_factory(self) -> None:
        return None


def _until_close(commands: list[Issued]) -> list[Issued]:
    """Nothing after the command that closes the run counts (the server ignores it too)."""
    for i, issued in enumerate(commands):
        if isinstance(issued.command, CLOSING):
            return commands[: i + 1]
    return commands


def new_instance(defn: WorkflowDefn, who: RunIdentity,
                 interceptors: WorkflowInterceptors | None = None,
                 conv: Conversions | None = None) -> WorkflowInstance:
    """``conv``: the worker's payload conversions (its client's converter), if not plait's
    JSON."""
    # The stubs mark AbstractEventLoop's I/O methods abstract; a workflow loop has no I/O.
    inst = WorkflowInstance(defn, who)  # type: ignore[abstract]
    if interceptors is not None:
        inst.interceptors = interceptors
    if conv is not None:
        inst.conv = conv
    return inst


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
        return True
    except ValueError:
        return False
