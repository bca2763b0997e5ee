"""The worker's session and its polls: who the worker is, the lease it holds, what it asks for.

A session is a lease (heartbeat about every second, expiry a few seconds): when it lapses the
server re-dispatches the worker's tasks. A poll is a long-poll for up to ``max_tasks`` tasks of
one kind on one task queue.
"""

from __future__ import annotations

from typing import Literal

from msgspec import Struct

from plait.protocol.common import RequestNo, TaskToken
from plait.protocol.enums import TaskKind
from plait.protocol.tasks import Task

__all__ = [
    "Closed",
    "HeartbeatSessionRequest",
    "Ok",
    "OpenSessionRequest",
    "PollRequest",
    "PollResponse",
    "SessionOpened",
]


class OpenSessionRequest(Struct, kw_only=True, omit_defaults=True):
    """Open a session: the worker says which queue it polls and what it runs."""

    task_queue: str | None = None
    """The queue this worker polls."""
    identity: str | None = None
    """Who the worker is (host, pid); shown in histories (the first 200 characters)."""
    workflow_types: list[str] | None = None
    """The workflow types it runs."""
    activity_types: list[str] | None = None
    """The activity types it runs (eager dispatch hands it only these)."""


class SessionOpened(Struct, kw_only=True):
    """The new session and its lease."""

    session_id: str
    expiry: float
    """Seconds without a heartbeat after which the session expires."""
    max_payload: int | None = None
    """The server's payload limit: a request body over this many bytes is refused with 413
    `payload_too_large` (a worker keeps its batches of completions under it)."""


class HeartbeatSessionRequest(Struct, kw_only=True, omit_defaults=True):
    """Renew the lease, and say which tasks the worker still holds."""

    held: list[TaskToken] | None = None
    """The tokens of every task this worker is working on now."""
    requests_sent: RequestNo | None = None
    """The highest `request_no` the worker had sent when it made `held`."""
    requests_open: list[RequestNo] | None = None
    """The numbered requests it was still waiting on then. A leased task whose `request_no`
    is at most `requests_sent`, not open and not in `held` was answered and is not held:
    it is offered again at once. Without these fields (or for a task claimed without a
    number), a task missing from `held` 2 s after its answer left is."""


class Ok(Struct, kw_only=True):
    """The session is alive."""

    ok: Literal[True]


class Closed(Struct, kw_only=True):
    """The session is closed; its tasks go back to their queues at once."""

    closed: Literal[True]


class PollRequest(Struct, kw_only=True, omit_defaults=True):
    """Wait for tasks of one kind on the queue of the path."""

    kind: TaskKind
    session_id: str | None = None
    """The session the tasks are leased to (`openSession`); without one, no session holds
    them and only their timeouts cover a lost worker."""
    max_tasks: int | None = None
    """At most this many tasks (the worker's free slots; default 1, clamped to 1-256)."""
    wait: float | None = None
    """Seconds to wait when no task is ready (default 30, clamped to 0-60)."""
    request_no: RequestNo | None = None
    """This poll's number (see `heartbeatSession`)."""


class PollResponse(Struct, kw_only=True):
    """The tasks leased to the worker; empty when the wait ended without one."""

    tasks: list[Task]
