"""Synthetic histories for runtime unit tests: events as the server records them.

Events are the wire's structs (:mod:`plait.protocol.history`); a test names only the
attributes it cares about, and the others the event type requires get a plain value ("",
1, [], {} or null), as the runtime never reads them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from msgspec import inspect as mi

from plait.protocol.events import EventType
from plait.protocol.history import EVENT_STRUCTS, Event
from plait.protocol.payload import encode
from plait.runtime.info import RunIdentity

T0 = 1767225600.0  # 2026-01-01T00:00:00Z


def stamp(ts: float) -> str:
    """``ts`` as an event timestamp (RFC 3339, UTC)."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


def event(event_id: int, event_type: str, timestamp: float = T0, **attributes: Any) -> Event:
    """One event, its required attributes filled in."""
    cls = EVENT_STRUCTS[EventType(event_type)]
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    attrs_type = next(f.type for f in info.fields if f.name == "attributes")
    assert isinstance(attrs_type, mi.StructType)
    filled = {f.name: _plain(f.type) for f in attrs_type.fields if f.required}
    return msgspec.convert({"event_id": event_id, "event_type": event_type,
                            "timestamp": stamp(timestamp),
                            "attributes": {**filled, **attributes}}, Event)


def _plain(t: mi.Type) -> Any:
    if isinstance(t, mi.Metadata):
        return _plain(t.type)
    if isinstance(t, mi.UnionType):
        return None if any(isinstance(m, mi.NoneType) for m in t.types) else _plain(t.types[0])
    if isinstance(t, mi.LiteralType):
        return t.values[0]
    return {mi.StrType: "", mi.IntType: 1, mi.FloatType: 0.0, mi.ListType: [],
            mi.DictType: {}}.get(type(t))


def type_of(ev: Event) -> str:
    """An event's ``event_type``."""
    return str(ev.__struct_config__.tag)


class HistoryBuilder:
    """Appends events with contiguous ids; ``task()`` adds a completed workflow task."""

    def __init__(self, workflow_type: str, *args: Any) -> None:
        self.events: list[Event] = []
        self.add("WORKFLOW_EXECUTION_STARTED", workflow_type=workflow_type,
                 task_queue="q", input=[encode(a) for a in args])

    def add(self, event_type: str, **attributes: Any) -> HistoryBuilder:
        n = len(self.events)
        self.events.append(event(n + 1, event_type, T0 + n, **attributes))
        return self

    def task(self) -> HistoryBuilder:
        """A workflow task that ran and completed (its command events follow)."""
        return self.add("WORKFLOW_TASK_SCHEDULED").add("WORKFLOW_TASK_STARTED") \
            .add("WORKFLOW_TASK_COMPLETED")

    def pending_task(self) -> HistoryBuilder:
        """A workflow task scheduled but not run yet: what a worker is handed live."""
        return self.add("WORKFLOW_TASK_SCHEDULED")

    def upto(self, event_id: int) -> list[Event]:
        return [e for e in self.events if e.event_id <= event_id]


def task_of(workflow_type: str, run_id: str = "run-1") -> RunIdentity:
    """Who a new instance's run is."""
    return RunIdentity("wf-1", run_id, workflow_type, "q", "default")
