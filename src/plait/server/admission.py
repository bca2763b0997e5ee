"""Which claimed activity tasks may start now: a token bucket per task queue and activity
type (or per ``rate_limit_key``), shared through the database by every server.

A task whose bucket is empty goes back to its queue, visible when its next token is due
(``payload["rate_limited_until"]`` says so, for describe()); its claim is undone in the same
transaction, so no worker ever sees it.
"""

from __future__ import annotations

from plait.server.observed import RateLimited
from plait.server.run import Ctx
from plait.store.base import TaskRow
from plait.store.rate_limits import BucketKey

__all__ = ["admit"]


def admit(ctx: Ctx, tasks: list[TaskRow]) -> list[TaskRow]:
    """The activity tasks among ``tasks`` that may start now; each takes a token."""
    activities = [t for t in tasks if t.kind == "activity"]
    if not activities or not any(ctx.txn.queue_limits(t.namespace, t.task_queue)
                                 for t in activities):
        return tasks
    admitted = []
    for task in tasks:
        due = _take_token(ctx, task) if task.kind == "activity" else None
        if due is None:
            admitted.append(task)
        else:
            task.activity.rate_limited_until = due
            ctx.effects.observe(RateLimited(task.namespace, task.task_queue))
            ctx.txn.release_task(task.task_id, due, task.payload)
    return admitted


def _take_token(ctx: Ctx, task: TaskRow) -> float | None:
    """None when a token was taken; else when the bucket will next have one."""
    limits = ctx.txn.queue_limits(task.namespace, task.task_queue)
    work = task.activity
    limit = limits.get(work.activity_type) or limits.get("")
    if limit is None:
        return None
    key = BucketKey(task.namespace, task.task_queue, limit.activity_type,
                    work.rate_limit_key or "" if limit.per_key else "")
    capacity = max(1.0, limit.burst)
    tokens, updated_at = ctx.txn.rate_bucket(key, capacity, ctx.now)
    # Servers' clocks (and transactions' start times) differ a little: never refill for
    # time the bucket has already been credited with.
    at = max(ctx.now, updated_at)
    tokens = min(capacity, tokens + (at - updated_at) * limit.per_second)
    if tokens >= 1.0:
        ctx.txn.set_rate_bucket(key, tokens - 1.0, at)
        return None
    ctx.txn.set_rate_bucket(key, tokens, at)
    return float(at + (1.0 - tokens) / limit.per_second)
