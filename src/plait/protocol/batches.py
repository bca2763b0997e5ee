"""Batch jobs on the wire: one operation (terminate, cancel, signal, reset) applied to every
run a list filter matches, as a durable, rate-limited job the server drives
(API.md "Operating running workflows").

The filter is the one ``GET .../workflows`` takes, as a struct. Times are Unix timestamps,
as everywhere in the API.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from plait.protocol.common import Header, Name, Payload, RequestId, SearchAttributes
from plait.protocol.enums import BatchOperation, BatchState, WorkflowStatus

__all__ = [
    "DEFAULT_RATE",
    "MAX_RATE",
    "BatchDescription",
    "BatchFilter",
    "BatchList",
    "CancelBatchRequest",
    "ResetOptions",
    "StartBatchRequest",
    "acted_on_status",
]

DEFAULT_RATE = 50.0
"""Runs acted on per second when a job does not say: slow enough that a batch of thousands
does not starve live traffic of the store's writer."""
MAX_RATE = 10_000.0

Rate = Annotated[float, Meta(gt=0, le=MAX_RATE, description="Runs acted on per second at most.")]


class BatchFilter(Struct, kw_only=True, omit_defaults=True):
    """Which runs: every given condition holds (as the workflow list filters)."""

    workflow_type: str | None = None
    status: WorkflowStatus | None = None
    """terminate, cancel and signal act on running runs: absent means RUNNING, and another
    status is refused."""
    search_attributes: SearchAttributes | None = None
    """Each attribute equals its value (JSON equality)."""
    started_after: float | None = None
    started_before: float | None = None


class ResetOptions(Struct, kw_only=True, omit_defaults=True):
    """Where a reset batch resets each run to (the single-workflow reset's options)."""

    event_id: Annotated[int, Meta(ge=1)] | None = None
    to: Literal["first_workflow_task", "last_workflow_task"] | None = None
    reapply_signals: bool = True


class StartBatchRequest(Struct, kw_only=True, omit_defaults=True):
    """Start a batch job. It acts on the runs the filter matches when it starts (runs started
    later are not included), a page at a time, at most `rate_per_second` runs a second."""

    operation: BatchOperation
    filter: BatchFilter = msgspec.field(default_factory=BatchFilter)
    reason: str = ""
    """Recorded in each run's history (terminate, cancel, reset)."""
    signal_name: Name | None = None
    """The signal to send (required for `signal`)."""
    input: list[Payload] | None = None
    """The signal's arguments."""
    header: Header | None = None
    reset: ResetOptions | None = None
    """Required for `reset`."""
    rate_per_second: Rate | None = None
    """Default 50."""
    identity: str | None = None
    request_id: RequestId = None


class CancelBatchRequest(Struct, kw_only=True, omit_defaults=True):
    """Stop a running batch job; runs already acted on stay so."""

    request_id: RequestId = None


class BatchDescription(Struct, kw_only=True):
    """A batch job and its progress."""

    batch_id: str
    operation: BatchOperation
    state: BatchState
    filter: BatchFilter
    reason: str
    signal_name: str | None = None
    rate_per_second: float
    total: int
    """Runs the filter matched when the job started; once it has ended, the runs it reached
    (a run that closed by itself before its turn is not counted)."""
    done: int
    failed: int
    """Runs the operation was refused on (the message of the last refusal: `last_error`)."""
    last_error: str | None = None
    start_time: float
    close_time: float | None = None


class BatchList(Struct, kw_only=True):
    batches: list[BatchDescription]
    next_page_token: str | None = None
    """Pass as `next_page_token` for the next page; null on the last one."""


_RUNNING_ONLY = frozenset({BatchOperation.TERMINATE, BatchOperation.CANCEL, BatchOperation.SIGNAL,
                           BatchOperation.PAUSE, BatchOperation.UNPAUSE})


def acted_on_status(operation: BatchOperation, status: str | None) -> str | None:
    """The status filter a job of ``operation`` really uses: terminate, cancel and signal act
    on running runs only (absent means RUNNING). Raises ``ValueError`` for another status,
    naming the rule. The CLI counts with it, so its count is what the job will act on."""
    if operation not in _RUNNING_ONLY:
        return status
    if status not in (None, WorkflowStatus.RUNNING):
        raise ValueError(f"a {operation} batch acts on RUNNING runs only, not {status}")
    return WorkflowStatus.RUNNING
