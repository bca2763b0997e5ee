"""Batch jobs as the client sees them: a handle per job, what ``describe`` and
``list_batches`` return, and the start keywords turned into the wire's request
(API.md "Operating running workflows").
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from plait._api import Api, wire_member
from plait.protocol import batches as wire
from plait.protocol.enums import BatchOperation, WorkflowStatus
from plait.protocol.payload import Payload, encode_args

__all__ = ["BatchDescription", "BatchHandle", "start_request"]

WAIT_FIRST = 0.1
WAIT_MAX = 2.0
"""``wait()`` looks again after these many seconds, growing from the first to the most."""


def _utc(ts: float | None) -> dt.datetime | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC)


def _timestamp(name: str, value: dt.datetime | None) -> float | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ValueError(f"{name} must be an aware datetime")
    return value.timestamp()


def start_request(
    operation: str,
    *,
    workflow_type: str | None,
    status: str | None,
    search_attributes: Mapping[str, Any] | None,
    started_after: dt.datetime | None,
    started_before: dt.datetime | None,
    reason: str,
    signal: str | None,
    args: Sequence[Any],
    reset_to: int | str | None,
    reapply_signals: bool,
    rate_per_second: float | None,
    to_payloads: Callable[[Sequence[Any]], list[Payload]] = encode_args,
) -> wire.StartBatchRequest:
    """The start request of ``start_batch``'s keywords. An operation or status that is none
    travels as given, so the server refuses it with a message naming it. ``to_payloads``:
    the client's payload converter, for a signal's arguments."""
    return wire.StartBatchRequest(
        operation=wire_member(BatchOperation, operation),
        filter=wire.BatchFilter(
            workflow_type=workflow_type or None,
            status=wire_member(WorkflowStatus, status) if status else None,
            search_attributes=dict(search_attributes) if search_attributes else None,
            started_after=_timestamp("started_after", started_after),
            started_before=_timestamp("started_before", started_before),
        ),
        reason=reason,
        signal_name=signal,
        input=to_payloads(args) if signal else None,
        reset=_reset(reset_to, reapply_signals),
        rate_per_second=rate_per_second,
        request_id=str(uuid.uuid4()),
    )


def _reset(to: int | str | None, reapply_signals: bool) -> wire.ResetOptions | None:
    """``reset_to``: an event id, or ``"first_workflow_task"`` / ``"last_workflow_task"``
    (as ``WorkflowHandle.reset``)."""
    if to is None:
        return None
    if isinstance(to, bool) or not isinstance(to, (int, str)):
        raise TypeError(
            "reset_to must be an event id or 'first_workflow_task' / 'last_workflow_task'"
        )
    if isinstance(to, int):
        return wire.ResetOptions(event_id=to, reapply_signals=reapply_signals)
    if to == "first_workflow_task":
        return wire.ResetOptions(to="first_workflow_task", reapply_signals=reapply_signals)
    if to == "last_workflow_task":
        return wire.ResetOptions(to="last_workflow_task", reapply_signals=reapply_signals)
    raise ValueError(
        f"reset_to must be an event id or 'first_workflow_task' / 'last_workflow_task', not {to!r}"
    )


@dataclasses.dataclass(frozen=True)
class BatchDescription:
    """A batch job and its progress."""

    batch_id: str
    operation: str
    state: str
    """running, completed, failed or canceled."""
    total: int
    """Runs the filter matched when the job started; once it has ended, the runs it reached
    (a run that closed by itself before its turn is not counted)."""
    done: int
    failed: int
    """Runs the operation was refused on; ``last_error`` says why, for the last of them."""
    last_error: str | None
    workflow_type: str | None
    status: str | None
    search_attributes: dict[str, Any]
    started_after: dt.datetime | None
    started_before: dt.datetime | None
    """The filter, bounded by the job's start (runs started later are not included)."""
    reason: str
    signal: str | None
    rate_per_second: float
    start_time: dt.datetime
    close_time: dt.datetime | None

    @property
    def running(self) -> bool:
        return self.state == "running"

    @staticmethod
    def from_wire(d: wire.BatchDescription) -> BatchDescription:
        f = d.filter
        start = _utc(d.start_time)
        assert start is not None
        return BatchDescription(
            batch_id=d.batch_id,
            operation=d.operation.value,
            state=d.state.value,
            total=d.total,
            done=d.done,
            failed=d.failed,
            last_error=d.last_error,
            workflow_type=f.workflow_type,
            status=f.status.value if f.status else None,
            search_attributes=dict(f.search_attributes or {}),
            started_after=_utc(f.started_after),
            started_before=_utc(f.started_before),
            reason=d.reason,
            signal=d.signal_name,
            rate_per_second=d.rate_per_second,
            start_time=start,
            close_time=_utc(d.close_time),
        )


class BatchHandle:
    """A batch job by id (it need not exist: calls raise ``RPCError`` ``batch_not_found``)."""

    def __init__(self, api: Api, batch_id: str) -> None:
        self.api = api
        self.id = batch_id

    async def describe(self) -> BatchDescription:
        return BatchDescription.from_wire(await self.api.describe_batch(self.id))

    async def wait(self, *, timeout: dt.timedelta | None = None) -> BatchDescription:
        """Until the job has ended (completed, failed or canceled); its last description.
        ``timeout``: raise ``TimeoutError`` (the builtin) past it."""
        async with asyncio.timeout(None if timeout is None else timeout.total_seconds()):
            pause = WAIT_FIRST
            while (d := await self.describe()).running:
                await asyncio.sleep(pause)
                pause = min(pause * 1.5, WAIT_MAX)
            return d

    async def cancel(self) -> BatchDescription:
        """Stop the job; runs already acted on stay so. A job that has ended is left as is."""
        return BatchDescription.from_wire(
            await self.api.cancel_batch(
                self.id, wire.CancelBatchRequest(request_id=str(uuid.uuid4()))
            )
        )
