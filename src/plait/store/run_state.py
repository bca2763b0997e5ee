"""What the server keeps about a run between its state changes, beside the history.

Stored as one JSON document in the run's row (``executions.state``); the fields are the
server's, the shape is pinned here so every module reads and writes the same names. The
document is read and written on every state change of a run, so it is a msgspec ``Struct``,
decoded straight from the column's text (no dict in between) and written without the fields
at their defaults. Rows written by older versions (missing fields, the ``buffer`` list) load.
"""

from __future__ import annotations

import msgspec

from plait.protocol.common import Header, Payload, RetryPolicy
from plait.protocol.failure import Failure
from plait.protocol.responses import TaskFailureInfo
from plait.store.history import BufferedEvent

__all__ = [
    "ChildLink",
    "ParentLink",
    "PauseInfo",
    "ResetFrom",
    "RunState",
    "UpdateEntry",
    "WorkflowTaskRef",
]


class WorkflowTaskRef(msgspec.Struct, omit_defaults=True):
    """The run's workflow task in flight (scheduled, or out at a worker)."""

    task_id: int
    scheduled_event_id: int = 0
    """0 for a silent re-offer of a failing task that reuses the last scheduled event."""
    attempt: int = 1


class ParentLink(msgspec.Struct, omit_defaults=True):
    """Where a child run reports its close."""

    namespace: str
    workflow_id: str
    run_id: str
    seq: str
    initiated_event_id: int


class ChildLink(msgspec.Struct, omit_defaults=True):
    """A child this run started, and what happens to it when this run closes."""

    workflow_id: str
    run_id: str
    policy: str
    """terminate | request_cancel | abandon"""


class UpdateEntry(msgspec.Struct, omit_defaults=True):
    """An update from its request to its outcome (see :mod:`plait.server.updates`)."""

    name: str
    status: str
    """requested | accepted | completed | rejected | failed"""
    input: list[Payload] | None = None
    """Kept until the workflow has seen it (accepted or rejected)."""
    header: Header = msgspec.field(default_factory=dict)
    result: Payload | None = None
    failure: Failure | None = None


class PauseInfo(msgspec.Struct, omit_defaults=True):
    """Why and since when a run is paused (:mod:`plait.server.pausing`): while it is, none
    of its tasks is handed out."""

    time: float
    reason: str = ""
    identity: str = ""


class ResetFrom(msgspec.Struct, omit_defaults=True):
    """The run a reset made this one from (:mod:`plait.server.resetting`), and why."""

    run_id: str
    event_id: int
    """The reset point in that run's history."""
    reason: str = ""


class RunState(msgspec.Struct, omit_defaults=True):
    wt: WorkflowTaskRef | None = None
    upto: int = 0
    """The last event a worker's cache of this run has seen (the previous task's end)."""
    sticky: str | None = None
    """The worker session whose cache holds the run."""
    task_timeout: float = 10.0
    deadline: float | None = None
    """The execution timeout's deadline, across continue-as-new and retries."""
    parent: ParentLink | None = None
    children: dict[str, ChildLink] = msgspec.field(default_factory=dict)
    first_run_id: str = ""
    attempt: int = 1
    """Runs of a retried workflow (``retry_policy``) count from 1."""
    retry_policy: RetryPolicy | None = None
    input: list[Payload] = msgspec.field(default_factory=list)
    """The input and header a retry starts again with (kept only with a retry policy)."""
    header: Header = msgspec.field(default_factory=dict)
    buffered: int = 0
    """Inputs waiting in ``buffered_events`` while a workflow task is out."""
    buffer: list[BufferedEvent] = msgspec.field(default_factory=list)
    """Inputs buffered inside this document by versions before ``buffered_events``."""
    last_wt_scheduled_event_id: int = 0
    last_task_failure: TaskFailureInfo | None = None
    """The failing workflow task's latest failure, while it is retried (describe shows it)."""
    updates: dict[str, UpdateEntry] = msgspec.field(default_factory=dict)
    cancel_requested: bool = False
    start_delay: float = 0.0
    """Seconds the start held back the first workflow task (describe shows it)."""
    paused: PauseInfo | None = None
    """Set while an operator has the run paused: its unleased tasks are held back."""
    reset_from: ResetFrom | None = None
    """This run was made by resetting another one."""
    reset_to_run_id: str | None = None
    """The run a reset of this one made (the latest, if it was reset more than once)."""
    history_bytes: int = 0
    """The stored size of the run's events, kept as they are written (the history limit;
    runs started before it was kept count from their next event)."""
    history_warned: bool = False
    """The history passed the warning threshold and the server said so (once per run)."""
    pending_activities: int = 0
    """Activities scheduled and not yet finished (the pending-activities limit)."""
    activities_counted: bool = msgspec.field(default=False, name="ac")
    """``pending_activities`` has counted this run's activities since it started (a run
    started before the count was kept has not): when it says none is pending, closing the
    run need not look among its tasks for an attempt to end (on PostgreSQL, a round trip)."""
    signals: int = 0
    """Signals the run accepted (the signals-per-run limit)."""

    @classmethod
    def decode(cls, raw: str | bytes) -> RunState:
        """The state a row's column holds (any version's)."""
        return _DECODER.decode(raw)

    def encode(self) -> str:
        return _ENCODER.encode(self).decode()

    @classmethod
    def from_json(cls, d: object) -> RunState:
        """The state of a document already parsed (tests, tools)."""
        return msgspec.convert(d, cls, strict=False)


_DECODER = msgspec.json.Decoder(RunState, strict=False)
_ENCODER = msgspec.json.Encoder()
