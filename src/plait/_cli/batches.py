"""``plait batch ...``: terminate, cancel, signal, reset, pause or unpause every workflow a list
filter matches, as a durable job on the server; and describe, list or cancel those jobs
(API.md "Operating running workflows"). Mounted on the ``plait`` command by :mod:`plait.cli`.

An operation first counts the runs it would act on and says how many, then asks (``--yes``
answers for the user; without a terminal to ask on, it refuses rather than guess), starts the
job and follows it with a progress bar to its summary. Interrupting the CLI does not stop the
job: ``plait batch cancel ID`` does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from collections.abc import Callable, Iterable
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from plait._cli import render
from plait._cli.filters import (
    AfterFilter,
    BeforeFilter,
    Filters,
    SearchFilter,
    StatusFilter,
    TypeFilter,
    parse_filters,
)
from plait._cli.inputs import InputFiles, OrderedCommand, read_inputs
from plait._cli.runner import Output, fail, with_client
from plait.client import BatchDescription, BatchHandle, Client
from plait.protocol.batches import MAX_RATE, acted_on_status
from plait.protocol.enums import BatchOperation

__all__ = ["Rate", "Yes", "batch_app", "filters_instead_of_id", "operate"]

batch_app = typer.Typer(
    help="Terminate, cancel, signal, reset, pause or unpause every workflow a filter matches, "
    "as a durable job the server runs at a limited rate; describe, list and cancel such jobs.",
    no_args_is_help=True,
)

Address = Annotated[
    str, typer.Option(envvar="PLAIT_ADDRESS", help="The plait server (env PLAIT_ADDRESS).")
]
Namespace = Annotated[str, typer.Option(help="Namespace of the workflows.")]
OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="text or json.")]
BatchId = Annotated[str, typer.Argument(metavar="ID", help="The batch job's id.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
Reason = Annotated[str, typer.Option(help="Why; recorded in each run's history.")]
Rate = Annotated[
    float | None,
    typer.Option(
        "--rate",
        min=0.001,
        max=MAX_RATE,
        help="Runs acted on per second at most (default 50), so live traffic keeps flowing.",
    ),
]
DEFAULT_ADDRESS = "http://127.0.0.1:7233"
POLL = 0.25
"""Seconds between two looks at a running job's progress."""
PAST = {
    "terminate": "terminated",
    "cancel": "cancel requested for",
    "signal": "signalled",
    "reset": "reset",
    "pause": "paused",
    "unpause": "unpaused",
}


def operate(
    operation: BatchOperation,
    filters: Filters,
    yes: bool,
    address: str,
    namespace: str,
    **options: Any,
) -> None:
    """Count, confirm, start, follow: the shape of every batch operation."""
    try:
        status = acted_on_status(operation, filters.status)
    except ValueError as e:
        fail(str(e))
    kwargs = filters.as_kwargs()
    kwargs["status"] = status

    async def count(client: Client) -> int:
        return await client.count_workflows(**kwargs)

    n = with_client(address, namespace, count)
    typer.echo(f"{n} workflow{'s' if n != 1 else ''} match{'es' if n == 1 else ''}")
    if n == 0:
        typer.echo("nothing to do")
        return
    _confirm(f"{operation} {n} workflow{'s' if n != 1 else ''}?", yes)

    async def run(client: Client) -> BatchDescription:
        job = await client.start_batch(operation, **kwargs, **options)
        typer.echo(f"batch {job.id} started (plait batch describe {job.id})")
        return await _follow(job)

    done = with_client(address, namespace, run)
    if done.state != "completed":
        fail(f"batch {done.batch_id} ended {done.state}: {_summary(done)}")
    typer.echo(_summary(done))


def filters_instead_of_id(
    workflow_id: str | None,
    run_id: str | None,
    workflow_type: str | None,
    status: str | None,
    search_attribute: list[str] | None,
    started_after: str | None,
    started_before: str | None,
) -> Filters | None:
    """For ``plait workflow terminate|cancel|signal``: the filters of their batch form (no
    workflow ID, filters instead), or None for the single-workflow form. Neither, or both,
    is one ``error:`` line: without an ID and a filter, the batch form would reach every
    running workflow, which nobody should do by leaving an argument out."""
    given = any((workflow_type, status, search_attribute, started_after, started_before))
    if workflow_id is not None:
        if given:
            fail("give a workflow ID or filters (--type, --status, ...), not both")
        return None
    if run_id:
        fail("--run-id needs a workflow ID")
    if not given:
        fail(
            "give a workflow ID, or filters (--type, --status, --search-attribute, "
            "--started-after, --started-before) to act on every workflow they match"
        )
    return _filters(workflow_type, status, search_attribute, started_after, started_before)


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        fail("no terminal to ask for confirmation on; pass --yes to go ahead")
    if not typer.confirm(question, default=False):
        fail("aborted; nothing was changed")


async def _follow(job: BatchHandle) -> BatchDescription:
    """Show the job's progress until it has ended (a bar on a terminal, nothing otherwise)."""
    d = await job.describe()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=render.console(), transient=False) as bar:
        task = bar.add_task(d.operation, total=d.total, failed=0)
        while True:
            bar.update(task, completed=d.done + d.failed, total=max(d.total, 1), failed=d.failed)
            if not d.running:
                return d
            await asyncio.sleep(POLL)
            d = await job.describe()


def _summary(d: BatchDescription) -> str:
    line = f"{PAST[d.operation]} {d.done} of {d.total} workflows, {d.failed} failed ({d.state})"
    if d.last_error:
        line += f"; last failure: {d.last_error}"
    return line


def _filters(
    workflow_type: str | None,
    status: str | None,
    search_attribute: list[str] | None,
    started_after: str | None,
    started_before: str | None,
) -> Filters:
    return parse_filters(workflow_type, status, search_attribute, started_after, started_before)


def _with_reason(
    operation: BatchOperation, doc: str, default_reason: str
) -> Callable[..., None]:
    """The command of an operation whose runs record a reason (terminate, pause): the
    filters, the reason, the rate. One body for both, so their options cannot drift."""

    def command(
        workflow_type: TypeFilter = None,
        status: StatusFilter = None,
        search_attribute: SearchFilter = None,
        started_after: AfterFilter = None,
        started_before: BeforeFilter = None,
        reason: Reason = default_reason,
        rate: Rate = None,
        yes: Yes = False,
        address: Address = DEFAULT_ADDRESS,
        namespace: Namespace = "default",
    ) -> None:
        operate(
            operation,
            _filters(workflow_type, status, search_attribute, started_after, started_before),
            yes,
            address,
            namespace,
            reason=reason,
            rate_per_second=rate,
        )

    command.__doc__ = doc
    return command


batch_app.command("terminate")(_with_reason(
    BatchOperation.TERMINATE, "Terminate every running workflow the filters match.",
    "terminated from the CLI"))
batch_app.command("pause")(_with_reason(
    BatchOperation.PAUSE,
    "Pause every running workflow the filters match (no new task or attempt starts).",
    "paused from the CLI"))


@batch_app.command()
def unpause(
    workflow_type: TypeFilter = None,
    status: StatusFilter = None,
    search_attribute: SearchFilter = None,
    started_after: AfterFilter = None,
    started_before: BeforeFilter = None,
    rate: Rate = None,
    yes: Yes = False,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
) -> None:
    """Let every paused workflow the filters match go on."""
    operate(
        BatchOperation.UNPAUSE,
        _filters(workflow_type, status, search_attribute, started_after, started_before),
        yes,
        address,
        namespace,
        rate_per_second=rate,
    )


@batch_app.command()
def cancel(
    batch_id: Annotated[
        str | None,
        typer.Argument(
            metavar="[ID]", help="Stop this batch job instead (runs it acted on stay so)."
        ),
    ] = None,
    workflow_type: TypeFilter = None,
    status: StatusFilter = None,
    search_attribute: SearchFilter = None,
    started_after: AfterFilter = None,
    started_before: BeforeFilter = None,
    reason: Reason = "",
    rate: Rate = None,
    yes: Yes = False,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
) -> None:
    """Ask every running workflow the filters match to cancel; or, given a batch job's ID,
    stop that job."""
    if batch_id is not None:
        if any((workflow_type, status, search_attribute, started_after, started_before)):
            fail(
                "give either a batch job's ID (to stop it) or filters (to cancel workflows), "
                "not both"
            )
        d = with_client(address, namespace, lambda c: c.get_batch_handle(batch_id).cancel())
        typer.echo(f"batch {batch_id} is {d.state}: {_summary(d)}")
        return
    operate(
        BatchOperation.CANCEL,
        _filters(workflow_type, status, search_attribute, started_after, started_before),
        yes,
        address,
        namespace,
        reason=reason,
        rate_per_second=rate,
    )


@batch_app.command(cls=OrderedCommand)
def signal(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The signal's name.")],
    inputs: Annotated[
        list[str] | None,
        typer.Option(
            "--input", "-i", help="One signal argument as JSON; repeat for each argument."
        ),
    ] = None,
    input_files: InputFiles = None,
    workflow_type: TypeFilter = None,
    status: StatusFilter = None,
    search_attribute: SearchFilter = None,
    started_after: AfterFilter = None,
    started_before: BeforeFilter = None,
    rate: Rate = None,
    yes: Yes = False,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
) -> None:
    """Send a signal to every running workflow the filters match."""
    args = read_inputs(ctx, inputs, input_files)
    operate(
        BatchOperation.SIGNAL,
        _filters(workflow_type, status, search_attribute, started_after, started_before),
        yes,
        address,
        namespace,
        signal=name,
        args=args,
        rate_per_second=rate,
    )


@batch_app.command()
def reset(
    event: Annotated[
        int | None,
        typer.Option(min=1, help="Reset each run to this WORKFLOW_TASK_COMPLETED event."),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            metavar="first|last", help="Reset each run to its first or last workflow task."
        ),
    ] = None,
    reapply_signals: Annotated[
        bool, typer.Option(help="Deliver again the signals that came after the reset point.")
    ] = True,
    workflow_type: TypeFilter = None,
    status: StatusFilter = None,
    search_attribute: SearchFilter = None,
    started_after: AfterFilter = None,
    started_before: BeforeFilter = None,
    reason: Reason = "reset from the CLI",
    rate: Rate = None,
    yes: Yes = False,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
) -> None:
    """Reset every workflow the filters match to an event (a new run of each)."""
    if (event is None) == (to is None):
        fail("give one of --event N and --to first|last")
    if to is not None and to not in ("first", "last"):
        fail(f"--to must be first or last, not {to!r}")
    point: int | str = event if event is not None else f"{to}_workflow_task"
    operate(
        BatchOperation.RESET,
        _filters(workflow_type, status, search_attribute, started_after, started_before),
        yes,
        address,
        namespace,
        reason=reason,
        reset_to=point,
        reapply_signals=reapply_signals,
        rate_per_second=rate,
    )


@batch_app.command()
def describe(
    batch_id: BatchId,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
    output: OutputOpt = Output.text,
) -> None:
    """A batch job: its operation, filter, state and progress."""
    d = with_client(address, namespace, lambda c: c.get_batch_handle(batch_id).describe())
    if output is Output.json:
        render.print_json(dataclasses.asdict(d))
        return
    f = [f"{k}={v}" for k, v in (("type", d.workflow_type), ("status", d.status)) if v]
    f += [f"{k}={json.dumps(v)}" for k, v in d.search_attributes.items()]
    f += [
        f"{k}={render.fmt_time(v)}"
        for k, v in (("started-after", d.started_after), ("started-before", d.started_before))
        if v
    ]
    rows = [
        ("batch", d.batch_id),
        ("operation", d.operation + (f" {d.signal}" if d.signal else "")),
        ("state", d.state),
        ("progress", f"{d.done} done, {d.failed} failed of {d.total}"),
        ("filter", " ".join(f)),
        ("reason", d.reason),
        ("rate", f"{d.rate_per_second:g}/s"),
        ("started", render.fmt_time(d.start_time)),
        ("closed", render.fmt_time(d.close_time) if d.close_time else ""),
        ("last failure", d.last_error or ""),
    ]
    for key, value in rows:
        if value:
            typer.echo(f"{key + ':':<14}{value}")


@batch_app.command("list")
def list_(
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
    output: OutputOpt = Output.text,
) -> None:
    """The namespace's batch jobs, newest first."""

    async def go(client: Client) -> list[BatchDescription]:
        return [d async for d in client.list_batches()]

    jobs = with_client(address, namespace, go)
    if output is Output.json:
        render.print_json([dataclasses.asdict(d) for d in jobs])
    elif jobs:
        render.console().print(_table(jobs))
    else:
        typer.echo("no batch jobs")


def _table(jobs: Iterable[BatchDescription]) -> Table:
    table = Table(
        "BATCH", "OPERATION", "STATE", "DONE", "FAILED", "TOTAL", "STARTED", "CLOSED", box=None
    )
    for d in jobs:
        table.add_row(
            d.batch_id,
            d.operation + (f" {d.signal}" if d.signal else ""),
            d.state,
            str(d.done),
            str(d.failed),
            str(d.total),
            render.fmt_time(d.start_time),
            render.fmt_time(d.close_time),
        )
    return table
