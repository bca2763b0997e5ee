"""The replay check: commands the code produced against the command events of history.

Matching compares each command's kind, name/type and id at its position, not arguments
(arguments may legitimately change in new code). Deprecated patch markers may be present on
one side only.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from plait.protocol.events import CLOSE_COMMANDS, COMMAND_EVENTS, CommandKind, EventType

__all__ = ["mismatch", "patch_id", "user_location"]

_PLAIT_DIR = __file__.rsplit("/runtime/", 1)[0]
_ASYNCIO_DIR = asyncio.__file__.rsplit("/", 1)[0]


def mismatch(produced: list[dict[str, Any]], recorded: list[dict[str, Any]]) -> str | None:
    """Why the produced commands do not reproduce the recorded events (None if they do)."""
    produced, recorded = _without_deprecated_patches(produced, recorded)
    for i in range(max(len(produced), len(recorded))):
        cmd = produced[i] if i < len(produced) else None
        ev = recorded[i] if i < len(recorded) else None
        if ev is None:
            assert cmd is not None
            after = recorded[-1]["event_id"] if recorded else "?"
            return (f"the workflow code produced {_describe(cmd)}{_at(cmd)}, "
                    f"but the history has no event for it (after event {after})")
        if cmd is None:
            return (f"history event {ev['event_id']} {ev['event_type']} was not produced by "
                    "the workflow code")
        if not _matches(cmd, ev):
            return (f"history event {ev['event_id']} {ev['event_type']} ({_describe_event(ev)}) "
                    f"does not match what the code produced: {_describe(cmd)}{_at(cmd)}")
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


def _matches(cmd: dict[str, Any], ev: dict[str, Any]) -> bool:
    kind = COMMAND_EVENTS.get(EventType(ev["event_type"]))
    if kind is None or kind.value != cmd["kind"]:
        return False
    attrs = ev.get("attributes") or {}
    if kind == CommandKind.SCHEDULE_ACTIVITY:
        return bool(attrs.get("activity_type") == cmd["activity_type"]
                    and str(attrs.get("activity_id")) == cmd["activity_id"])
    if kind in (CommandKind.START_TIMER, CommandKind.CANCEL_TIMER):
        return bool(str(attrs.get("timer_id")) == cmd["timer_id"])
    if kind == CommandKind.REQUEST_CANCEL_ACTIVITY:
        return bool(str(attrs.get("activity_id")) == cmd["activity_id"])
    if kind == CommandKind.UPSERT_SEARCH_ATTRIBUTES:
        return True
    if kind in (CommandKind.ACCEPT_UPDATE, CommandKind.COMPLETE_UPDATE):
        return bool(str(attrs.get("update_id")) == cmd["update_id"])
    if kind == CommandKind.RECORD_MARKER:
        details = attrs.get("details") or {}
        return bool(attrs.get("marker_name") == cmd["marker_name"]
                    and details.get("patch_id") == cmd["details"].get("patch_id"))
    if kind == CommandKind.START_CHILD_WORKFLOW:
        return bool(attrs.get("workflow_type") == cmd["workflow_type"]
                    and str(attrs.get("seq")) == cmd["seq"])
    if kind == CommandKind.SIGNAL_EXTERNAL:
        return bool(attrs.get("signal_name") == cmd["signal_name"]
                    and str(attrs.get("seq")) == cmd["seq"])
    if kind == CommandKind.CANCEL_EXTERNAL:
        return bool(str(attrs.get("seq")) == cmd["seq"])
    return True


def patch_id(event: dict[str, Any]) -> str | None:
    if event.get("event_type") != EventType.MARKER_RECORDED.value:
        return None
    attrs = event.get("attributes") or {}
    if attrs.get("marker_name") != "patch":
        return None
    pid = (attrs.get("details") or {}).get("patch_id")
    return str(pid) if pid is not None else None


def _without_deprecated_patches(produced: list[dict[str, Any]], recorded: list[dict[str, Any]]
                                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A deprecated patch's marker may be present on one side only: code that dropped
    ``deprecate_patch`` still replays histories that recorded it, and the reverse."""
    def cmd_patch(c: dict[str, Any]) -> tuple[str, bool] | None:
        if c["kind"] != CommandKind.RECORD_MARKER.value or c.get("marker_name") != "patch":
            return None
        return str(c["details"].get("patch_id")), bool(c["details"].get("deprecated"))

    made = {p[0] for c in produced if (p := cmd_patch(c))}
    seen = {pid for e in recorded if (pid := patch_id(e))}

    def keep_event(e: dict[str, Any]) -> bool:
        pid = patch_id(e)  # None unless a patch marker, whose details are a dict
        if pid is None:
            return True
        deprecated = bool(e["attributes"]["details"].get("deprecated"))
        return not deprecated or pid in made

    def keep_cmd(c: dict[str, Any]) -> bool:
        p = cmd_patch(c)
        return p is None or not p[1] or p[0] in seen

    return [c for c in produced if keep_cmd(c)], [e for e in recorded if keep_event(e)]


def _at(cmd: dict[str, Any]) -> str:
    """Where the code issued a command; closing a run has no single line to point at."""
    where = cmd.get("_where")
    return f" at {where}" if where else ""


def _describe(cmd: dict[str, Any]) -> str:
    kind = cmd["kind"]
    if kind == CommandKind.SCHEDULE_ACTIVITY.value:
        return f"schedule activity {cmd['activity_type']!r} (id {cmd['activity_id']})"
    if kind in (CommandKind.START_TIMER.value, CommandKind.CANCEL_TIMER.value):
        return f"{kind.replace('_', ' ')} (id {cmd['timer_id']})"
    if kind == CommandKind.START_CHILD_WORKFLOW.value:
        return f"start child workflow {cmd['workflow_type']!r} (seq {cmd['seq']})"
    if kind == CommandKind.SIGNAL_EXTERNAL.value:
        return f"signal {cmd['signal_name']!r} to workflow {cmd.get('workflow_id')!r}"
    if kind == CommandKind.RECORD_MARKER.value and cmd.get("marker_name") == "patch":
        return f"record patch {cmd['details'].get('patch_id')!r}"
    return str(kind).replace("_", " ")


def _describe_event(ev: dict[str, Any]) -> str:
    """What identifies the event's command, in the words of :func:`_describe`."""
    attrs = ev.get("attributes") or {}
    etype = ev["event_type"]
    if etype == EventType.ACTIVITY_TASK_SCHEDULED.value:
        return f"activity {attrs.get('activity_type')!r}, id {attrs.get('activity_id')}"
    if "timer_id" in attrs:
        return f"timer id {attrs['timer_id']}"
    if etype == EventType.START_CHILD_WORKFLOW_EXECUTION_INITIATED.value:
        return f"child workflow {attrs.get('workflow_type')!r}, seq {attrs.get('seq')}"
    if etype == EventType.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED.value:
        return f"signal {attrs.get('signal_name')!r}, seq {attrs.get('seq')}"
    if (pid := patch_id(ev)) is not None:
        return f"patch {pid!r}"
    if "update_id" in attrs:
        return f"update id {attrs['update_id']}"
    if etype in _CLOSE_EVENTS:
        return "workflow close"
    return str(etype).lower().replace("_", " ")


_CLOSE_EVENTS = {e.value for e, kind in COMMAND_EVENTS.items() if kind.value in CLOSE_COMMANDS}
