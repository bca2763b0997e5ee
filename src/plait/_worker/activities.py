"""Running activity attempts: async ones as tasks, sync ones in a thread pool.

The result goes back with the attempt's fencing token; when the completion creates the
workflow's next task, the server may hand it straight back (eager dispatch), saving a poll.

Fencing keeps a late result out of the history, but not a late *start* out of the world: a
worker paused past its session expiry (GC, VM pause, a loop blocked by CPU-bound code) may
resume holding a poll response whose attempt the server has since given to another worker,
which may even have completed it; after a shorter pause, its first heartbeat may have told the
server that a task still unread never arrived. So an attempt starts only while the worker can
believe the lease it came with is live (:meth:`plait._worker.lease.Lease.live`: the session's
lease is, and the loop has not stalled since the task was asked for); otherwise the worker first
renews its session and re-confirms the attempt's token with the server (an activity heartbeat,
refused as ``stale_task`` once the attempt went elsewhere), and drops the attempt if either
fails. The check is made again right before the activity's first line, so a stall in between
(other work on the loop, a full thread pool) is caught too.

A result, failure or heartbeat details over the server's payload limit (HTTP 413) fail the
attempt with the non-retryable ``ApplicationError`` type ``PayloadTooLarge`` (API.md): a
worker that only logged the refusal left the attempt unreported, and the server offered it
again every few seconds, forever, whatever the retry policy said.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from plait import activity, errors
from plait._api import Api
from plait._worker.completions import Completions, Unread
from plait._worker.lease import Lease, LeaseStamp
from plait._worker.liveness import lease_live
from plait._worker.metrics import WorkerMetrics
from plait._worker.slots import Slots
from plait._worker.workflows import WorkflowTasks
from plait.interceptor import ActivityInboundInterceptor, ExecuteActivityInput, WorkerInterceptor
from plait.protocol.completions import (
    CompleteActivityTaskItem,
    CompleteActivityTaskResponse,
    FailActivityTaskItem,
)
from plait.protocol.payload import Payload
from plait.protocol.tasks import ActivityTask, WorkflowTask
from plait.runtime.definitions import ActivityDefn
from plait.runtime.handlers import failure_of
from plait.runtime.wire import encode as encode_json
from plait.runtime.wire import wire_failure, wire_payload, wire_payloads

__all__ = ["ActivityRunner"]

log = logging.getLogger("plait.worker")


class _LeaseLapsed(Exception):
    """Raised instead of calling the activity when the lease lapsed just before its start."""


class ActivityRunner:
    def __init__(self, activities: dict[str, ActivityDefn], max_threads: int, *, api: Api,
                 completions: Completions, held: set[str], task_queue: str,
                 workflow_tasks: WorkflowTasks, workflow_slots: Slots,
                 eager_workflows: Callable[[], bool],
                 start_workflow_task: Callable[[WorkflowTask], None], lease: Lease,
                 executor: Executor | None = None,
                 metrics: WorkerMetrics | None = None,
                 interceptors: Sequence[WorkerInterceptor] = ()) -> None:
        """``held``: the tokens of running tasks (the lease heartbeat names them);
        ``lease``: whether an attempt may start without asking (``_worker.lease``);
        ``workflow_tasks``: runs the workflow step a result unblocks, to send them together;
        ``eager_workflows``: whether to ask for the next workflow task with a result, in a
        slot of ``workflow_slots``, then started by ``start_workflow_task``; ``executor``:
        the caller's pool for sync activities (not shut down here), else one of our own;
        ``metrics``: where to count attempts (None: nothing is counted); ``interceptors``:
        what wraps each attempt (:meth:`WorkerInterceptor.intercept_activity`)."""
        self.activities = activities
        self.api = api
        self.completions = completions
        self.held = held
        self.task_queue = task_queue
        self.workflow_tasks = workflow_tasks
        self.workflow_slots = workflow_slots
        self.eager_workflows = eager_workflows
        self.start_workflow_task = start_workflow_task
        self.lease = lease
        self.metrics = metrics
        self.intercepted: ActivityInboundInterceptor | None = None
        """The chain each attempt runs through; None (the direct call) without any."""
        if interceptors:
            chain: ActivityInboundInterceptor = _ActivityCall(self)
            for interceptor in reversed(interceptors):
                chain = interceptor.intercept_activity(chain)
            self.intercepted = chain
        self._own_executor = executor is None
        self.executor: Executor = executor or ThreadPoolExecutor(
            max_workers=max_threads, thread_name_prefix="plait-activity")

    async def run(self, task: ActivityTask, stamp: LeaseStamp) -> None:
        """Run one attempt; ``stamp``: see :data:`plait._worker.lease.LeaseStamp`."""
        token = task.token
        self.held.add(token)
        metrics = self.metrics
        arrived = time.monotonic() if metrics is not None else 0.0
        try:
            confirmed = await self._lease_confirmed(task, stamp)
            if confirmed is None:
                self._not_started(task, "its lease could not be confirmed")
                return
            await self._attempt(task, confirmed)
        finally:
            self.held.discard(token)
            if metrics is not None:
                metrics.observe("activity", arrived)

    async def _lease_confirmed(self, task: ActivityTask,
                               stamp: LeaseStamp) -> LeaseStamp | None:
        """The stamp the attempt may start on: its own while the lease is believed live;
        else, once the server has renewed the session and accepted a heartbeat with the
        attempt's token, the renewal's; None if either was refused. (The heartbeat sends back
        the details the attempt was dispatched with, so it changes nothing.)"""
        lease = self.lease
        if lease.live(stamp):
            return stamp
        session = stamp[0]
        sent = await lease.renew(session)
        if sent is None:
            return None
        try:
            await self.api.heartbeat_activity(task.token, task.heartbeat_details,
                                              retry=False, timeout=5)
        except errors.PlaitError as e:
            log.info("activity %s attempt %s not confirmed: %s", task.activity_type,
                     task.attempt, e)
            return None
        # Held (listed in every heartbeat since) and its token current after the renewal:
        # from the renewal's sending on, this attempt is this worker's.
        confirmed = (session, sent)
        return confirmed if lease.live(confirmed) else None

    def _ended(self, task: ActivityTask, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.activity_ended(task.activity_type, outcome)

    def _not_started(self, task: ActivityTask, why: str) -> None:
        # Not reported: the server offers the attempt again (it is no longer listed in this
        # worker's heartbeats), or has already given it to another worker.
        self._ended(task, "not_started")
        log.warning("activity %s attempt %s of %s not started: %s (this worker was paused "
                    "or cut off from the server)", task.activity_type, task.attempt,
                    task.workflow_id, why)

    async def _attempt(self, task: ActivityTask, stamp: LeaseStamp) -> None:
        defn = self.activities.get(task.activity_type)
        if defn is None:
            self._ended(task, "failed")
            await self._report_failure(task, errors.ApplicationError(
                f"activity type {task.activity_type!r} is not registered on this worker "
                f"(task queue {self.task_queue!r}; registered: "
                f"{sorted(self.activities) or 'none'})", type="ActivityNotRegistered"))
            return
        beat = _Heartbeat(self.api, task)
        info = activity.ActivityInfo(
            activity_id=task.activity_id, activity_type=task.activity_type,
            attempt=task.attempt, workflow_id=task.workflow_id, run_id=task.run_id,
            workflow_type=task.workflow_type, task_queue=task.task_queue,
            task_token=task.token,
            heartbeat_details=_details(self.api, task.heartbeat_details),
            scheduled_time=task.scheduled_time, started_time=task.started_time,
            heartbeat_timeout=task.heartbeat_timeout, namespace=task.namespace)
        ctx = contextvars.copy_context()
        beat.context = activity._Context(info, beat.record, sync=not defn.is_async)
        ctx.run(activity._current.set, beat.context)
        try:
            args = self.api.conv.from_payloads(task.input, defn.arg_hints)
            live = functools.partial(self.lease.live, stamp)
            try:
                if self.intercepted is not None:
                    ctx.run(lease_live.set, live)
                    result = await self._intercepted(defn, args, task, ctx, _time_limit(task),
                                                     beat)
                else:
                    result = await self._call(defn, args, ctx, _time_limit(task), beat, live)
            except BaseException:
                if beat.too_large is None:
                    raise
                # The activity was stopped because its heartbeat details were refused, and
                # whatever it did then does not matter: that refusal is the outcome.
            if beat.too_large is not None:
                raise beat.too_large
        except _LeaseLapsed:
            self._not_started(task, "its lease lapsed just before it was to start")
            return
        except activity.CompleteAsync:
            self._ended(task, "async")
            await self._hand_over(task)
            return
        except asyncio.CancelledError:
            if not beat.lost:
                raise
            await self._stopped(task, beat)
            return
        except errors.CancelledError as exc:  # a sync activity's heartbeat() raises it
            if beat.lost:
                await self._stopped(task, beat)
            else:  # the activity raised it of its own accord: an ordinary failure
                self._ended(task, "failed")
                await self._report_failure(task, exc)
            return
        except TimeoutError:
            self._ended(task, "timed_out")
            await self._report_failure(task, errors.TimeoutError(
                "activity start_to_close timeout (stopped by the worker)",
                timeout_type="start_to_close"))
            return
        except Exception as exc:
            self._ended(task, "failed")
            await self._report_failure(task, exc)
            return
        finally:
            beat.stop()
        self._ended(task, "completed")
        await self._report_success(task, result)

    async def _stopped(self, task: ActivityTask, beat: _Heartbeat) -> None:
        """The attempt stopped because its heartbeat learned it should: report the cancel
        the workflow asked for; after a lost lease, report nothing (it would be refused)."""
        if beat.cancel_requested:
            self._ended(task, "canceled")
            await self._report_failure(task, errors.CancelledError("activity cancelled"))
            return
        self._ended(task, "lost")
        log.info("activity %s attempt %s stopped: the server no longer expects its result",
                 task.activity_type, task.attempt)

    async def _call(self, defn: ActivityDefn, args: list[Any], ctx: contextvars.Context,
                    limit: float | None, beat: _Heartbeat, live: Callable[[], bool]) -> Any:
        if defn.is_async:
            job = asyncio.get_running_loop().create_task(_started(defn.fn, args, live),
                                                         context=ctx)
            beat.on_lost = job.cancel
            return await asyncio.wait_for(job, limit)
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(self.executor,
                                   lambda: ctx.run(_started_sync, defn.fn, args, live))
        return await asyncio.wait_for(asyncio.shield(fut), limit)

    async def _intercepted(self, defn: ActivityDefn, args: list[Any], task: ActivityTask,
                           ctx: contextvars.Context, limit: float | None,
                           beat: _Heartbeat) -> Any:
        """The attempt through the interceptors, in the attempt's context on this loop (a
        sync activity's function alone goes to the pool: :class:`_ActivityCall`)."""
        assert self.intercepted is not None
        job = asyncio.get_running_loop().create_task(
            self.intercepted.execute_activity(ExecuteActivityInput(
                fn=defn.fn, args=args, headers=dict(task.header or {}),
                is_async=defn.is_async)), context=ctx)
        if defn.is_async:
            beat.on_lost = job.cancel
        return await asyncio.wait_for(job, limit)

    async def _hand_over(self, task: ActivityTask) -> None:
        """The activity will be completed from outside: release it from this worker."""
        try:
            await self.api.hand_over_activity(task.token)
        except errors.RPCError as e:
            log.warning("activity %s could not be handed over for async completion: %s",
                        task.activity_type, e)

    async def _report_success(self, task: ActivityTask, result: Any, *,
                              chain: bool = True) -> None:
        payload = self.api.conv.to_payload(result)
        chained = self.workflow_tasks.chain(task, payload) if chain else None
        eager = self.eager_workflows() and self.workflow_slots.try_reserve(1) == 1
        item = CompleteActivityTaskItem(token=task.token, result=wire_payload(payload),
                                        eager_workflow=eager, task_queue=self.task_queue)
        if chained is not None:  # a task handed back with the step takes the slot held here
            item.workflow_step = chained.step
            chained.step.eager_workflow = eager and bool(chained.step.eager_workflow)
        try:
            resp = await self.completions.send(item, CompleteActivityTaskResponse)
        except errors.RPCError as e:
            if eager:
                self.workflow_slots.release()
            if chained is not None:
                self.workflow_tasks.abandon(chained)
                if e.status not in (0, 409, 503):
                    # The step was refused as a whole (say, commands the server rejects): the
                    # result alone is still good; its workflow task then fails visibly.
                    log.warning("chained workflow step refused (%s); reporting the activity "
                                "result alone", e)
                    await self._report_success(task, result, chain=False)
                    return
            if e.status == 413:
                await self._report_failure(task, too_large("result", payload, e))
                return
            log.warning("activity %s result not recorded: %s", task.activity_type, e)
            return
        wt = resp.workflow_task
        if chained is not None:
            wt = self.workflow_tasks.settle(chained, resp.workflow_step) or wt
        if wt is not None:
            self.start_workflow_task(wt)
        elif eager:
            self.workflow_slots.release()

    async def _report_failure(self, task: ActivityTask, exc: BaseException) -> None:
        traced = failure_of(exc)
        # Info, not warning: a failed attempt is the retry policy's business, and the failure
        # (with its traceback) is in the history; the line says which type, for log queries.
        log.info("activity %s attempt %s of %s failed: %s: %s", task.activity_type,
                 task.attempt, task.workflow_id, traced.type, traced.message,
                 extra=_attempt_context(task, traced.type))
        traced.stack_trace = "".join(traceback.format_exception(exc))
        failure = wire_failure(traced)
        try:
            try:
                await self.completions.send(
                    FailActivityTaskItem(token=task.token, failure=failure), Unread)
            except errors.RPCError as e:
                if e.status != 413:
                    raise
                # The failure itself is over the limit (a huge message or details): report
                # a small one that says so and names the original.
                short = too_large("failure", failure, e, original=exc)
                await self.completions.send(
                    FailActivityTaskItem(token=task.token, failure=failure_of(short)), Unread)
        except errors.RPCError as e:
            log.warning("activity %s failure not recorded: %s", task.activity_type, e)

    def close(self) -> None:
        if self._own_executor:
            self.executor.shutdown(wait=False, cancel_futures=True)


def _details(api: Api, payloads: Sequence[Payload]) -> tuple[Any, ...]:
    """The last heartbeat's details as ``activity.info()`` shows them: their JSON, or what
    the client's payload converter makes of them (no type hints: they are not declared)."""
    if api.converter is None:
        return tuple(p.get("data") for p in payloads)
    return tuple(api.converter.from_payloads(payloads, ()))


class _ActivityCall(ActivityInboundInterceptor):
    """The innermost link of the activity interceptors: the activity function itself,
    started only while the lease holds (as without interceptors)."""

    def __init__(self, runner: ActivityRunner) -> None:
        self.runner = runner

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        live = lease_live.get()
        if input.is_async:
            return await _started(input.fn, list(input.args), live)
        ctx = contextvars.copy_context()  # the attempt's: activity.info() works in the thread
        fut = asyncio.get_running_loop().run_in_executor(
            self.runner.executor,
            lambda: ctx.run(_started_sync, input.fn, list(input.args), live))
        # Shielded: a timeout or cancel stops waiting, not the thread (it learns at its next
        # heartbeat(), as without interceptors).
        return await asyncio.shield(fut)


async def _started(fn: Callable[..., Awaitable[Any]], args: list[Any],
                   live: Callable[[], bool]) -> Any:
    """The async activity, called only if the lease is still live on the loop turn that
    runs its first line (nothing else runs on the loop in between)."""
    if not live():
        raise _LeaseLapsed
    return await fn(*args)


def _started_sync(fn: Callable[..., Any], args: list[Any], live: Callable[[], bool]) -> Any:
    """The sync activity, in its pool thread, called only if the lease is still live."""
    if not live():
        raise _LeaseLapsed
    return fn(*args)


def too_large(what: str, payload: Any, refusal: errors.RPCError, *,
              original: BaseException | None = None) -> errors.ApplicationError:
    """The attempt's outcome when the server refused its ``what`` as over its payload limit:
    never retried, since every attempt would most likely produce as large a one."""
    size = len(encode_json(payload))
    named = ""
    if original is not None:
        text = str(original)
        named = f" ({type(original).__name__}: {text[:200]}{'...' if len(text) > 200 else ''})"
    return errors.ApplicationError(
        f"the activity's {what}{named} is {size} bytes encoded, over the server's payload "
        f"limit: {refusal.message}", type="PayloadTooLarge", non_retryable=True)


def _attempt_context(task: ActivityTask, exc_type: str | None) -> dict[str, object]:
    """A worker log record's attributes about an attempt (as ``activity.logger`` sets)."""
    return {"activity_id": task.activity_id, "activity_type": task.activity_type,
            "attempt": task.attempt, "workflow_id": task.workflow_id, "run_id": task.run_id,
            "workflow_type": task.workflow_type, "exc_type": exc_type}


def _time_limit(task: ActivityTask) -> float | None:
    limit = task.start_to_close_timeout
    deadline = task.deadline
    if deadline is not None:
        left = deadline - task.started_time
        limit = left if limit is None else min(limit, left)
    return limit


class _Heartbeat:
    """Sends the latest heartbeat details, at most once per throttle interval."""

    def __init__(self, api: Api, task: ActivityTask) -> None:
        self.api = api
        self.token = task.token
        hb = task.heartbeat_timeout
        self.interval = min(1.0, hb * 0.5) if hb else 1.0
        self.loop = asyncio.get_running_loop()
        self.latest: tuple[Any, ...] | None = None
        self.sender: asyncio.Task[None] | None = None
        self.stopped = False
        self.lost = False
        self.cancel_requested = False
        self.too_large: errors.ApplicationError | None = None
        """Set when the server refused the details as over its payload limit: the attempt
        is stopped and fails with this (as Temporal fails an over-limit heartbeat)."""
        self.on_lost: Any = None
        self.context: Any = None

    def record(self, details: tuple[Any, ...]) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self._record(details)
        else:  # a sync activity, in a pool thread
            self.loop.call_soon_threadsafe(self._record, details)

    def _record(self, details: tuple[Any, ...]) -> None:
        self.latest = details
        if self.sender is None and not self.stopped:
            self.sender = self.loop.create_task(self._send())

    async def _send(self) -> None:
        while self.latest is not None and not self.stopped:
            details, self.latest = self.latest, None
            sent = wire_payloads(self.api.conv.to_payloads(details)) or []
            try:
                resp = await self.api.heartbeat_activity(self.token, sent, retry=False)
                if resp.cancel_requested:  # the workflow asked it to stop
                    self.cancel_requested = True
                    self._lose()
                    break
            except errors.RPCError as e:
                if e.code == "stale_task":  # timed out or re-dispatched: stop the work
                    self._lose()
                    break
                if e.status == 413:
                    self.too_large = too_large("heartbeat details", sent, e)
                    self._lose()
                    break
                log.debug("heartbeat not recorded: %s", e)
            await asyncio.sleep(self.interval)
        self.sender = None

    def _lose(self) -> None:
        self.lost = True
        if self.context is not None:
            self.context.cancelled = True
        if self.on_lost is not None:
            self.on_lost()

    def stop(self) -> None:
        """The attempt is over for the worker. A sync activity's thread may still run (the
        worker stopped waiting at its start-to-close deadline, or is shutting down): it is
        told so at its next ``heartbeat()``, which raises, as on a cancel."""
        self.stopped = True
        if self.context is not None:
            self.context.cancelled = True
        if self.sender is not None:
            self.sender.cancel()
        # The attempt's context (through its heartbeat method) and its task (through its
        # context) point back here: let go of them, so that reference counting frees the
        # attempt and not the cycle collector.
        self.context = self.on_lost = self.sender = None
