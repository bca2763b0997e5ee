"""A run's beginning: starting a workflow (with the id policies) and creating a run (a start,
a child's start, the next run of a chain or of a retried workflow)."""

from __future__ import annotations

import dataclasses
import uuid

from plait.protocol.common import Header, Memo, Payload, SearchAttributes
from plait.protocol.common import RetryPolicy as WirePolicy
from plait.protocol.enums import IdConflictPolicy, IdReusePolicy
from plait.protocol.events import EventType
from plait.protocol.requests import StartWorkflowRequest
from plait.server import closing, messages
from plait.server.answers import StartAnswer
from plait.server.errors import BadRequest, Conflict
from plait.server.limits import accept_signal
from plait.server.observed import RunStarted
from plait.server.run import RUNNING, Ctx, Run
from plait.store.base import ExecutionRow
from plait.store.history import EventAttributes
from plait.store.run_state import ParentLink, RunState

__all__ = ["RunSpec", "check_existing", "new_run", "start_workflow"]


@dataclasses.dataclass
class RunSpec:
    """What a new run starts with beyond its ids: from a client's start, a parent's
    start_child command, a continue-as-new, or a retry of a failed run."""

    input: list[Payload] = dataclasses.field(default_factory=list)
    header: Header = dataclasses.field(default_factory=dict)
    memo: Memo | None = None
    search_attributes: SearchAttributes = dataclasses.field(default_factory=dict)
    execution_timeout: float | None = None
    task_timeout: float | None = None
    retry_policy: WirePolicy | None = None
    """Kept in the run's state, so a retry starts with the same one."""
    identity: str = ""
    first_run_id: str | None = None
    """The chain's first run, when this run continues one."""
    start_delay: float = 0.0
    """Seconds before the first workflow task is handed out."""

    @classmethod
    def of_start(cls, req: StartWorkflowRequest) -> RunSpec:
        """What a start request asks for (its retry policy was checked where it arrived:
        :func:`plait.server.api.http.retry_policy`)."""
        return cls(input=req.input or [], header=req.header or {}, memo=req.memo,
                   search_attributes=req.search_attributes or {},
                   execution_timeout=req.execution_timeout, task_timeout=req.task_timeout,
                   retry_policy=req.retry_policy,
                   identity=req.identity or "", start_delay=req.start_delay or 0.0)


def start_workflow(ctx: Ctx, ns: str, req: StartWorkflowRequest) -> StartAnswer:
    wid, wtype, queue = req.workflow_id, req.workflow_type, req.task_queue
    spec = RunSpec.of_start(req)
    start_signal = messages.signal_event(req.start_signal) if req.start_signal else None
    existing = ctx.txn.current_run(ns, wid)
    if existing:
        prev = Run.load(ctx, ns, wid, existing)
        if start_signal is not None and prev.running:
            # Signal-with-start on a running id only signals it, whatever the policy.
            accept_signal(prev)
            prev.add_input([(EventType.WORKFLOW_EXECUTION_SIGNALED, start_signal)])
            prev.save()
            return {"workflow_id": wid, "run_id": prev.rid, "started": False}
        decision = check_existing(prev, req.id_reuse_policy or IdReusePolicy.ALLOW_DUPLICATE,
                                  req.id_conflict_policy or IdConflictPolicy.FAIL)
        if decision is not None:
            return decision
    run = new_run(ctx, ns, wid, wtype, queue, spec, start_signal=start_signal)
    return {"workflow_id": wid, "run_id": run.rid, "started": True}


def new_run(ctx: Ctx, ns: str, wid: str, wtype: str, queue: str, spec: RunSpec, *,
            start_signal: EventAttributes | None = None, parent: ParentLink | None = None,
            continued_from: str | None = None, deadline: float | None = None,
            attempt: int = 1, first_task_delay: float = 0.0) -> Run:
    """Create and save a run: a start, a child's start, or the next run of a chain.

    ``deadline`` carries an execution timeout across continue-as-new and retries;
    ``attempt`` counts runs of a retried workflow, whose first task waits out the backoff.
    """
    rid = str(uuid.uuid4())
    task_timeout = float(spec.task_timeout or 10.0)
    if deadline is None and spec.execution_timeout:
        deadline = ctx.now + float(spec.execution_timeout)
    state = RunState(task_timeout=task_timeout, deadline=deadline, parent=parent,
                     first_run_id=spec.first_run_id or rid, attempt=attempt,
                     start_delay=spec.start_delay, activities_counted=True)
    first_task_delay = max(first_task_delay, spec.start_delay)
    if spec.retry_policy:  # a retry starts the same workflow again with its input
        state.retry_policy = spec.retry_policy
        state.input, state.header = spec.input, spec.header
    row = ExecutionRow(ns, wid, rid, wtype, queue, RUNNING, ctx.now, None, 1, state, None,
                       spec.search_attributes, spec.memo)
    run = Run(ctx, row, new=True)
    run.append(EventType.WORKFLOW_EXECUTION_STARTED, {
        "workflow_type": wtype, "task_queue": queue, "input": spec.input,
        "execution_timeout": spec.execution_timeout, "task_timeout": task_timeout,
        "header": spec.header, "memo": spec.memo,
        "search_attributes": spec.search_attributes, "attempt": attempt,
        "retry_policy": spec.retry_policy,
        "first_run_id": state.first_run_id, "identity": spec.identity,
        "parent": parent and {"namespace": parent.namespace, "workflow_id": parent.workflow_id,
                              "run_id": parent.run_id},
        "continued_from_run_id": continued_from,
        **({"start_delay": spec.start_delay} if spec.start_delay else {}),
    })
    if start_signal is not None:
        run.append(EventType.WORKFLOW_EXECUTION_SIGNALED, start_signal)
        state.signals = 1
    if deadline is not None:
        ctx.txn.set_timer(ns, wid, rid, "execution", "", deadline)
        ctx.effects.timer(deadline)
    run.schedule_wt(visible_at=ctx.now + first_task_delay if first_task_delay else None)
    run.save()
    ctx.effects.observe(RunStarted(ns, wtype))
    ctx.effects.opened.append((ns, wid, rid))
    return run


def check_existing(prev: Run, reuse: IdReusePolicy,
                   conflict: IdConflictPolicy) -> StartAnswer | None:
    """Apply the conflict policy (running id) or reuse policy (closed id)."""
    if prev.running:
        if conflict == IdConflictPolicy.USE_EXISTING:
            return {"workflow_id": prev.wid, "run_id": prev.rid, "started": False}
        if conflict == IdConflictPolicy.TERMINATE_EXISTING:
            closing.terminate_run(prev, "terminated by a new start with "
                                        "id_conflict_policy=terminate_existing")
            prev.save()
            return None
        raise Conflict(f"workflow {prev.wid!r} is already running (run {prev.rid})",
                       code="workflow_already_started")
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
