"""The ``plait`` command: run the server, and work with workflows from a shell.

Every failure ends as one ``error: ...`` line on stderr and a non-zero exit code; scripts can
read ``--output json`` from the read commands.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import json
import os
import sys
from typing import Annotated, Any

import msgspec
import typer

from plait import _tls, errors
from plait._cli import render
from plait._cli.apikeys import apikey_app
from plait._cli.batches import Rate, Yes, batch_app, filters_instead_of_id, operate
from plait._cli.filters import (
    AfterFilter,
    BeforeFilter,
    Filters,
    SearchFilter,
    StatusFilter,
    TypeFilter,
    parse_filters,
    parse_search_attribute,
)
from plait._cli.inputs import InputFiles, OrderedCommand, read_inputs
from plait._cli.limits import (
    KeyRateLimit,
    MaxHistoryBytes,
    MaxHistoryEvents,
    MaxPayload,
    MaxPendingActivities,
    MaxPendingChildren,
    MaxSignals,
    run_limits,
)
from plait._cli.namespaces import namespace_app
from plait._cli.operations import activity_app, add_workflow_commands
from plait._cli.runner import Output, fail, with_client
from plait._cli.schedules import schedule_app
from plait._cli.task_queues import task_queue_app
from plait.client import Client, WorkflowExecution, WorkflowExecutionDescription, WorkflowHandle
from plait.history import History
from plait.protocol.enums import BatchOperation
from plait.runtime.stack import STACK_TRACE_QUERY
from plait.server.logs import LogFormat
from plait.server.logs import configure as configure_logging

__all__ = ["app", "main"]

app = typer.Typer(help="plait: a durable workflow engine for Python.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
workflow_app = typer.Typer(help="Start, list, count, inspect, signal, query, wait for, "
                           "cancel, terminate, pause and delete workflows.",
                           no_args_is_help=True)
app.add_typer(workflow_app, name="workflow")
app.add_typer(activity_app, name="activity")
ratelimit_app = typer.Typer(help="Limit how fast activities start, across every server and "
                                 "worker.", no_args_is_help=True)
app.add_typer(ratelimit_app, name="ratelimit")
app.add_typer(schedule_app, name="schedule")
app.add_typer(task_queue_app, name="task-queue")
app.add_typer(namespace_app, name="namespace")
app.add_typer(apikey_app, name="apikey")
app.add_typer(batch_app, name="batch")


# Options every workflow command shares.
Address = Annotated[str, typer.Option(
    envvar="PLAIT_ADDRESS", help="The plait server (env PLAIT_ADDRESS).")]
Namespace = Annotated[str, typer.Option(help="Namespace of the workflows.")]
OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="text or json.")]
WorkflowId = Annotated[str, typer.Argument(metavar="ID", help="The workflow id.")]
RunId = Annotated[str | None, typer.Option(help="A run of the workflow (default: the latest).")]
CodecOpt = Annotated[str | None, typer.Option(
    "--codec", metavar="MODULE:FACTORY",
    help="Decode payloads with this payload codec (plait.codec): a PayloadCodec, or a "
         "function that returns one; MODULE is imported from the current directory.")]
DEFAULT_ADDRESS = "http://127.0.0.1:7233"
LIST_PAGE = 500  # runs per request of `workflow list`; the server allows up to 1,000


@app.callback()
def _root(
    api_key: Annotated[str | None, typer.Option(
        envvar="PLAIT_API_KEY", help="An API key for a server with --auth, for every "
                                     "command (env PLAIT_API_KEY).")] = None,
    tls_ca: Annotated[str | None, typer.Option(
        envvar=_tls.ENV_CA, metavar="FILE",
        help="Trust the server certificates this CA (PEM) signed; implies https:// for an "
             "address without a scheme (env PLAIT_TLS_CA).")] = None,
    tls_cert: Annotated[str | None, typer.Option(
        envvar=_tls.ENV_CERT, metavar="FILE",
        help="A client certificate (PEM), for a server with --tls-client-ca (env "
             "PLAIT_TLS_CERT).")] = None,
    tls_key: Annotated[str | None, typer.Option(
        envvar=_tls.ENV_KEY, metavar="FILE",
        help="The client certificate's key (PEM) (env PLAIT_TLS_KEY).")] = None,
) -> None:
    """plait: a durable workflow engine for Python."""
    # Every command builds its client from the environment: put the options there.
    for name, value in (("PLAIT_API_KEY", api_key), (_tls.ENV_CA, tls_ca),
                        (_tls.ENV_CERT, tls_cert), (_tls.ENV_KEY, tls_key)):
        if value:
            os.environ[name] = value


def _run(coro: object) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(coro)  # type: ignore[arg-type]


class LogLevel(enum.StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


@app.command()
def server(
    db: Annotated[str, typer.Option(envvar="PLAIT_DB", help="sqlite:///PATH (default "
                                    "./plait.db), sqlite:////ABSOLUTE/PATH or "
                                    "postgresql://... (env PLAIT_DB).")] = "sqlite:///./plait.db",
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: a free one).")] = 7233,
    log_level: Annotated[LogLevel, typer.Option(case_sensitive=False,
                                                help="What the server logs.")] = LogLevel.info,
    log_format: Annotated[LogFormat, typer.Option(
        case_sensitive=False, help="text, or json: one JSON object a line (time, level, "
                                   "logger, message and the record's context).")
    ] = LogFormat.text,
    time_skipping: Annotated[bool, typer.Option(
        "--time-skipping", hidden=True,
        help="Tests only, on a fresh database: durable time jumps to the next timer while a "
             "client waits for a result and nothing runs (WorkflowEnvironment."
             "start_time_skipping as a process, e.g. for workers in other languages). The "
             "skipped offset is not saved: a restart puts time back.")] = False,
    auth: Annotated[bool, typer.Option(
        "--auth", envvar="PLAIT_AUTH",
        help="Require an API key on every route but /health and the console's files (env "
             "PLAIT_AUTH=1); make the "
             "first admin key with `plait apikey create --db ...`.")] = False,
    insecure: Annotated[bool, typer.Option(
        "--insecure", help="Without --auth, listen on a non-loopback --host anyway.")] = False,
    public_metrics: Annotated[bool, typer.Option(
        "--public-metrics", help="With --auth, serve /metrics without a key.")] = False,
    tls_cert: Annotated[str | None, typer.Option(
        envvar="PLAIT_SERVER_TLS_CERT", metavar="FILE",
        help="Serve HTTPS with this certificate chain (PEM; env PLAIT_SERVER_TLS_CERT).")
    ] = None,
    tls_key: Annotated[str | None, typer.Option(
        envvar="PLAIT_SERVER_TLS_KEY", metavar="FILE",
        help="The certificate's unencrypted private key (PEM; env PLAIT_SERVER_TLS_KEY).")
    ] = None,
    tls_client_ca: Annotated[str | None, typer.Option(
        envvar="PLAIT_SERVER_TLS_CLIENT_CA", metavar="FILE",
        help="Mutual TLS: refuse clients without a certificate this CA (PEM) signed (env "
             "PLAIT_SERVER_TLS_CLIENT_CA).")] = None,
    max_payload: MaxPayload = None,
    max_history_events: MaxHistoryEvents = 50_000,
    max_history_bytes: MaxHistoryBytes = 50 * 1024 * 1024,
    max_pending_activities: MaxPendingActivities = 2_000,
    max_pending_children: MaxPendingChildren = 2_000,
    max_signals_per_run: MaxSignals = 10_000,
    key_rate_limit: KeyRateLimit = None,
) -> None:
    """Run the orchestrator: HTTP API under /api/v1, web UI at /, metrics at /metrics."""
    from plait.server.main import StartupError, serve
    from plait.server.tls import TlsFiles
    from plait.store import StoreUnavailable

    limits = run_limits(max_history_events=max_history_events,
                        max_history_bytes=max_history_bytes,
                        max_pending_activities=max_pending_activities,
                        max_pending_children=max_pending_children,
                        max_signals=max_signals_per_run)
    configure_logging(log_level, log_format, sys.stderr)
    if (tls_cert is None) != (tls_key is None):
        fail("--tls-cert and --tls-key go together: give both to serve HTTPS")
    if tls_client_ca is not None and tls_cert is None:
        fail("--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS first)")
    tls = TlsFiles(tls_cert, tls_key, tls_client_ca) if tls_cert and tls_key else None
    try:
        _run(serve(db, host, port, time_skipping=time_skipping, auth=auth, insecure=insecure,
                   public_metrics=public_metrics, tls=tls, limits=limits,
                   max_payload=max_payload, key_rate_limit=key_rate_limit))
    except (StartupError, StoreUnavailable) as e:
        fail(str(e))


# -- workflow commands ---------------------------------------------------------------------
@workflow_app.command(cls=OrderedCommand)
def start(
    ctx: typer.Context,
    workflow_type: Annotated[str, typer.Argument(metavar="TYPE", help="The workflow type.")],
    workflow_id: Annotated[str, typer.Option("--id", help="The workflow id (unique while "
                                             "it runs).")],
    task_queue: Annotated[str, typer.Option(help="The task queue its workers poll.")],
    inputs: Annotated[list[str] | None, typer.Option(
        "--input", "-i", help="One workflow argument as JSON; repeat for each argument.")] = None,
    input_files: InputFiles = None,
    search_attribute: Annotated[list[str] | None, typer.Option(
        "--search-attribute", "-a", metavar="KEY=VALUE",
        help="A search attribute to start with (VALUE is JSON if it parses, else text); "
             "repeat for each.")] = None,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
    output: OutputOpt = Output.text,
) -> None:
    """Start a workflow; prints its workflow id and run id."""
    args = read_inputs(ctx, inputs, input_files)
    attrs = dict(parse_search_attribute(a) for a in search_attribute or []) or None

    async def go(client: Client) -> WorkflowHandle:
        return await client.start_workflow(workflow_type, *args, id=workflow_id,
                                           task_queue=task_queue, search_attributes=attrs)

    handle = with_client(address, namespace, go)
    if output is Output.json:
        render.print_json({"workflow_id": handle.id, "run_id": handle.run_id})
    else:
        typer.echo(f"workflow_id: {handle.id}\nrun_id: {handle.run_id}")




@workflow_app.command("list")
def list_(
    workflow_type: TypeFilter = None,
    status: StatusFilter = None,
    search_attribute: SearchFilter = None,
    started_after: AfterFilter = None,
    started_before: BeforeFilter = None,
    limit: Annotated[int | None, typer.Option(
        min=1, help="At most this many, newest first; says how many match in all when there "
                    "are more (default: every one).")] = None,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
    output: OutputOpt = Output.text,
) -> None:
    """List workflow runs, newest first."""
    filters = parse_filters(workflow_type, status, search_attribute, started_after,
                            started_before)
    rows, total = with_client(address, namespace, lambda c: _list_page(c, filters, limit))
    if output is Output.json:
        render.print_json([render.execution_json(w) for w in rows])
    elif rows:
        render.console().print(render.workflows_table(rows))
    else:
        typer.echo("no workflows")
    if total is not None:
        # With --output json the note goes to stderr: stdout stays one JSON array.
        typer.echo(f"{len(rows)} of {total} workflows shown (--limit {limit}); "
                   "raise --limit to see more", err=output is Output.json)


async def _list_page(client: Client, filters: Filters,
                     limit: int | None) -> tuple[list[WorkflowExecution], int | None]:
    """The runs, page by page from the server, up to ``limit``; and when more match, how
    many in all (a list cut short without saying so reads as "that is all of them")."""
    rows: list[WorkflowExecution] = []
    page_size = min(limit + 1, LIST_PAGE) if limit is not None else LIST_PAGE
    async for w in client.list_workflows(**filters.as_kwargs(), page_size=page_size):
        if limit is not None and len(rows) == limit:
            # Runs may close or be deleted meanwhile; at least limit + 1 matched.
            return rows, max(await client.count_workflows(**filters.as_kwargs()), limit + 1)
        rows.append(w)
    return rows, None


@workflow_app.command()
def count(
    workflow_type: TypeFilter = None,
    status: StatusFilter = None,
    search_attribute: SearchFilter = None,
    started_after: AfterFilter = None,
    started_before: BeforeFilter = None,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
    output: OutputOpt = Output.text,
) -> None:
    """Count workflow runs (all of them, or those the filters match)."""
    filters = parse_filters(workflow_type, status, search_attribute, started_after,
                            started_before)

    async def go(client: Client) -> int:
        return await client.count_workflows(**filters.as_kwargs())

    n = with_client(address, namespace, go)
    if output is Output.json:
        render.print_json({"count": n}, indent=None)
    else:
        typer.echo(str(n))


@workflow_app.command()
def describe(
    workflow_id: WorkflowId,
    run_id: RunId = None,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
    output: OutputOpt = Output.text,
    codec: CodecOpt = None,
) -> None:
    """Status, times, pending activities, every activity attempt, and why it is stuck."""
    wire = with_client(address, namespace,
                       lambda c: c.api.describe_workflow(workflow_id, run_id), codec=codec)
    desc = WorkflowExecutionDescription.from_description(wire)
    if output is Output.json:
        render.print_json(render.describe_json(desc, wire.result))
        return
    con = render.console()
    for part in render.describe_view(desc, wire.result):
        con.print(part)
        con.print()


@workflow_app.command()
def show(
    workflow_id: WorkflowId,
    run_id: RunId = None,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
    output: OutputOpt = Output.text,
    codec: CodecOpt = None,
) -> None:
    """The event history; with --output json, the file format that plait replay reads
    (with --codec, its payloads decoded)."""
    async def go(client: Client) -> History:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        if client.codec is None:
            return history
        from plait._payloads import decode_history

        return await decode_history(client.codec, history)

    history = with_client(address, namespace, go, codec=codec)
    if output is Output.json:
        sys.stdout.write(history.to_json() + "\n")
    else:
        render.console().print(render.history_table(history))


@workflow_app.command()
def result(
    workflow_id: WorkflowId,
    run_id: RunId = None,
    timeout: Annotated[float | None, typer.Option(
        min=0, help="Give up after this many seconds (default: wait as long as it runs).")] = None,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
    output: OutputOpt = Output.text,
    codec: CodecOpt = None,
) -> None:
    """Wait for the workflow to close; print its result as JSON, or its failure and exit 1."""
    wait = dt.timedelta(seconds=timeout) if timeout is not None else None

    async def go(client: Client) -> Any:
        handle = client.get_workflow_handle(workflow_id, run_id=run_id)
        try:
            return await handle.result(timeout=wait)
        except errors.WorkflowFailureError as e:
            how = e.message.removeprefix("workflow ")
            fail(f"workflow {workflow_id} {how}: {e.cause}" if e.cause else f"{e}")
        except TimeoutError:
            fail(f"workflow {workflow_id} is still running after {timeout:g}s")

    value = with_client(address, namespace, go, codec=codec)
    render.print_json(value, indent=2 if output is Output.text else None)


@workflow_app.command(cls=OrderedCommand)
def signal(
    ctx: typer.Context,
    workflow_id: Annotated[str, typer.Argument(
        metavar="ID", help="The workflow id (with filters instead: leave it out).")],
    name: Annotated[str | None, typer.Argument(metavar="NAME", help="The signal's name.")
                    ] = None,
    inputs: Annotated[list[str] | None, typer.Option(
        "--input", "-i", help="One signal argument as JSON; repeat for each argument.")] = None,
    input_files: InputFiles = None,
    run_id: RunId = None,
    workflow_type: TypeFilter = None,
    status: StatusFilter = None,
    search_attribute: SearchFilter = None,
    started_after: AfterFilter = None,
    started_before: BeforeFilter = None,
    yes: Yes = False,
    rate: Rate = None,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
) -> None:
    """Send a signal to a running workflow; it is recorded before this returns. With filters
    instead of an ID (``signal NAME --type T``): to every running workflow they match, as a
    batch job (``plait batch signal``)."""
    wid: str | None = workflow_id
    if name is None:  # one argument: the name, when filters say which workflows
        if not any((workflow_type, status, search_attribute, started_after, started_before)):
            fail("missing argument NAME (the signal's name): plait workflow signal ID NAME")
        wid, name = None, workflow_id
    filters = filters_instead_of_id(wid, run_id, workflow_type, status, search_attribute,
                                    started_after, started_before)
    args = read_inputs(ctx, inputs, input_files)
    if filters is not None:
        operate(BatchOperation.SIGNAL, filters, yes, address, namespace, signal=name,
                args=args, rate_per_second=rate)
        return
    assert wid is not None
    with_client(address, namespace,
                lambda c: c.get_workflow_handle(wid, run_id=run_id).signal(name, *args))
    typer.echo(f"signalled {wid}: {name}")


@workflow_app.command(cls=OrderedCommand)
def query(
    ctx: typer.Context,
    workflow_id: WorkflowId,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The query's name.")],
    inputs: Annotated[list[str] | None, typer.Option(
        "--input", "-i", help="One query argument as JSON; repeat for each argument.")] = None,
    input_files: InputFiles = None,
    run_id: RunId = None,
    as_of_event: Annotated[int | None, typer.Option(
        min=1, help="Answer from the state right after this event of the history.")] = None,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
    output: OutputOpt = Output.text,
) -> None:
    """Ask a workflow for its state through a query handler; prints the answer as JSON."""
    args = read_inputs(ctx, inputs, input_files)
    value = with_client(
        address, namespace,
        lambda c: c.get_workflow_handle(workflow_id, run_id=run_id).query(
            name, *args, as_of_event=as_of_event))
    render.print_json(value, indent=2 if output is Output.text else None)


OptionalId = Annotated[str | None, typer.Argument(
    metavar="[ID]", help="The workflow id; or leave it out and give filters to act on every "
                         "running workflow they match, as a batch job (plait batch).")]


@workflow_app.command()
def stack(
    workflow_id: WorkflowId,
    run_id: RunId = None,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
) -> None:
    """Show where each of a workflow's coroutines waits (the __stack_trace query): a
    ``file:line in function`` a line, innermost last, a blank line between coroutines."""
    text = with_client(
        address, namespace,
        lambda c: c.get_workflow_handle(workflow_id, run_id=run_id).query(
            STACK_TRACE_QUERY, result_type=str))
    typer.echo(text or f"workflow {workflow_id} waits on nothing (it has no running code)")


@workflow_app.command()
def cancel(
    workflow_id: OptionalId = None,
    reason: Annotated[str, typer.Option(help="Why; recorded in the history.")] = "",
    run_id: RunId = None,
    workflow_type: TypeFilter = None,
    status: StatusFilter = None,
    search_attribute: SearchFilter = None,
    started_after: AfterFilter = None,
    started_before: BeforeFilter = None,
    yes: Yes = False,
    rate: Rate = None,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
) -> None:
    """Ask a workflow to cancel; it may clean up (compensate) before it ends as CANCELED."""
    filters = filters_instead_of_id(workflow_id, run_id, workflow_type, status,
                                    search_attribute, started_after, started_before)
    if filters is not None:
        operate(BatchOperation.CANCEL, filters, yes, address, namespace, reason=reason,
                rate_per_second=rate)
        return
    assert workflow_id is not None
    with_client(address, namespace,
                lambda c: c.get_workflow_handle(workflow_id, run_id=run_id).cancel(reason))
    typer.echo(f"cancel requested for {workflow_id}")


@workflow_app.command()
def terminate(
    workflow_id: OptionalId = None,
    reason: Annotated[str, typer.Option(help="Why; recorded in the history.")] = "terminated "
                                                                                 "from the CLI",
    run_id: RunId = None,
    workflow_type: TypeFilter = None,
    status: StatusFilter = None,
    search_attribute: SearchFilter = None,
    started_after: AfterFilter = None,
    started_before: BeforeFilter = None,
    yes: Yes = False,
    rate: Rate = None,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
) -> None:
    """Stop a running workflow at once; no workflow code runs after this."""
    filters = filters_instead_of_id(workflow_id, run_id, workflow_type, status,
                                    search_attribute, started_after, started_before)
    if filters is not None:
        operate(BatchOperation.TERMINATE, filters, yes, address, namespace, reason=reason,
                rate_per_second=rate)
        return
    assert workflow_id is not None
    with_client(address, namespace,
                lambda c: c.get_workflow_handle(workflow_id, run_id=run_id).terminate(reason))
    typer.echo(f"terminated {workflow_id}")


add_workflow_commands(workflow_app)  # pause, unpause, delete


# -- rate limits ---------------------------------------------------------------------------
Queue = Annotated[str, typer.Argument(metavar="TASK_QUEUE", help="The task queue.")]
ActivityType = Annotated[str | None, typer.Option(
    help="Only this activity type (default: every type without a limit of its own).")]


@ratelimit_app.command("set")
def ratelimit_set(
    task_queue: Queue,
    per_second: Annotated[float, typer.Option(help="Starts per second.")],
    activity_type: ActivityType = None,
    burst: Annotated[float, typer.Option(help="Starts allowed at once.")] = 1.0,
    per_key: Annotated[bool, typer.Option(help="One bucket per rate_limit_key.")] = False,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
) -> None:
    """Set (or replace) a limit on activity starts."""
    with_client(address, namespace, lambda c: c.set_rate_limit(
        task_queue, activity_type, per_second=per_second, burst=burst, per_key=per_key))
    typer.echo(f"rate limit set on {task_queue}"
               + (f" for {activity_type}" if activity_type else "")
               + f": {per_second:g}/s, burst {burst:g}" + (", per key" if per_key else ""))


@ratelimit_app.command("list")
def ratelimit_list(
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
    output: OutputOpt = Output.text,
) -> None:
    """The namespace's rate limits."""
    limits = with_client(address, namespace, lambda c: c.api.list_rate_limits())
    if output == Output.json:
        typer.echo(json.dumps(msgspec.to_builtins(limits)))
        return
    if not limits:
        typer.echo("no rate limits")
    for lim in limits:
        typer.echo(f"{lim.task_queue}\t{lim.activity_type or '*'}\t"
                   f"{lim.per_second:g}/s\tburst {lim.burst:g}"
                   + ("\tper key" if lim.per_key else ""))


@ratelimit_app.command("delete")
def ratelimit_delete(
    task_queue: Queue,
    activity_type: ActivityType = None,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
) -> None:
    """Remove a limit."""
    with_client(address, namespace, lambda c: c.delete_rate_limit(task_queue, activity_type))
    typer.echo(f"rate limit removed from {task_queue}"
               + (f" for {activity_type}" if activity_type else ""))


# -- codec server --------------------------------------------------------------------------
@app.command("codec-server")
def codec_server(
    codec: Annotated[str, typer.Option(
        "--codec", metavar="MODULE:FACTORY",
        help="The payload codec (plait.codec): a PayloadCodec, or a function that returns "
             "one; MODULE is imported from the current directory.")],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: a free one).")] = 8081,
    cors_origin: Annotated[str | None, typer.Option(
        metavar="URL", help="The one web origin (the plait UI's, e.g. "
                            "http://127.0.0.1:7233) allowed to call it from a browser.")
    ] = None,
    insecure: Annotated[bool, typer.Option(
        "--insecure", help="Listen on a non-loopback --host anyway (anyone who reaches it "
                           "can have payloads decoded).")] = False,
) -> None:
    """Serve POST /encode and POST /decode ({"payloads": [...]}) with your payload codec,
    for the web UI and other tools; the plait server itself never decodes payloads."""
    from plait._cli.codec_server import check_listen, serve_codecs
    from plait._cli.loading import SetupError, load_codec

    try:
        check_listen(host, port, insecure=insecure)
        payload_codec = load_codec(codec)
    except SetupError as e:
        fail(str(e), code=2)
    try:
        _run(serve_codecs(payload_codec, host, port, cors_origin))
    except OSError as e:
        fail(f"cannot listen on {host}:{port}: {e.strerror or e}")


# -- replay --------------------------------------------------------------------------------
@app.command(help=(
    "Check workflow code against recorded histories: exit 0 if it replays every one.\n\n"
    "Each history that no longer replays is reported on stderr in one line naming the "
    "event that diverges. Exit code 1 if any failed to replay, 2 if the check could not "
    "run (bad --workflows, no files). Put it in CI, with histories exported from "
    "production."))
def replay(
    paths: Annotated[list[str], typer.Argument(
        metavar="HISTORY", help="History files (as `plait workflow show ID --output json` "
        "writes them), directories (every *.json under them), or - for standard input.")],
    workflows: Annotated[list[str], typer.Option(
        "--workflows", "-w", metavar="MODULE:CLASS", help="A workflow class to replay with; "
        "repeat for each. MODULE is imported from the current directory (or give "
        "path/to/file.py:CLASS).")],
) -> None:
    """``plait replay``; its help is the decorator's (rich would keep this one's breaks)."""
    from plait._cli import replay as replaying

    try:
        classes = replaying.load_workflows(workflows)
        files = replaying.history_files(paths)
    except replaying.SetupError as e:
        fail(str(e), code=2)

    def report(o: replaying.ReplayOutcome) -> None:
        if o.ok:
            typer.echo(f"ok: {o.path}: {o.message}")
        else:
            typer.echo(f"error: {o.path}: {' '.join(o.message.split())}", err=True)

    outcomes = replaying.replay_files(files, classes, report)
    failed = sum(not o.ok for o in outcomes)
    if len(outcomes) > 1:
        typer.echo(f"{len(outcomes) - failed} of {len(outcomes)} histories replay"
                   + (f"; {failed} failed" if failed else ""))
    if failed:
        raise typer.Exit(1)


def _usage_error(e: Exception) -> int:
    """A usage error (bad or missing option) as one ``error:`` line; its exit code."""
    if type(e).__name__ == "NoArgsIsHelpError":
        typer.echo(e.format_message())  # type: ignore[attr-defined]
        return 0
    message = " ".join(e.format_message().split())  # type: ignore[attr-defined]
    # typer coerces through pydantic, whose messages for a bad choice start "Value error, ".
    message = message.replace(": Value error, ", ": ")
    typer.echo(f"error: {message} (see --help)", err=True)
    return int(getattr(e, "exit_code", 2))


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        code = 1
    except Exception as e:
        if not hasattr(e, "format_message") or os.environ.get("PLAIT_DEBUG"):
            raise
        code = _usage_error(e)
    sys.exit(code if isinstance(code, int) else 0)
