"""A run's end, and what it means for the runs around it.

Whoever closes a run calls :func:`close_run` (never :meth:`Run.record_close` alone): the
closing event and status, open updates failed with a named error, and once the run is saved,
in the same transaction, its parent told, its children given their parent-close policy, and
the schedule that started it (the ``ScheduleId`` search attribute) looked at again at once, so
a due time buffered behind it starts now rather than at the schedule's next re-check. Only
the schedule's next look moves here: the look itself (``schedule_actions``) decides, in its
own transaction, as for any due time.
"""

from __future__ import annotations

import logging

from plait.protocol.common import RunRef
from plait.protocol.events import EventType
from plait.server import activities, messages, updates
from plait.server.errors import Conflict
from plait.server.observed import HistoryLarge, RunClosed
from plait.server.run import RUNNING, Ctx, Run
from plait.store.history import EventAttributes
from plait.store.run_state import ChildLink

__all__ = ["close_run", "stop_oversized", "terminate", "terminate_run"]

log = logging.getLogger("plait.server")

_CHILD_CLOSED = {
    "COMPLETED": EventType.CHILD_WORKFLOW_EXECUTION_COMPLETED,
    "FAILED": EventType.CHILD_WORKFLOW_EXECUTION_FAILED,
    "CANCELED": EventType.CHILD_WORKFLOW_EXECUTION_CANCELED,
    "TERMINATED": EventType.CHILD_WORKFLOW_EXECUTION_TERMINATED,
    "TIMED_OUT": EventType.CHILD_WORKFLOW_EXECUTION_TIMED_OUT,
}


def close_run(run: Run, status: str, etype: EventType, attrs: EventAttributes) -> None:
    """Close a running run (a no-op on a closed one)."""
    deleted = run.record_close(status, etype, attrs)
    if deleted is None:
        return
    run.ctx.effects.observe(RunClosed(run.ns, run.row.workflow_type, status,
                                      run.ctx.now - run.row.start_time))
    activities.end_abandoned(run, deleted)
    updates.close_pending(run)
    run.after_save.append(lambda: _after_close(run))


def terminate(ctx: Ctx, ns: str, wid: str, rid: str | None, reason: str) -> RunRef:
    """The terminate operation: refused on a run that is not running."""
    run = Run.load(ctx, ns, wid, rid)
    if not run.running:
        raise Conflict(f"workflow {wid!r} is not running (it is {run.row.status})",
                       code="workflow_not_running")
    terminate_run(run, reason)
    run.save()
    return RunRef(workflow_id=wid, run_id=run.rid)


def terminate_run(run: Run, reason: str, *, new_run_id: str | None = None) -> None:
    """Terminate a run. ``new_run_id`` names the run that takes its place (a reset): its
    parent is not told of the close then, and ``result()`` follows on to that run."""
    run.flush_buffer()
    attrs: EventAttributes = {"reason": reason, **(
        {"new_execution_run_id": new_run_id} if new_run_id else {})}
    close_run(run, "TERMINATED", EventType.WORKFLOW_EXECUTION_TERMINATED, attrs)


def stop_oversized(run: Run, reason: str) -> None:
    """The run's history crossed the server's limit in this change (:meth:`Run.save` calls
    this before it writes): terminate it in the same transaction, the reason naming the
    limit and the numbers."""
    log.warning("terminating workflow %s (run %s, namespace %s, type %s): %s", run.wid,
                run.rid, run.ns, run.row.workflow_type, reason)
    run.ctx.effects.observe(HistoryLarge(run.ns, run.row.workflow_type, "exceeded"))
    terminate_run(run, reason)


def _after_close(run: Run) -> None:
    """A run just closed (and was saved): tell its parent, apply its children's policy."""
    chain_goes_on = run.row.status == "CONTINUED_AS_NEW" or bool(
        (run.row.result or {}).get("new_execution_run_id"))
    if not chain_goes_on:
        _notify_parent(run)
        _hasten_schedule(run)
    for child in run.state.children.values():
        _close_child(run, child)


def _notify_parent(run: Run) -> None:
    parent = run.state.parent
    if not parent:
        return
    prow = run.txn.get_execution(parent.namespace, parent.workflow_id, parent.run_id)
    if prow is None or prow.status != RUNNING:
        return
    p = Run(run.ctx, prow)
    p.state.children.pop(parent.seq, None)
    result = run.row.result or {}
    attrs = {"seq": parent.seq, "initiated_event_id": parent.initiated_event_id,
             "workflow_id": run.wid, "run_id": run.rid, "workflow_type": run.row.workflow_type,
             **{k: v for k, v in result.items() if k != "status"}}
    p.add_input([(_CHILD_CLOSED[run.row.status], attrs)])
    p.save()


def _hasten_schedule(run: Run) -> None:
    sid = run.row.search_attributes.get("ScheduleId")
    if isinstance(sid, str) and run.txn.hasten_schedule(run.ns, sid, run.ctx.now):
        run.ctx.effects.timer(run.ctx.now)


def _close_child(parent: Run, child: ChildLink) -> None:
    if child.policy == "abandon":
        return
    # The child may have continued as new or been retried: its latest run is the one to stop,
    # if it still belongs to this parent.
    rid = parent.txn.current_run(parent.ns, child.workflow_id)
    row = parent.txn.get_execution(parent.ns, child.workflow_id, rid) if rid else None
    link = row.state.parent if row else None
    if row is None or row.status != RUNNING or link is None or link.run_id != parent.rid:
        return
    c = Run(parent.ctx, row)
    c.state.parent = None  # the parent is gone: nobody to tell
    if child.policy == "terminate":
        terminate_run(c, f"parent workflow {parent.wid} closed ({parent.row.status})")
        c.save()
    else:
        messages.request_cancel(parent.ctx, c, f"parent workflow {parent.wid} closed "
                                               f"({parent.row.status})")
