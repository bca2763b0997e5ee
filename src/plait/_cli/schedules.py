"""``plait schedule ...``: create, list, describe, pause, unpause, trigger, backfill and delete
schedules (API.md "Schedules"). Mounted on the ``plait`` command by :mod:`plait.cli`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Annotated, Any

import typer

from plait._cli import render
from plait._cli.filters import parse_time
from plait._cli.inputs import OrderedCommand, read_inputs
from plait._cli.runner import Output, fail, with_client
from plait.client import Client, ScheduleDescription

__all__ = ["schedule_app"]

schedule_app = typer.Typer(help="Start workflows on a cron or interval schedule.",
                           no_args_is_help=True)

Address = Annotated[str, typer.Option(
    envvar="PLAIT_ADDRESS", help="The plait server (env PLAIT_ADDRESS).")]
Namespace = Annotated[str, typer.Option(help="Namespace of the schedules.")]
OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="text or json.")]
ScheduleId = Annotated[str, typer.Argument(metavar="ID", help="The schedule id.")]
NoteOpt = Annotated[str, typer.Option(help="Why (shown by describe).")]
DEFAULT_ADDRESS = "http://127.0.0.1:7233"
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> dt.timedelta:
    """``90s``, ``5m``, ``1h``, ``1d``."""
    m = _INTERVAL.match(text)
    if not m:
        fail(f"--interval {text!r} is not a duration like 90s, 5m, 1h or 1d")
    return dt.timedelta(seconds=float(m.group(1)) * _UNIT[m.group(2)])


@schedule_app.command(cls=OrderedCommand)
def create(
    ctx: typer.Context,
    schedule_id: ScheduleId,
    workflow_type: Annotated[str, typer.Option("--type", help="The workflow type to start.")],
    task_queue: Annotated[str, typer.Option(help="The task queue its workers poll.")],
    cron: Annotated[str | None, typer.Option(
        help='5 fields ("0 3 * * *"), or 6 with seconds first.')] = None,
    interval: Annotated[str | None, typer.Option(
        help="Every 90s, 5m, 1h, 1d (aligned to the Unix epoch).")] = None,
    timezone: Annotated[str, typer.Option(help="IANA zone the cron is read in.")] = "UTC",
    inputs: Annotated[list[str] | None, typer.Option(
        "--input", "-i", help="One workflow argument as JSON; repeat for each.")] = None,
    overlap: Annotated[str, typer.Option(
        help="skip, buffer_one, buffer_all, cancel_other, terminate_other or allow_all.")
    ] = "skip",
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused.")] = False,
    note: NoteOpt = "",
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
) -> None:
    """Create a schedule."""
    if (cron is None) == (interval is None):
        fail("give exactly one of --cron and --interval")
    args = read_inputs(ctx, inputs, None)
    every = parse_interval(interval) if interval is not None else None
    with_client(address, namespace, lambda c: c.create_schedule(
        schedule_id, workflow_type, *args, task_queue=task_queue, cron=cron, interval=every,
        timezone=timezone, overlap=overlap, paused=paused, note=note))
    typer.echo(f"schedule {schedule_id} created")


@schedule_app.command("list")
def list_(address: Address = DEFAULT_ADDRESS, namespace: Namespace = "default",
          output: OutputOpt = Output.text) -> None:
    """The namespace's schedules."""
    async def go(client: Client) -> list[Any]:
        return [s async for s in client.list_schedules()]
    entries = with_client(address, namespace, go)
    if output is Output.json:
        render.print_json([{**dataclasses.asdict(s), "next_action_time": _iso(
            s.next_action_time)} for s in entries])
        return
    if not entries:
        typer.echo("no schedules")
    for s in entries:
        state = "paused" if s.paused else f"next {_iso(s.next_action_time) or '-'}"
        typer.echo(f"{s.schedule_id}\t{s.workflow_type}\t{state}")


@schedule_app.command()
def describe(schedule_id: ScheduleId, address: Address = DEFAULT_ADDRESS,
             namespace: Namespace = "default", output: OutputOpt = Output.text) -> None:
    """A schedule: its spec, next due times, recent runs, counts."""
    d = with_client(address, namespace,
                    lambda c: c.get_schedule_handle(schedule_id).describe())
    data = _description(d)
    if output is Output.json:
        render.print_json(data)
        return
    for key, value in data.items():
        if isinstance(value, list):
            typer.echo(f"{key}:")
            for item in value:
                typer.echo(f"  {item}")
        else:
            typer.echo(f"{key}: {value}")


@schedule_app.command()
def pause(schedule_id: ScheduleId, note: NoteOpt = "", address: Address = DEFAULT_ADDRESS,
          namespace: Namespace = "default") -> None:
    """Pause (due times that pass are skipped)."""
    with_client(address, namespace, lambda c: c.get_schedule_handle(schedule_id).pause(note))
    typer.echo(f"schedule {schedule_id} paused")


@schedule_app.command()
def unpause(schedule_id: ScheduleId, note: NoteOpt = "", address: Address = DEFAULT_ADDRESS,
            namespace: Namespace = "default") -> None:
    """Unpause."""
    with_client(address, namespace,
                lambda c: c.get_schedule_handle(schedule_id).unpause(note))
    typer.echo(f"schedule {schedule_id} unpaused")


@schedule_app.command()
def trigger(schedule_id: ScheduleId, address: Address = DEFAULT_ADDRESS,
            namespace: Namespace = "default") -> None:
    """Start one run now (also while paused); prints its workflow id."""
    started = with_client(address, namespace,
                          lambda c: c.get_schedule_handle(schedule_id).trigger())
    _print_started(schedule_id, started)


@schedule_app.command()
def backfill(
    schedule_id: ScheduleId,
    start: Annotated[str, typer.Option(help="From (inclusive): 2026-11-22T10:00 or 3d ago.")],
    end: Annotated[str, typer.Option(help="To (exclusive), as --start.")],
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
) -> None:
    """Act on every due time in [start, end), in order, now."""
    t0, t1 = parse_time(start, "--start"), parse_time(end, "--end")
    started = with_client(address, namespace,
                          lambda c: c.get_schedule_handle(schedule_id).backfill(t0, t1))
    _print_started(schedule_id, started)


@schedule_app.command()
def delete(schedule_id: ScheduleId, address: Address = DEFAULT_ADDRESS,
           namespace: Namespace = "default") -> None:
    """Delete a schedule (runs it started are not touched)."""
    with_client(address, namespace, lambda c: c.get_schedule_handle(schedule_id).delete())
    typer.echo(f"schedule {schedule_id} deleted")


def _print_started(schedule_id: str, started: list[Any]) -> None:
    if not started:
        typer.echo(f"schedule {schedule_id}: nothing started (overlap policy)")
    for a in started:
        typer.echo(f"started {a.workflow_id} (run {a.run_id})")


def _iso(t: dt.datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t is not None else None


def _description(d: ScheduleDescription) -> dict[str, Any]:
    return {
        "schedule_id": d.schedule_id, "workflow_type": d.workflow_type,
        "task_queue": d.task_queue,
        "spec": d.cron if d.cron else f"every {d.interval.total_seconds():g}s"
        if d.interval else "-",
        "timezone": d.timezone, "overlap": d.overlap, "paused": d.paused, "note": d.note,
        "next_action_times": [_iso(t) for t in d.next_action_times],
        "recent_actions": [f"{_iso(a.scheduled_time)} {a.workflow_id} {a.run_id}"
                           for a in d.recent_actions],
        "running_workflow_ids": d.running_workflow_ids, "num_actions": d.num_actions,
        "num_skipped": d.num_skipped, "remaining_actions": d.remaining_actions,
    }
