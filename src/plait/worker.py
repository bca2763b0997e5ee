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
from datetime import timedelta
from typing import Any

from plait import errors
from plait._worker.activities import ActivityRunner
from plait._worker.completions import Completions
from plait._worker.slots import Slots
from plait._worker.workflows import WorkflowTasks
from plait.client import Client
from plait.runtime.definitions import activity_defn_of, workflow_defn_of

__all__ = ["Worker"]

LeaseStamp = tuple[str | None, float]
"""Where a task came from: the session it is leased to, and when (``time.monotonic()``) the
request that brought it was sent. See :meth:`Worker.lease_live`."""

log = logging.getLogger("plait.worker")
POLL_WAIT = 30.0
HEARTBEAT_EVERY = 1.0
WATCH_WAIT = 25.0
STALL = 1.0
"""A timer that fires this much later than asked means the event loop was stalled (a pause,
CPU-bound code). Poll responses that arrived meanwhile were not read, and the first
heartbeat after a stall may leave without their tasks: a task unlisted 2 s after its dispatch
is offered again as undelivered. So tasks of requests sent before a stall are confirmed."""
STALL_TICK = 0.25
"""How often the stall watch (:meth:`Worker._stall_loop`) wakes up."""
LEASE_MARGIN = 0.2
"""A task is started without asking the server only while the worker's last acknowledged
session renewal was sent less than ``(1 - LEASE_MARGIN) x expiry`` ago: the margin covers a
server clock stepping forward and the moment between the check and the activity's first line.
A worker renews every 1 to 2 s (expiry / 2.5), so with the default 5 s expiry (4 s believed)
only a worker that was paused or cut off ever asks."""
POLL_BATCH = 128
"""Most tasks one poll may take: a burst of starts or due timers reaches the worker in a few
round trips. A waiting poll holds the slots it reserved, so it takes at most half of those
free: the rest stay for the other pollers and for the follow-up tasks that completions hand
back (eager dispatch). A poll that took every free slot left eager dispatch none, and every
task then cost a poll; taking half still lets polls alone fill the pool."""


class Worker:
    def __init__(
        self,
        client: Client,
        *,
        task_queue: str,
        workflows: Sequence[type] = (),
        activities: Sequence[Callable[..., Any]] = (),
        max_concurrent_activities: int = 100,
        max_concurrent_workflow_tasks: int = 100,
        max_cached_workflows: int = 10_000,
        graceful_shutdown_timeout: timedelta = timedelta(seconds=10),
        identity: str | None = None,
        pollers: int = 2,
        eager_dispatch: bool = True,
    ) -> None:
        if not workflows and not activities:
            raise ValueError("a worker needs at least one workflow or activity")
        self.client = client
        self.task_queue = task_queue
        self.identity = identity or f"{os.getpid()}@{socket.gethostname()}"
        self._eager = eager_dispatch
        wf_defns = {d.name: d for d in (workflow_defn_of(w) for w in workflows)}
        act_defns = {d.name: d for d in (activity_defn_of(a) for a in activities)}
        self.activity_names = frozenset(act_defns)
        self.workflow_names = frozenset(wf_defns)
        self.workflow_slots = Slots(max_concurrent_workflow_tasks)
        self.activity_slots = Slots(max_concurrent_activities)
        self.query_slots = Slots(16)
        self.held: set[str] = set()
        self.completions = Completions(client.transport)
        self.session_id: str | None = None
        self._expiry = 5.0
        self._renewed: tuple[str | None, float] = (None, 0.0)
        """(session, monotonic time) of the last renewal the server acknowledged, taken when
        its request was *sent*: the server renewed the lease when the request arrived, later,
        so the lease runs at least until that time + expiry whatever the answer's delay."""
        self._renewal: tuple[str | None, asyncio.Task[float | None]] | None = None
        """The out-of-turn renewal in flight (:meth:`renew_lease`), and its session."""
        self._stalled_at = 0.0
        """When the event loop was last found to have stalled (``STALL``): by the heartbeat
        loop, or by the stall watch (:meth:`_stall_loop`)."""
        self.workflow_tasks = WorkflowTasks(self, wf_defns, max_cached_workflows)
        self._acts = ActivityRunner(self, act_defns, max_concurrent_activities)
        self._graceful = graceful_shutdown_timeout.total_seconds()
        self._pollers = pollers
        self._background: list[asyncio.Task[None]] = []
        self._lease: list[asyncio.Task[None]] = []
        """Heartbeat, watch and stall watch: they keep the session until the very end of a
        shutdown."""
        self._running: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self._done = asyncio.Event()
        self._run_task: asyncio.Task[None] | None = None

    @property
    def eager(self) -> bool:
        """Take follow-up tasks in completion responses; never while shutting down."""
        return self._eager and not self._stop.is_set()

    # -- lifecycle ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Run until cancelled or :meth:`shutdown`."""
        await self._open_session()
        kinds = []
        if self.workflow_tasks.workflows:
            kinds += ["workflow", "query"]
        if self._acts.activities:
            kinds.append("activity")
        self._background = [asyncio.create_task(self._poll_loop(k)) for k in kinds
                            for _ in range(self._pollers)]
        self._lease = [asyncio.create_task(self._heartbeat_loop()),
                       asyncio.create_task(self._watch_loop()),
                       asyncio.create_task(self._stall_loop())]
        try:
            await self._stop.wait()
        finally:
            await self._wind_down()

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
        lease: list[asyncio.Task[Any]] = [*self._lease]
        if self._renewal is not None:
            lease.append(self._renewal[1])
        for lt in lease:
            lt.cancel()
        for lt in lease:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await lt
        session, self.session_id = self.session_id, None
        if session:
            with contextlib.suppress(errors.PlaitError):
                await self.client.transport.call("DELETE", f"/api/v1/sessions/{session}",
                                                 retry=False, timeout=5)
        self._acts.close()
        self._done.set()

    # -- session ------------------------------------------------------------------------------
    async def _open_session(self) -> None:
        sent = time.monotonic()
        resp = await self.client.transport.call(
            "POST", f"{self.client._ns_path()}/sessions",
            {"task_queue": self.task_queue, "identity": self.identity,
             "workflow_types": sorted(self.workflow_tasks.workflows),
             "activity_types": sorted(self.activity_names)})
        self.session_id = resp["session_id"]
        self._expiry = float(resp.get("expiry") or 5.0)
        self._renewed = (self.session_id, sent)
        log.info("worker %s polling %r (session %s)", self.identity, self.task_queue,
                 self.session_id)

    async def _heartbeat_loop(self) -> None:
        """Renew the lease every second while holding tasks (their timeouts are checked at
        heartbeats); an idle worker renews every ``expiry / 2.5`` s (2 s by default), so an
        idle server is not kept busy by its workers' leases."""
        while True:
            idle = max(HEARTBEAT_EVERY, self._expiry / 2.5)
            interval = HEARTBEAT_EVERY if self.held else idle
            asleep = time.monotonic()
            await asyncio.sleep(interval)
            session, sent = self.session_id, time.monotonic()
            self._note_stall(asleep, interval, sent)  # before ``held`` is read, just below
            try:
                await self.client.transport.call(
                    "POST", f"/api/v1/sessions/{self.session_id}/heartbeat",
                    {"held": sorted(self.held)}, retry=False, timeout=5)
                self._acknowledged(session, sent)
            except errors.RPCError as e:
                if e.code == "session_not_found":
                    log.warning("worker session expired; opening a new one")
                    with contextlib.suppress(errors.PlaitError):
                        await self._open_session()
                else:
                    log.debug("session heartbeat failed: %s", e)
            except Exception:  # never let the lease die silently with the worker alive
                log.exception("session heartbeat failed unexpectedly")

    async def _stall_loop(self) -> None:
        """Notice stalls of the event loop (``STALL``) even while the heartbeat loop waits for
        an answer rather than sleeps: then a stall does not delay its timer, but an
        out-of-turn renewal (:meth:`renew_lease`) may still list tasks before all the poll
        responses that piled up are read."""
        while True:
            asleep = time.monotonic()
            await asyncio.sleep(STALL_TICK)
            self._note_stall(asleep, STALL_TICK, time.monotonic())

    def _note_stall(self, asleep: float, interval: float, woke: float) -> None:
        if woke - asleep - interval > STALL:
            self._stalled_at = woke

    def _acknowledged(self, session: str | None, sent: float) -> None:
        """The server renewed ``session`` on a request sent at ``sent``; answers to older
        requests, or about a session that is no longer this worker's, change nothing."""
        renewed_session, renewed_at = self._renewed
        if session == self.session_id and (session != renewed_session or sent > renewed_at):
            self._renewed = (session, sent)

    def lease_stamp(self) -> LeaseStamp:
        """The stamp of tasks answering a request sent now (:meth:`lease_live`)."""
        return self.session_id, time.monotonic()

    def lease_live(self, stamp: LeaseStamp) -> bool:
        """Whether this worker can believe that the lease of a task with this stamp is still
        live: it is leased to the current session, a renewal sent recently was acknowledged,
        and the loop has not stalled since the request that brought the task was sent.

        False after a pause longer than the lease (a GC or VM pause, a loop blocked by
        CPU-bound code, SIGSTOP): the server may have expired the session and given its tasks
        to other workers meanwhile. False too after a shorter stall with the task unread, as
        the first heartbeat after it may have told the server the task never arrived
        (``STALL``). Either way the task must not start without asking (:meth:`renew_lease`
        and ``plait._worker.activities``)."""
        session, sent = stamp
        renewed_session, renewed_at = self._renewed
        return session is not None and session == self.session_id == renewed_session \
            and time.monotonic() - renewed_at < self._expiry * (1 - LEASE_MARGIN) \
            and sent > self._stalled_at

    async def renew_lease(self, session: str | None) -> float | None:
        """Renew ``session`` now, out of turn; returns when the renewal was sent, or None
        when the server no longer knows the session (it expired; the heartbeat loop opens a
        new one) or cannot be reached. Callers that ask at the same time share one request."""
        if self._renewal is None or self._renewal[0] != session or self._renewal[1].done():
            self._renewal = (session, asyncio.create_task(self._renew(session)))
        return await asyncio.shield(self._renewal[1])

    async def _renew(self, session: str | None) -> float | None:
        sent = time.monotonic()
        try:
            # The tasks this worker holds are listed, as in every heartbeat: one not listed
            # would be offered again as never delivered.
            await self.client.transport.call(
                "POST", f"/api/v1/sessions/{session}/heartbeat",
                {"held": sorted(self.held)}, retry=False, timeout=5)
        except Exception as e:  # whatever it was, the lease is not confirmed
            log.info("session %s could not be renewed: %s", session, e)
            return None
        self._acknowledged(session, sent)
        return sent

    async def _watch_loop(self) -> None:
        """Keep one request open at the server, re-opened as soon as it is answered: if this
        process dies, the connection drops and the server hands its tasks to other workers
        within a fraction of a second instead of waiting for the session to expire."""
        while True:
            try:
                await self.client.transport.call(
                    "GET", f"/api/v1/sessions/{self.session_id}/watch",
                    params={"wait": str(WATCH_WAIT)}, retry=False, timeout=WATCH_WAIT + 10)
            except errors.RPCError as e:  # session gone (the heartbeat reopens it), or away
                log.debug("session watch failed: %s", e)
                await asyncio.sleep(0.2)
            except Exception:
                log.exception("session watch failed unexpectedly")
                await asyncio.sleep(0.2)

    # -- polling ------------------------------------------------------------------------------
    async def _poll_loop(self, kind: str) -> None:
        slots = {"workflow": self.workflow_slots, "activity": self.activity_slots,
                 "query": self.query_slots}[kind]
        path = f"{self.client._ns_path()}/task-queues/{self.task_queue}/poll"
        backoff = 0.1
        while not self._stop.is_set():
            n = await slots.reserve_some(max(1, min(POLL_BATCH, slots.free // 2)))
            stamp = self.lease_stamp()  # of the tasks this poll brings
            try:
                resp = await self.client.transport.call(
                    "POST", path, {"session_id": stamp[0], "kind": kind,
                                   "max_tasks": n, "wait": POLL_WAIT},
                    retry=False, timeout=POLL_WAIT + 10)
                backoff = 0.1
            except errors.RPCError as e:
                slots.release(n)
                if e.code == "session_not_found":
                    await asyncio.sleep(0.2)  # the heartbeat loop opens a new session
                else:
                    log.debug("poll failed (%s); retrying in %.1fs", e, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                continue
            except asyncio.CancelledError:
                slots.release(n)
                raise
            except Exception:  # a malformed response, say: log it and keep polling
                slots.release(n)
                log.exception("poll failed unexpectedly; retrying in %.1fs", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            tasks = resp["tasks"]
            slots.release(n - len(tasks))
            for task in tasks:
                if kind == "workflow":
                    self.spawn_workflow_task(task, slot_held=True)
                elif kind == "query":
                    self._spawn(self.workflow_tasks.answer_query(task), self.query_slots)
                else:
                    self.spawn_activity(task, stamp)

    def spawn_workflow_task(self, task: dict[str, Any], *, slot_held: bool) -> None:
        if not slot_held:
            self.workflow_slots.used += 1
        self._spawn(self.workflow_tasks.run(task), self.workflow_slots)

    def spawn_activity(self, task: dict[str, Any], stamp: LeaseStamp) -> None:
        """Run an activity whose slot is already reserved; ``stamp``: :meth:`lease_stamp`
        taken when the request that brought the task was sent."""
        self._spawn(self._acts.run(task, stamp), self.activity_slots)

    def _spawn(self, coro: Any, slots: Slots) -> None:
        t = asyncio.create_task(coro)
        self._running.add(t)

        def done(task: asyncio.Task[None]) -> None:
            self._running.discard(task)
            slots.release()
            if not task.cancelled() and task.exception() is not None:
                log.error("worker task crashed", exc_info=task.exception())
        t.add_done_callback(done)
