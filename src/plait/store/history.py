"""A run's history as stored: each event one row of JSON text, written once and never parsed
again by the server (workers and ``GET .../history`` get the text as it was written).

Inputs that arrive while a workflow task is out wait in ``buffered_events`` as
:class:`BufferedEvent` rows until that task ends (:mod:`plait.server.run`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import msgspec

__all__ = ["BufferedEvent", "EventAttributes", "StoredEvent"]

EventAttributes = Mapping[str, object]
"""An event's attributes as the server builds them: the shape each event type has is
:mod:`plait.protocol.attributes` (what workers and ``plait replay`` decode them into)."""


class StoredEvent(NamedTuple):
    event_id: int
    data: str
    """The whole event, encoded: ``{"event_id", "event_type", "timestamp", "attributes"}``."""

    @property
    def raw(self) -> msgspec.Raw:
        """The event to embed in a response without parsing it."""
        return msgspec.Raw(self.data)


class BufferedEvent(msgspec.Struct):
    """An input held back while a workflow task is out at a worker."""

    event_type: str
    attributes: EventAttributes
    ts: float
    """When it happened (the event's timestamp once it is written)."""


BUFFERED = msgspec.json.Decoder(BufferedEvent)
