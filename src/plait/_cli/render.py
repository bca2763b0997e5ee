"""Text and JSON renderings of workflows, descriptions and histories for the CLI.

Text goes through rich tables; JSON is plain ``json`` with ISO 8601 times, so scripts can
rely on it. A workflow that cannot make progress is rendered loudly (red), never hidden.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import sys
from collections.abc import Iterable
from typing import Any

import msgspec
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from plait.client import WorkflowExecution, WorkflowExecutionDescription
from plait.history import History, HistoryEvent
from plait.protocol.enums import WorkflowStatus
from plait.protocol.failure import Failure
from plait.protocol.responses import WorkflowOutcome

__all__ = [
    "console",
    "describe_json",
    "describe_view",
    "execution_json",
    "failure_text",
    "history_table",
    "print_json",
    "workflows_table",
]

STATUS_STYLES = {"RUNNING": "cyan", "COMPLETED": "green", "FAILED": "bold red",
                 "TERMINATED": "red", "CANCELED": "yellow", "TIMED_OUT": "bold red",
                 "CONTINUED_AS_NEW": "blue"}
OUTCOME_STYLES = {"completed": "green", "failed": "red", "timed_out": "yellow"}
MAX_VALUE = 100  # characters of a payload shown in a table cell


def console() -> Console:
    """A console that does not squeeze tables to 80 columns when output is piped."""
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(width=160 if piped else None, highlight=False)


# -- JSON -----------------------------------------------------------------------------------------
def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"cannot render {type(value).__name__} as JSON")


def print_json(value: Any, *, indent: int | None = 2) -> None:
    sys.stdout.write(json.dumps(value, indent=indent, default=_json_default,
                                ensure_ascii=False) + "\n")


def execution_json(w: WorkflowExecution) -> dict[str, Any]:
    return {f.name: getattr(w, f.name) for f in dataclasses.fields(WorkflowExecution)}


def describe_json(d: WorkflowExecutionDescription,
                  outcome: WorkflowOutcome | None) -> dict[str, Any]:
    """The description, and ``result``: how the run ended (the attributes of its closing
    event and its status, as the server keeps them), or null while it runs."""
    out = {k: v for k, v in dataclasses.asdict(d).items() if k != "raw"}
    out["result"] = None if outcome is None else {
        k: v for k, v in msgspec.to_builtins(outcome).items() if v is not None}
    return out


# -- small formatters -----------------------------------------------------------------------------
def fmt_time(t: dt.datetime | None) -> str:
    if t is None:
        return "-"
    return t.astimezone().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def fmt_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def fmt_span(seconds: float) -> str:
    """A timer's length as a person writes it: ``90s``, ``1h30m``, ``2d``, ``250ms``.

    Not :func:`fmt_duration`'s fixed ``0h00m00s`` form: a 2-day timer reads ``2d``, not
    ``48h00m00s`` (nor ``duration=172800.0``, as ``show`` printed it before)."""
    if seconds < 120:
        return f"{seconds * 1000:.0f}ms" if 0 < seconds < 1 else f"{seconds:g}s"
    rest = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _status(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))


def _short(value: Any, limit: int = MAX_VALUE) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _payload(p: Any) -> Any:
    """The JSON value inside a payload envelope (or the envelope when it is encoded)."""
    if isinstance(p, dict) and p.get("encoding") == "json" and "data" in p:
        return p["data"]
    return p


def failure_text(f: Failure | None) -> str:
    """``Type: message`` for a failure and each of its causes, on one line."""
    parts = []
    while f:
        kind, ftype = f.get("kind", "application"), f.get("type") or ""
        label = ftype if kind == "application" else f"{kind} ({ftype})" if ftype else kind
        if kind == "timeout" and f.get("timeout_type"):
            label = f"timeout ({f['timeout_type']})"
        parts.append(f"{label}: {f.get('message', '')}" if label else f.get("message", ""))
        f = f.get("cause")
    return " <- caused by ".join(parts)


# -- list -----------------------------------------------------------------------------------------
def workflows_table(rows: Iterable[WorkflowExecution]) -> Table:
    table = Table(box=None, header_style="bold")
    for name in ("WORKFLOW ID", "TYPE", "STATUS", "TASK QUEUE", "STARTED", "DURATION", "RUN ID"):
        table.add_column(name, no_wrap=name != "WORKFLOW ID")
    now = dt.datetime.now(dt.UTC)
    for w in rows:
        took = ((w.close_time or now) - w.start_time).total_seconds()
        table.add_row(w.workflow_id, w.workflow_type, _status(w.status), w.task_queue,
                      fmt_time(w.start_time), fmt_duration(took), w.run_id)
    return table


# -- describe -------------------------------------------------------------------------------------
def describe_view(d: WorkflowExecutionDescription,
                  outcome: WorkflowOutcome | None) -> list[RenderableType]:
    parts: list[RenderableType] = [_summary(d)]
    ending = _outcome(outcome)
    if ending is not None:
        parts.append(ending)
    if d.last_task_failure is not None:
        parts.append(_task_failure(d))
    if d.pending_activities:
        parts.append(_pending(d))
    if d.attempts:
        parts.append(_attempts(d))
    return parts


def _summary(d: WorkflowExecutionDescription) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    status = _status(d.status)
    if d.last_task_failure is not None and d.status == "RUNNING":
        status.append("  STUCK: its workflow task keeps failing (see below)", style="bold red")
    if d.paused:
        status.append("  PAUSED" + (f": {d.pause_reason}" if d.pause_reason else ""),
                      style="bold yellow")
    end = d.close_time or dt.datetime.now(dt.UTC)
    took = fmt_duration((end - d.start_time).total_seconds())
    rows: list[tuple[str, str | Text]] = [
        ("Workflow ID", d.workflow_id), ("Run ID", d.run_id), ("Type", d.workflow_type),
        ("Status", status), ("Task queue", d.task_queue), ("Started", fmt_time(d.start_time)),
        ("Closed", fmt_time(d.close_time)),
        ("Duration" if d.close_time else "Running for", took),
        ("History events", str(d.history_length) + (
            f" ({d.history_size_bytes:,} bytes)" if d.history_size_bytes else "")),
    ]
    if d.reset_from_run_id:
        rows.append(("Reset from", f"{d.reset_from_run_id} at event {d.reset_event_id}"
                     + (f": {d.reset_reason}" if d.reset_reason else "")))
    if d.reset_to_run_id:
        rows.append(("Reset to", d.reset_to_run_id))
    if d.search_attributes:
        rows.append(("Search attributes", _short(d.search_attributes)))
    if d.memo:
        rows.append(("Memo", _short(d.memo)))
    for key, value in rows:
        grid.add_row(key, value)
    return grid


def _outcome(r: WorkflowOutcome | None) -> RenderableType | None:
    if r is None:
        return None
    if r.status is WorkflowStatus.COMPLETED:
        return Text.assemble(("Result: ", "bold"), _short(_payload(r.result), 2000))
    if r.failure is not None:
        return Text.assemble(("Failure: ", "bold red"),
                             failure_text(msgspec.to_builtins(r.failure)))
    if r.reason:
        return Text.assemble(("Reason: ", "bold"), r.reason)
    return None


def _task_failure(d: WorkflowExecutionDescription) -> Panel:
    f = d.last_task_failure
    assert f is not None
    running = d.status == "RUNNING"
    note = ("retried with backoff until the code is fixed and a worker runs it again"
            if running else f"before the workflow closed as {d.status}")
    head = Text.assemble((f"{f.type + ': ' if f.type else ''}{f.message}\n", "bold"),
                         f"failed {f.attempts} time(s); {note}\n")
    title = "Workflow task failing" if running else "Last workflow task failure"
    return Panel(Group(head, Text(f.traceback.rstrip())), expand=False,
                 border_style="red" if running else "yellow",
                 title=f"[bold]{title}[/]", title_align="left")


def _pending(d: WorkflowExecutionDescription) -> Table:
    table = Table(title="Pending activities", title_justify="left", header_style="bold")
    for name in ("ACTIVITY", "ID", "STATE", "ATTEMPT", "NEXT ATTEMPT", "LAST FAILURE"):
        table.add_column(name, overflow="fold")
    for p in d.pending_activities:
        failing = p.last_failure is not None
        table.add_row(p.activity_type, p.activity_id, p.state + (" (paused)" if p.paused else ""),
                      Text(str(p.attempt), style="bold red" if failing else ""),
                      fmt_time(p.next_attempt_time) if p.next_attempt_time else "-",
                      Text(failure_text(p.last_failure) or "-", style="red" if failing else ""))
    return table


def _attempts(d: WorkflowExecutionDescription) -> Table:
    table = Table(title="Activity attempts", title_justify="left", header_style="bold")
    for name in ("ACTIVITY", "ID", "ATTEMPT", "STARTED", "ENDED", "OUTCOME", "FAILURE"):
        table.add_column(name, overflow="fold")
    for a in d.attempts:
        outcome = a.outcome or "running"
        table.add_row(a.activity_type, a.activity_id, str(a.attempt), fmt_time(a.started_at),
                      fmt_time(a.ended_at), Text(outcome, style=OUTCOME_STYLES.get(outcome, "")),
                      failure_text(a.failure) or "")
    return table


# -- history --------------------------------------------------------------------------------------
# The attributes worth a glance, in the order they are shown; the rest is in --output json.
SHOWN = ("workflow_type", "activity_type", "signal_name", "update_name", "update_id",
         "activity_id", "timer_id", "duration", "task_queue", "attempt", "input", "result",
         "failure", "reason", "identity")


def history_table(h: History) -> Table:
    table = Table(box=None, header_style="bold")
    table.add_column("ID", justify="right")
    table.add_column("TIME")
    table.add_column("+ELAPSED", justify="right")
    table.add_column("EVENT", no_wrap=True)
    table.add_column("DETAILS", overflow="fold")
    start = h.events[0].timestamp if h.events else None
    for e in h.events:
        style = "dim" if e.event_type.startswith("WORKFLOW_TASK_") else _event_style(e)
        elapsed = (e.timestamp - start).total_seconds() if start else 0.0
        table.add_row(str(e.event_id), fmt_time(e.timestamp), fmt_duration(elapsed),
                      Text(e.event_type, style=style), event_details(e))
    return table


def _event_style(e: HistoryEvent) -> str:
    if e.event_type.endswith(("_FAILED", "_TIMED_OUT", "_TERMINATED")):
        return "red"
    return "green" if e.event_type.endswith("_COMPLETED") else ""


def event_details(e: HistoryEvent) -> str:
    parts = []
    for key in SHOWN:
        value = e.attributes.get(key)
        if value is None or value == [] or value == "" or (key == "attempt" and value == 1):
            continue
        if key == "failure":
            parts.append(f"failure={failure_text(value)}")
        elif key == "duration" and isinstance(value, (int, float)):
            parts.append(f"duration={fmt_span(value)}")
        elif key in ("input", "result"):
            data = [_payload(v) for v in value] if isinstance(value, list) else _payload(value)
            parts.append(f"{key}={_short(data)}")
        else:
            parts.append(f"{key}={value}")
    return " ".join(parts)
