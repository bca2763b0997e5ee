"""Workflows acting on workflows: children, continue-as-new, signal and cancel of another.

Everything happens in the transaction of the workflow task that asked for it: the child's
first events and the parent's record of them commit together, so a child is never started
twice nor orphaned silently. When a child closes, its parent learns it in the same
transaction; when a parent closes, its children meet their parent-close policy.
"""

from __future__ import annotations

from typing import Any

from plait.protocol.events import EventType
from plait.retry import RetryPolicy
from plait.server import history, messages
from plait.server.errors import ApiError, BadRequest
from plait.server.run import RUNNING, Run

__all__ = ["after_close", "cancel_external", "continue_as_new", "fail_or_retry",
           "signal_external", "start_child"]

_CHILD_CLOSED = {
    "COMPLETED": EventType.CHILD_WORKFLOW_EXECUTION_COMPLETED,
    "FAILED": EventType.CHILD_WORKFLOW_EXECUTION_FAILED,
    "CANCELED": EventType.CHILD_WORKFLOW_EXECUTION_CANCELED,
    "TERMINATED": EventType.CHILD_WORKFLOW_EXECUTION_TERMINATED,
    "TIMED_OUT": EventType.CHILD_WORKFLOW_EXECUTION_TIMED_OUT,
}
_POLICIES = {"terminate", "request_cancel", "abandon"}


def start_child(run: Run, cmd: dict[str, Any]) -> None:
    seq = str(cmd.get("seq"))
    cwid, ctype = cmd.get("workflow_id"), cmd.get("workflow_type")
    if not isinstance(cwid, str) or not cwid or not isinstance(ctype, str) or not ctype:
        raise BadRequest("start_child_workflow needs workflow_id and workflow_type")
    policy = cmd.get("parent_close_policy") or "terminate"
    if policy not in _POLICIES:
        raise BadRequest(f"unknown parent_close_policy {policy!r}")
    queue = cmd.get("task_queue") or run.row.task_queue
    initiated = run.append(EventType.START_CHILD_WORKFLOW_EXECUTION_INITIATED, {
        "seq": seq, "workflow_id": cwid, "workflow_type": ctype, "task_queue": queue,
        "input": cmd.get("input") or [], "parent_close_policy": policy})
    req = {k: cmd.get(k) for k in ("input", "execution_timeout", "task_timeout", "header",
                                   "memo", "search_attributes")}
    base = {"seq": seq, "workflow_id": cwid, "initiated_event_id": initiated}
    try:
        _refuse_existing(run, cwid, cmd.get("id_reuse_policy"))
        child = history.new_run(run.ctx, run.ns, cwid, ctype, queue, req, parent={
            "namespace": run.ns, "workflow_id": run.wid, "run_id": run.rid, "seq": seq,
            "initiated_event_id": initiated})
    except ApiError as e:
        run.add_input([(EventType.CHILD_WORKFLOW_EXECUTION_FAILED, {
            **base, "start_failed": True, "failure": {
                "message": e.message, "type": "WorkflowAlreadyStartedError",
                "kind": "application", "non_retryable": True}})])
        return
    run.state.setdefault("children", {})[seq] = {"workflow_id": cwid, "run_id": child.rid,
                                                 "policy": policy}
    run.add_input([(EventType.CHILD_WORKFLOW_EXECUTION_STARTED,
                    {**base, "run_id": child.rid, "workflow_type": ctype})])


def _refuse_existing(run: Run, wid: str, reuse: str | None) -> None:
    current = run.txn.current_run(run.ns, wid)
    if current is None:
        return
    prev = history.load_run(run.ctx, run.ns, wid, current)
    history.check_existing(prev, {"id_reuse_policy": reuse or "allow_duplicate",
                                  "id_conflict_policy": "fail"})


def continue_as_new(run: Run, cmd: dict[str, Any]) -> None:
    row, state = run.row, run.state
    wtype = cmd.get("workflow_type") or row.workflow_type
    queue = cmd.get("task_queue") or row.task_queue
    req = {"input": cmd.get("input") or [], "task_timeout": state.get("task_timeout"),
           "search_attributes": row.search_attributes, "memo": row.memo,
           "header": cmd.get("header") or {}, "first_run_id": state.get("first_run_id")}
    nxt = history.new_run(run.ctx, run.ns, run.wid, wtype, queue, req,
                          parent=state.get("parent"), continued_from=run.rid,
                          deadline=state.get("deadline"))
    run.close("CONTINUED_AS_NEW", EventType.WORKFLOW_EXECUTION_CONTINUED_AS_NEW, {
        "new_execution_run_id": nxt.rid, "workflow_type": wtype, "task_queue": queue,
        "input": req["input"]})


def fail_or_retry(run: Run, failure: dict[str, Any]) -> None:
    """The run failed: with a workflow retry policy that allows it, the same workflow starts
    again as a new run (attempt + 1) after the backoff; the failed run names it."""
    attrs: dict[str, Any] = {"failure": failure}
    nxt = _retry_run(run, failure)
    if nxt is not None:
        attrs["new_execution_run_id"] = nxt
    run.close("FAILED", EventType.WORKFLOW_EXECUTION_FAILED, attrs)


def _retry_run(run: Run, failure: dict[str, Any]) -> str | None:
    state, row = run.state, run.row
    if not state.get("retry_policy"):
        return None
    policy = RetryPolicy.from_dict(state["retry_policy"])
    attempt = int(state.get("attempt", 1))
    if not policy.allows_another(attempt, failure.get("type", ""),
                                 bool(failure.get("non_retryable"))):
        return None
    delay = policy.backoff(attempt)
    deadline = state.get("deadline")
    if deadline is not None and run.ctx.now + delay >= deadline:
        return None
    req = {"input": state.get("input") or [], "task_timeout": state.get("task_timeout"),
           "search_attributes": row.search_attributes, "memo": row.memo,
           "header": state.get("header") or {}, "retry_policy": state["retry_policy"],
           "first_run_id": state.get("first_run_id")}
    nxt = history.new_run(run.ctx, run.ns, run.wid, row.workflow_type, row.task_queue, req,
                          parent=state.get("parent"), continued_from=run.rid,
                          deadline=deadline, attempt=attempt + 1, first_task_delay=delay)
    return nxt.rid


def _target(run: Run, cmd: dict[str, Any]) -> Run:
    wid, rid = cmd.get("workflow_id"), cmd.get("run_id")
    if not isinstance(wid, str) or not wid:
        raise BadRequest("workflow_id is required")
    if wid == run.wid and rid in (None, run.rid):
        raise BadRequest("a workflow cannot signal or cancel itself through an external handle")
    return history.load_run(run.ctx, run.ns, wid, rid)


def signal_external(run: Run, cmd: dict[str, Any]) -> None:
    seq = str(cmd.get("seq"))
    initiated = run.append(EventType.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED, {
        "seq": seq, "workflow_id": cmd.get("workflow_id"), "run_id": cmd.get("run_id"),
        "signal_name": cmd.get("signal_name"), "input": cmd.get("input") or []})
    attrs: dict[str, Any] = {"seq": seq, "initiated_event_id": initiated,
                             "workflow_id": cmd.get("workflow_id")}
    try:
        messages.signal(run.ctx, _target(run, cmd), {
            "signal_name": cmd.get("signal_name"), "input": cmd.get("input") or [],
            "header": cmd.get("header") or {}, "identity": f"workflow:{run.wid}"})
    except ApiError as e:
        attrs["failure"] = {"message": e.message, "type": e.code, "kind": "application"}
    run.add_input([(EventType.EXTERNAL_WORKFLOW_EXECUTION_SIGNALED, attrs)])


def cancel_external(run: Run, cmd: dict[str, Any]) -> None:
    seq = str(cmd.get("seq"))
    initiated = run.append(EventType.REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED, {
        "seq": seq, "workflow_id": cmd.get("workflow_id"), "run_id": cmd.get("run_id")})
    attrs: dict[str, Any] = {"seq": seq, "initiated_event_id": initiated,
                             "workflow_id": cmd.get("workflow_id")}
    try:
        messages.request_cancel(run.ctx, _target(run, cmd),
                                {"reason": f"requested by workflow {run.wid}"})
    except ApiError as e:
        attrs["failure"] = {"message": e.message, "type": e.code, "kind": "application"}
    run.add_input([(EventType.EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED, attrs)])


def after_close(run: Run) -> None:
    """A run just closed (and was saved): tell its parent, apply its children's policy."""
    chain_goes_on = run.row.status == "CONTINUED_AS_NEW" or bool(
        (run.row.result or {}).get("new_execution_run_id"))
    if not chain_goes_on:
        _notify_parent(run)
    for child in (run.state.get("children") or {}).values():
        _close_child(run, child)


def _notify_parent(run: Run) -> None:
    parent = run.state.get("parent")
    if not parent:
        return
    txn = run.txn
    prow = txn.get_execution(parent["namespace"], parent["workflow_id"], parent["run_id"])
    if prow is None or prow.status != RUNNING:
        return
    p = Run(run.ctx, prow)
    (p.state.get("children") or {}).pop(parent["seq"], None)
    result = run.row.result or {}
    attrs = {"seq": parent["seq"], "initiated_event_id": parent["initiated_event_id"],
             "workflow_id": run.wid, "run_id": run.rid, "workflow_type": run.row.workflow_type,
             **{k: v for k, v in result.items() if k != "status"}}
    p.add_input([(_CHILD_CLOSED[run.row.status], attrs)])
    p.save()


def _close_child(parent: Run, child: dict[str, Any]) -> None:
    if child["policy"] == "abandon":
        return
    # The child may have continued as new or been retried: its latest run is the one to stop,
    # if it still belongs to this parent.
    rid = parent.txn.current_run(parent.ns, child["workflow_id"])
    row = parent.txn.get_execution(parent.ns, child["workflow_id"], rid) if rid else None
    link = (row.state.get("parent") or {}) if row else {}
    if row is None or row.status != RUNNING or link.get("run_id") != parent.rid:
        return
    c = Run(parent.ctx, row)
    c.state["parent"] = None  # the parent is gone: nobody to tell
    if child["policy"] == "terminate":
        history.terminate_run(c, f"parent workflow {parent.wid} closed ({parent.row.status})")
        c.save()
    else:
        messages.request_cancel(parent.ctx, c, {"reason": f"parent workflow {parent.wid} "
                                                          f"closed ({parent.row.status})"})
