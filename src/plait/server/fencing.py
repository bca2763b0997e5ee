"""Fencing: a task token names one dispatch of one task, and only that dispatch may answer.

A token is ``"{task_id}.{dispatch_no}"``. Every re-dispatch (a lost worker, an expired lease,
a retry) bumps the dispatch number, so a late answer from a worker that lost the task is
refused instead of overwriting newer state.
"""

from __future__ import annotations

from plait.server.errors import BadRequest, Conflict
from plait.store.base import TaskRow, Txn

__all__ = ["fenced_task", "parse_token", "task_of"]


def parse_token(token: str) -> tuple[int, int]:
    try:
        task_id, dispatch_no = token.split(".", 1)
        return int(task_id), int(dispatch_no)
    except (ValueError, AttributeError):
        raise BadRequest(f"malformed task token {token!r}", code="bad_token") from None


def task_of(token: str) -> int | None:
    """The task a token names, or None for a malformed one (the change refuses it)."""
    try:
        return parse_token(token)[0]
    except BadRequest:
        return None


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

