"""Split a history into activations: what the workflow saw at each workflow task, and the
commands that task produced (which replay must reproduce).

A task that failed or timed out produced nothing, so its inputs roll into the next activation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from plait.protocol import history as h
from plait.protocol.events import COMMAND_EVENTS, wire_time
from plait.protocol.history import EVENT_STRUCTS, Event

__all__ = ["Activation", "as_of", "split", "timestamp", "wire_time"]

_WT = frozenset({h.WorkflowTaskScheduledEvent, h.WorkflowTaskStartedEvent,
                 h.WorkflowTaskCompletedEvent, h.WorkflowTaskFailedEvent,
                 h.WorkflowTaskTimedOutEvent})
_COMMAND_TYPES = frozenset(EVENT_STRUCTS[e] for e in COMMAND_EVENTS)


@dataclasses.dataclass(frozen=True)
class Activation:
    """What one workflow task saw (``inputs``, at ``time``) and, in replay, what it did."""

    inputs: list[Event]
    time: float
    commands: list[Event] | None
    """The command events recorded for this activation; None for the live one."""
    last_event_id: int = 0
    """The last event this activation covers (its last command event, when replayed)."""


def timestamp(event: Event) -> float:
    return dt.datetime.fromisoformat(event.timestamp.replace("Z", "+00:00")).timestamp()


def split(events: Sequence[Event], live_time: float | None) -> list[Activation]:
    """Activations of ``events``; with ``live_time``, what remains is the live activation."""
    out: list[Activation] = []
    pending: list[Event] = []
    i, n = 0, len(events)
    while i < n:
        ev = events[i]
        etype = type(ev)
        if etype is h.WorkflowTaskStartedEvent and i + 1 < n and \
                type(events[i + 1]) is h.WorkflowTaskCompletedEvent:
            j = i + 2
            commands = []
            while j < n and type(events[j]) in _COMMAND_TYPES:
                commands.append(events[j])
                j += 1
            out.append(Activation(pending, timestamp(ev), commands, events[j - 1].event_id))
            pending = []
            i = j
            continue
        if etype not in _WT:
            pending.append(ev)
        i += 1
    if live_time is not None:
        out.append(Activation(pending, live_time, None,
                              events[-1].event_id if events else 0))
    return out


def as_of(events: Sequence[Event], event_id: int) -> list[Event]:
    """The history as the workflow had acted on it right after ``event_id``: up to the last
    WORKFLOW_TASK_COMPLETED at or before it, with the command events that task recorded
    (a task's commands replay whole or not at all). Empty if no task completed by then."""
    end = 0
    for i, ev in enumerate(events):
        if ev.event_id > event_id:
            break
        if type(ev) is h.WorkflowTaskCompletedEvent:
            end = i + 1
            while end < len(events) and type(events[end]) in _COMMAND_TYPES:
                end += 1
    return list(events[:end])
