"""Running activity attempts: async ones as tasks, sync ones in a thread pool.

The result goes back with the attempt's fencing token; when the completion creates the
workflow's next task, the server may hand it straight back (eager dispatch), saving a poll.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from plait import activity, errors
from plait._api import Api
from plait._worker.completions import Completions
from plait._worker.slots import Slots
from plait._worker.workflows import WorkflowTasks
from plait.protocol import failure as failures
from plait.protocol.payload import decode_args, encode, encode_args
from plait.runtime.definitions import ActivityDefn

__all__ = ["ActivityRunner"]

log = logging.getLogger("plait.worker")


class ActivityRunner:
    def __init__(self, activities: dict[str, ActivityDefn], max_threads: int, *, api: Api,
                 completions: Completions, held: set[str], task_queue: str,
                 workflow_tasks: WorkflowTasks, workflow_slots: Slots,
                 eager_workflows: Callable[[], bool],
                 start_workflow_task: Callable[[dict[str, Any]], None]) -> None:
        """``held``: the tokens of running tasks (the lease heartbeat names them);
        ``workflow_tasks``: runs the workflow step a result unblocks, to send them together;
        ``eager_workflows``: whether to ask for the next workflow task with a result, in a
        slot of ``workflow_slots``, then started by ``start_workflow_task``."""
        self.activities = activities
        self.api = api
        self.completions = completions
        self.held = held
        self.task_queue = task_queue
        self.workflow_tasks = workflow_tasks
        self.workflow_slots = workflow_slots
        self.eager_workflows = eager_workflows
        self.start_workflow_task = start_workflow_task
        self.executor = ThreadPoolExecutor(max_workers=max_threads,
                                           thread_name_prefix="plait-activity")

    async def run(self, task: dict[str, Any]) -> None:
        token = task["token"]
        self.held.add(token)
        try:
            await self._attempt(task)
        finally:
            self.held.discard(token)

    async def _attempt(self, task: dict[str, Any]) -> None:
        defn = self.activities.get(task["activity_type"])
        if defn is None:
            await self._report_failure(task, errors.ApplicationError(
                f"activity type {task['activity_type']!r} is not registered on this worker "
                f"(task queue {self.task_queue!r}; registered: "
                f"{sorted(self.activities) or 'none'})", type="ActivityNotRegistered"))
            return
        beat = _Heartbeat(self.api, task)
        info = activity.ActivityInfo(
            activity_id=task["activity_id"], activity_type=task["activity_type"],
            attempt=task["attempt"], workflow_id=task["workflow_id"], run_id=task["run_id"],
            workflow_type=task["workflow_type"], task_queue=task["task_queue"],
            task_token=task["token"],
            heartbeat_details=tuple(p.get("data") if isinstance(p, dict) else p
                                    for p in task.get("heartbeat_details") or []),
            scheduled_time=task["scheduled_time"], started_time=task["started_time"],
            heartbeat_timeout=task.get("heartbeat_timeout"), namespace=task["namespace"])
        ctx = contextvars.copy_context()
        beat.context = activity._Context(info, beat.record)
        ctx.run(activity._current.set, beat.context)
        try:
            args = decode_args(task.get("input") or [], defn.arg_hints)
            result = await self._call(defn, args, ctx, _time_limit(task), beat)
        except activity.CompleteAsync:
            await self._hand_over(task)
            return
        except asyncio.CancelledError:
            if not beat.lost:
                raise
            if beat.cancel_requested:
                await self._report_failure(task, errors.CancelledError("activity cancelled"))
                return
            log.info("activity %s attempt %s stopped: the server no longer expects its result",
                     task["activity_type"], task["attempt"])
            return
        except TimeoutError:
            await self._report_failure(task, errors.TimeoutError(
                "activity start_to_close timeout (stopped by the worker)",
                timeout_type="start_to_close"))
            return
        except Exception as exc:
            await self._report_failure(task, exc)
            return
        finally:
            beat.stop()
        await self._report_success(task, result)

    async def _call(self, defn: ActivityDefn, args: list[Any], ctx: contextvars.Context,
                    limit: float | None, beat: _Heartbeat) -> Any:
        if defn.is_async:
            job = asyncio.get_running_loop().create_task(defn.fn(*args), context=ctx)
            beat.on_lost = job.cancel
            return await asyncio.wait_for(job, limit)
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(self.executor, lambda: ctx.run(defn.fn, *args))
        return await asyncio.wait_for(asyncio.shield(fut), limit)

    async def _hand_over(self, task: dict[str, Any]) -> None:
        """The activity will be completed from outside: release it from this worker."""
        try:
            await self.api.hand_over_activity(task["token"])
        except errors.RPCError as e:
            log.warning("activity %s could not be handed over for async completion: %s",
                        task["activity_type"], e)

    async def _report_success(self, task: dict[str, Any], result: Any, *,
                              chain: bool = True) -> None:
        payload = encode(result)
        chained = self.workflow_tasks.chain(task, payload) if chain else None
        eager = self.eager_workflows() and self.workflow_slots.try_reserve(1) == 1
        body = {"token": task["token"], "result": payload, "eager_workflow": eager,
                "task_queue": self.task_queue}
        if chained is not None:  # a task handed back with the step takes the slot held here
            body["workflow_step"] = {**chained.body,
                                     "eager_workflow": eager and chained.body["eager_workflow"]}
        try:
            resp = await self.completions.send("activity_complete", body)
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
            log.warning("activity %s result not recorded: %s", task["activity_type"], e)
            return
        wt = resp.get("workflow_task")
        if chained is not None:
            wt = self.workflow_tasks.settle(chained, resp) or wt
        if wt is not None:
            self.start_workflow_task(wt)
        elif eager:
            self.workflow_slots.release()

    async def _report_failure(self, task: dict[str, Any], exc: BaseException) -> None:
        failure = failures.from_exception(exc)
        failure["stack_trace"] = "".join(traceback.format_exception(exc))
        try:
            await self.completions.send(
                "activity_fail", {"token": task["token"], "failure": failure})
        except errors.RPCError as e:
            log.warning("activity %s failure not recorded: %s", task["activity_type"], e)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def _time_limit(task: dict[str, Any]) -> float | None:
    limit = task.get("start_to_close_timeout")
    deadline = task.get("deadline")
    if deadline is not None:
        left = deadline - task["started_time"]
        limit = left if limit is None else min(limit, left)
    return limit


class _Heartbeat:
    """Sends the latest heartbeat details, at most once per throttle interval."""

    def __init__(self, api: Api, task: dict[str, Any]) -> None:
        self.api = api
        self.token = task["token"]
        hb = task.get("heartbeat_timeout")
        self.interval = min(1.0, hb * 0.5) if hb else 1.0
        self.loop = asyncio.get_running_loop()
        self.latest: tuple[Any, ...] | None = None
        self.sender: asyncio.Task[None] | None = None
        self.stopped = False
        self.lost = False
        self.cancel_requested = False
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
            try:
                resp = await self.api.heartbeat_activity(self.token, encode_args(details),
                                                         retry=False)
                if resp.get("cancel_requested"):  # the workflow asked it to stop
                    self.cancel_requested = True
                    self._lose()
                    break
            except errors.RPCError as e:
                if e.code == "stale_task":  # timed out or re-dispatched: stop the work
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
        self.stopped = True
        if self.sender is not None:
            self.sender.cancel()
