"""Batch jobs: one operation applied to every run a list filter matched when the job started
(API.md "Operating running workflows"). Start, cancel, describe and list are the API's; a
page of work is :func:`run_page`, which the :mod:`~plait.server.batch_runner` calls.

**Which runs.** The job keeps the caller's filter bounded by its own start time (runs started
later are not included) and reads the matching runs with the workflow list's query, newest
first, after a cursor: the ``(start_time, workflow_id, run_id)`` of the last run it acted on.

**Exactly once.** A page's actions, the counters and the cursor commit in one transaction,
each action in a savepoint of its own (a refused one rolls back alone and is counted as
failed). A server killed mid-page loses the whole page, and the next one to take the job
begins after the last committed cursor, so no run is acted on twice and none is skipped.

**One server at a time.** Taking a page locks the job's row (PostgreSQL: ``SKIP LOCKED``), so
with several servers on one database each page runs once.

**Rate.** After a page of ``n`` runs, the next is due ``n / rate`` seconds later (wall time).
Pages are small (a quarter second of work), so live requests queue behind little.

The operations are a table (:data:`ACTIONS`): each applies to one run through the service
function its single-workflow route uses. An operation the table lacks is refused when a job
asks for it.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable

from plait.protocol.batches import (
    DEFAULT_RATE,
    BatchDescription,
    BatchFilter,
    BatchList,
    StartBatchRequest,
    acted_on_status,
)
from plait.protocol.enums import BatchOperation, BatchState, ErrorCode, WorkflowStatus
from plait.protocol.requests import SignalRequest
from plait.server import closing, messages, pausing, resetting
from plait.server.errors import ApiError, BadRequest, NotFound
from plait.server.run import Ctx, Run
from plait.store.base import ExecutionRow, Txn
from plait.store.batches import BatchJob
from plait.store.search_index import MAX_FILTERS, ListFilter

__all__ = [
    "ACTIONS",
    "MAX_PAGE",
    "cancel",
    "describe",
    "list_page",
    "page_size",
    "run_page",
    "start",
]

MAX_PAGE = 50
"""Runs acted on in one transaction at most."""
PAGE_SECONDS = 0.25
"""A page holds this many seconds of the job's rate (at least one run)."""

Action = Callable[[Ctx, BatchJob, ExecutionRow], None]
"""Apply a job's operation to one run (``row`` was read unlocked: load the run again)."""


def _terminate(ctx: Ctx, job: BatchJob, row: ExecutionRow) -> None:
    closing.terminate(
        ctx,
        row.namespace,
        row.workflow_id,
        row.run_id,
        job.reason or f"terminated by batch {job.batch_id}",
    )


def _cancel(ctx: Ctx, job: BatchJob, row: ExecutionRow) -> None:
    run = Run.load(ctx, row.namespace, row.workflow_id, row.run_id)
    messages.request_cancel(ctx, run, job.reason, _identity(job))


def _signal(ctx: Ctx, job: BatchJob, row: ExecutionRow) -> None:
    run = Run.load(ctx, row.namespace, row.workflow_id, row.run_id)
    messages.signal(
        ctx,
        run,
        SignalRequest(
            signal_name=job.signal_name or "",
            input=job.signal_input,
            header=job.header,
            identity=_identity(job),
        ),
    )


class _PassOver(Exception):
    """This run is not one the operation applies to: neither done nor failed."""


def _reset(ctx: Ctx, job: BatchJob, row: ExecutionRow) -> None:
    """Reset the run if it is its workflow's latest. An earlier run of the same id (one a
    reset, a retry or a continue-as-new already followed) is passed over: resetting it too
    would terminate the run the first reset made."""
    opts = job.reset
    assert opts is not None  # a reset job is refused without its options (start)
    if ctx.txn.current_run(row.namespace, row.workflow_id) != row.run_id:
        raise _PassOver
    point: resetting.ResetPoint = opts.event_id if opts.event_id is not None \
        else opts.to or "last_workflow_task"
    resetting.reset(ctx, row.namespace, row.workflow_id, row.run_id, point,
                    reason=job.reason or f"reset by batch {job.batch_id}",
                    reapply_signals=opts.reapply_signals)


def _pause(ctx: Ctx, job: BatchJob, row: ExecutionRow) -> None:
    pausing.pause(ctx, row.namespace, row.workflow_id, row.run_id,
                  job.reason or f"paused by batch {job.batch_id}", _identity(job))


def _unpause(ctx: Ctx, job: BatchJob, row: ExecutionRow) -> None:
    pausing.unpause(ctx, row.namespace, row.workflow_id, row.run_id)


def _identity(job: BatchJob) -> str:
    return job.identity or f"batch {job.batch_id}"


ACTIONS: dict[str, Action] = {
    BatchOperation.TERMINATE: _terminate,
    BatchOperation.CANCEL: _cancel,
    BatchOperation.SIGNAL: _signal,
    BatchOperation.RESET: _reset,
    BatchOperation.PAUSE: _pause,
    BatchOperation.UNPAUSE: _unpause,
}
"""The operations this server can apply."""


# -- the API -------------------------------------------------------------------------------
def start(ctx: Ctx, ns: str, req: StartBatchRequest) -> BatchDescription:
    """Store a new job (counting the runs it matches now); its first page is due at once."""
    job = BatchJob(
        namespace=ns,
        batch_id=str(uuid.uuid4()),
        operation=req.operation,
        filter=_filter(ctx, req),
        rate=req.rate_per_second or DEFAULT_RATE,
        created_at=ctx.now,
        reason=req.reason,
        signal_name=req.signal_name,
        signal_input=req.input or [],
        header=req.header,
        reset=req.reset,
        identity=req.identity or "",
        next_run_at=ctx.wall,
    )
    job.total = ctx.txn.count_executions(ns, job.filter)
    ctx.txn.insert_batch(job)
    return describe_job(job)


def _filter(ctx: Ctx, req: StartBatchRequest) -> ListFilter:
    """The runs the job acts on, after the request's checks; bounded by now."""
    op = req.operation
    if op not in ACTIONS:
        raise BadRequest(f"unknown batch operation {op!r}")
    if op == BatchOperation.SIGNAL and not req.signal_name:
        raise BadRequest("a signal batch needs signal_name")
    if op == BatchOperation.RESET and (req.reset is None
                                       or (req.reset.event_id is None) == (req.reset.to is None)):
        raise BadRequest("a reset batch needs reset with one of event_id or to")
    f = req.filter
    attrs = f.search_attributes or {}
    if len(attrs) > MAX_FILTERS:
        raise BadRequest(f"at most {MAX_FILTERS} search attributes in one filter")
    try:
        status = acted_on_status(op, f.status)
    except ValueError as e:
        raise BadRequest(str(e)) from None
    before = ctx.now if f.started_before is None else min(f.started_before, ctx.now)
    return ListFilter(
        workflow_type=f.workflow_type or None,
        status=status,
        search_attributes=attrs,
        started_after=f.started_after,
        started_before=before,
    )


def cancel(ctx: Ctx, ns: str, batch_id: str) -> BatchDescription:
    """Stop a running job; its runs already acted on stay so. A closed job is left as it is."""
    job = _load(ctx.txn, ns, batch_id, lock=True)
    if job.state == BatchState.RUNNING:
        _close(ctx, job, BatchState.CANCELED)
        ctx.txn.save_batch(job)
    return describe_job(job)


def describe(txn: Txn, ns: str, batch_id: str) -> BatchDescription:
    return describe_job(_load(txn, ns, batch_id))


def list_page(txn: Txn, ns: str, after: tuple[float, str] | None, limit: int) -> BatchList:
    jobs = txn.list_batches(ns, after, limit)
    token = None
    if len(jobs) == limit:
        token = f"{jobs[-1].created_at!r}:{jobs[-1].batch_id}"
    return BatchList(batches=[describe_job(j) for j in jobs], next_page_token=token)


def describe_job(job: BatchJob) -> BatchDescription:
    f = job.filter
    return BatchDescription(
        batch_id=job.batch_id,
        operation=BatchOperation(job.operation),
        state=BatchState(job.state),
        filter=BatchFilter(
            workflow_type=f.workflow_type,
            status=WorkflowStatus(f.status) if f.status else None,
            search_attributes=dict(f.search_attributes) or None,
            started_after=f.started_after,
            started_before=f.started_before,
        ),
        reason=job.reason,
        signal_name=job.signal_name,
        rate_per_second=job.rate,
        total=job.total,
        done=job.done,
        failed=job.failed,
        last_error=job.last_error,
        start_time=job.created_at,
        close_time=job.closed_at,
    )


def _load(txn: Txn, ns: str, batch_id: str, *, lock: bool = False) -> BatchJob:
    job = txn.get_batch(ns, batch_id, lock=lock)
    if job is None:
        raise NotFound(
            f"batch {batch_id!r} not found in namespace {ns!r}", code=ErrorCode.BATCH_NOT_FOUND
        )
    return job


def _close(ctx: Ctx, job: BatchJob, state: BatchState) -> None:
    job.state = state
    job.closed_at = ctx.now
    job.next_run_at = None


# -- the work ------------------------------------------------------------------------------
def page_size(rate: float) -> int:
    return max(1, min(MAX_PAGE, math.floor(rate * PAGE_SECONDS)))


def run_page(ctx: Ctx, ns: str, batch_id: str) -> bool:
    """Act on the job's next page of runs, if it is running and due; True if it was."""
    job = ctx.txn.get_batch(ns, batch_id, lock=True)
    if (
        job is None
        or job.state != BatchState.RUNNING
        or job.next_run_at is None
        or job.next_run_at > ctx.wall
    ):
        return False
    action = ACTIONS.get(job.operation)
    if action is None:  # written by a server that knew an operation this one does not
        job.last_error = f"this server cannot apply {job.operation!r} batches"
        _close(ctx, job, BatchState.FAILED)
        ctx.txn.save_batch(job)
        return True
    size = page_size(job.rate)
    rows = ctx.txn.list_executions(ns, job.filter, size, job.cursor)
    for row in rows:
        _apply(ctx, job, action, row)
        job.cursor = (row.start_time, row.workflow_id, row.run_id)
    if len(rows) < size:
        _close(ctx, job, BatchState.COMPLETED)
        job.total = job.done + job.failed  # the runs it reached: see BatchDescription.total
    else:
        job.next_run_at = ctx.wall + len(rows) / job.rate
    ctx.txn.save_batch(job)
    return True


def _apply(ctx: Ctx, job: BatchJob, action: Action, row: ExecutionRow) -> None:
    """One run, in a savepoint: a refusal (the API's error) rolls back alone and counts as
    failed; a run that closed by itself since the page was read is passed over. Anything
    else (a conflict, the database) fails the page, which is taken again from its cursor."""
    try:
        with ctx.txn.savepoint():
            action(ctx, job, row)
    except _PassOver:
        return
    except ApiError as e:
        if e.code == ErrorCode.WORKFLOW_NOT_RUNNING:
            return
        job.failed += 1
        job.last_error = f"{row.workflow_id}: {e.message}"
        return
    job.done += 1
