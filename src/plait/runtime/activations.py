"""Split a history into activations: what the workflow saw at each workflow task, and the
commands that task produced (which replay must reproduce).

A task that failed or timed out produced nothing, so its inputs roll into the next activation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from plait.protocol.events import COMMAND_EVENTS, EventType, wire_time

__all__ = ["Activation", "split", "timestamp", "wire_time"]

_WT = {EventType.WORKFLOW_TASK_SCHEDULED.value, EventType.WORKFLOW_TASK_STARTED.value,
       EventType.WORKFLOW_TASK_COMPLETED.value, EventType.WORKFLOW_TASK_FAILED.value,
       EventType.WORKFLOW_TASK_TIMED_OUT.value}
_COMMAND_TYPES = {e.value for e in COMMAND_EVENTS}


@dataclasses.dataclass(frozen=True)
class Activation:
    """What one workflow task saw (``inputs``, at ``time``) and, in replay, what it did."""

    inputs: list[dict[str, Any]]
    time: float
    commands: list[dict[str, Any]] | None
    """The command events recorded for this activation; None for the live one."""
    last_event_id: int = 0
    """The last event this activation covers (its last command event, when replayed)."""


def timestamp(event: dict[str, Any]) -> float:
    ts = event.get("timestamp")
    if isinstance(ts, (int, float)):
        return float(ts)
    return dt.datetime.fromisoformat(str(ts).replace("Z", "+00:00")).timestamp()


def split(events: Sequence[dict[str, Any]], live_time: float | None) -> list[Activation]:
    """Activations of ``events``; with ``live_time``, what remains is the live activation."""
    out: list[Activation] = []
    pending: list[dict[str, Any]] = []
    i, n = 0, len(events)
    while i < n:
        ev = events[i]
        etype = ev["event_type"]
        if etype == EventType.WORKFLOW_TASK_STARTED.value and i + 1 < n and \
                events[i + 1]["event_type"] == EventType.WORKFLOW_TASK_COMPLETED.value:
            j = i + 2
            commands = []
            while j < n and events[j]["event_type"] in _COMMAND_TYPES:
                commands.append(events[j])
                j += 1
            out.append(Activation(pending, timestamp(ev), commands, events[j - 1]["event_id"]))
            pending = []
            i = j
            continue
        if etype not in _WT:
            pending.append(ev)
        i += 1
    if live_time is not None:
        out.append(Activation(pending, live_time, None,
                              events[-1]["event_id"] if events else 0))
    return out
