"""Running local activities: in this worker, while their workflow task is open.

A local activity runs as an activity attempt does (the same executor for sync ones, the
same interceptors, an activity slot held while it runs), but nothing goes through the
server: the outcome becomes a ``local_activity`` marker that the workflow task's completion
carries (:mod:`plait.runtime.local_activities`). A failed attempt is retried here per the
retry policy, after its backoff, as long as the time since this worker began running it plus
the next backoff stays within ``local_retry_threshold``; past that (or past the policy's
end) the outcome is handed to the workflow: a final failure, or a failure with ``backoff``,
which the workflow turns into a durable timer after which the next attempt runs, here or on
any worker, so a long backoff survives a crash.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from concurrent.futures import Executor
from typing import Any, Protocol

from plait import activity, errors
from plait._api import Api
from plait._worker.liveness import always, lease_live
from plait._worker.slots import Slots
from plait.interceptor import ActivityInboundInterceptor, ExecuteActivityInput
from plait.protocol import failure as failures
from plait.protocol.jsoncodec import dumps, loads
from plait.runtime.definitions import ActivityDefn
from plait.runtime.info import RunIdentity
from plait.runtime.local_activities import MarkerDetails, PendingLocal

__all__ = ["LocalActivityRunner"]

log = logging.getLogger("plait.worker")


class ActivityHost(Protocol):
    """What local activities borrow from the worker's activity runner: its connection (for
    the payload converter), its interceptor chain and its thread pool for sync functions."""

    api: Api
    intercepted: ActivityInboundInterceptor | None
    executor: Executor


class LocalActivityRunner:
    def __init__(self, activities: dict[str, ActivityDefn], slots: Slots,
                 runner: ActivityHost) -> None:
        """``slots``: the worker's activity slots (a local activity holds one while it
        runs); ``runner``: the worker's activity runner, whose executor and interceptors
        local activities share."""
        self.activities = activities
        self.slots = slots
        self.runner = runner

    def registered(self, name: str) -> bool:
        return name in self.activities

    def start(self, who: RunIdentity, entry: PendingLocal) -> asyncio.Task[MarkerDetails]:
        """Run ``entry`` (its next attempt on) in a task of this loop; the task's result is
        the outcome to record. The entry holds the task, so cancelling the local activity
        (or evicting its run) stops it."""
        entry.state = "running"
        # As a task queue would deliver them: JSON values, decoded by the activity's hints.
        entry.input = loads(dumps(entry.input))
        job = asyncio.get_running_loop().create_task(self._run(who, entry))
        entry.job = job
        return job

    async def _run(self, who: RunIdentity, entry: PendingLocal) -> MarkerDetails:
        await self.slots.acquire()
        try:
            return await self._attempts(who, entry)
        finally:
            self.slots.release()

    async def _attempts(self, who: RunIdentity, entry: PendingLocal) -> MarkerDetails:
        began = time.monotonic()
        first = entry.original_schedule_time or time.time()
        attempt, policy, s2c = entry.attempt, entry.retry_policy, entry.schedule_to_close_timeout
        while True:
            started = time.time()
            base: MarkerDetails = {
                "activity_id": entry.activity_id, "activity_type": entry.activity_type,
                "attempt": attempt, "original_schedule_time": first, "started_time": started}
            try:
                result = await self._attempt(who, entry, attempt, first, started)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failure = failures.from_exception(exc)
                log.info("local activity %s attempt %s of %s failed: %s: %s",
                         entry.activity_type, attempt, who.workflow_id, failure.get("type"),
                         failure.get("message"))
            else:
                return {**base, "duration": time.monotonic() - began,
                        "result": loads(dumps(self.runner.api.conv.to_payload(result)))}
            delay = policy.backoff(attempt)
            retry_state: str | None = None
            if not policy.allows_another(attempt, failure.get("type", ""),
                                         bool(failure.get("non_retryable"))):
                maxed = policy.maximum_attempts and attempt >= policy.maximum_attempts
                retry_state = "maximum_attempts" if maxed else "non_retryable"
            elif s2c is not None and time.time() + delay >= first + s2c:
                retry_state = "timeout"
                failure = failures.from_exception(errors.TimeoutError(
                    "local activity schedule_to_close timeout",
                    timeout_type="schedule_to_close",
                    last_failure=failures.to_exception(failure)))
            outcome: MarkerDetails = {**base, "duration": time.monotonic() - began,
                                      "failure": loads(dumps(failure))}
            if retry_state is not None:
                return {**outcome, "retry_state": retry_state}
            if time.monotonic() - began + delay > entry.local_retry_threshold:
                return {**outcome, "backoff": delay}  # the workflow waits on a timer
            await asyncio.sleep(delay)
            attempt += 1

    async def _attempt(self, who: RunIdentity, entry: PendingLocal, attempt: int,
                       first: float, started: float) -> Any:
        """One attempt, bounded by start_to_close and what schedule_to_close leaves."""
        defn = self.activities[entry.activity_type]
        limit, s2c = entry.start_to_close_timeout, entry.schedule_to_close_timeout
        kind = "start_to_close"
        if s2c is not None and (limit is None or first + s2c - started < limit):
            limit, kind = max(0.0, first + s2c - started), "schedule_to_close"
        info = activity.ActivityInfo(
            activity_id=entry.activity_id, activity_type=entry.activity_type, attempt=attempt,
            workflow_id=who.workflow_id, run_id=who.run_id, workflow_type=who.workflow_type,
            task_queue=who.task_queue, task_token="", heartbeat_details=(),
            scheduled_time=first, started_time=started, heartbeat_timeout=None,
            namespace=who.namespace, is_local=True)
        ctx = contextvars.copy_context()
        context = activity._Context(info, _no_heartbeat, sync=not defn.is_async)
        ctx.run(activity._current.set, context)
        ctx.run(lease_live.set, always)
        args = self.runner.api.conv.from_payloads(entry.input, defn.arg_hints)
        try:
            return await asyncio.wait_for(self._call(defn, args, entry, ctx), limit)
        except activity.CompleteAsync:
            raise errors.ApplicationError(
                "a local activity cannot complete asynchronously (raise_complete_async): "
                "run it as a normal activity", type="CompleteAsyncNotAllowed",
                non_retryable=True) from None
        except TimeoutError:
            raise errors.TimeoutError(f"local activity {kind} timeout (stopped by the worker)",
                                      timeout_type=kind) from None
        finally:
            context.cancelled = True  # a sync one still running learns at its heartbeat()

    def _call(self, defn: ActivityDefn, args: list[Any], entry: PendingLocal,
              ctx: contextvars.Context) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        chain = self.runner.intercepted
        if chain is not None:
            return loop.create_task(chain.execute_activity(ExecuteActivityInput(
                fn=defn.fn, args=args, headers=dict(entry.header),
                is_async=defn.is_async)), context=ctx)
        if defn.is_async:
            return loop.create_task(defn.fn(*args), context=ctx)
        # Shielded: a timeout or cancel stops waiting, not the thread.
        return asyncio.shield(loop.run_in_executor(self.runner.executor,
                                                   lambda: ctx.run(defn.fn, *args)))


def _no_heartbeat(details: tuple[Any, ...]) -> None:
    """A local activity's heartbeat: nothing to send it to (its run is this worker's)."""

