"""The worker: polls a task queue, runs workflow code and activities, reports the outcomes.

    worker = Worker(client, task_queue="orders", workflows=[Order], activities=[charge])
    await worker.run()            # until cancelled or worker.shutdown()
    async with worker: ...        # or: runs in the background inside the block

A worker holds a session with the server and renews it about every second. When the worker
dies, the session expires and the server hands the worker's tasks to others; when it shuts
down gracefully, it finishes what it runs and closes the session so nothing waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import timedelta
from typing import Any

from plait import errors
from plait._backoff import Backoff
from plait._heap import freeze_startup_heap
from plait._worker import sizing
from plait._worker.activities import ActivityRunner
from plait._worker.completions import Completions
from plait._worker.inflight import InFlight
from plait._worker.lease import Lease, LeaseStamp
from plait._worker.local_activities import LocalActivityRunner
from plait._worker.metrics import WorkerMetrics
from plait._worker.slots import Slots
from plait._worker.workflows import WorkflowTasks
from plait.client import Client
from plait.interceptor import WorkerInterceptor, WorkflowInterceptorClassInput
from plait.protocol.sessions import OpenSessionRequest
from plait.protocol.tasks import ActivityTask, QueryTask, WorkflowTask
from plait.runtime.definitions import activity_defn_of, workflow_defn_of
from plait.runtime.intercepting import WorkflowInterceptors
from plait.runtime.wire import PolledTask, UnreadableTask
from plait.workflow import _WorkflowCalls

__all__ = ["UnsandboxedWorkflowRunner", "Worker"]

log = logging.getLogger("plait.worker")
POLL_WAIT = 30.0
HEARTBEAT_EVERY = 1.0
WATCH_WAIT = 25.0
POLL_BATCH = 128
"""Most tasks one poll may take: a burst of starts or due timers reaches the worker in a few
round trips. A waiting poll holds the slots it reserved, so it takes at most half of those
free: the rest stay for the other pollers and for the follow-up tasks that completions hand
back (eager dispatch). A poll that took every free slot left eager dispatch none, and every
task then cost a poll; taking half still lets polls alone fill the pool."""


class UnsandboxedWorkflowRunner:
    """Temporal's runner without a sandbox, which is how plait always runs workflow code:
    ``Worker(..., workflow_runner=UnsandboxedWorkflowRunner())`` is accepted and changes
    nothing."""


def _check_compat_options(activity_executor: Executor | None,
                          workflow_runner: object) -> None:
    """Temporal's worker options that plait takes when they mean what plait does; a clear
    ``ValueError`` saying what to write instead when they do not."""
    if isinstance(activity_executor, ProcessPoolExecutor):
        raise ValueError("activity_executor: plait runs sync activities in threads (their "
                         "heartbeats and cancellation need the worker's loop); pass a "
                         "ThreadPoolExecutor or leave activity_executor out")
    if workflow_runner is not None and not isinstance(workflow_runner,
                                                      UnsandboxedWorkflowRunner):
        raise ValueError(f"workflow_runner={workflow_runner!r}: plait has no sandbox, workflow "
                         "code is ordinary Python (determinism comes from the runtime and "
                         "replay checks); remove workflow_runner=")


class Worker:
    def __init__(
        self,
        client: Client,
        *,
        task_queue: str,
        workflows: Sequence[type] = (),
        activities: Sequence[Callable[..., Any]] = (),
        max_concurrent_activities: int | None = None,
        max_concurrent_workflow_tasks: int | None = None,
        max_cached_workflows: int = 10_000,
        graceful_shutdown_timeout: timedelta = timedelta(seconds=10),
        identity: str | None = None,
        pollers: int = 2,
        eager_dispatch: bool = True,
        activity_executor: Executor | None = None,
        workflow_runner: UnsandboxedWorkflowRunner | None = None,
        debug_mode: bool = False,
        metrics_port: int | None = None,
        metrics_host: str = "0.0.0.0",
        interceptors: Sequence[WorkerInterceptor] = (),
    ) -> None:
        """``max_concurrent_workflow_tasks``, ``max_concurrent_activities``: how many tasks
        of each kind run here at once (local activities count as activities), used exactly
        as given. Left out, each starts at 100 and grows up to 300 while polls find a
        backlog, tasks finish quickly and the event loop keeps up; back to 100 when the
        loop lags or the worker idles (more slots batch better: W1 runs about 10 % faster
        with 300; heavy tasks, such as long replays after a restart, run slower with 300
        and may cost the worker its session, so they meet 100; :mod:`plait._worker.sizing`).
        Activity slots stay at 100 on a worker with a sync activity: each running sync
        attempt holds a thread. ``activity_executor`` runs sync activities (a thread pool;
        by default the worker's own, of ``max_concurrent_activities`` threads when given,
        else 100; one passed in is not shut down by the worker). ``workflow_runner`` and
        ``debug_mode`` are Temporal's: plait has no sandbox and no deadlock detector to turn
        off, so they change nothing. ``metrics_port``: serve this worker's Prometheus series
        on ``metrics_host:metrics_port`` while it runs (0: a free port, then read
        :attr:`metrics_port`); None counts nothing. ``interceptors`` wrap each activity
        attempt and each workflow run (:mod:`plait.interceptor`), after those of the client's
        interceptors that are worker interceptors too (the first outermost)."""
        if not workflows and not activities:
            raise ValueError("a worker needs at least one workflow or activity")
        _check_compat_options(activity_executor, workflow_runner)
        self.client = client
        self.task_queue = task_queue
        self.identity = identity or f"{os.getpid()}@{socket.gethostname()}"
        self._eager = eager_dispatch
        wf_defns = {d.name: d for d in (workflow_defn_of(w) for w in workflows)}
        act_defns = {d.name: d for d in (activity_defn_of(a) for a in activities)}
        self.activity_names = frozenset(act_defns)
        self.workflow_names = frozenset(wf_defns)
        self.workflow_slots = Slots(sizing.initial_slots(max_concurrent_workflow_tasks))
        self.activity_slots = Slots(sizing.initial_slots(max_concurrent_activities))
        self.growth = sizing.growths(
            self.workflow_slots, self.activity_slots, has_workflows=bool(wf_defns),
            activities=list(act_defns.values()),
            workflows_given=max_concurrent_workflow_tasks,
            activities_given=max_concurrent_activities)
        """The slot kinds this worker grows with the backlog (those left to the default)."""
        self._growing = {g.slots: g for g in self.growth.values()}
        self.query_slots = Slots(16)
        self._metrics_at = (metrics_host, metrics_port)
        self.metrics: WorkerMetrics | None = None
        """This worker's series (``metrics.registry``), when it serves them."""
        if metrics_port is not None:
            self.metrics = WorkerMetrics(
                {"workflow": self.workflow_slots, "activity": self.activity_slots,
                 "query": self.query_slots}, lambda: len(self.workflow_tasks.cache))
        self.held: set[str] = set()
        """Tokens of the tasks running here: each lease heartbeat names them."""
        self.api = client.api
        self.inflight = InFlight(self.held)
        """Numbers the requests that may bring tasks (``_worker.inflight``)."""
        self.completions = Completions(self.api, self.inflight)
        self.lease = Lease(self.api, self.inflight)
        """The session and what this worker may believe of its lease (``_worker.lease``)."""
        chain: list[WorkerInterceptor] = [i for i in client.interceptors
                                          if isinstance(i, WorkerInterceptor)]
        chain += [i for i in interceptors if i not in chain]
        classes = [cls for i in chain if (cls := i.workflow_interceptor_class(
            WorkflowInterceptorClassInput(task_queue, self.workflow_names))) is not None]
        self.workflow_tasks = WorkflowTasks(
            wf_defns, max_cached_workflows, api=self.api, completions=self.completions,
            held=self.held, task_queue=task_queue, identity=self.identity,
            own_activities=self.activity_names, activity_slots=self.activity_slots,
            eager=lambda: self.eager, start_activity=self.spawn_activity, lease=self.lease,
            metrics=self.metrics,
            interceptors=WorkflowInterceptors(classes, _WorkflowCalls) if classes else None)
        self._acts = ActivityRunner(
            act_defns, sizing.activity_threads(max_concurrent_activities), api=self.api,
            completions=self.completions,
            held=self.held, task_queue=task_queue, workflow_tasks=self.workflow_tasks,
            workflow_slots=self.workflow_slots,
            eager_workflows=lambda: self.eager and bool(self.workflow_names),
            start_workflow_task=lambda task: self.spawn_workflow_task(task, slot_held=True),
            lease=self.lease, executor=activity_executor, metrics=self.metrics,
            interceptors=chain)
        self.workflow_tasks.locals = LocalActivityRunner(act_defns, self.activity_slots,
                                                         self._acts)
        self._graceful = graceful_shutdown_timeout.total_seconds()
        self._pollers = pollers
        self._background: list[asyncio.Task[None]] = []
        self._lease: list[asyncio.Task[None]] = []
        """Heartbeat and watch: they keep the session until the very end of a shutdown."""
        self._running: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self._done = asyncio.Event()
        self._run_task: asyncio.Task[None] | None = None
        self._fatal: errors.PlaitError | None = None
        """Why the worker stopped on its own (a poll the server refuses for good)."""

    @property
    def metrics_port(self) -> int | None:
        """The port this worker's metrics are served on, once it runs (None: not served)."""
        return self.metrics.port if self.metrics is not None else None

    @property
    def session_id(self) -> str | None:
        return self.lease.session_id

    @property
    def eager(self) -> bool:
        """Take follow-up tasks in completion responses; never while shutting down."""
        return self._eager and not self._stop.is_set()

    # -- lifecycle ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Run until cancelled or :meth:`shutdown`; raises ``PlaitError`` when the server
        refuses this worker's polls for good (an unknown namespace or route, a bad key), and
        ``OSError`` when its ``metrics_port`` cannot be listened on."""
        host, port = self._metrics_at
        if self.metrics is not None and port is not None:
            self.metrics.serve(host, port)
        try:
            await self._open_session()
        except BaseException:
            await self._stop_metrics()
            raise
        freeze_startup_heap()
        kinds = []
        if self.workflow_tasks.workflows:
            kinds += ["workflow", "query"]
        if self._acts.activities:
            kinds.append("activity")
        self._background = [asyncio.create_task(self._poll_loop(k)) for k in kinds
                            for _ in range(self._pollers)]
        if self.growth:
            self._background.append(asyncio.create_task(
                sizing.watch_lag(self.growth.values())))
        self._lease = [asyncio.create_task(self._heartbeat_loop()),
                       asyncio.create_task(self._watch_loop()),
                       asyncio.create_task(self.lease.watch_stalls())]
        try:
            await self._stop.wait()
        finally:
            await self._wind_down()
        if self._fatal is not None:
            raise self._fatal

    async def shutdown(self) -> None:
        """Stop polling, let running tasks finish (within the graceful timeout), close."""
        self._stop.set()
        if self._run_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._run_task
        else:
            await self._done.wait()

    async def __aenter__(self) -> Worker:
        self._run_task = asyncio.create_task(self.run())
        # Surface a failure to open the session here rather than later.
        while self.session_id is None and not self._run_task.done():
            await asyncio.sleep(0.01)
        if self._run_task.done():
            self._run_task.result()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    async def _wind_down(self) -> None:
        # Stop taking work, but keep the session alive while running work finishes: an
        # activity longer than the session expiry must not be handed to another worker.
        for t in self._background:
            t.cancel()
        for t in self._background:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._running:
            _, pending = await asyncio.wait(self._running, timeout=self._graceful)
            for t in pending:
                t.cancel()
        self.workflow_tasks.evict_all()
        for t in self._lease:
            t.cancel()
        for t in self._lease:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await self.lease.stop()
        session = self.lease.closed()
        if session:
            with contextlib.suppress(errors.PlaitError):
                await self.api.close_session(session)
        self._acts.close()
        await self._stop_metrics()
        self._done.set()

    async def _stop_metrics(self) -> None:
        # In a thread: the endpoint's server notices a shutdown only every half second.
        if self.metrics is not None:
            await asyncio.to_thread(self.metrics.stop)

    # -- session ------------------------------------------------------------------------------
    async def _open_session(self) -> None:
        sent = time.monotonic()
        resp = await self.api.open_session(OpenSessionRequest(
            task_queue=self.task_queue, identity=self.identity,
            workflow_types=sorted(self.workflow_tasks.workflows),
            activity_types=sorted(self.activity_names)))
        self.lease.opened(resp.session_id, float(resp.expiry or 5.0), sent)
        if resp.max_payload:
            self.completions.limit_to(resp.max_payload)
        log.info("worker %s polling %r (session %s)", self.identity, self.task_queue,
                 self.session_id)

    async def _heartbeat_loop(self) -> None:
        """Renew the lease every second while holding tasks (their timeouts are checked at
        heartbeats); an idle worker renews every ``expiry / 2.5`` s (2 s by default), so an
        idle server is not kept busy by its workers' leases."""
        while True:
            idle = max(HEARTBEAT_EVERY, self.lease.expiry / 2.5)
            interval = HEARTBEAT_EVERY if self.held else idle
            asleep = time.monotonic()
            await asyncio.sleep(interval)
            session, sent = self.session_id, time.monotonic()
            self.lease.note_stall(asleep, interval, sent)  # before ``held`` is read, below
            try:
                await self.api.session_heartbeat(str(session), self.inflight.listing())
                self.lease.acknowledged(session, sent)
            except errors.RPCError as e:
                if e.code == "session_not_found":
                    log.warning("worker session expired; opening a new one")
                    with contextlib.suppress(errors.PlaitError):
                        await self._open_session()
                else:
                    log.debug("session heartbeat failed: %s", e)
            except Exception:  # never let the lease die silently with the worker alive
                log.exception("session heartbeat failed unexpectedly")

    async def _watch_loop(self) -> None:
        """Keep one request open at the server, re-opened as soon as it is answered: if this
        process dies, the connection drops and the server hands its tasks to other workers
        within a fraction of a second instead of waiting for the session to expire."""
        backoff = Backoff(0.2, 1.0)  # short: a new session must be watched soon
        while True:
            try:
                await self.api.watch_session(str(self.session_id), wait=WATCH_WAIT)
                backoff.reset()
            except errors.RPCError as e:  # session gone (the heartbeat reopens it), or away
                log.debug("session watch failed: %s", e)
                await backoff.wait()
            except Exception:
                log.exception("session watch failed unexpectedly")
                await backoff.wait()

    # -- polling ------------------------------------------------------------------------------
    async def _poll_loop(self, kind: str) -> None:
        slots = {"workflow": self.workflow_slots, "activity": self.activity_slots,
                 "query": self.query_slots}[kind]
        backoff = Backoff(0.1, 5.0)
        reopening = Backoff(0.2, 0.5)  # the heartbeat opens a new session within a second
        while not self._stop.is_set():
            n = await slots.reserve_some(max(1, min(POLL_BATCH, slots.free // 2)))
            stamp = self.lease.stamp()  # of the tasks this poll brings
            try:
                try:
                    tasks = await self._poll(kind, stamp[0], n)
                finally:
                    slots.polled(n)
                backoff.reset()
                reopening.reset()
            except errors.RPCError as e:
                slots.release(n)
                if e.code == "session_not_found":
                    await reopening.wait()
                    continue
                if _refused_for_good(e):
                    self._give_up(kind, e)
                    return
                log.debug("%s poll failed (%s); retrying", kind, e)
                await backoff.wait()
                continue
            except asyncio.CancelledError:
                slots.release(n)
                raise
            except Exception:  # a malformed response, say: log it and keep polling
                slots.release(n)
                log.exception("%s poll failed unexpectedly; retrying", kind)
                await backoff.wait()
                continue
            slots.release(n - len(tasks))
            if (growth := self.growth.get(kind)) is not None:
                growth.polled(n, len(tasks), time.monotonic())
            for task in tasks:
                if isinstance(task, WorkflowTask) or (
                        isinstance(task, UnreadableTask) and kind == "workflow"):
                    self.spawn_workflow_task(task, slot_held=True)  # fails an unreadable one
                elif isinstance(task, QueryTask) or (
                        isinstance(task, UnreadableTask) and kind == "query"):
                    self._spawn(self.workflow_tasks.answer_query(task), self.query_slots)
                elif isinstance(task, ActivityTask):
                    self.spawn_activity(task, stamp)
                else:  # the server offers it again once this worker no longer holds it
                    log.error("%s task %s cannot be run: %s", kind, task.token, task.problem)
                    self.held.discard(task.token)
                    slots.release()

    async def _poll(self, kind: str, session: str | None, n: int) -> list[PolledTask]:
        """One numbered poll: its tasks are held from the moment its answer is read
        (``_worker.inflight``), before any heartbeat can list what this worker holds."""
        number = self.inflight.open()
        tasks: list[PolledTask] = []
        try:
            tasks = await self.api.poll(self.task_queue, session_id=session, kind=kind,
                                        max_tasks=n, wait=POLL_WAIT, request_no=number)
            return tasks
        finally:
            self.inflight.close(number, (task.token for task in tasks))

    def _give_up(self, kind: str, e: errors.RPCError) -> None:
        """A poll the server refuses for good would be refused forever: say so loudly and
        stop the worker (``run()`` raises), rather than poll a 404 in silence."""
        if self._fatal is None:
            self._fatal = errors.PlaitError(
                f"worker {self.identity} stopped: the server refuses its {kind} polls on task "
                f"queue {self.task_queue!r}: {e}")
            self._fatal.__cause__ = e
            log.error("%s", self._fatal)
        self._stop.set()

    def spawn_workflow_task(self, task: WorkflowTask | UnreadableTask, *,
                            slot_held: bool) -> None:
        if not slot_held:
            self.workflow_slots.used += 1
        self._spawn(self.workflow_tasks.run(task), self.workflow_slots)

    def spawn_activity(self, task: ActivityTask, stamp: LeaseStamp) -> None:
        """Run an activity whose slot is already reserved; ``stamp``: the lease stamp taken
        when the request that brought the task was sent (``_worker.lease``)."""
        self._spawn(self._acts.run(task, stamp), self.activity_slots)

    def _spawn(self, coro: Any, slots: Slots) -> None:
        t = asyncio.create_task(coro)
        self._running.add(t)
        growth = self._growing.get(slots)
        arrived = time.monotonic() if growth is not None else 0.0

        def done(task: asyncio.Task[None]) -> None:
            self._running.discard(task)
            slots.release()
            if growth is not None:
                growth.finished(time.monotonic() - arrived)
            if not task.cancelled() and task.exception() is not None:
                log.error("worker task crashed", exc_info=task.exception())
        t.add_done_callback(done)


def _refused_for_good(e: errors.RPCError) -> bool:
    """A client error that repeating the same poll cannot cure (an unknown namespace or
    route, a bad or revoked key), unlike an expired session, which the heartbeat renews."""
    return 400 <= e.status < 500 and e.status not in (408, 409, 429)
