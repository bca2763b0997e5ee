"""``plait workflow pause|unpause|reset|delete`` and ``plait activity pause|unpause|reset``:
operating running workflows (API.md "Operating running workflows"). Mounted on the ``plait``
command by :mod:`plait.cli`."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

import typer

from plait._cli.runner import fail, with_client
from plait.client import Client, WorkflowHandle

__all__ = ["activity_app", "add_workflow_commands"]

activity_app = typer.Typer(help="Pause, unpause or reset one activity of a running workflow.",
                           no_args_is_help=True)

Address = Annotated[str, typer.Option(
    envvar="PLAIT_ADDRESS", help="The plait server (env PLAIT_ADDRESS).")]
Namespace = Annotated[str, typer.Option(help="Namespace of the workflow.")]
WorkflowId = Annotated[str, typer.Argument(metavar="ID", help="The workflow id.")]
RunId = Annotated[str | None, typer.Option(help="A run of the workflow (default: the latest).")]
ActivityId = Annotated[str, typer.Argument(
    metavar="ACTIVITY_ID", help="The activity's id in the run (describe lists them).")]
DEFAULT_ADDRESS = "http://127.0.0.1:7233"


def _on(address: str, namespace: str, workflow_id: str, run_id: str | None,
        act: Callable[[WorkflowHandle], Awaitable[None]]) -> None:
    def go(client: Client) -> Awaitable[None]:
        return act(client.get_workflow_handle(workflow_id, run_id=run_id))
    with_client(address, namespace, go)


def pause(
    workflow_id: WorkflowId,
    reason: Annotated[str, typer.Option(help="Why (shown by describe).")] = "",
    run_id: RunId = None,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
) -> None:
    """Pause a running workflow: no workflow task and no new activity attempt is handed out
    until it is unpaused (running attempts finish; timers fire; signals are kept)."""
    _on(address, namespace, workflow_id, run_id, lambda h: h.pause(reason))
    typer.echo(f"paused {workflow_id}")


def unpause(
    workflow_id: WorkflowId,
    run_id: RunId = None,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
) -> None:
    """Let a paused workflow go on."""
    _on(address, namespace, workflow_id, run_id, lambda h: h.unpause())
    typer.echo(f"unpaused {workflow_id}")


class ResetTo(enum.StrEnum):
    first = "first"
    last = "last"


def reset(
    workflow_id: WorkflowId,
    event_id: Annotated[int | None, typer.Option(
        "--event-id", "--event", min=1,
        help="A WORKFLOW_TASK_COMPLETED event (or the first WORKFLOW_TASK_SCHEDULED); "
             "`plait workflow show ID` lists them.")] = None,
    to: Annotated[ResetTo | None, typer.Option(
        help="The first workflow task (start over) or the last completed one.")] = None,
    reason: Annotated[str, typer.Option(help="Why (recorded in both runs).")] = "",
    reapply_signals: Annotated[bool, typer.Option(
        help="Deliver the signals received after the point to the new run again.")] = True,
    run_id: RunId = None,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
) -> None:
    """Reset a workflow to an event: its running run is terminated and a new run replays the
    history up to that point on the current code (the task completed there runs again;
    nothing before it does). Prints the new run's id."""
    if (event_id is None) == (to is None):
        fail("give the reset point as --event-id N or as --to first|last (one of them)")
    point: Literal["first_workflow_task", "last_workflow_task"] | None = None
    if to is not None:
        point = "first_workflow_task" if to is ResetTo.first else "last_workflow_task"
    new_run: list[str] = []

    async def act(h: WorkflowHandle) -> None:
        new_run.append(await h.reset(event_id, to=point, reason=reason,
                                     reapply_signals=reapply_signals))
    _on(address, namespace, workflow_id, run_id, act)
    typer.echo(f"reset {workflow_id}: new run {new_run[0]}")


def delete(
    workflow_id: WorkflowId,
    run_id: RunId = None,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
) -> None:
    """Delete a run with its history, attempt log and visibility rows (a running run is
    terminated first)."""
    _on(address, namespace, workflow_id, run_id, lambda h: h.delete())
    typer.echo(f"deleted {workflow_id}")


def add_workflow_commands(workflow_app: typer.Typer) -> None:
    for command in (pause, unpause, reset, delete):
        workflow_app.command()(command)


@activity_app.command("pause")
def pause_activity(
    workflow_id: WorkflowId,
    activity_id: ActivityId,
    run_id: RunId = None,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
) -> None:
    """No new attempt of the activity starts until it is unpaused (a running one goes on)."""
    _on(address, namespace, workflow_id, run_id, lambda h: h.pause_activity(activity_id))
    typer.echo(f"paused activity {activity_id} of {workflow_id}")


@activity_app.command("unpause")
def unpause_activity(
    workflow_id: WorkflowId,
    activity_id: ActivityId,
    run_id: RunId = None,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
) -> None:
    """Let a paused activity's next attempt start."""
    _on(address, namespace, workflow_id, run_id, lambda h: h.unpause_activity(activity_id))
    typer.echo(f"unpaused activity {activity_id} of {workflow_id}")


@activity_app.command("reset")
def reset_activity(
    workflow_id: WorkflowId,
    activity_id: ActivityId,
    run_id: RunId = None,
    address: Address = DEFAULT_ADDRESS,
    namespace: Namespace = "default",
) -> None:
    """Start the activity's attempt count again at 1, with a new attempt now."""
    _on(address, namespace, workflow_id, run_id, lambda h: h.reset_activity(activity_id))
    typer.echo(f"reset activity {activity_id} of {workflow_id}")
