"""One workflow run being changed inside a transaction: append events, schedule tasks, close.

Events that arrive while a workflow task is out at a worker (an activity result, a timer) are
*buffered* (rows of ``buffered_events``; the run's state counts them) and written after that
task's own events. So the history shows
exactly what the worker saw between ``WORKFLOW_TASK_SCHEDULED`` and ``WORKFLOW_TASK_STARTED``,
which is what replay relies on. ``WORKFLOW_TASK_STARTED`` itself is written when the task ends
(with the dispatch time), which saves one history write per task.

Saving a run also holds it to the server's history limit: the stored size of its events is
counted as they are encoded, and a change that takes a running run past the limit terminates
it (``history_size_exceeded``) before anything is written, so it commits with its cause.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import msgspec

from plait.protocol.events import EventType
from plait.protocol.timestamps import event_time
from plait.server.config import RunLimits
from plait.server.effects import Effects
from plait.server.errors import NotFound
from plait.server.ledger import SessionLedger
from plait.server.matching import Outcome
from plait.server.observed import HistoryLarge
from plait.store.base import ExecutionRow, TaskRow, Txn
from plait.store.history import BufferedEvent, EventAttributes, StoredEvent
from plait.store.run_state import RunState, WorkflowTaskRef
from plait.store.task_data import HELD, WorkflowTaskData

__all__ = ["CLOSED", "RUNNING", "Ctx", "HistoryStop", "Run"]

log = logging.getLogger("plait.server")

RUNNING = "RUNNING"
CLOSED = frozenset(
    {"COMPLETED", "FAILED", "CANCELED", "TERMINATED", "CONTINUED_AS_NEW", "TIMED_OUT"}
)
STICKY_SECONDS = 3.0


Input = tuple[EventType, EventAttributes] | tuple[EventType, EventAttributes, float]
"""An event from outside the workflow's code, with the time it happened if not now."""


class NewEvent(msgspec.Struct):
    """An event appended in this transaction, written when the run is saved."""

    event_id: int
    event_type: str
    timestamp: str
    attributes: EventAttributes


_encode = msgspec.json.Encoder().encode

HistoryStop = Callable[["Run", str], None]
"""Closes a run whose history crossed its limit, given the reason
(:func:`plait.server.closing.terminate_run`; this module cannot import it)."""

_DEFAULT_LIMITS = RunLimits()


class Ctx:
    """What every operation gets: the transaction, the server's clock readings, the effects.

    ``now`` is durable time, ``wall`` real time; they differ only on a time-skipping server
    (:mod:`plait.server.clock` says which is for what)."""

    def __init__(self, txn: Txn, now: float, effects: Effects | None = None,
                 wall: float | None = None, ledger: SessionLedger | None = None,
                 limits: RunLimits | None = None, history_stop: HistoryStop | None = None
                 ) -> None:
        self.txn = txn
        self.now = now
        self.wall = now if wall is None else wall
        self.effects = effects or Effects()
        self.ledger = ledger or SessionLedger()
        """This server's memory of worker sessions: read here, changed after the commit."""
        self.limits = limits or _DEFAULT_LIMITS
        """What each run may grow to (the server's settings)."""
        self.history_stop = history_stop
        """How a run past its history limit is closed; None (a context built by hand, as in
        store tests): histories are not limited."""
        self.saved: dict[tuple[str, str, str], Run] = {}
        """The runs saved in this transaction, by (namespace, workflow id, run id), as last
        saved: a task of one handed out in the same transaction is built from what was
        written instead of reading it back (:mod:`plait.server.dispatch`)."""


class Run:
    def __init__(self, ctx: Ctx, row: ExecutionRow, *, new: bool = False) -> None:
        self.ctx = ctx
        self.txn = ctx.txn
        self.row = row
        self.new = new
        self.expected = row.next_event_id
        self.events: list[NewEvent] = []
        self.saved: list[StoredEvent] = []
        """The events the last :meth:`save` wrote (an eager dispatch hands them on as
        written)."""
        self.holding = False
        """True while a completion's commands are applied: inputs wait, so the command events
        stay contiguous in the history."""
        self.alive: str | None = None
        """A session known to be alive in this transaction (it is completing a task now)."""
        self.wt_ran = False
        """True while a worker's chained step is applied (:mod:`plait.server.chained`): the
        worker already ran the workflow task these inputs would schedule."""
        self.after_save: list[Callable[[], None]] = []
        """Work that must follow this run's next :meth:`save` in the same transaction (what a
        close does to the runs around it: :mod:`plait.server.closing` puts it here)."""
        if new:
            self.txn.creating_run(row.namespace, row.workflow_id, row.run_id)

    @classmethod
    def load(cls, ctx: Ctx, ns: str, wid: str, rid: str | None = None) -> Run:
        """The run to change: ``rid``, or the workflow's latest run."""
        rid = rid or ctx.txn.current_run(ns, wid)
        row = ctx.txn.get_execution(ns, wid, rid) if rid else None
        if row is None:
            raise NotFound(f"workflow {wid!r} not found in namespace {ns!r}",
                           code="workflow_not_found")
        return cls(ctx, row)

    # -- identity -----------------------------------------------------------------------------
    @property
    def ns(self) -> str:
        return self.row.namespace

    @property
    def wid(self) -> str:
        return self.row.workflow_id

    @property
    def rid(self) -> str:
        return self.row.run_id

    @property
    def state(self) -> RunState:
        return self.row.state

    @property
    def running(self) -> bool:
        return self.row.status == RUNNING

    # -- events --------------------------------------------------------------------------------
    def append(self, etype: EventType, attrs: EventAttributes, ts: float | None = None) -> int:
        event_id = self.row.next_event_id
        self.events.append(NewEvent(event_id, etype.value,
                                    event_time(ts if ts is not None else self.ctx.now), attrs))
        self.row.next_event_id += 1
        return event_id

    def add_input(self, events: Sequence[Input]) -> None:
        """Events from outside the workflow's code: buffered while a task is out. An event
        may carry the time it happened (an activity's start), else it happens now."""
        if self.wt_out():
            for etype, attrs, *at in events:
                self.state.buffered += 1
                seq = self.state.buffered
                self.txn.buffer_event(self.ns, self.wid, self.rid, seq, BufferedEvent(
                    etype.value, attrs, at[0] if at else self.ctx.now))
            return
        for etype, attrs, *at in events:
            self.append(etype, attrs, at[0] if at else None)
        self.ensure_wt()

    def has_buffered(self) -> bool:
        return bool(self.state.buffered or self.state.buffer)

    def flush_buffer(self) -> bool:
        buffered, self.state.buffer = self.state.buffer, []  # runs buffered by older versions
        if self.state.buffered:
            self.state.buffered = 0
            buffered += self.txn.take_buffered_events(self.ns, self.wid, self.rid)
        for b in buffered:
            self.append(EventType(b.event_type), b.attributes, b.ts)
        return bool(buffered)

    # -- workflow tasks -------------------------------------------------------------------------
    def wt_task(self) -> TaskRow | None:
        wt = self.state.wt
        return self.txn.get_task(wt.task_id) if wt else None

    def wt_out(self) -> bool:
        if self.holding:
            return True
        task = self.wt_task()
        return task is not None and task.lease_session is not None

    def ensure_wt(self) -> None:
        if self.running and not self.state.wt and not self.wt_ran:
            self.schedule_wt()

    def schedule_wt(self, *, attempt: int = 1, visible_at: float | None = None) -> None:
        event_id = self.append(EventType.WORKFLOW_TASK_SCHEDULED,
                               {"task_queue": self.row.task_queue, "attempt": attempt})
        sticky = self.live_sticky() if attempt == 1 else None
        when = visible_at if visible_at is not None else self.ctx.now
        task_id = self.txn.insert_task(
            ns=self.ns, task_queue=self.row.task_queue, kind="workflow", wid=self.wid,
            rid=self.rid, ref="wt", visible_at=when, payload=self._wt_payload(attempt),
            sticky_session=sticky, sticky_until=when + STICKY_SECONDS if sticky else None)
        self.state.wt = WorkflowTaskRef(task_id, event_id, attempt)
        self.ctx.effects.wake_queue(self.ns, self.row.task_queue, "workflow")
        if when > self.ctx.now:
            self.ctx.effects.timer(when)

    def _wt_payload(self, attempt: int) -> WorkflowTaskData:
        # The timeout travels with the task: the worker's session heartbeat enforces it.
        return WorkflowTaskData(attempt, self.state.task_timeout)

    def live_sticky(self) -> str | None:
        """The session that caches this run, if it still exists (a closed or expired
        session's runs go straight to the shared queue instead of waiting out the window)."""
        sticky = self.state.sticky
        if sticky and sticky != self.alive and self.txn.get_session(sticky) is None:
            self.state.sticky = sticky = None
        return sticky

    def end_wt(self, task: TaskRow, outcome: EventType, attrs: EventAttributes) -> None:
        """Record the task's start and end; the task row goes away."""
        wt = self._wt()
        started = self.append(EventType.WORKFLOW_TASK_STARTED,
                              {"scheduled_event_id": wt.scheduled_event_id,
                               "identity": task.lease_session or "",
                               "attempt": wt.attempt},
                              task.dispatched_at)
        self.append(outcome, {"scheduled_event_id": wt.scheduled_event_id,
                              "started_event_id": started, **attrs})
        self.txn.delete_task(task.task_id)
        self.state.wt = None

    def _wt(self) -> WorkflowTaskRef:
        """The workflow task in flight (callers hold its fenced task, so there is one)."""
        wt = self.state.wt
        if wt is None:
            raise RuntimeError(f"run {self.wid}/{self.rid} has no workflow task in flight")
        return wt

    def record_ran_wt(self, session: str, started: float, scheduled: float) -> None:
        """Record a workflow task that a worker ran without being handed one (a chained
        step): the same three events a dispatched task leaves, and no task row. ``started``
        is the task's time as the worker ran it (``workflow.now()``, never changed);
        ``scheduled`` is no later than it."""
        sched = self.append(EventType.WORKFLOW_TASK_SCHEDULED,
                            {"task_queue": self.row.task_queue, "attempt": 1}, scheduled)
        started_id = self.append(EventType.WORKFLOW_TASK_STARTED,
                                 {"scheduled_event_id": sched, "identity": session,
                                  "attempt": 1}, started)
        self.append(EventType.WORKFLOW_TASK_COMPLETED,
                    {"scheduled_event_id": sched, "started_event_id": started_id,
                     "identity": session})
        self.state.last_wt_scheduled_event_id = sched

    def retry_wt(self, task: TaskRow, outcome: EventType, attrs: EventAttributes,
                 delay: float) -> None:
        """A task failed or timed out: record it once per streak, then offer it again."""
        attempt = self._wt().attempt
        if attempt == 1:
            self.end_wt(task, outcome, attrs)
        else:
            self.txn.delete_task(task.task_id)
            self.state.wt = None
        self.flush_buffer()
        self.state.sticky = None
        if attempt == 1:
            self.schedule_wt(attempt=attempt + 1, visible_at=self.ctx.now + delay)
        else:
            self._reoffer_silently(attempt + 1, self.ctx.now + delay)

    def _reoffer_silently(self, attempt: int, visible_at: float) -> None:
        """Later attempts of a failing task add no events (the first failure is recorded)."""
        task_id = self.txn.insert_task(
            ns=self.ns, task_queue=self.row.task_queue, kind="workflow", wid=self.wid,
            rid=self.rid, ref="wt", visible_at=visible_at, payload=self._wt_payload(attempt))
        prev = self.state.last_wt_scheduled_event_id
        self.state.wt = WorkflowTaskRef(task_id, prev, attempt)
        self.ctx.effects.wake_queue(self.ns, self.row.task_queue, "workflow")
        self.ctx.effects.timer(visible_at)

    # -- closing --------------------------------------------------------------------------------
    def record_close(self, status: str, etype: EventType,
                     attrs: EventAttributes) -> list[TaskRow] | None:
        """The run's own part of closing: the closing event, the status, the result, and its
        pending work deleted; returns the tasks deleted (None: it was already closed). What a
        close means for attempts, updates, parents and children is
        :func:`plait.server.closing.close_run`'s."""
        if self.row.status != RUNNING:
            return None
        self.append(etype, attrs)
        self.row.status = status
        self.row.close_time = self.ctx.now
        self.row.result = {"status": status, **attrs}
        self.state.wt = None
        self.state.buffer = []
        buffered = bool(self.state.buffered)
        self.state.buffered = 0
        # The tasks deleted matter only for an activity attempt that was out: none can be
        # when the run's count says no activity is pending.
        none_out = self.state.activities_counted and self.state.pending_activities == 0
        deleted = self.txn.delete_run_work(self.ns, self.wid, self.rid, buffered=buffered,
                                           wanted=not none_out)
        self.ctx.effects.closed[(self.ns, self.wid, self.rid)] = Outcome(status, self.row.result)
        return deleted

    # -- pausing --------------------------------------------------------------------------------
    def hold_tasks(self) -> None:
        """Hold back every unleased workflow and activity task of the run (it is paused):
        whatever scheduled or re-offered one in this change, no claim reaches it until
        :func:`plait.server.pausing.unpause` gives it back its due time."""
        for task in self.txn.tasks_of_run(self.ns, self.wid, self.rid):
            if task.kind != "query" and task.lease_session is None and task.visible_at < HELD:
                self.txn.release_task(task.task_id, task.visible_at + HELD, task.payload)

    # -- persistence ----------------------------------------------------------------------------
    def save(self) -> None:
        saved = self._encoded()
        if saved and self.running and self.ctx.history_stop is not None:
            over = self._history_over()
            if over is not None:
                # Closed in the change that crossed the limit: its own events stay in.
                self.ctx.history_stop(self, over)
                saved += self._encoded()
        wt = self.state.wt
        if wt and wt.scheduled_event_id:
            self.state.last_wt_scheduled_event_id = wt.scheduled_event_id
        if self.new:
            self.txn.insert_execution(self.row)
            self.txn.insert_events(self.ns, self.wid, self.rid, saved)
        else:
            self.txn.save_execution(self.row, self.expected, saved)
        self.expected = self.row.next_event_id
        self.saved = saved
        self.ctx.saved[(self.ns, self.wid, self.rid)] = self
        if self.state.paused is not None:
            self.hold_tasks()
        hooks, self.after_save = self.after_save, []
        for hook in hooks:
            hook()

    def _encoded(self) -> list[StoredEvent]:
        """The events appended since the last save, as stored; their size is added to the
        run's count of history bytes."""
        saved = []
        size = 0
        for e in self.events:
            data = _encode(e)
            size += len(data)
            saved.append(StoredEvent(e.event_id, data.decode()))
        self.events = []
        self.state.history_bytes += size
        return saved

    def _history_over(self) -> str | None:
        """The reason to stop a run whose history just crossed the server's limit, if it did
        (two integer comparisons: the counts are at hand); crossing the warning threshold
        is logged and counted once."""
        limits = self.ctx.limits
        events, size = self.row.next_event_id - 1, self.state.history_bytes
        if events > limits.max_history_events:
            return (f"history_size_exceeded: {events:,} events, over the server's limit of "
                    f"{limits.max_history_events:,} (--max-history-events)")
        if size > limits.max_history_bytes:
            return (f"history_size_exceeded: {size:,} bytes of history, over the server's "
                    f"limit of {limits.max_history_bytes:,} (--max-history-bytes)")
        if not self.state.history_warned and (events >= limits.warn_history_events
                                              or size >= limits.warn_history_bytes):
            self._warn(events, size)
        return None

    def _warn(self, events: int, size: int) -> None:
        self.state.history_warned = True
        limits = self.ctx.limits
        log.warning("the history of workflow %s (run %s, namespace %s, type %s) has %d events "
                    "and %d bytes: continue as new before it reaches %d events or %d bytes, "
                    "where the server terminates it", self.wid, self.rid, self.ns,
                    self.row.workflow_type, events, size, limits.max_history_events,
                    limits.max_history_bytes)
        self.ctx.effects.observe(HistoryLarge(self.ns, self.row.workflow_type, "warning"))
