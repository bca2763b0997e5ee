"""How big a run's history has grown, for ``workflow.info().continue_as_new_suggested``.

Workflow code may branch on the suggestion (``if info().continue_as_new_suggested:
continue_as_new(...)``), so it must read the same at every activation whether the instance
runs live on a sticky cache, was rebuilt from the full history, or ran a chained step. The
three paths do not see the same events: a sticky instance never receives the events its own
commands wrote. So the measure is built only from what every path sees alike:

- events: the highest event id applied so far. Ids are contiguous from 1, so the next event
  seen accounts for every earlier one, including the command events this instance wrote.
- bytes: the encoded size of the payloads the workflow received (inputs, results, failures,
  details) plus that of the commands it produced. Payloads are what make a history large;
  the bookkeeping around them (task events, ids, timestamps) is not counted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from plait.protocol.jsoncodec import dumps

__all__ = ["SUGGEST_CONTINUE_AS_NEW_BYTES", "SUGGEST_CONTINUE_AS_NEW_EVENTS", "HistorySize"]

SUGGEST_CONTINUE_AS_NEW_EVENTS = 10_000
"""Past this many events, ``continue_as_new_suggested`` turns true (API.md)."""
SUGGEST_CONTINUE_AS_NEW_BYTES = 10 * 1024 * 1024
"""Past this many bytes of payloads (10 MiB), ``continue_as_new_suggested`` turns true."""

_PAYLOAD_KEYS = ("input", "result", "failure", "details", "search_attributes", "memo")


@dataclasses.dataclass
class HistorySize:
    events: int = 0
    bytes: int = 0

    def observe_events(self, events: Iterable[dict[str, Any]]) -> None:
        for event in events:
            self.events = max(self.events, int(event.get("event_id") or 0))
            self.bytes += _payload_bytes(event.get("attributes") or {})

    def observe_commands(self, commands: Iterable[dict[str, Any]]) -> None:
        for command in commands:
            self.bytes += _payload_bytes(command)

    def suggests_continue_as_new(self) -> bool:
        return self.events > SUGGEST_CONTINUE_AS_NEW_EVENTS \
            or self.bytes > SUGGEST_CONTINUE_AS_NEW_BYTES


def _payload_bytes(fields: dict[str, Any]) -> int:
    return sum(len(dumps(fields[k])) for k in _PAYLOAD_KEYS if fields.get(k) is not None)
