"""The worker's side of the wire: decoding tasks and histories into the protocol structs,
and encoding what the worker sends back.

Tasks and histories are decoded once, straight from the response bytes, into
:mod:`plait.protocol.tasks` and :mod:`plait.protocol.history` structs. An event type this
runtime does not know (a history from a newer server) fails the decoding of the whole task;
:func:`unknown_event` then names it, so the worker can fail the workflow task saying so.

Outgoing messages are structs encoded by msgspec. The values inside payload envelopes are
the user's, and they keep the bytes the orjson converter always gave them (a UTC datetime
as ``+00:00``, pydantic models, numpy arrays): :func:`wire_payloads` has every payload whose
data is not a plain string, integer, boolean or null encoded by orjson before msgspec copies
it in as :class:`msgspec.Raw`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import msgspec

from plait.protocol.commands import Command
from plait.protocol.common import Failure, Payload
from plait.protocol.completions import ItemError, UpdateRejection
from plait.protocol.events import EventType
from plait.protocol.history import Event
from plait.protocol.jsoncodec import dumps
from plait.protocol.tasks import Task

if TYPE_CHECKING:
    from plait.history import History

__all__ = ["BatchAnswer", "PolledTask", "UnknownEventError", "UnreadableTask", "decode_events",
           "decode_tasks", "encode", "to_events", "unknown_event", "wire_command",
           "wire_failure", "wire_payload", "wire_payloads", "wire_rejections"]



class UnknownEventError(Exception):
    """The history holds an event type this runtime does not know."""


def _fallback(obj: Any) -> Any:
    """What msgspec cannot encode itself (pydantic models, numpy values, sets of them):
    the orjson converter's encoding, copied in as it is."""
    return msgspec.Raw(dumps(obj))


_ENCODER = msgspec.json.Encoder(enc_hook=_fallback)
encode = _ENCODER.encode
"""A message (a struct, or anything JSON-able) as JSON bytes."""

_PLAIN = frozenset({str, int, bool, type(None)})


def wire_payload(payload: Payload) -> Payload:
    """The envelope to encode: itself when its data encodes alike either way, else a copy
    whose data orjson has encoded already."""
    data = payload.get("data")
    if type(data) in _PLAIN:
        return payload
    return {**payload, "data": msgspec.Raw(dumps(data))}


def wire_payloads(payloads: list[Payload] | None) -> list[Payload] | None:
    """The list itself when every payload in it is ready already, else a copy."""
    if not payloads:
        return payloads
    wired = [wire_payload(p) for p in payloads]
    return payloads if all(w is p for w, p in zip(wired, payloads, strict=True)) else wired


def wire_failure(failure: Failure | None) -> Failure | None:
    """A failure whose details (and its causes') are ready to encode."""
    if failure is None or (not failure.details and failure.cause is None):
        return failure
    return msgspec.structs.replace(failure, details=wire_payloads(failure.details),
                                   cause=wire_failure(failure.cause))


_EVENTS = msgspec.json.Decoder(list[Event])


class _EventHead(msgspec.Struct):
    event_id: Any = None
    event_type: Any = None


_HEADS = msgspec.json.Decoder(list[_EventHead])
_KNOWN = frozenset(EventType)


def decode_events(raw: bytes | str) -> list[Event]:
    """A JSON list of events; :class:`UnknownEventError` for an event type not known here."""
    try:
        return _EVENTS.decode(raw)
    except msgspec.ValidationError:
        problem = unknown_event(_HEADS.decode(raw))
        if problem is not None:
            raise UnknownEventError(problem) from None
        raise


def unknown_event(events: Iterable[Any]) -> str | None:
    """Why these events cannot be read here, when one has an unknown type (else None).
    ``events`` have ``event_id`` and ``event_type`` (structs or the heads of undecoded ones)."""
    for ev in events:
        if ev.event_type not in _KNOWN:
            return (f"history event {ev.event_id} has type {ev.event_type!r}, which this "
                    "version of plait does not know (a history from a newer server?)")
    return None


def to_events(history: History) -> list[Event]:
    """The events of a :class:`plait.history.History` (a file, an export) as structs;
    :class:`UnknownEventError` for an unknown event type."""
    problem = unknown_event(history.events)
    if problem is not None:
        raise UnknownEventError(problem)
    return msgspec.convert([e.to_dict() for e in history.events], list[Event])


# -- tasks --------------------------------------------------------------------------------------
class UnreadableTask(msgspec.Struct, kw_only=True):
    """A task this worker cannot decode: whom it concerns, and why (``problem``). A workflow
    task of a history with an event type from a newer server is failed saying so; the
    others are left to the server to offer again."""

    kind: str = ""
    token: str = ""
    namespace: str = ""
    workflow_id: str = ""
    run_id: str = ""
    workflow_type: str = ""
    task_queue: str = ""
    attempt: int = 1
    problem: str = ""
    unknown_event: bool = False
    """The problem is an event type this version of plait does not know."""


PolledTask = Task | UnreadableTask
"""What a poll hands the worker."""


class _Polled(msgspec.Struct):
    tasks: list[Task]


class _PolledRaw(msgspec.Struct):
    tasks: list[msgspec.Raw]


class _Heads(msgspec.Struct):
    events: list[_EventHead] = []


_POLLED = msgspec.json.Decoder(_Polled)
_POLLED_RAW = msgspec.json.Decoder(_PolledRaw)
_TASK = msgspec.json.Decoder(Task)  # type: ignore[arg-type]  # a union of tagged structs
_UNREADABLE = msgspec.json.Decoder(UnreadableTask)
_HEADS_OF = msgspec.json.Decoder(_Heads)


def decode_tasks(body: bytes) -> list[PolledTask]:
    """A poll response's tasks, decoded in one pass; should one not decode, each on its own,
    so that one unreadable task does not hide the others."""
    try:
        return list(_POLLED.decode(body).tasks)
    except msgspec.ValidationError:
        pass
    out: list[PolledTask] = []
    for raw in _POLLED_RAW.decode(body).tasks:
        try:
            out.append(_TASK.decode(raw))
        except msgspec.ValidationError as exc:
            out.append(unreadable(raw, exc))
    return out


def unreadable(raw: bytes | msgspec.Raw, exc: Exception) -> UnreadableTask:
    task = _UNREADABLE.decode(raw)
    problem = unknown_event(_HEADS_OF.decode(raw).events)
    task.problem = problem or f"the task cannot be read: {exc}"
    task.unknown_event = problem is not None
    return task


# -- what the worker sends ----------------------------------------------------------------------
class BatchItemAnswer(msgspec.Struct, kw_only=True):
    """One item's answer in a batch: its route's own answer (decoded by whoever waits for
    it, into the struct of that route), or its error."""

    result: msgspec.Raw = msgspec.Raw()
    """Empty when the item failed (a Raw cannot be in a union with None)."""
    error: ItemError | None = None


class BatchAnswer(msgspec.Struct, kw_only=True):
    results: list[BatchItemAnswer]


def _raw_json(value: Any) -> Any:
    """A user's JSON object, encoded as the orjson converter always did (empty ones as
    they are: they encode alike)."""
    return msgspec.Raw(dumps(value)) if value else value


_WIRE_FIELDS: dict[type, tuple[tuple[str, Any], ...]] = {}
_FIELD_WIRE = {"input": wire_payloads, "result": lambda p: p if p is None else wire_payload(p),
               "failure": wire_failure, "details": _raw_json, "search_attributes": _raw_json,
               "memo": _raw_json, "header": _raw_json}


def wire_command(cmd: Command) -> Command:
    """``cmd`` ready to encode: the user's values in it (payload data, headers, memo, search
    attributes, marker details) encoded by orjson, as they always were. Itself when nothing
    needs it (plain payload data: the common case), else a copy."""
    fields = _WIRE_FIELDS.get(type(cmd))
    if fields is None:
        fields = _WIRE_FIELDS[type(cmd)] = tuple(
            (name, _FIELD_WIRE[name]) for name in cmd.__struct_fields__ if name in _FIELD_WIRE)
    changes: dict[str, object] = {}  # replace()'s keyword arguments
    for name, fn in fields:
        value = getattr(cmd, name)
        if value is not None:
            wired = fn(value)
            if wired is not value:
                changes[name] = wired
    return msgspec.structs.replace(cmd, **changes) if changes else cmd


def wire_commands(commands: list[Command]) -> list[Command]:
    return [wire_command(cmd) for cmd in commands]


def wire_rejections(rejections: list[UpdateRejection]) -> list[UpdateRejection] | None:
    return [msgspec.structs.replace(r, failure=wire_failure(r.failure))
            for r in rejections] or None

