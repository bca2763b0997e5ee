"""Reading one run: its summary, pending activities, attempt log and last task failure."""

from __future__ import annotations

from plait.protocol.enums import WorkflowStatus
from plait.protocol.responses import PauseState, WorkflowSummary
from plait.server import activities
from plait.server.answers import Description
from plait.server.errors import NotFound
from plait.server.run import CLOSED
from plait.store.base import ExecutionRow, Txn
from plait.store.run_state import RunState

__all__ = ["describe", "execution_summary"]


def describe(txn: Txn, now: float, ns: str, wid: str, rid: str | None) -> Description:
    rid = rid or txn.current_run(ns, wid)
    row = txn.get_execution(ns, wid, rid) if rid else None
    if row is None:
        raise NotFound(f"workflow {wid!r} not found in namespace {ns!r}", code="workflow_not_found")
    tasks = txn.tasks_of_run(ns, wid, row.run_id)
    pending = [activities.pending_info(t, now) for t in tasks if t.kind == "activity"]
    out: Description = {
        "workflow_id": row.workflow_id, "run_id": row.run_id,
        "workflow_type": row.workflow_type, "task_queue": row.task_queue,
        "status": row.status, "start_time": row.start_time, "close_time": row.close_time,
        "search_attributes": row.search_attributes,
        "history_length": row.next_event_id - 1,
        "history_size_bytes": row.state.history_bytes,
        "memo": row.memo,
        "pending_activities": pending,
        "attempts": activities.attempt_log(txn, ns, wid, row.run_id, tasks),
        "last_task_failure": row.state.last_task_failure,
        "pending_workflow_task": row.state.wt is not None,
        "result": row.result if row.status in CLOSED else None,
    }
    if row.state.start_delay:
        out["start_delay"] = row.state.start_delay
    paused = row.state.paused
    if paused is not None and row.status not in CLOSED:
        out["paused"] = PauseState(time=paused.time, reason=paused.reason,
                                   identity=paused.identity)
    _reset_links(out, row.state)
    return out


def _reset_links(out: Description, state: RunState) -> None:
    """The runs a reset links: the one this run was made from, the one made from it."""
    if state.reset_from is not None:
        out["reset_from_run_id"] = state.reset_from.run_id
        out["reset_event_id"] = state.reset_from.event_id
        out["reset_reason"] = state.reset_from.reason
    if state.reset_to_run_id:
        out["reset_to_run_id"] = state.reset_to_run_id


def execution_summary(row: ExecutionRow) -> WorkflowSummary:
    return WorkflowSummary(
        workflow_id=row.workflow_id, run_id=row.run_id, workflow_type=row.workflow_type,
        task_queue=row.task_queue, status=WorkflowStatus(row.status),
        start_time=row.start_time, close_time=row.close_time,
        search_attributes=row.search_attributes)
