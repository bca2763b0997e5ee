"""Worker sessions: the lease that tells a live worker from a dead one.

A session that stops heartbeating is a dead worker. So is one whose *watch* drops: each worker
keeps one long-lived request open (``watch``) and re-opens it at once when it is answered, so
when that connection closes without an answer and is not re-opened within a short grace, the
worker process is gone (kill -9 closes its sockets), and the server need not wait out the
expiry. When a session expires, every task leased to it goes back to the queue at once,
whatever its timeouts. Each heartbeat also lists the tasks the worker holds: a task the
worker does not know about (the answer that carried it was lost) is offered again, and a
workflow task held past its task timeout (stuck workflow code) or an activity attempt held
past its start-to-close timeout times out. So a worker's tasks need no timer rows for those:
a dead worker's session expires, a live one's heartbeat checks them.

Which unlisted task is lost is judged by what the worker had read, not by time. A worker
numbers the requests that may bring it tasks (polls, completions asking for tasks back), the
claim records the number with each task (``lease_request``), and a heartbeat says which
numbers the worker had sent and which it still waited on when it made its list
(:class:`RequestsSeen`). A task whose request was answered (or given up on) and which the list
leaves out is lost, at once; one whose answer is still on its way is not, however long a
commit, a server's event loop or the worker's took. Only a task claimed without a number, or a
heartbeat without them (an older worker), is judged by time: missing from the list
``UNACKED_GRACE`` after its answer left (:mod:`plait.server.deliveries`). That rule was
wrong on saturated machines, where event loops lag for seconds: it offered a running attempt
again, and the attempt ran twice.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid

from plait.protocol.sessions import Ok, OpenSessionRequest, SessionOpened
from plait.server import activities
from plait.server.errors import NotFound
from plait.server.recovery import redispatch_lost
from plait.server.run import Ctx
from plait.server.timeouts import time_out_attempt
from plait.store.base import TaskRow
from plait.store.sessions import SessionInfo

__all__ = ["RequestsSeen", "close", "expire_due", "heartbeat", "open_session", "renew",
           "unknown", "watch_dropped"]

UNACKED_GRACE = 2.0
log = logging.getLogger("plait.server")


@dataclasses.dataclass(frozen=True, slots=True)
class RequestsSeen:
    """Which of its numbered requests a worker had sent, and which it still waited on, when
    it made a heartbeat's list of the tasks it holds."""

    sent: int
    open: frozenset[int]

    def read(self, request: int | None) -> bool | None:
        """Whether the worker was done with request ``request``'s answer (read it, or gave
        up on it) when it made the list; None for a task claimed without a number."""
        if request is None:
            return None
        return request <= self.sent and request not in self.open


def unknown(session: str) -> NotFound:
    """The error for a session that does not exist (never opened, closed or expired)."""
    return NotFound(f"worker session {session!r} is unknown or expired; open a new one",
                    code="session_not_found")


def open_session(ctx: Ctx, ns: str, req: OpenSessionRequest, expiry: float,
                 ahead: float | None = None) -> SessionOpened:
    identity = (req.identity or "worker")[:200]
    safe = "".join(c if c.isalnum() or c in "-_.@" else "_" for c in identity)
    session = f"{safe}-{uuid.uuid4().hex[:12]}"
    queue = req.task_queue or ""
    info = SessionInfo(queue, identity, req.workflow_types or [], req.activity_types or [])
    ctx.txn.upsert_session(session, ns, queue, identity, info,
                           expires_at=ctx.wall + (ahead or expiry))
    ctx.effects.lease(session, ctx.wall + expiry, ctx.wall + (ahead or expiry))
    ctx.effects.checked[session] = 0
    return SessionOpened(session_id=session, expiry=expiry)


def heartbeat(ctx: Ctx, session: str, held: list[str], expiry: float,
              sent_by: float | None = None, ahead: float | None = None, *,
              renewing: bool = True, reconcile: bool = True,
              seen: RequestsSeen | None = None) -> Ok:
    """Renew the lease and reconcile what the worker holds. ``seen``: which numbered
    requests the worker was done with when it made ``held`` (None from an older worker).
    ``sent_by`` (when the request arrived, durable time like ``dispatched_at``) bounds when
    the worker wrote its list, for tasks judged by time: a task dispatched after that cannot
    be in it, however long the heartbeat then waited for its transaction. The lease itself
    is in wall time (see :mod:`plait.server.clock`).
    ``renewing=False``: the lease was renewed in memory (:mod:`plait.server.leases`);
    ``reconcile=False``: the worker holds nothing and nothing was leased to it since the
    last check (:meth:`plait.server.ledger.SessionLedger.holds_nothing`)."""
    if renewing:
        renew(ctx, session, expiry, ahead)
    if reconcile:
        _reconcile(ctx, session, held, sent_by, seen)
    return Ok(ok=True)


def _reconcile(ctx: Ctx, session: str, held: list[str], sent_by: float | None,
               seen: RequestsSeen | None) -> None:
    count = ctx.ledger.dispatched(session) + ctx.effects.dispatched.get(session, 0)
    held_set = set(held)
    listed_by = min(ctx.now, sent_by) if sent_by is not None else ctx.now
    kept = 0
    for task in ctx.txn.leased_tasks(session):
        token = f"{task.task_id}.{task.dispatch_no}"
        age = ctx.now - (task.dispatched_at or ctx.now)
        if token not in held_set and _lost(ctx, session, task, token, listed_by, seen):
            redispatch_lost(ctx, task, "unacknowledged")
        elif task.kind == "workflow" and age > task.workflow.timeout:
            log.warning("workflow task timed out at worker session %s: workflow_id=%s",
                        session, task.workflow_id)
            redispatch_lost(ctx, task, "start_to_close")
        elif task.kind == "activity" and activities.overdue(task, ctx.now):
            log.warning("activity %s of %s ran past its start_to_close timeout at worker "
                        "session %s", task.ref, task.workflow_id, session)
            time_out_attempt(ctx, task)
        else:
            kept += 1
    if not kept:
        ctx.effects.checked[session] = count


def _lost(ctx: Ctx, session: str, task: TaskRow, token: str, listed_by: float,
          seen: RequestsSeen | None) -> bool:
    """Whether a leased task the worker's list leaves out never reached it: by the answers
    the worker had read when it made the list, or else by time (see the module)."""
    read = seen.read(task.lease_request) if seen is not None else None
    if read is not None:
        if read:
            log.warning("worker session %s read the answer of its request %d and does not "
                        "hold task %s (the answer was lost); offering it again", session,
                        task.lease_request, token)
        return read
    unacked_for = _unlisted_for(ctx, task, token, listed_by)
    if unacked_for > UNACKED_GRACE:
        log.warning("worker session %s did not list task %s %.1f s after it was sent "
                    "(its answer was lost?); offering it again", session, token, unacked_for)
        return True
    return False


def _unlisted_for(ctx: Ctx, task: TaskRow, token: str, listed_by: float) -> float:
    """How long the worker had the task's answer when it made the list that leaves it out:
    counted from when this server answered, not from the claim's statement (the answer
    waits for COMMIT); 0 while the answer still waits (:mod:`plait.server.deliveries`)."""
    since = ctx.ledger.deliveries.grace_from(token, task.dispatched_at or ctx.now)
    return listed_by - since if since is not None else 0.0


def renew(ctx: Ctx, session: str, expiry: float, ahead: float | None = None) -> None:
    """The worker is alive (a watch opened, or the first half of a heartbeat). ``ahead``: how
    far ahead to write the lease (a database of the server's own, :mod:`plait.server.leases`)."""
    if not ctx.txn.renew_session(session, ctx.wall + (ahead or expiry)):
        raise unknown(session)
    ctx.effects.lease(session, ctx.wall + expiry, ctx.wall + (ahead or expiry))


def watch_dropped(ctx: Ctx, session: str, grace: float) -> None:
    """The watch's connection closed unanswered: unless the worker re-opens it (or
    heartbeats) within ``grace``, its session expires then."""
    ctx.txn.shorten_session(session, ctx.wall + grace)
    ctx.effects.lease(session, ctx.wall + grace, ctx.wall + grace)


def close(ctx: Ctx, session: str) -> None:
    """A worker shutting down hands its tasks back without waiting for expiry."""
    for task in ctx.txn.leased_tasks(session):
        redispatch_lost(ctx, task, "worker_shutdown")
    _unstick(ctx, session)
    ctx.txn.delete_session(session)
    ctx.effects.leases[session] = None
    ctx.effects.forgotten.add(session)


def _unstick(ctx: Ctx, session: str) -> None:
    """Tasks kept for the session's cache (sticky) are for anyone now: wake their pollers,
    or they would wait out the sticky window."""
    for ns, queue, kind in ctx.txn.clear_sticky(session):
        ctx.effects.wake_queue(ns, queue, kind)


def expire_due(ctx: Ctx, due: list[str] | None = None) -> int:
    """Expire the sessions whose lease in the database has passed, and ``due``: those whose
    lease in memory has (the authority with a database of the server's own)."""
    expired = ctx.txn.expired_sessions(ctx.wall)
    expired += [s for s in due or [] if s not in expired]
    for session in expired:
        for task in ctx.txn.leased_tasks(session):
            redispatch_lost(ctx, task, "worker_session_expired")
        _unstick(ctx, session)
        ctx.txn.delete_session(session)
        ctx.effects.leases[session] = None
        ctx.effects.forgotten.add(session)
    for task in ctx.txn.orphaned_tasks(activities.ASYNC_LEASE):
        # A claim on another server raced this session's expiry and committed after it
        # (PostgreSQL): the task is leased to nobody alive. Without this it would wait forever.
        log.warning("task %s of %s was leased to worker session %s, which no longer exists; "
                    "handing it out again", task.task_id, task.workflow_id, task.lease_session)
        redispatch_lost(ctx, task, "worker_session_expired")
    return len(expired)
