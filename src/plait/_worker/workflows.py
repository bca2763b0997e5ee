"""Running workflow tasks: cached instances (LRU) or full replay, then the completion.

A task says which event the worker's cache must have seen last (``previous_upto``); when the
cached instance has seen exactly that, only the new events are applied. Otherwise the instance
is rebuilt by replaying the full history.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec

from plait import errors
from plait._api import Api
from plait._worker.completions import Completions, Unread
from plait._worker.lease import Lease, LeaseStamp
from plait._worker.metrics import WorkerMetrics
from plait._worker.slots import Slots
from plait.protocol.attributes import ActivityTaskCompletedAttributes
from plait.protocol.commands import Command, ScheduleActivityCommand
from plait.protocol.common import Failure, Payload
from plait.protocol.completions import (
    CompleteWorkflowTaskItem,
    CompleteWorkflowTaskResponse,
    FailWorkflowTaskItem,
    RespondQueryRequest,
    WorkflowStep,
    WorkflowStepAnswer,
)
from plait.protocol.history import ActivityTaskCompletedEvent, Event
from plait.protocol.jsoncodec import dumps, loads
from plait.protocol.tasks import ActivityTask, QueryTask, WorkflowTask
from plait.runtime.activations import Activation, as_of, timestamp, wire_time
from plait.runtime.definitions import WorkflowDefn
from plait.runtime.handlers import failure_of
from plait.runtime.info import RunIdentity
from plait.runtime.instance import WorkflowInstance, new_instance
from plait.runtime.intercepting import WorkflowInterceptors
from plait.runtime.outcome import QueryAnswer, TaskFailure
from plait.runtime.wire import (
    UnknownEventError,
    UnreadableTask,
    encode,
    wire_commands,
    wire_failure,
    wire_payload,
    wire_rejections,
)

if TYPE_CHECKING:
    from plait._worker.local_activities import LocalActivityRunner

__all__ = ["LOCAL_BUDGET", "Chained", "WorkflowTasks"]

log = logging.getLogger("plait.worker")
LOCAL_BUDGET = 0.6
"""The share of the workflow task timeout a worker spends waiting on local activities before
it answers the task (with what it has) and asks for a new one."""
FAILING_KEPT = 1000
"""How many failing runs a worker remembers having shown (``WorkflowTasks.failing``)."""


@dataclasses.dataclass
class Chained:
    """A workflow task run on an activity's result, waiting to travel with it."""

    run_id: str
    inst: WorkflowInstance
    step: WorkflowStep
    """The completion item's ``workflow_step``."""
    reserved: int
    """Activity slots held for the activities the server may hand back."""
    stamp: LeaseStamp
    """The worker's lease stamp when the step was made, for the activities handed back."""


class WorkflowTasks:
    def __init__(self, workflows: dict[str, WorkflowDefn], max_cached: int, *, api: Api,
                 completions: Completions, held: set[str], task_queue: str, identity: str,
                 own_activities: frozenset[str], activity_slots: Slots,
                 eager: Callable[[], bool],
                 start_activity: Callable[[ActivityTask, LeaseStamp], None],
                 lease: Lease, metrics: WorkerMetrics | None = None,
                 interceptors: WorkflowInterceptors | None = None) -> None:
        """``held``: the tokens of running tasks (the lease heartbeat names them);
        ``own_activities``, ``activity_slots``, ``start_activity``: the activities this worker
        runs, so the ones a completion hands straight back (eager dispatch) start here, with
        the ``lease`` stamp taken when the completion was sent;
        ``eager``: whether to ask for such follow-up tasks now (not while shutting down);
        ``metrics``: where to count tasks and the cache's use (None: nothing is counted);
        ``interceptors``: what wraps each run (None: nothing)."""
        self.workflows = workflows
        self.max_cached = max_cached
        self.api = api
        self.completions = completions
        self.held = held
        self.task_queue = task_queue
        self.identity = identity
        self.own_activities = own_activities
        self.activity_slots = activity_slots
        self.eager = eager
        self.start_activity = start_activity
        self.lease = lease
        self.metrics = metrics
        self.interceptors = interceptors
        self.failing: collections.OrderedDict[str, str] = collections.OrderedDict()
        """Runs whose workflow task failed here, with the failure last shown: a failure is
        shown once per run, loudly, not at every retry (``_announce``)."""
        self.cache: collections.OrderedDict[str, WorkflowInstance] = collections.OrderedDict()
        self.locals: LocalActivityRunner | None = None
        """Runs local activities (set by the worker; None: workflows here start none)."""

    async def run(self, task: WorkflowTask | UnreadableTask | None) -> None:
        """Process a task and any follow-up task the server hands back with the completion."""
        metrics = self.metrics
        while task is not None:
            token = task.token
            self.held.add(token)
            arrived = time.monotonic() if metrics is not None else 0.0
            try:
                if isinstance(task, UnreadableTask):
                    task = await self._fail(task, UnknownEventError(task.problem),
                                            "unknown_event" if task.unknown_event
                                            else "worker_error")
                else:
                    task = await self._process(task)
            finally:
                self.held.discard(token)
            if metrics is not None:
                metrics.observe("workflow", arrived)

    async def _process(self, task: WorkflowTask) -> WorkflowTask | None:
        run_id = task.run_id
        defn = self.workflows.get(task.workflow_type)
        if defn is None:
            return await self._fail(task, errors.PlaitError(
                f"workflow type {task.workflow_type!r} is not registered on this worker "
                f"(task queue {self.task_queue!r}; registered: "
                f"{sorted(self.workflows) or 'none'})"), "unknown_workflow_type")
        inst = self.cache.pop(run_id, None)
        arrived = time.monotonic()
        metrics = self.metrics
        try:
            if inst is not None and inst.upto == task.previous_upto:
                if metrics is not None:
                    metrics.cache_hits += 1
                upto = inst.upto
                new = [e for e in task.events if e.event_id > upto]
                outcome = inst.replay_then_activate(new, task.started_time, task.updates)
            else:
                if metrics is not None:
                    metrics.cache_misses += 1
                if inst is not None:  # it missed events: unwound here, rebuilt by replay
                    inst.evict()
                    if metrics is not None:
                        metrics.evict("missed_events")
                inst = new_instance(defn, RunIdentity.of(task), self.interceptors,
                                    self.api.conv)
                events = await self._full_history(task)
                outcome = inst.replay_then_activate(events, task.started_time, task.updates)
        except UnknownEventError as e:  # the full history has an event from a newer server
            return await self._fail(task, e, "unknown_event")
        except Exception as e:  # the history could not be fetched: still fail the task visibly
            return await self._fail(task, e, "worker_error")
        if outcome.failure is not None:
            inst.evict()
            self._count_eviction("task_failed")
            return await self._fail(task, outcome.failure.cause, outcome.failure.kind)
        inst.clock_offset = task.started_time - arrived
        try:
            commands, more = outcome.commands, False
            if self.locals is not None and not inst.closed and inst.has_locals():
                ran = await self._run_locals(task, inst, commands, arrived)
                if isinstance(ran, TaskFailure):
                    inst.evict()
                    self._count_eviction("task_failed")
                    return await self._fail(task, ran.cause, ran.kind)
                commands, more = ran
            return await self._complete(task, inst, commands, force_new_task=more)
        except asyncio.CancelledError:  # shut down while reporting: cached by no one
            inst.evict()
            raise

    async def _run_locals(self, task: WorkflowTask, inst: WorkflowInstance,
                          commands: list[Command], arrived: float
                          ) -> tuple[list[Command], bool] | TaskFailure:
        """Run the run's local activities while its task is open, feeding each outcome to
        the workflow as it comes (which may start more); returns the commands gathered, and
        whether local activities are still running when the task must be answered, to keep
        it from timing out (the answer then asks for a new task, on which this worker
        carries on waiting: the run's instance, with the running activities, stays cached).
        """
        assert self.locals is not None
        deadline = arrived + LOCAL_BUDGET * inst.info.task_timeout
        while not inst.closed:
            for entry in inst.locals_to_run():
                if not self.locals.registered(entry.activity_type):
                    return TaskFailure.of(errors.PlaitError(
                        f"local activity type {entry.activity_type!r} is not registered on "
                        f"this worker (task queue {self.task_queue!r}; registered: "
                        f"{sorted(self.locals.activities) or 'none'}): a local activity runs "
                        "on its workflow's worker"), "worker_error")
                self.locals.start(RunIdentity.of(task), entry)
            running = inst.locals_running()
            if not running:
                return commands, False
            jobs = {e.job: e for e in running}
            done, _ = await asyncio.wait(jobs, timeout=max(0.0, deadline - time.monotonic()),
                                         return_when=asyncio.FIRST_COMPLETED)
            if not done:
                return commands, True
            for entry in sorted((jobs[j] for j in done), key=lambda e: int(e.activity_id)):
                job = entry.job
                if job is None or job.cancelled():
                    continue  # cancelled by the workflow meanwhile
                exc = job.exception()
                if exc is not None:
                    return TaskFailure.of(exc, "worker_error")
                result = inst.resolve_local(job.result(), task.started_time)
                if result.failure is not None:
                    return result.failure
                commands = commands + result.commands
                if inst.closed:
                    break
        return commands, False

    def chain(self, task: ActivityTask, result: Payload) -> Chained | None:
        """Run the workflow task an activity's result unblocks, here and now, when this
        worker caches the run and the workflow waits on nothing else; the step then travels
        with the result (:mod:`plait.server.chained`). None: report the result alone."""
        run_id = task.run_id
        inst = self.cache.get(run_id)
        if inst is None or inst.closed or not self.eager() \
                or not inst.waits_only_on(task.activity_id):
            return None
        del self.cache[run_id]  # in flight: a task arriving meanwhile replays instead
        started = max(inst.time(), wire_time(time.monotonic() + inst.clock_offset))
        # The server records the attempt's STARTED, then this COMPLETED (server.chained):
        # the id that the history will show, so the history size counts alike in replay.
        # The result as the workflow will read it from history (JSON values, not the objects
        # the activity returned); only the fields the runtime reads matter in this event.
        event = ActivityTaskCompletedEvent(
            event_id=inst.upto + 2, timestamp="", attributes=ActivityTaskCompletedAttributes(
                activity_id=task.activity_id, scheduled_event_id=0,
                activity_type=task.activity_type, attempt=task.attempt,
                result=loads(dumps(result))))
        outcome = inst.activate(Activation([event], started, None))
        if outcome.failure is not None or inst.has_locals():
            # A failing task is run (and reported) the usual way; so is one that starts a
            # local activity, which runs while a workflow task is open.
            inst.evict()
            return None
        commands, reserved = self._outcome(inst, outcome.commands)
        step = WorkflowStep(upto=inst.upto, started_time=started, commands=commands,
                            eager_activities=reserved,
                            update_rejections=wire_rejections(inst.rejections),
                            eager_workflow=self.eager() and not inst.closed)
        return Chained(run_id, inst, step, reserved, self.lease.stamp())

    def settle(self, chained: Chained, step: WorkflowStepAnswer | None
               ) -> WorkflowTask | None:
        """The server answered a chained step: keep the instance if the step was recorded.
        Refused, the instance has seen a result the history shows elsewhere: it is dropped,
        and the next task replays. Returns a workflow task handed back, if any."""
        if step is None or step.upto is None:
            self.abandon(chained)
            return None
        return self._settled(chained.run_id, chained.inst, step, chained.reserved,
                             chained.stamp)

    def abandon(self, chained: Chained) -> None:
        self.activity_slots.release(chained.reserved)
        chained.inst.evict()

    def evict_all(self) -> None:
        """Unwind every cached instance (at shutdown), so no workflow cleanup runs later."""
        while self.cache:
            self.cache.popitem(last=False)[1].evict()

    async def answer_query(self, task: QueryTask | UnreadableTask) -> None:
        token = task.token
        self.held.add(token)
        arrived = time.monotonic()
        try:
            try:
                if isinstance(task, UnreadableTask):
                    raise errors.PlaitError(task.problem)
                answer = await self._query(task)
            except Exception as e:  # always answer: the asker must not wait for a timeout
                log.exception("query %r on %s failed", getattr(task, "query_name", "?"),
                              task.workflow_id)
                answer = QueryAnswer(failure=failure_of(e), code="query_failed")
            await self.api.respond_query(RespondQueryRequest(
                token=token, code=answer.code, failure=wire_failure(answer.failure),
                result=wire_payload(answer.result) if answer.result is not None else None))
        except errors.RPCError as e:
            log.warning("query answer for %s not recorded: %s", task.workflow_id, e)
        finally:
            self.held.discard(token)
            if self.metrics is not None:
                self.metrics.observe("query", arrived)

    async def _query(self, task: QueryTask) -> QueryAnswer:
        defn = self.workflows.get(task.workflow_type)
        if defn is None:
            return QueryAnswer.failed(
                f"workflow type {task.workflow_type!r} is not registered on worker "
                f"{self.identity}", code="unknown_workflow_type")
        # A query of the past never reads the cache: the cached instance is the present.
        inst = self.cache.get(task.run_id) if task.as_of_event is None else None
        if inst is not None:
            return inst.query(task.query_name, task.input, task.header)
        # Not cached (or busy with a task), or asked about the past: rebuild a copy.
        events = await self._fetch_history(task)
        live_time: float | None = timestamp(events[-1]) if events else 0.0
        if task.as_of_event is not None:
            events, live_time = as_of(events, task.as_of_event), None
            if not events:
                return QueryAnswer.failed(
                    f"workflow {task.workflow_id} had not completed a workflow task by event "
                    f"{task.as_of_event}: it has no state to query yet")
        inst = new_instance(defn, RunIdentity.of(task), self.interceptors, self.api.conv)
        # Events no task has processed yet are applied too (the copy's commands are dropped),
        # so a workflow queried before its first task completes answers. Its log lines are
        # the next task's to write: silent here.
        inst.quiet = True
        outcome = inst.replay_then_activate(events, live_time)
        inst.quiet = False
        try:
            if outcome.failure is not None:
                return QueryAnswer(failure=failure_of(outcome.failure.cause),
                                   code="query_failed")
            return inst.query(task.query_name, task.input, task.header)
        finally:
            inst.evict()  # a copy: unwound now, not by the garbage collector

    async def _fetch_history(self, task: WorkflowTask | QueryTask) -> list[Event]:
        return await self.api.history_events(task.workflow_id, task.run_id)

    async def _full_history(self, task: WorkflowTask) -> list[Event]:
        events = task.events
        if not events or events[0].event_id != 1:
            events = await self._fetch_history(task)
        started = task.started_event_id
        return [e for e in events if e.event_id < started]

    def _outcome(self, inst: WorkflowInstance, commands: list[Command]
                 ) -> tuple[list[Command], int]:
        """A workflow task's commands as the server takes them, and the activity slots
        reserved for the activities it schedules that the server may hand straight back."""
        own = sum(1 for c in commands if type(c) is ScheduleActivityCommand
                  and c.task_queue == self.task_queue
                  and c.activity_type in self.own_activities)
        reserved = self.activity_slots.try_reserve(own) if self.eager() else 0
        return wire_commands(commands), reserved

    async def _complete(self, task: WorkflowTask, inst: WorkflowInstance,
                        commands: list[Command], *, force_new_task: bool = False
                        ) -> WorkflowTask | None:
        wired, reserved = self._outcome(inst, commands)
        acts = self.activity_slots
        stamp = self.lease.stamp()
        item = CompleteWorkflowTaskItem(
            token=task.token, commands=wired, eager_activities=reserved,
            update_rejections=wire_rejections(inst.rejections),
            eager_workflow=self.eager() and not inst.closed)
        if force_new_task:
            item.force_new_task = True
        try:
            resp = await self.completions.send(item, CompleteWorkflowTaskResponse)
        except errors.RPCError as e:
            acts.release(reserved)
            self._drop(task.run_id)
            inst.evict()
            self._count_eviction("task_failed")
            if e.code == "stale_task" or e.status in (0, 503):
                log.warning("workflow task completion for %s not recorded: %s",
                            task.workflow_id, e)
                return None
            # The server refused what the code asked for: a visible task failure, retried
            # with backoff, rather than a silent loop of re-offers.
            if e.status == 413:
                return await self._fail(task, errors.PayloadTooLargeError(
                    f"this workflow task's commands are {len(encode(wired)):,} bytes encoded "
                    "(the workflow's result, or the input of an activity, child or signal it "
                    f"starts, is too large): {e}", size=len(encode(wired))), "payload_too_large")
            return await self._fail(task, errors.PlaitError(
                f"the server refused this workflow task's commands: {e}"), "bad_commands")
        return self._settled(task.run_id, inst, resp, reserved, stamp)

    def _settled(self, run_id: str, inst: WorkflowInstance, resp: CompleteWorkflowTaskResponse,
                 reserved: int, stamp: LeaseStamp) -> WorkflowTask | None:
        """After a recorded task: start the activities handed back (``stamp``: the worker's
        lease stamp when the completion was sent), cache the instance; returns the next
        workflow task if the server handed one back too."""
        eager_acts = resp.activity_tasks or []
        if self.metrics is not None:
            self.metrics.workflow_tasks_completed += 1
        self.activity_slots.release(reserved - len(eager_acts))
        for t in eager_acts:
            self.start_activity(t, stamp)
        if not resp.rejected and not inst.closed and resp.upto is not None:
            inst.upto = resp.upto
            self._remember(run_id, inst)
        else:
            if resp.rejected and resp.reason != "unhandled_events":
                # A per-run limit: the server recorded the task as failed (describe says
                # which limit) and offers it again after a backoff.
                log.warning("the server refused workflow task commands of run %s (%s); the "
                            "task is retried with backoff", run_id, resp.reason)
            inst.evict()
        return resp.workflow_task

    def _remember(self, run_id: str, inst: WorkflowInstance) -> None:
        cached = self.cache.get(run_id)
        if cached is not None and cached.upto > inst.upto:
            inst.evict()
            return  # a later task of this run already rebuilt it meanwhile
        if cached is not None and cached is not inst:
            cached.evict()
        self.cache[run_id] = inst
        while len(self.cache) > self.max_cached:
            self.cache.popitem(last=False)[1].evict()
            self._count_eviction("cache_full")

    def _drop(self, run_id: str) -> None:
        """Forget a cached instance: unwound now, replayed when its next task comes."""
        dropped = self.cache.pop(run_id, None)
        if dropped is not None:
            dropped.evict()
            self._count_eviction("task_failed")

    def _count_eviction(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.evict(reason)

    def _announce(self, task: WorkflowTask | UnreadableTask, failure: Failure) -> None:
        """Show a failing workflow task on the worker: the first failure of a run (or a new
        one) as a warning with its traceback, the retries that repeat it at debug level.
        A bug in workflow code (a ``NameError``, say) does not fail the workflow, it is
        retried until fixed code is deployed; so this warning is how its author learns of it
        instead of watching a workflow that seems to hang."""
        run_id = task.run_id
        seen = f"{failure.type}: {failure.message}"
        context = {"workflow_id": task.workflow_id, "run_id": run_id,
                   "workflow_type": task.workflow_type, "attempt": task.attempt,
                   "exc_type": failure.type}
        if self.failing.get(run_id) == seen:
            log.debug("workflow task failed again for %s (%s, attempt %s): %s",
                      task.workflow_id, task.workflow_type, task.attempt, seen, extra=context)
            return
        self.failing[run_id] = seen
        self.failing.move_to_end(run_id)
        while len(self.failing) > FAILING_KEPT:
            self.failing.popitem(last=False)
        log.warning("workflow task failed for %s (%s, run %s, attempt %s): %s\n"
                    "The workflow is not failed: its task is retried with backoff until fixed "
                    "code is deployed (the same failure again is logged at debug level).\n%s",
                    task.workflow_id, task.workflow_type, run_id, task.attempt,
                    seen, (failure.stack_trace or "").rstrip(), extra=context)

    async def _fail(self, task: WorkflowTask | UnreadableTask, exc: BaseException,
                    cause: str) -> WorkflowTask | None:
        self._drop(task.run_id)
        if self.metrics is not None:
            self.metrics.workflow_tasks_failed += 1
        failure = failure_of(exc)
        failure.stack_trace = "".join(traceback.format_exception(exc))
        self._announce(task, failure)
        try:
            try:
                await self.completions.send(FailWorkflowTaskItem(
                    token=task.token, failure=wire_failure(failure), cause=cause), Unread)
            except errors.RPCError as e:
                if e.status != 413:
                    raise
                # The failure itself is over the server's payload limit (a huge message):
                # unrecorded, it would leave the task to time out again and again, unseen.
                await self.completions.send(FailWorkflowTaskItem(
                    token=task.token, failure=_shortened(failure, e), cause=cause), Unread)
        except errors.RPCError as e:
            log.warning("workflow task failure for %s not recorded: %s", task.workflow_id, e)
        return None


SHORT = 2000
"""How much of a failure's message and stack trace is kept when the whole is too large."""


def _shortened(failure: Failure, refusal: errors.RPCError) -> Failure:
    """The failure cut down to its type, the start of its message and stack trace, and a
    note that says why."""
    message, trace = failure.message, failure.stack_trace or ""
    return msgspec.structs.replace(
        failure, details=None, cause=None,
        message=f"{message[:SHORT]}... (this failure is over the server's payload limit, "
                f"cut short: {refusal.message})",
        stack_trace=trace[:SHORT] + ("..." if len(trace) > SHORT else ""))
