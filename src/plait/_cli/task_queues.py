"""``plait task-queue describe NAME``: the workers polling a queue and its backlog, the first
thing to look at when workflows seem stuck. Mounted on the ``plait`` command by
:mod:`plait.cli`."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import msgspec
import typer

from plait._cli.runner import Output, with_client
from plait.protocol.responses import TaskQueueDescription

__all__ = ["task_queue_app"]

task_queue_app = typer.Typer(help="See who polls a task queue and what waits on it.",
                             no_args_is_help=True)

Address = Annotated[str, typer.Option(
    envvar="PLAIT_ADDRESS", help="The plait server (env PLAIT_ADDRESS).")]
Namespace = Annotated[str, typer.Option(help="Namespace of the task queue.")]
OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="text or json.")]


@task_queue_app.command("describe")
def describe(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The task queue.")],
    address: Address = "http://127.0.0.1:7233",
    namespace: Namespace = "default",
    output: OutputOpt = Output.text,
) -> None:
    """The workers polling the queue and the tasks waiting on it."""
    queue = with_client(address, namespace, lambda c: c.describe_task_queue(name))
    if output == Output.json:
        typer.echo(json.dumps(msgspec.to_builtins(queue)))
        return
    typer.echo("\n".join(_lines(queue)))


def _lines(queue: TaskQueueDescription) -> list[str]:
    now = dt.datetime.now(dt.UTC).timestamp()
    lines = [f"task queue {queue.task_queue}: {len(queue.pollers)} poller(s)"]
    for p in queue.pollers:
        types = ", ".join([*p.workflow_types, *p.activity_types]) or "-"
        lines.append(f"  {p.identity}  session {p.session_id}  runs {types}")
    if not queue.backlog:
        lines.append("backlog: none")
    for b in queue.backlog:
        lines.append(f"backlog: {b.count} {b.kind} task(s), the oldest ready for "
                     f"{max(0.0, now - b.oldest_ready_time):.0f} s")
    if queue.backlog and not queue.pollers:
        lines.append("warning: no worker polls this queue; its tasks wait until one starts")
    return lines
