"""What clients send to start and steer workflows (the bodies of ``/workflows`` routes).

Optional fields default to None, which the server reads as "absent": an older client that
never sends a field, or sends null, keeps working. Unknown fields are ignored, as they always
were. Waits and timeouts the server clamps (rather than refuses) carry no bound here.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct

from plait.protocol.common import (
    Header,
    Memo,
    Name,
    Payload,
    RequestId,
    RetryPolicy,
    RunId,
    SearchAttributes,
    Seconds,
)
from plait.protocol.enums import IdConflictPolicy, IdReusePolicy

__all__ = [
    "ActivityControlRequest",
    "CancelRequest",
    "PauseRequest",
    "QueryRequest",
    "ResetRequest",
    "SignalRequest",
    "StartWorkflowRequest",
    "TerminateRequest",
    "UnpauseRequest",
    "UpdateRequest",
]


class SignalRequest(Struct, kw_only=True, omit_defaults=True):
    """Deliver a signal to a run (also the ``start_signal`` of a signal-with-start)."""

    signal_name: Name
    input: list[Payload] | None = None
    header: Header | None = None
    identity: str | None = None
    """Who sent it (shown in history)."""
    run_id: RunId = None
    request_id: RequestId = None


class StartWorkflowRequest(Struct, kw_only=True, omit_defaults=True):
    """Start a run (or, with ``start_signal``, signal-with-start)."""

    workflow_id: Name
    workflow_type: Name
    """The registered name of the workflow."""
    task_queue: Name
    """The queue whose workers run it."""
    input: list[Payload] | None = None
    id_reuse_policy: IdReusePolicy | None = None
    """When a closed run has this id (default `allow_duplicate`)."""
    id_conflict_policy: IdConflictPolicy | None = None
    """When a running run has this id (default `fail`)."""
    search_attributes: SearchAttributes | None = None
    """Indexed values that list and count filter on."""
    memo: Memo | None = None
    """Non-indexed values shown by describe."""
    execution_timeout: Seconds = None
    """How long the whole chain of runs (retries, continue-as-new) may take."""
    task_timeout: Seconds = None
    """How long one workflow task may take at a worker (default 10 s)."""
    retry_policy: RetryPolicy | None = None
    start_signal: SignalRequest | None = None
    """Signal-with-start: deliver this signal with the start, or only this signal if the id
    is running."""
    header: Header | None = None
    identity: str | None = None
    """Who started it (shown in history)."""
    request_id: RequestId = None
    wait_result: float | None = None
    """Also wait up to this many seconds (clamped to 0-60) for the run to close and answer
    with its `outcome` (what `execute_workflow` uses: one request instead of a start and a
    result long-poll). 0 or absent: answer at once."""
    start_delay: Seconds = None
    """Create the run now (RUNNING) but hand out its first workflow task only this many
    seconds later; a signal-with-start on the waiting run does not cut the wait short."""


class TerminateRequest(Struct, kw_only=True, omit_defaults=True):
    """Close a run at once as TERMINATED; no workflow code runs."""

    reason: str | None = None
    """Recorded in history (default `terminated`)."""
    run_id: RunId = None
    request_id: RequestId = None


class PauseRequest(Struct, kw_only=True, omit_defaults=True):
    """Pause a running run: no workflow task and no new activity attempt of it is handed out
    until it is unpaused (running attempts finish; timers fire; signals and updates are
    kept). Pausing a paused run changes nothing."""

    reason: str | None = None
    """Shown by describe (`paused.reason`)."""
    identity: str | None = None
    run_id: RunId = None
    request_id: RequestId = None


class UnpauseRequest(Struct, kw_only=True, omit_defaults=True):
    """Let a paused run go on: its held tasks are handed out again."""

    run_id: RunId = None
    request_id: RequestId = None


class ResetRequest(Struct, kw_only=True, omit_defaults=True):
    """Reset a run to an event: the workflow's running run is terminated (its reason names
    the reset) and a new run of the same workflow id starts from the history up to that
    point; the workflow task completed at `event_id` runs again, on the code deployed now,
    and nothing before it does. Give `event_id` or `to`, not both."""

    event_id: Annotated[int, Meta(ge=1)] | None = None
    """A `WORKFLOW_TASK_COMPLETED` event, or the run's first `WORKFLOW_TASK_SCHEDULED`."""
    to: Literal["first_workflow_task", "last_workflow_task"] | None = None
    """The first workflow task (the run starts over with its input) or the last completed
    one."""
    reason: str | None = None
    """Recorded in the termination, in the new run's first event after the copied history,
    and shown by describe (`reset_reason`)."""
    reapply_signals: bool = True
    """Signals the run received after the point are delivered to the new run again."""
    run_id: RunId = None
    request_id: RequestId = None


class ActivityControlRequest(Struct, kw_only=True, omit_defaults=True):
    """Pause, unpause or reset one pending activity of a running run."""

    run_id: RunId = None
    request_id: RequestId = None


class CancelRequest(Struct, kw_only=True, omit_defaults=True):
    """Ask a run to cancel: the workflow gets CancelledError at its current await."""

    reason: str | None = None
    identity: str | None = None
    run_id: RunId = None
    request_id: RequestId = None


class QueryRequest(Struct, kw_only=True, omit_defaults=True):
    """Ask a worker to answer a query from the run's state."""

    query_name: Name
    input: list[Payload] | None = None
    run_id: RunId = None
    timeout: float | None = None
    """Seconds to wait for a worker's answer (default 10, clamped to 0.1-60)."""
    as_of_event: Annotated[int, Meta(ge=1)] | None = None
    """Answer from the state as it was right after this event: a worker replays the history
    up to the last WORKFLOW_TASK_COMPLETED at or before it, in a fresh instance (the run's
    cached one is untouched). Must be an event of the run's history."""
    header: Header | None = None
    """Context for the worker's interceptors (`handle_query` sees it); not stored."""


class UpdateRequest(Struct, kw_only=True, omit_defaults=True):
    """Send an update into a run and wait (up to ``wait`` s) for its outcome."""

    update_id: Name
    """Makes the update idempotent and its outcome fetchable."""
    update_name: Name
    input: list[Payload] | None = None
    header: Header | None = None
    run_id: RunId = None
    wait: float | None = None
    """Seconds to wait for a final outcome (default 30, clamped to 0-60); 0 answers at once."""
    wait_for_stage: Literal["accepted", "completed"] | None = None
    """What the wait ends at: the update's `completed` (or other final) outcome, the default,
    or its acceptance (`accepted`: the validator passed and it is in the history; a rejection
    ends the wait too)."""
