"""What a run was waiting for at a point of its history, derived from the history alone.

The server keeps a run's pending work beside its history (activity task rows, timer rows, the
run state's updates and children), changed event by event as the run goes. A reset
(:mod:`plait.server.resetting`) needs that state as it was at an earlier event, which no row
remembers, so it is derived again here from the events up to that point: what was scheduled
and not yet closed is pending. A pure function of the events, so it is tested without a store.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence

import msgspec

from plait.protocol import history as h
from plait.protocol.common import SearchAttributes
from plait.protocol.history import Event
from plait.store.run_state import UpdateEntry

__all__ = ["PendingTimer", "Prefix", "decode_events", "rebuild", "timestamp"]

_DECODER = msgspec.json.Decoder(Event)

_ACTIVITY_CLOSED = (
    h.ActivityTaskCompletedEvent,
    h.ActivityTaskFailedEvent,
    h.ActivityTaskTimedOutEvent,
    h.ActivityTaskCanceledEvent,
)
_CHILD_CLOSED = (
    h.ChildWorkflowExecutionCompletedEvent,
    h.ChildWorkflowExecutionFailedEvent,
    h.ChildWorkflowExecutionCanceledEvent,
    h.ChildWorkflowExecutionTerminatedEvent,
    h.ChildWorkflowExecutionTimedOutEvent,
)


def decode_events(raw: Iterable[msgspec.Raw | bytes | str]) -> list[Event]:
    """Stored event texts as typed events."""
    return [_DECODER.decode(r) for r in raw]


def timestamp(event: Event) -> float:
    """An event's time as seconds since the epoch."""
    return dt.datetime.fromisoformat(event.timestamp.replace("Z", "+00:00")).timestamp()


@dataclasses.dataclass
class PendingTimer:
    timer_id: str
    started_event_id: int
    fire_at: float
    """When it was due to fire as started (it may have passed by now)."""


@dataclasses.dataclass
class Prefix:
    """A run's open business after some prefix of its history."""

    activities: dict[str, h.ActivityTaskScheduledEvent] = dataclasses.field(default_factory=dict)
    """Scheduled and not closed, by activity id."""
    cancel_requested: set[str] = dataclasses.field(default_factory=set)
    """Those of ``activities`` the workflow had asked to stop."""
    timers: dict[str, PendingTimer] = dataclasses.field(default_factory=dict)
    children: dict[str, str] = dataclasses.field(default_factory=dict)
    """Children initiated and not closed: seq -> workflow id."""
    updates: dict[str, UpdateEntry] = dataclasses.field(default_factory=dict)
    """Updates accepted (and maybe completed) in the prefix."""
    search_attributes: SearchAttributes = dataclasses.field(default_factory=dict)
    """The start's search attributes with the prefix's upserts applied."""
    workflow_cancel_requested: bool = False


def rebuild(events: Sequence[Event]) -> Prefix:
    """The open business after ``events`` (a history's first events, in order)."""
    out = Prefix()
    for ev in events:
        _apply(out, ev)
    return out


def _apply(out: Prefix, ev: Event) -> None:
    if isinstance(ev, h.WorkflowExecutionStartedEvent):
        out.search_attributes = dict(ev.attributes.search_attributes or {})
    elif isinstance(ev, h.UpsertSearchAttributesEvent):
        out.search_attributes.update(ev.attributes.search_attributes)
    elif isinstance(ev, h.WorkflowExecutionCancelRequestedEvent):
        out.workflow_cancel_requested = True
    elif isinstance(ev, h.ActivityTaskScheduledEvent):
        out.activities[ev.attributes.activity_id] = ev
    elif isinstance(ev, h.ActivityTaskCancelRequestedEvent):
        if ev.attributes.activity_id in out.activities:
            out.cancel_requested.add(ev.attributes.activity_id)
    elif isinstance(ev, _ACTIVITY_CLOSED):
        out.activities.pop(ev.attributes.activity_id, None)
        out.cancel_requested.discard(ev.attributes.activity_id)
    elif isinstance(ev, h.TimerStartedEvent):
        a = ev.attributes
        out.timers[a.timer_id] = PendingTimer(a.timer_id, ev.event_id, timestamp(ev) + a.duration)
    elif isinstance(ev, h.TimerFiredEvent | h.TimerCanceledEvent):
        out.timers.pop(ev.attributes.timer_id, None)
    elif isinstance(ev, h.StartChildWorkflowExecutionInitiatedEvent):
        out.children[ev.attributes.seq] = ev.attributes.workflow_id
    elif isinstance(ev, _CHILD_CLOSED):
        out.children.pop(ev.attributes.seq, None)
    elif isinstance(ev, h.WorkflowExecutionUpdateAcceptedEvent):
        out.updates[ev.attributes.update_id] = UpdateEntry(ev.attributes.update_name, "accepted")
    elif isinstance(ev, h.WorkflowExecutionUpdateCompletedEvent):
        u = out.updates.setdefault(ev.attributes.update_id, UpdateEntry("", "completed"))
        failure = ev.attributes.failure
        u.status, u.result = "completed", ev.attributes.result
        u.failure = msgspec.to_builtins(failure) if failure is not None else None
