"""The replay check: commands the code produced against the command events of history.

Matching compares each command's kind, name/type and id at its position, not arguments
(arguments may legitimately change in new code). Deprecated patch markers may be present on
one side only. Both sides are the wire's own types: :mod:`plait.protocol.commands` structs
against :mod:`plait.protocol.history` event structs.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

from plait.protocol import attributes as a
from plait.protocol import commands as c
from plait.protocol import history as h
from plait.protocol.commands import Command
from plait.protocol.events import COMMAND_EVENTS
from plait.protocol.history import EVENT_STRUCTS, Event

__all__ = ["Issued", "mismatch", "patch_id", "user_location"]

_LOCAL = "local_activity"
"""The marker name of a local activity's outcome (:mod:`plait.runtime.local_activities`)."""
_PLAIT_DIR = __file__.rsplit("/runtime/", 1)[0]
_ASYNCIO_DIR = asyncio.__file__.rsplit("/", 1)[0]


class Issued(NamedTuple):
    """A command, and the line of workflow code that issued it (for non-determinism
    reports; empty when no single line did, as for closing the run)."""

    command: Command
    where: str


def mismatch(produced: list[Issued], recorded: list[Event]) -> str | None:
    """Why the produced commands do not reproduce the recorded events (None if they do)."""
    produced, recorded = _without_deprecated_patches(produced, recorded)
    for i in range(max(len(produced), len(recorded))):
        issued = produced[i] if i < len(produced) else None
        ev = recorded[i] if i < len(recorded) else None
        if ev is None:
            assert issued is not None
            after = recorded[-1].event_id if recorded else "?"
            return (f"the workflow code produced {_describe(issued.command)}{_at(issued)}, "
                    f"but the history has no event for it (after event {after})")
        if issued is None:
            return (f"history event {ev.event_id} {_type(ev)} was not produced by "
                    "the workflow code")
        if not _matches(issued.command, ev):
            return (f"history event {ev.event_id} {_type(ev)} ({_describe_event(ev)}) "
                    f"does not match what the code produced: "
                    f"{_describe(issued.command)}{_at(issued)}")
    return None


def user_location() -> str:
    """file:line of the workflow code that issued a command (for non-determinism reports)."""
    frame = sys._getframe(2)
    while frame is not None:
        fname = frame.f_code.co_filename
        if not fname.startswith(_PLAIT_DIR) and not fname.startswith(_ASYNCIO_DIR):
            return f"{fname}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return "?"


def _type(ev: Event) -> str:
    return str(ev.__struct_config__.tag)


def _same_marker(cmd: c.RecordMarkerCommand, ev: h.MarkerRecordedEvent) -> bool:
    """Same name, and the same patch id, or the same local activity (id and type)."""
    details, mine = ev.attributes.details or {}, cmd.details or {}
    return ev.attributes.marker_name == cmd.marker_name and all(
        details.get(k) == mine.get(k) for k in ("patch_id", "activity_id", "activity_type"))


_SAME: dict[type[Command], tuple[type[Event], Callable[[Any, Any], bool]]] = {
    c.ScheduleActivityCommand: (h.ActivityTaskScheduledEvent, lambda cmd, ev: (
        ev.attributes.activity_type == cmd.activity_type
        and ev.attributes.activity_id == cmd.activity_id)),
    c.StartTimerCommand: (h.TimerStartedEvent,
                          lambda cmd, ev: ev.attributes.timer_id == cmd.timer_id),
    c.CancelTimerCommand: (h.TimerCanceledEvent,
                           lambda cmd, ev: ev.attributes.timer_id == cmd.timer_id),
    c.RequestCancelActivityCommand: (h.ActivityTaskCancelRequestedEvent,
                                     lambda cmd, ev: ev.attributes.activity_id == cmd.activity_id),
    c.UpsertSearchAttributesCommand: (h.UpsertSearchAttributesEvent, lambda cmd, ev: True),
    c.AcceptUpdateCommand: (h.WorkflowExecutionUpdateAcceptedEvent,
                            lambda cmd, ev: ev.attributes.update_id == cmd.update_id),
    c.CompleteUpdateCommand: (h.WorkflowExecutionUpdateCompletedEvent,
                              lambda cmd, ev: ev.attributes.update_id == cmd.update_id),
    c.RecordMarkerCommand: (h.MarkerRecordedEvent, _same_marker),
    c.StartChildWorkflowCommand: (h.StartChildWorkflowExecutionInitiatedEvent, lambda cmd, ev: (
        ev.attributes.workflow_type == cmd.workflow_type and ev.attributes.seq == cmd.seq)),
    c.SignalExternalCommand: (h.SignalExternalWorkflowExecutionInitiatedEvent, lambda cmd, ev: (
        ev.attributes.signal_name == cmd.signal_name and ev.attributes.seq == cmd.seq)),
    c.CancelExternalCommand: (h.RequestCancelExternalWorkflowExecutionInitiatedEvent,
                              lambda cmd, ev: ev.attributes.seq == cmd.seq),
    c.ContinueAsNewCommand: (h.WorkflowExecutionContinuedAsNewEvent, lambda cmd, ev: True),
    c.CompleteWorkflowCommand: (h.WorkflowExecutionCompletedEvent, lambda cmd, ev: True),
    c.FailWorkflowCommand: (h.WorkflowExecutionFailedEvent, lambda cmd, ev: True),
    c.CancelWorkflowCommand: (h.WorkflowExecutionCanceledEvent, lambda cmd, ev: True),
}
"""The event each command writes, and what must agree between the two."""

assert {EVENT_STRUCTS[e] for e in COMMAND_EVENTS} == {ev for ev, _ in _SAME.values()}


def _matches(cmd: Command, ev: Event) -> bool:
    event_type, same = _SAME[type(cmd)]
    return type(ev) is event_type and same(cmd, ev)


def patch_id(event: Event) -> str | None:
    if type(event) is not h.MarkerRecordedEvent or event.attributes.marker_name != "patch":
        return None
    pid = (event.attributes.details or {}).get("patch_id")
    return str(pid) if pid is not None else None


def _cmd_patch(cmd: Command) -> tuple[str, bool] | None:
    if type(cmd) is not c.RecordMarkerCommand or cmd.marker_name != "patch":
        return None
    details = cmd.details or {}
    return str(details.get("patch_id")), bool(details.get("deprecated"))


def _without_deprecated_patches(produced: list[Issued], recorded: list[Event]
                                ) -> tuple[list[Issued], list[Event]]:
    """A deprecated patch's marker may be present on one side only: code that dropped
    ``deprecate_patch`` still replays histories that recorded it, and the reverse."""
    made = {p[0] for i in produced if (p := _cmd_patch(i.command))}
    seen = {pid for e in recorded if (pid := patch_id(e))}

    def keep_event(e: Event) -> bool:
        pid = patch_id(e)  # None unless a patch marker
        if pid is None:
            return True
        assert isinstance(e, h.MarkerRecordedEvent)
        deprecated = bool((e.attributes.details or {}).get("deprecated"))
        return not deprecated or pid in made

    def keep_cmd(i: Issued) -> bool:
        p = _cmd_patch(i.command)
        return p is None or not p[1] or p[0] in seen

    return [i for i in produced if keep_cmd(i)], [e for e in recorded if keep_event(e)]


def _at(issued: Issued) -> str:
    """Where the code issued a command; closing a run has no single line to point at."""
    return f" at {issued.where}" if issued.where else ""


def _kind(cmd: Command) -> str:
    return str(cmd.__struct_config__.tag)


def _describe(cmd: Command) -> str:
    if isinstance(cmd, c.ScheduleActivityCommand):
        return f"schedule activity {cmd.activity_type!r} (id {cmd.activity_id})"
    if isinstance(cmd, (c.StartTimerCommand, c.CancelTimerCommand)):
        return f"{_kind(cmd).replace('_', ' ')} (id {cmd.timer_id})"
    if isinstance(cmd, c.StartChildWorkflowCommand):
        return f"start child workflow {cmd.workflow_type!r} (seq {cmd.seq})"
    if isinstance(cmd, c.SignalExternalCommand):
        return f"signal {cmd.signal_name!r} to workflow {cmd.workflow_id!r}"
    if isinstance(cmd, c.RecordMarkerCommand) and cmd.marker_name == "patch":
        return f"record patch {(cmd.details or {}).get('patch_id')!r}"
    if isinstance(cmd, c.RecordMarkerCommand) and cmd.marker_name == _LOCAL:
        d = cmd.details or {}
        return f"local activity {d.get('activity_type')!r} (id {d.get('activity_id')})"
    return _kind(cmd).replace("_", " ")


def _describe_event(ev: Event) -> str:
    """What identifies the event's command, in the words of :func:`_describe`."""
    attrs = ev.attributes
    if isinstance(ev, h.ActivityTaskScheduledEvent):
        return f"activity {ev.attributes.activity_type!r}, id {ev.attributes.activity_id}"
    if isinstance(ev, (h.TimerStartedEvent, h.TimerFiredEvent, h.TimerCanceledEvent)):
        return f"timer id {ev.attributes.timer_id}"
    if isinstance(ev, h.StartChildWorkflowExecutionInitiatedEvent):
        return f"child workflow {ev.attributes.workflow_type!r}, seq {ev.attributes.seq}"
    if isinstance(ev, h.SignalExternalWorkflowExecutionInitiatedEvent):
        return f"signal {ev.attributes.signal_name!r}, seq {ev.attributes.seq}"
    if (pid := patch_id(ev)) is not None:
        return f"patch {pid!r}"
    if isinstance(ev, h.MarkerRecordedEvent) and ev.attributes.marker_name == _LOCAL:
        d = ev.attributes.details or {}
        return f"local activity {d.get('activity_type')!r}, id {d.get('activity_id')}"
    if isinstance(attrs, (a.WorkflowExecutionUpdateAcceptedAttributes,
                          a.WorkflowExecutionUpdateCompletedAttributes)):
        return f"update id {attrs.update_id}"
    if type(ev) in _CLOSE_EVENTS:
        return "workflow close"
    return _type(ev).lower().replace("_", " ")


_CLOSE_EVENTS = frozenset(_SAME[cmd][0] for cmd in c.CLOSING)
