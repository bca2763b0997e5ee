"""A run's beginning: starting a workflow (with the id policies) and creating a run (a start,
a child's start, the next run of a chain or of a retried workflow)."""

from __future__ import annotations

import uuid
from typing import Any

from plait.protocol.events import EventType
from plait.retry import RetryPolicy
from plait.server import closing, messages
from plait.server.errors import BadRequest, Conflict
from plait.server.observed import RunStarted
from plait.server.run import RUNNING, Ctx, Run
from plait.store.base import ExecutionRow
from plait.store.run_state import ParentLink, RunState

__all__ = ["check_existing", "new_run", "start_workflow"]


def start_workflow(ctx: Ctx, ns: str, req: dict[str, Any]) -> dict[str, Any]:
    wid, wtype, queue = _validate_start(req)
    start_signal = messages.signal_event(req["start_signal"]) if req.get("start_signal") \
        else None
    existing = ctx.txn.current_run(ns, wid)
    if existing:
        prev = Run.load(ctx, ns, wid, existing)
        if start_signal is not None and prev.running:
            # Signal-with-start on a running id only signals it, whatever the policy.
            prev.add_input([(EventType.WORKFLOW_EXECUTION_SIGNALED, start_signal)])
            prev.save()
            return {"workflow_id": wid, "run_id": prev.rid, "started": False}
        decision = check_existing(prev, req)
        if decision is not None:
            return decision
    run = new_run(ctx, ns, wid, wtype, queue, req, start_signal=start_signal)
    return {"workflow_id": wid, "run_id": run.rid, "started": True}


def new_run(ctx: Ctx, ns: str, wid: str, wtype: str, queue: str, req: dict[str, Any], *,
            start_signal: dict[str, Any] | None = None, parent: ParentLink | None = None,
            continued_from: str | None = None, deadline: float | None = None,
            attempt: int = 1, first_task_delay: float = 0.0) -> Run:
    """Create and save a run: a start, a child's start, or the next run of a chain.

    ``deadline`` carries an execution timeout across continue-as-new and retries;
    ``attempt`` counts runs of a retried workflow, whose first task waits out the backoff.
    """
    rid = str(uuid.uuid4())
    task_timeout = float(req.get("task_timeout") or 10.0)
    execution_timeout = req.get("execution_timeout")
    if deadline is None and execution_timeout:
        deadline = ctx.now + float(execution_timeout)
    state = RunState(task_timeout=task_timeout, deadline=deadline, parent=parent,
                     first_run_id=req.get("first_run_id") or rid, attempt=attempt)
    if req.get("retry_policy"):  # a retry starts the same workflow again with its input
        state.retry_policy = req["retry_policy"]
        state.input, state.header = req.get("input") or [], req.get("header") or {}
    row = ExecutionRow(ns, wid, rid, wtype, queue, RUNNING, ctx.now, None, 1, state, None,
                       req.get("search_attributes") or {}, req.get("memo"))
    run = Run(ctx, row, new=True)
    run.append(EventType.WORKFLOW_EXECUTION_STARTED, {
        "workflow_type": wtype, "task_queue": queue, "input": req.get("input") or [],
        "execution_timeout": execution_timeout, "task_timeout": task_timeout,
        "header": req.get("header") or {}, "memo": req.get("memo"),
        "search_attributes": req.get("search_attributes") or {}, "attempt": attempt,
        "retry_policy": req.get("retry_policy"),
        "first_run_id": state.first_run_id, "identity": req.get("identity", ""),
        "parent": parent and {"namespace": parent.namespace, "workflow_id": parent.workflow_id,
                              "run_id": parent.run_id},
        "continued_from_run_id": continued_from,
    })
    if start_signal is not None:
        run.append(EventType.WORKFLOW_EXECUTION_SIGNALED, start_signal)
    if deadline is not None:
        ctx.txn.set_timer(ns, wid, rid, "execution", "", deadline)
        ctx.effects.timer(deadline)
    run.schedule_wt(visible_at=ctx.now + first_task_delay if first_task_delay else None)
    run.save()
    ctx.effects.observe(RunStarted(ns, wtype))
    return run


def check_existing(prev: Run, req: dict[str, Any]) -> dict[str, Any] | None:
    """Apply the conflict policy (running id) or reuse policy (closed id)."""
    if prev.running:
        policy = req.get("id_conflict_policy") or "fail"
        if policy == "use_existing":
            return {"workflow_id": prev.wid, "run_id": prev.rid, "started": False}
        if policy == "terminate_existing":
            closing.terminate_run(prev, "terminated by a new start with "
                                        "id_conflict_policy=terminate_existing")
            prev.save()
            return None
        if policy != "fail":
            raise BadRequest(f"unknown id_conflict_policy {policy!r}")
        raise Conflict(f"workflow {prev.wid!r} is already running (run {prev.rid})",
                       code="workflow_already_started")
    reuse = req.get("id_reuse_policy") or "allow_duplicate"
    if reuse == "allow_duplicate":
        return None
    if reuse == "allow_duplicate_failed_only":
        if prev.row.status in ("FAILED", "CANCELED", "TERMINATED", "TIMED_OUT"):
            return None
        raise Conflict(f"workflow {prev.wid!r} closed as {prev.row.status}; id_reuse_policy "
                       "allows only failed runs to be started again",
                       code="workflow_already_started")
    if reuse == "reject_duplicate":
        raise Conflict(f"workflow {prev.wid!r} already ran; id_reuse_policy=reject_duplicate",
                       code="workflow_already_started")
    raise BadRequest(f"unknown id_reuse_policy {reuse!r}")


_REUSE = {"allow_duplicate", "allow_duplicate_failed_only", "reject_duplicate"}
_CONFLICT = {"fail", "use_existing", "terminate_existing"}


def _validate_start(req: dict[str, Any]) -> tuple[str, str, str]:
    """Refuse a malformed start before anything is written."""
    ids = (_require_str(req, "workflow_id"), _require_str(req, "workflow_type"),
           _require_str(req, "task_queue"))
    if req.get("id_reuse_policy", "allow_duplicate") not in _REUSE | {None}:
        raise BadRequest(f"unknown id_reuse_policy {req['id_reuse_policy']!r}; one of "
                         f"{sorted(_REUSE)}")
    if req.get("id_conflict_policy", "fail") not in _CONFLICT | {None}:
        raise BadRequest(f"unknown id_conflict_policy {req['id_conflict_policy']!r}; one of "
                         f"{sorted(_CONFLICT)}")
    if not isinstance(req.get("input") or [], list):
        raise BadRequest("input must be a list of payloads")
    for key in ("execution_timeout", "task_timeout"):
        value = req.get(key)
        if value is not None and (not isinstance(value, (int, float)) or value <= 0):
            raise BadRequest(f"{key} must be a positive number of seconds")
    if req.get("retry_policy") is not None:
        try:
            RetryPolicy.from_dict(req["retry_policy"])
        except (TypeError, ValueError) as e:
            raise BadRequest(f"retry_policy: {e}") from None
    for key in ("search_attributes", "memo", "header"):
        if req.get(key) is not None and not isinstance(req[key], dict):
            raise BadRequest(f"{key} must be a JSON object")
    return ids


def _require_str(req: dict[str, Any], key: str) -> str:
    value = req.get(key)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{key} is required and must be a non-empty string")
    return value
