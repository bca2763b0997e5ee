"""A workflow run's event history: what happened, in order; also the file format of replay."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from plait.protocol.events import HISTORY_FORMAT
from plait.protocol.jsoncodec import dumps, loads

__all__ = ["History", "HistoryEvent"]


@dataclasses.dataclass(frozen=True)
class HistoryEvent:
    event_id: int
    event_type: str
    timestamp: dt.datetime
    attributes: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "event_type": self.event_type,
                "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
                "attributes": self.attributes}


@dataclasses.dataclass(frozen=True)
class History:
    workflow_id: str
    run_id: str
    events: list[HistoryEvent]

    @staticmethod
    def from_dict(d: dict[str, Any]) -> History:
        fmt = d.get("format", HISTORY_FORMAT)
        if fmt > HISTORY_FORMAT:
            raise ValueError(f"history format {fmt} is newer than this plait understands "
                             f"({HISTORY_FORMAT}); upgrade plait")
        events = [HistoryEvent(e["event_id"], e["event_type"],
                               dt.datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")),
                               e.get("attributes") or {}) for e in d.get("events", [])]
        return History(d.get("workflow_id", ""), d.get("run_id", ""), events)

    def to_dict(self) -> dict[str, Any]:
        return {"format": HISTORY_FORMAT, "workflow_id": self.workflow_id,
                "run_id": self.run_id, "events": [e.to_dict() for e in self.events]}

    def to_json(self) -> str:
        return dumps(self.to_dict()).decode()

    @staticmethod
    def from_json(text: str | bytes) -> History:
        return History.from_dict(loads(text))
