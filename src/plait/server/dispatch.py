"""Handing tasks to workers: claim ready tasks, fence them, and build what the worker gets.

A claimed workflow task carries the events the worker has not seen: only the new ones when it
goes to the worker that holds the run in its cache (sticky), the full history otherwise, but
only the new ones again when that history is long (a worker without the run cached reads it
in pages: :data:`FULL_HISTORY_IN_TASK`).

Tasks are claimed by a poll, by a completion for the worker that sent it (eager dispatch:
:func:`claim_ids`), or, when a transaction makes a task ready while a poll is parked on its
queue, by that transaction for the poll (:func:`hand_off`).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from plait.protocol.events import wire_time
from plait.server import activities, admission, queries, sessions, updates
from plait.server.answers import Dispatched, OutgoingWorkflowTask
from plait.server.effects import Unsettled
from plait.server.errors import NotFound
from plait.server.matching import Parked, QueueKey
from plait.server.observed import ActivityDispatched
from plait.server.run import RUNNING, Ctx, Run
from plait.store.base import TaskRow
from plait.store.history import StoredEvent
from plait.store.sessions import SessionInfo, SessionRow
from plait.store.task_data import HELD

__all__ = ["claim", "claim_ids", "hand_off", "poll_claim", "session_info"]

HAND_OFF_TRIES = 2
"""How many parked polls of one queue a transaction claims for in vain (say, its task is
sticky to another worker) before it leaves the rest to wake up: each costs a statement."""

FULL_HISTORY_IN_TASK = 2_000
"""The longest history a claim reads and sends whole (to a worker that may not have the run
cached). A longer one (up to 50,000 events, tens of MB) would be read inside the claim's
transaction (on SQLite, holding the writer) and encoded in one stretch of the event loop.
Instead the task carries the events after the last completed workflow task, as a sticky one
does: a worker that has the run cached applies them, and one that has not reads the whole
history in pages (``GET .../history``), as it does for any task whose events do not start at
event 1."""

MAX_CLAIM = 256
"""The most tasks one claim leases, whatever a poll asks for."""


def _claim_limit(asked: int) -> int:
    return max(1, min(asked, MAX_CLAIM))


def session_info(ctx: Ctx, session: str, *, cached: bool = False) -> SessionInfo:
    """What a session serves (queue, types). ``cached``: a session's info never changes, so
    a caller that does not need to know the session is still alive may take a cached copy."""
    known = ctx.ledger.info(session) if cached else None
    if known is not None:
        return known
    return _alive(ctx, session, ctx.txn.get_session(session))


def _alive(ctx: Ctx, session: str, row: SessionRow | None) -> SessionInfo:
    if row is None:
        raise sessions.unknown(session)
    ctx.effects.session_infos[session] = row.info
    return row.info


def claim(ctx: Ctx, ns: str, queue: str, kind: str, session: str,
          limit: int, request: int | None = None) -> list[Dispatched]:
    """Lease ready tasks to ``session`` for the worker's request numbered ``request``
    (:attr:`plait.store.base.TaskRow.lease_request`). The claim itself passes over a
    session that is gone, so the session is read with it (one round trip on PostgreSQL,
    not two) and an unknown one is refused after."""
    row = ctx.txn.get_session_later(session)
    claimed = ctx.txn.claim_tasks(ns=ns, task_queue=queue, kind=kind, session=session,
                                  now=ctx.now, limit=_claim_limit(limit), request=request)
    _alive(ctx, session, row())
    tasks = admission.admit(ctx, claimed)
    for _ in tasks:
        ctx.effects.leased(session)
    out = _built([_dispatch(ctx, task) for task in tasks])
    _answering(ctx, out, request)
    return out


def poll_claim(ctx: Ctx, ns: str, queue: str, kind: str, session: str,
               limit: int, request: int | None = None) -> tuple[list[Dispatched], float | None]:
    """A poll's claim; when nothing is ready, also when the next task becomes visible (read
    in the same transaction, so an empty poll costs one transaction, not two; on
    PostgreSQL asked with the claim, so it costs no round trip of its own either)."""
    upcoming = ctx.txn.next_visible_later(ns, queue, kind, session)
    tasks = claim(ctx, ns, queue, kind, session, limit, request)
    if tasks:
        return tasks, None
    return [], upcoming()


def hand_off(ctx: Ctx, take: Callable[[QueueKey], Parked | None]) -> None:
    """At the end of a transaction: claim the tasks it made ready for polls parked on their
    queues, in the same transaction. The poll is answered after the commit, so the task
    costs no claim transaction of its own and no wake-up (nothing is handed out before it is
    durable). Tasks handed out eagerly in this change were taken off ``ready`` already.

    ``take`` binds a parked poll to this change and records it in ``effects.handoffs``
    (with no tasks yet) before its claim runs: whoever gives up on the change while the
    claim waits for the database finds every poll it took there, and answers it."""
    effects = ctx.effects
    for key in effects.queues:
        empty = 0
        while effects.ready.get(key, 0) > 0 and empty < HAND_OFF_TRIES:
            parked = take(key)
            if parked is None:
                break
            slot = len(effects.handoffs) - 1
            ns, queue, kind = key
            tasks = _claim_known(ctx, key, parked, slot)
            if tasks is None:
                try:  # the claim checks the session
                    tasks = claim(ctx, ns, queue, kind, parked.session, parked.limit,
                                  parked.request)
                except NotFound:  # it expired meanwhile: the poll's own claim will say so
                    tasks = []
            effects.handoffs[slot] = (parked, tasks)
            for _task in tasks:
                effects.taken(ns, queue, kind)
            empty += not tasks


def _claim_known(ctx: Ctx, key: QueueKey, parked: Parked,
                 slot: int) -> list[Dispatched] | None:
    """A hand-off of workflow tasks this change wrote (a new run's first, say), claimed
    without waiting for the claim's answer: on PostgreSQL it comes with COMMIT's, one round
    trip sooner (``bench/results/pg.md``). Nothing but the claim depends on it: the tasks'
    runs are this change's, their payloads in hand. Which tasks the claim leased (all, or
    none if the session was gone) is settled once the transaction committed
    (:class:`plait.server.effects.Unsettled`). None: nothing known, claim as a poll does."""
    ns, queue, kind = key
    if kind != "workflow":  # an activity's admission may write (rate limits): claim first
        return None
    known, leased = ctx.txn.claim_known_later(
        ns=ns, task_queue=queue, kind=kind, session=parked.session, now=ctx.now,
        limit=_claim_limit(parked.limit), request=parked.request)
    if not known:
        return None
    for _ in known:
        ctx.effects.leased(parked.session)
    out = _built([_dispatch(ctx, task) for task in known])
    _answering(ctx, out, parked.request)
    ctx.effects.unsettled.append(Unsettled(slot, leased, key, parked.session))
    return out


def claim_ids(ctx: Ctx, task_ids: list[int], session: str,
              run: Run | None = None, request: int | None = None) -> list[Dispatched]:
    """Claim specific tasks for one session (eager dispatch in a completion's response).
    ``run``: the run these tasks belong to, just saved in this transaction (not read again).
    The tasks were made ready in this same change, so their pollers need not wake for them."""
    if run is not None and run.state.paused is not None:
        return []  # held back (the claim by id does not look at visible_at)
    building = []
    for task_id in task_ids:
        claimed = ctx.txn.claim_task_by_id(task_id, session, ctx.now, request)
        if claimed is not None and admission.admit(ctx, [claimed]):
            ctx.effects.leased(session)
            ctx.effects.taken(claimed.namespace, claimed.task_queue, claimed.kind)
            building.append(_dispatch(ctx, claimed, run))
    out = _built(building)
    _answering(ctx, out, request)
    return out


def _built(building: list[Callable[[], Dispatched] | None]) -> list[Dispatched]:
    """What each task goes out as (None: it was not handed out after all). Built in two
    passes, so that every history read is asked for before the first is read: on
    PostgreSQL a claim's reads then share one round trip instead of one each."""
    return [build() for build in building if build is not None]


def _answering(ctx: Ctx, out: list[Dispatched], request: int | None) -> None:
    """Note that these tasks' answers wait for this transaction's commit: until then a
    heartbeat must not count them as lost (:mod:`plait.server.deliveries`). Only for a
    request without a number: a numbered one's tasks are judged by what the worker read,
    never by time (:mod:`plait.server.sessions`), so the notes would be work for nothing."""
    if out and request is None:
        tokens = [task.token for task in out]
        ctx.ledger.deliveries.claimed(tokens)
        ctx.effects.answering += tokens


def _dispatch(ctx: Ctx, task: TaskRow,
              run: Run | None = None) -> Callable[[], Dispatched] | None:
    """Decide whether ``task`` goes out (None: it does not) and ask for what it needs; the
    function returned builds what goes out (see :func:`_built`)."""
    if task.kind == "query":  # closed workflows can be queried too
        if task.query.expires_at < ctx.now:
            ctx.txn.delete_task(task.task_id)  # its asker gave up (or its server died)
            return None
        payload: Dispatched = queries.dispatch_payload(task)
        return lambda: payload
    if task.kind == "activity":
        # No need to read the run: closing a run deletes its tasks in the same transaction,
        # so an activity task that exists belongs to a running workflow.
        ctx.effects.observe(ActivityDispatched(task.namespace, task.task_queue,
                                               ctx.now - task.visible_at))
        payload = activities.dispatch_payload(ctx, task)
        return lambda: payload
    if run is None:  # a task of a run saved in this same transaction: use what was written
        run = ctx.saved.get((task.namespace, task.workflow_id, task.run_id))
    mine = run is not None and run.rid == task.run_id and run.wid == task.workflow_id
    row = run.row if run is not None and mine else \
        ctx.txn.get_execution(task.namespace, task.workflow_id, task.run_id)
    if row is None or row.status != RUNNING:
        ctx.txn.delete_task(task.task_id)
        return None
    if row.state.paused is not None:  # held back by the pause; never handed out
        ctx.txn.release_task(task.task_id, task.visible_at + HELD, task.payload)
        return None
    state = row.state
    upto = state.upto
    long = row.next_event_id > FULL_HISTORY_IN_TASK + 1
    after = upto if state.sticky == task.lease_session or long else 0
    saved = run.saved if run is not None and mine else []
    if _covers(saved, after, row.next_event_id):
        written = [e.raw for e in saved]
        events: Callable[[], list[msgspec.Raw]] = lambda: written  # noqa: E731
    else:
        events = ctx.txn.events_later(task.namespace, task.workflow_id, task.run_id, after)
    token, started = f"{task.task_id}.{task.dispatch_no}", wire_time(ctx.now)
    requested = updates.requested(state)
    return lambda: OutgoingWorkflowTask(
        token=token, namespace=task.namespace,
        workflow_id=task.workflow_id, run_id=task.run_id, workflow_type=row.workflow_type,
        task_queue=row.task_queue, attempt=task.workflow.attempt, previous_upto=upto,
        started_event_id=row.next_event_id, started_time=started, events=events(),
        updates=requested)


def _covers(saved: list[StoredEvent], after: int, next_event_id: int) -> bool:
    """Whether the events just saved are exactly those after ``after`` (the worker's cache
    has seen the rest; 0: a full history, which only a run created in this transaction has
    saved whole): then they go out as written, without reading them back."""
    return bool(saved) and saved[0].event_id == after + 1 \
        and saved[-1].event_id == next_event_id - 1
