"""Workflows acting on workflows: children, continue-as-new, signal and cancel of another.

Everything happens in the transaction of the workflow task that asked for it: the child's
first events and the parent's record of them commit together, so a child is never started
twice nor orphaned silently. When a child closes, its parent learns it in the same
transaction; when a parent closes, its children meet their parent-close policy
(:mod:`plait.server.closing`).
"""

from __future__ import annotations

from plait.protocol.commands import (
    CancelExternalCommand,
    ContinueAsNewCommand,
    SignalExternalCommand,
    StartChildWorkflowCommand,
)
from plait.protocol.common import Failure as WireFailure
from plait.protocol.enums import IdConflictPolicy, IdReusePolicy
from plait.protocol.events import EventType
from plait.protocol.requests import SignalRequest
from plait.retry import RetryPolicy
from plait.server import closing, lifecycle, messages
from plait.server.errors import ApiError, BadRequest
from plait.server.lifecycle import RunSpec
from plait.server.run import Run
from plait.store.run_state import ChildLink, ParentLink

__all__ = ["cancel_external", "continue_as_new", "fail_or_retry",
           "signal_external", "start_child"]

def start_child(run: Run, cmd: StartChildWorkflowCommand) -> None:
    seq, cwid, ctype = cmd.seq, cmd.workflow_id, cmd.workflow_type
    policy = cmd.parent_close_policy or "terminate"
    queue = cmd.task_queue or run.row.task_queue
    initiated = run.append(EventType.START_CHILD_WORKFLOW_EXECUTION_INITIATED, {
        "seq": seq, "workflow_id": cwid, "workflow_type": ctype, "task_queue": queue,
        "input": cmd.input or [], "parent_close_policy": policy})
    spec = RunSpec(input=cmd.input or [], header=cmd.header or {}, memo=cmd.memo,
                   search_attributes=cmd.search_attributes or {},
                   execution_timeout=cmd.execution_timeout, task_timeout=cmd.task_timeout)
    base = {"seq": seq, "workflow_id": cwid, "initiated_event_id": initiated}
    try:
        _refuse_existing(run, cwid, cmd.id_reuse_policy)
        child = lifecycle.new_run(run.ctx, run.ns, cwid, ctype, queue, spec, parent=ParentLink(
            run.ns, run.wid, run.rid, seq, initiated))
    except ApiError as e:
        run.add_input([(EventType.CHILD_WORKFLOW_EXECUTION_FAILED, {
            **base, "start_failed": True, "failure": {
                "message": e.message, "type": "WorkflowAlreadyStartedError",
                "kind": "application", "non_retryable": True}})])
        return
    run.state.children[seq] = ChildLink(cwid, child.rid, policy)
    run.add_input([(EventType.CHILD_WORKFLOW_EXECUTION_STARTED,
                    {**base, "run_id": child.rid, "workflow_type": ctype})])


def _refuse_existing(run: Run, wid: str, reuse: IdReusePolicy | None) -> None:
    current = run.txn.current_run(run.ns, wid)
    if current is None:
        return
    prev = Run.load(run.ctx, run.ns, wid, current)
    lifecycle.check_existing(prev, reuse or IdReusePolicy.ALLOW_DUPLICATE,
                             IdConflictPolicy.FAIL)


def continue_as_new(run: Run, cmd: ContinueAsNewCommand) -> None:
    row, state = run.row, run.state
    wtype = cmd.workflow_type or row.workflow_type
    queue = cmd.task_queue or row.task_queue
    spec = RunSpec(input=cmd.input or [], task_timeout=state.task_timeout,
                   search_attributes=row.search_attributes, memo=row.memo,
                   header=cmd.header or {}, first_run_id=state.first_run_id)
    nxt = lifecycle.new_run(run.ctx, run.ns, run.wid, wtype, queue, spec,
                            parent=state.parent, continued_from=run.rid,
                            deadline=state.deadline)
    closing.close_run(run, "CONTINUED_AS_NEW", EventType.WORKFLOW_EXECUTION_CONTINUED_AS_NEW, {
        "new_execution_run_id": nxt.rid, "workflow_type": wtype, "task_queue": queue,
        "input": spec.input})


def fail_or_retry(run: Run, failure: WireFailure) -> None:
    """The run failed: with a workflow retry policy that allows it, the same workflow starts
    again as a new run (attempt + 1) after the backoff; the failed run names it."""
    attrs: dict[str, object] = {"failure": failure}
    nxt = _retry_run(run, failure)
    if nxt is not None:
        attrs["new_execution_run_id"] = nxt
    closing.close_run(run, "FAILED", EventType.WORKFLOW_EXECUTION_FAILED, attrs)


def _retry_run(run: Run, failure: WireFailure) -> str | None:
    state, row = run.state, run.row
    if not state.retry_policy:
        return None
    policy = RetryPolicy.from_wire(state.retry_policy)
    attempt = state.attempt
    if not policy.allows_another(attempt, failure.type or "", bool(failure.non_retryable)):
        return None
    delay = policy.backoff(attempt)
    deadline = state.deadline
    if deadline is not None and run.ctx.now + delay >= deadline:
        return None
    spec = RunSpec(input=state.input, task_timeout=state.task_timeout,
                   search_attributes=row.search_attributes, memo=row.memo,
                   header=state.header, retry_policy=state.retry_policy,
                   first_run_id=state.first_run_id)
    nxt = lifecycle.new_run(run.ctx, run.ns, run.wid, row.workflow_type, row.task_queue, spec,
                            parent=state.parent, continued_from=run.rid,
                          deadline=deadline, attempt=attempt + 1, first_task_delay=delay)
    return nxt.rid


def _target(run: Run, cmd: SignalExternalCommand | CancelExternalCommand) -> Run:
    if cmd.workflow_id == run.wid and cmd.run_id in (None, run.rid):
        raise BadRequest("a workflow cannot signal or cancel itself through an external handle")
    return Run.load(run.ctx, run.ns, cmd.workflow_id, cmd.run_id)


def signal_external(run: Run, cmd: SignalExternalCommand) -> None:
    initiated = run.append(EventType.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED, {
        "seq": cmd.seq, "workflow_id": cmd.workflow_id, "run_id": cmd.run_id,
        "signal_name": cmd.signal_name, "input": cmd.input or []})
    attrs: dict[str, object] = {"seq": cmd.seq, "initiated_event_id": initiated,
                                "workflow_id": cmd.workflow_id}
    try:
        messages.signal(run.ctx, _target(run, cmd), SignalRequest(
            signal_name=cmd.signal_name, input=cmd.input or [], header=cmd.header or {},
            identity=f"workflow:{run.wid}"))
    except ApiError as e:
        attrs["failure"] = {"message": e.message, "type": e.code, "kind": "application"}
    run.add_input([(EventType.EXTERNAL_WORKFLOW_EXECUTION_SIGNALED, attrs)])


def cancel_external(run: Run, cmd: CancelExternalCommand) -> None:
    initiated = run.append(EventType.REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED, {
        "seq": cmd.seq, "workflow_id": cmd.workflow_id, "run_id": cmd.run_id})
    attrs: dict[str, object] = {"seq": cmd.seq, "initiated_event_id": initiated,
                                "workflow_id": cmd.workflow_id}
    try:
        messages.request_cancel(run.ctx, _target(run, cmd),
                                f"requested by workflow {run.wid}")
    except ApiError as e:
        attrs["failure"] = {"message": e.message, "type": e.code, "kind": "application"}
    run.add_input([(EventType.EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED, attrs)])
