"""What a task row carries beside its columns: the work a worker is handed and what the
server keeps about it while it waits or runs (attempt, options, last failure, heartbeat).

One shape per task kind, decoded from the row's JSON by the row's ``kind`` column. Rows
written by older versions (every field present, nulls included) decode into the same shapes.
"""

from __future__ import annotations

import msgspec

from plait.protocol.common import Header, Payload
from plait.protocol.common import RetryPolicy as WirePolicy
from plait.protocol.failure import Failure

__all__ = ["HELD", "ActivityOptions", "ActivityTaskData", "QueryAnswer", "QueryTaskData",
           "TaskData",
           "TimerData", "WorkflowTaskData", "decode_task_data", "encode"]


class WorkflowTaskData(msgspec.Struct, omit_defaults=True):
    attempt: int = 1
    timeout: float = 10.0
    """The task's timeout: the worker's session heartbeat enforces it."""


class ActivityOptions(msgspec.Struct):
    """The schedule_activity command's timeouts (seconds; None for none) and retry policy."""

    start_to_close_timeout: float | None = None
    schedule_to_close_timeout: float | None = None
    schedule_to_start_timeout: float | None = None
    heartbeat_timeout: float | None = None
    retry_policy: WirePolicy | None = None


class ActivityTaskData(msgspec.Struct):
    """An activity from its scheduling to its outcome: the pending activity *is* this row."""

    activity_type: str
    input: list[Payload]
    attempt: int
    scheduled_event_id: int
    scheduled_time: float
    options: ActivityOptions
    workflow_type: str
    header: Header = msgspec.field(default_factory=dict)
    last_failure: Failure | None = None
    heartbeat_details: list[Payload] = msgspec.field(default_factory=list)
    rate_limit_key: str | None = None
    cancel_requested: bool = False
    """The workflow asked it to stop; the running attempt learns it at its next heartbeat."""
    rate_limited_until: float | None = None
    """Waiting for a rate-limit token until then (describe shows it)."""
    paused: bool = False
    """An operator paused this activity: no new attempt starts until it is unpaused."""
    attempt_base: int = 0
    """Attempts made before the last reset: the retry policy and the worker count from
    here (``attempt`` keeps counting, so every try keeps its own row in the attempt log)."""
    reset_requested: bool = False
    """Reset while an attempt ran: the next attempt, if one is needed, counts from 1."""


HELD = 1e12
"""Added to a task's ``visible_at`` while it is held back (a paused run or activity): no
claim reaches it, and subtracting it again gives back when it was due. Far beyond any clock
reading, and small enough that a float keeps the due time to a tenth of a millisecond."""


class QueryAnswer(msgspec.Struct):
    result: Payload | None = None
    failure: Failure | None = None
    code: str | None = None


class QueryTaskData(msgspec.Struct):
    query_name: str
    input: list[Payload]
    workflow_type: str
    expires_at: float
    """When the asking request gives up: an unclaimed query is dropped after it."""
    answer: QueryAnswer | None = None
    as_of_event: int | None = None
    """Answer from the state right after this event (``QueryRequest.as_of_event``)."""
    header: Header | None = None
    """The query's header (``QueryRequest.header``), for the worker's interceptors."""


TaskData = WorkflowTaskData | ActivityTaskData | QueryTaskData


class TimerData(msgspec.Struct, omit_defaults=True):
    """What a timer row remembers about what set it."""

    attempt: int | None = None
    """The activity attempt a timeout belongs to (a timer of an earlier attempt is stale)."""
    started_event_id: int | None = None
    """A workflow timer's TIMER_STARTED event."""


_ENCODER = msgspec.json.Encoder()
_DECODERS: dict[str, msgspec.json.Decoder[TaskData]] = {
    "workflow": msgspec.json.Decoder(WorkflowTaskData),
    "activity": msgspec.json.Decoder(ActivityTaskData),
    "query": msgspec.json.Decoder(QueryTaskData)}
TIMER_DATA = msgspec.json.Decoder(TimerData)


def decode_task_data(kind: str, raw: str | bytes) -> TaskData:
    return _DECODERS[kind].decode(raw)


def encode(data: TaskData | TimerData) -> str:
    return _ENCODER.encode(data).decode()
