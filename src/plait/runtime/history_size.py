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

from msgspec import Struct

from plait.protocol.commands import Command
from plait.protocol.history import Event
from plait.runtime.wire import encode

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

    def observe_events(self, events: Iterable[Event]) -> None:
        for event in events:
            self.events = max(self.events, event.event_id)
            self.bytes += _payload_bytes(event.attributes)

    def observe_commands(self, commands: Iterable[Command]) -> None:
        for command in commands:
            self.bytes += _payload_bytes(command)

    def suggests_continue_as_new(self) -> bool:
        return self.events > SUGGEST_CONTINUE_AS_NEW_EVENTS \
            or self.bytes > SUGGEST_CONTINUE_AS_NEW_BYTES


def _payload_bytes(message: Struct) -> int:
    names = _NAMES.get(type(message))
    if names is None:
        names = _NAMES[type(message)] = tuple(
            k for k in _PAYLOAD_KEYS if k in message.__struct_fields__)
    total = 0
    for name in names:
        value = getattr(message, name)
        if value is not None:
            total += len(encode(value))
    return total


_NAMES: dict[type, tuple[str, ...]] = {}
"""The payload-carrying fields of each event's attributes and each command, found once."""
