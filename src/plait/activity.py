"""Define activities, and the calls an activity makes about itself while it runs.

    @activity.defn
    async def charge(order_id: str, cents: int) -> str: ...

    @activity.defn(name="send-sms")
    def send_sms(to: str, body: str) -> None: ...   # sync: runs in a thread pool
"""

from __future__ import annotations

import contextvars
import dataclasses
import inspect
import logging
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar, overload

from plait.errors import CancelledError
from plait.protocol.payload import hints_of
from plait.runtime.definitions import ActivityDefn

__all__ = ["ActivityInfo", "CompleteAsync", "defn", "heartbeat", "info", "is_cancelled",
           "logger", "raise_complete_async"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclasses.dataclass(frozen=True)
class ActivityInfo:
    activity_id: str
    activity_type: str
    attempt: int
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    task_token: str
    heartbeat_details: tuple[Any, ...]
    scheduled_time: float
    started_time: float
    heartbeat_timeout: float | None
    namespace: str = "default"
    is_local: bool = False
    """A local activity (``workflow.execute_local_activity``): run by the workflow's own
    worker; its heartbeats go nowhere."""


class _Context:
    """The running attempt: its info and the door to the worker (heartbeats, cancellation)."""

    def __init__(self, info: ActivityInfo, heartbeat: Callable[[tuple[Any, ...]], None], *,
                 sync: bool = False) -> None:
        self.info = info
        self.heartbeat = heartbeat
        self.cancelled = False
        self.sync = sync
        """A sync activity, in a pool thread: nothing can interrupt it but its own calls."""


_current: contextvars.ContextVar[_Context] = contextvars.ContextVar("plait_activity")


@overload
def defn(fn: F) -> F: ...
@overload
def defn(*, name: str | None = None) -> Callable[[F], F]: ...
def defn(fn: Any = None, *, name: str | None = None) -> Any:
    """Mark a function (or method) as an activity; its name defaults to ``__name__``."""
    def wrap(f: F) -> F:
        args, ret = hints_of(f)
        f.__plait_activity__ = ActivityDefn(  # type: ignore[attr-defined]
            name or f.__name__, f, inspect.iscoroutinefunction(f), args, ret)
        return f
    return wrap(fn) if fn is not None else wrap


def _context() -> _Context:
    try:
        return _current.get()
    except LookupError:
        raise RuntimeError("this call is only valid inside an activity") from None


def info() -> ActivityInfo:
    return _context().info


def heartbeat(*details: Any) -> None:
    """Record progress; the next attempt sees the last details in ``info().heartbeat_details``.

    In a *sync* activity this is also where cancellation arrives: once the workflow asked the
    activity to stop (or the attempt was given up: timed out, handed elsewhere), it raises
    ``plait.errors.CancelledError``, as Temporal's does; a thread cannot be interrupted
    otherwise. An async activity gets ``asyncio.CancelledError`` at its current await."""
    ctx = _context()
    if ctx.sync and ctx.cancelled:
        raise CancelledError("activity cancelled")
    ctx.heartbeat(details)


class CompleteAsync(BaseException):
    """Raised by :func:`raise_complete_async`; the worker leaves the attempt open."""


def raise_complete_async() -> NoReturn:
    """End this function without ending the activity: something else completes it later
    with ``client.get_async_activity_handle(activity.info().task_token)`` (a human approval,
    a webhook). Its timeouts still apply."""
    _context()
    raise CompleteAsync()


def is_cancelled() -> bool:
    return _context().cancelled


class _AttemptContext(logging.Filter):
    """Puts the running attempt on every record of ``activity.logger``: ``activity_id``,
    ``activity_type``, ``attempt``, ``workflow_id``, ``run_id``, ``workflow_type``,
    ``task_queue`` and ``namespace`` as record attributes (outside an activity, none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _current.get(None)
        if ctx is not None:
            i = ctx.info
            record.activity_id = i.activity_id
            record.activity_type = i.activity_type
            record.attempt = i.attempt
            record.workflow_id = i.workflow_id
            record.run_id = i.run_id
            record.workflow_type = i.workflow_type
            record.task_queue = i.task_queue
            record.namespace = i.namespace
        return True


logger = logging.getLogger("plait.activity.user")
"""The activities' logger; its records carry the attempt (see :class:`_AttemptContext`)."""
logger.addFilter(_AttemptContext())
