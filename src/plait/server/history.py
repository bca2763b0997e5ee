"""The history service: every workflow-level state change, each one transaction.

Functions here run inside :meth:`Store.write` (synchronously, on the store's thread) and take a
:class:`Ctx`. Activity-level changes live in :mod:`plait.server.activities`.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from plait.protocol.events import EventType
from plait.retry import RetryPolicy
from plait.server import activities, messages, updates
from plait.server.commands import CLOSE_COMMANDS, apply_commands
from plait.server.errors import BadRequest, Conflict, NotFound
from plait.server.run import CLOSED, RUNNING, Ctx, Run
from plait.store.base import ExecutionRow, TaskRow, Txn

__all__ = [
    "apply_step",
    "check_existing",
    "complete_workflow_task",
    "describe",
    "fail_workflow_task",
    "fire_timer",
    "load_run",
    "new_run",
    "parse_token",
    "start_workflow",
    "terminate",
    "terminate_run",
]

log = logging.getLogger("plait.server")
ASYNC_LEASE = activities.ASYNC_LEASE
"""The lease of an attempt that will be completed from outside (no worker session holds it:
it neither expires with one nor is re-offered; its timeouts still apply)."""
WT_RETRY_CAP = 60.0


def parse_token(token: str) -> tuple[int, int]:
    try:
        task_id, dispatch_no = token.split(".", 1)
        return int(task_id), int(dispatch_no)
    except (ValueError, AttributeError):
        raise BadRequest(f"malformed task token {token!r}", code="bad_token") from None


def fenced_task(txn: Txn, token: str, kind: str) -> TaskRow:
    """The task a token names, if the token is still its current lease (the fencing check)
    and the token is of the kind the route expects (a workflow-task token cannot complete an
    activity, and so on)."""
    task_id, dispatch_no = parse_token(token)
    task = txn.get_task(task_id)
    if task is not None and task.kind != kind:
        raise BadRequest(f"this is a {task.kind} task token, not a {kind} task token",
                         code="bad_token")
    if task is None or task.lease_session is None or task.dispatch_no != dispatch_no:
        raise Conflict("task is no longer owned by this worker (completed, timed out or "
                       "re-dispatched); the result was not recorded", code="stale_task")
    return task


def load_run(ctx: Ctx, ns: str, wid: str, rid: str | None = None) -> Run:
    rid = rid or ctx.txn.current_run(ns, wid)
    row = ctx.txn.get_execution(ns, wid, rid) if rid else None
    if row is None:
        raise NotFound(f"workflow {wid!r} not found in namespace {ns!r}", code="workflow_not_found")
    return Run(ctx, row)


# -- start ------------------------------------------------------------------------------------
def start_workflow(ctx: Ctx, ns: str, req: dict[str, Any]) -> dict[str, Any]:
    wid, wtype, queue = _validate_start(req)
    start_signal = messages.signal_event(req["start_signal"]) if req.get("start_signal") \
        else None
    existing = ctx.txn.current_run(ns, wid)
    if existing:
        prev = load_run(ctx, ns, wid, existing)
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
            start_signal: dict[str, Any] | None = None, parent: dict[str, Any] | None = None,
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
    state: dict[str, Any] = {"wt": None, "upto": 0, "task_timeout": task_timeout,
                             "deadline": deadline, "parent": parent,
                             "first_run_id": req.get("first_run_id") or rid, "attempt": attempt}
    if req.get("retry_policy"):  # a retry starts the same workflow again with its input
        state.update(retry_policy=req["retry_policy"], input=req.get("input") or [],
                     header=req.get("header") or {})
    row = ExecutionRow(ns, wid, rid, wtype, queue, RUNNING, ctx.now, None, 1, state, None,
                       req.get("search_attributes") or {}, req.get("memo"))
    run = Run(ctx, row, new=True)
    run.append(EventType.WORKFLOW_EXECUTION_STARTED, {
        "workflow_type": wtype, "task_queue": queue, "input": req.get("input") or [],
        "execution_timeout": execution_timeout, "task_timeout": task_timeout,
        "header": req.get("header") or {}, "memo": req.get("memo"),
        "search_attributes": req.get("search_attributes") or {}, "attempt": attempt,
        "retry_policy": req.get("retry_policy"),
        "first_run_id": state["first_run_id"], "identity": req.get("identity", ""),
        "parent": parent and {k: parent[k] for k in ("namespace", "workflow_id", "run_id")},
        "continued_from_run_id": continued_from,
    })
    if start_signal is not None:
        run.append(EventType.WORKFLOW_EXECUTION_SIGNALED, start_signal)
    if deadline is not None:
        ctx.txn.set_timer(ns, wid, rid, "execution", "", deadline)
        ctx.effects.timer(deadline)
    run.schedule_wt(visible_at=ctx.now + first_task_delay if first_task_delay else None)
    run.save()
    return run


def check_existing(prev: Run, req: dict[str, Any]) -> dict[str, Any] | None:
    """Apply the conflict policy (running id) or reuse policy (closed id)."""
    if prev.running:
        policy = req.get("id_conflict_policy") or "fail"
        if policy == "use_existing":
            return {"workflow_id": prev.wid, "run_id": prev.rid, "started": False}
        if policy == "terminate_existing":
            terminate_run(prev, "terminated by a new start with id_conflict_policy="
                                 "terminate_existing")
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


# -- terminate --------------------------------------------------------------------------------
def terminate(ctx: Ctx, ns: str, wid: str, rid: str | None, reason: str) -> dict[str, Any]:
    run = load_run(ctx, ns, wid, rid)
    if not run.running:
        raise Conflict(f"workflow {wid!r} is not running (it is {run.row.status})",
                       code="workflow_not_running")
    terminate_run(run, reason)
    run.save()
    return {"workflow_id": wid, "run_id": run.rid}


def terminate_run(run: Run, reason: str) -> None:
    run.flush_buffer()
    run.close("TERMINATED", EventType.WORKFLOW_EXECUTION_TERMINATED, {"reason": reason})


# -- workflow task completion -------------------------------------------------------------------
def complete_workflow_task(ctx: Ctx, token: str, req: dict[str, Any]) -> dict[str, Any]:
    task = fenced_task(ctx.txn, token, "workflow")
    run = load_run(ctx, task.namespace, task.workflow_id, task.run_id)
    commands = req.get("commands")
    if not isinstance(commands, list):
        raise BadRequest("commands must be a list")
    session = task.lease_session or ""
    closing = any(c.get("kind") in CLOSE_COMMANDS for c in commands)
    updates.reject(run, req.get("update_rejections") or [])
    accepted = {str(c.get("update_id")) for c in commands if c.get("kind") == "accept_update"}
    unseen = [u for u in updates.requested(run.state) if u["update_id"] not in accepted]
    if closing and (run.has_buffered() or unseen):
        # New events arrived while the task was out: closing now would drop them.
        run.end_wt(task, EventType.WORKFLOW_TASK_FAILED, {
            "cause": "unhandled_events",
            "failure": {"message": "new events arrived while the workflow was closing; "
                                   "the task runs again with them", "type": "UnhandledEvents"}})
        run.flush_buffer()
        run.state["sticky"] = None
        run.schedule_wt()
        run.save()
        return {"rejected": True, "reason": "unhandled_events"}
    run.alive = session
    run.end_wt(task, EventType.WORKFLOW_TASK_COMPLETED, {"identity": session})
    return apply_step(ctx, run, session, commands, req)


def apply_step(ctx: Ctx, run: Run, session: str, commands: list[dict[str, Any]],
               req: dict[str, Any]) -> dict[str, Any]:
    """What follows a completed workflow task's events: its commands, the run's stickiness
    to the worker that ran it, the save, and the eager hand-back of what it created."""
    scheduled = apply_commands(run, commands)
    run.state["upto"] = run.row.next_event_id - 1  # before the held inputs are written
    run.state["last_task_failure"] = None
    run.state["sticky"] = session if run.running else None
    if run.running and (run.flush_buffer() or updates.requested(run.state)):
        run.schedule_wt()
    run.save()
    out: dict[str, Any] = {"upto": run.state["upto"]}
    _eager(ctx, run, session, scheduled, req, out)
    return out


def _eager(ctx: Ctx, run: Run, session: str, scheduled: list[tuple[int, str, str]],
           req: dict[str, Any], out: dict[str, Any]) -> None:
    """Hand the tasks this completion created straight back to the worker (no poll): the
    activities it can run (its queue, its types, up to the slots it offered) and the next
    workflow task."""
    from plait.server import dispatch

    want = int(req.get("eager_activities") or 0)
    if want and scheduled:
        info = dispatch.session_info(ctx, session, cached=True)
        mine = set(info.get("activity_types") or [])
        ids = [tid for tid, queue, atype in scheduled
               if queue == info.get("task_queue") and atype in mine][:want]
        out["activity_tasks"] = dispatch.claim_ids(ctx, ids, session, run)
    if req.get("eager_workflow") and run.running and run.state.get("wt"):
        wts = dispatch.claim_ids(ctx, [run.state["wt"]["task_id"]], session, run)
        if wts:
            out["workflow_task"] = wts[0]


# -- workflow task failure -----------------------------------------------------------------------
def fail_workflow_task(ctx: Ctx, token: str, req: dict[str, Any]) -> dict[str, Any]:
    task = fenced_task(ctx.txn, token, "workflow")
    run = load_run(ctx, task.namespace, task.workflow_id, task.run_id)
    failure = req.get("failure") or {"message": "workflow task failed"}
    attempt = run.state["wt"]["attempt"]
    run.state["last_task_failure"] = {
        "message": failure.get("message", ""), "type": failure.get("type", ""),
        "traceback": failure.get("stack_trace", ""), "attempts": attempt, "time": ctx.now,
        "cause": req.get("cause", "workflow_error"),
    }
    log.warning("workflow task failed: namespace=%s workflow_id=%s run_id=%s attempt=%d: %s: %s",
                run.ns, run.wid, run.rid, attempt, failure.get("type") or "Error",
                failure.get("message", ""))
    delay = min(WT_RETRY_CAP, 2.0 ** (attempt - 1))
    run.retry_wt(task, EventType.WORKFLOW_TASK_FAILED,
                 {"cause": req.get("cause", "workflow_error"), "failure": failure}, delay)
    run.save()
    return {"next_attempt_in": delay}


# -- timers ------------------------------------------------------------------------------------
def fire_timer(ctx: Ctx, ns: str, wid: str, rid: str, kind: str, ref: str) -> None:
    timer = ctx.txn.get_timer(ns, wid, rid, kind, ref)
    if timer is None or timer.fire_at > ctx.now:
        return  # already handled, or moved later (a heartbeat)
    ctx.txn.delete_timer(ns, wid, rid, kind, ref)
    row = ctx.txn.get_execution(ns, wid, rid)
    if row is None or row.status != RUNNING:
        return
    run = Run(ctx, row)
    if kind == "user":
        run.add_input([(EventType.TIMER_FIRED, {
            "timer_id": ref, "started_event_id": timer.data.get("started_event_id")})])
    elif kind == "execution":
        run.flush_buffer()
        run.close("TIMED_OUT", EventType.WORKFLOW_EXECUTION_TIMED_OUT,
                  {"timeout_type": "execution"})
    elif kind.startswith("act_"):
        activities.fire_timeout(run, kind, ref, timer.data)
    run.save()


def time_out_attempt(ctx: Ctx, task: TaskRow) -> None:
    """A held activity attempt ran past its start-to-close timeout (seen at a heartbeat)."""
    row = ctx.txn.get_execution(task.namespace, task.workflow_id, task.run_id)
    if row is None or row.status != RUNNING:
        ctx.txn.delete_task(task.task_id)
        return
    run = Run(ctx, row)
    activities.fire_timeout(run, "act_stc", task.ref, {"attempt": task.payload["attempt"]})
    run.save()


def redispatch_lost(ctx: Ctx, task: TaskRow, why: str) -> None:
    """A task leased to a dead (or never-answering) worker goes back to the queue at once."""
    if task.kind == "query":  # offered again to any worker; its asker is still waiting
        ctx.txn.release_task(task.task_id, ctx.now, task.payload)
        ctx.effects.wake_queue(task.namespace, task.task_queue, "query")
        return
    if task.lease_session == ASYNC_LEASE:
        return  # completed from outside: its timeouts, not a session, watch it
    if task.kind == "activity" and why == "unacknowledged":
        activities.undelivered(ctx, task)
        return
    row = ctx.txn.get_execution(task.namespace, task.workflow_id, task.run_id)
    if row is None or row.status != RUNNING:
        ctx.txn.delete_task(task.task_id)
        return
    run = Run(ctx, row)
    if task.kind == "workflow":
        run.retry_wt(task, EventType.WORKFLOW_TASK_TIMED_OUT, {"timeout_type": why}, 0.0)
    else:
        activities.worker_lost(run, task, why)
    run.save()


# -- reads -------------------------------------------------------------------------------------
def describe(txn: Txn, now: float, ns: str, wid: str, rid: str | None) -> dict[str, Any]:
    rid = rid or txn.current_run(ns, wid)
    row = txn.get_execution(ns, wid, rid) if rid else None
    if row is None:
        raise NotFound(f"workflow {wid!r} not found in namespace {ns!r}", code="workflow_not_found")
    tasks = txn.tasks_of_run(ns, wid, row.run_id)
    pending = [activities.pending_info(t, now) for t in tasks if t.kind == "activity"]
    return {
        **execution_summary(row),
        "history_length": row.next_event_id - 1,
        "memo": row.memo,
        "pending_activities": pending,
        "attempts": activities.attempt_log(txn, ns, wid, row.run_id, tasks),
        "last_task_failure": row.state.get("last_task_failure"),
        "pending_workflow_task": row.state.get("wt") is not None,
        "result": row.result if row.status in CLOSED else None,
    }


def execution_summary(row: ExecutionRow) -> dict[str, Any]:
    return {
        "workflow_id": row.workflow_id, "run_id": row.run_id,
        "workflow_type": row.workflow_type, "task_queue": row.task_queue,
        "status": row.status, "start_time": row.start_time, "close_time": row.close_time,
        "search_attributes": row.search_attributes,
    }
