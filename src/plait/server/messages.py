"""Messages into a running workflow: signals and cancellation requests.

Both are inputs like any other: written to the history (or buffered while a workflow task is
out) in the transaction that acknowledges them, so an accepted signal is never lost.
"""

from __future__ import annotations

from typing import Any

from plait.protocol.events import EventType
from plait.server.errors import BadRequest, Conflict
from plait.server.run import Ctx, Run

__all__ = ["request_cancel", "signal", "signal_event"]


def _running(run: Run, what: str) -> None:
    if not run.running:
        raise Conflict(f"cannot {what} workflow {run.wid!r}: it is {run.row.status}",
                       code="workflow_not_running")


def signal_event(req: dict[str, Any]) -> dict[str, Any]:
    name = req.get("signal_name")
    if not isinstance(name, str) or not name:
        raise BadRequest("signal_name is required")
    payloads = req.get("input") or []
    if not isinstance(payloads, list):
        raise BadRequest("input must be a list of payloads")
    return {"signal_name": name, "input": payloads, "header": req.get("header") or {},
            "identity": req.get("identity", "")}


def signal(ctx: Ctx, run: Run, req: dict[str, Any]) -> dict[str, Any]:
    _running(run, "signal")
    run.add_input([(EventType.WORKFLOW_EXECUTION_SIGNALED, signal_event(req))])
    run.save()
    return {"workflow_id": run.wid, "run_id": run.rid}


def request_cancel(ctx: Ctx, run: Run, req: dict[str, Any]) -> dict[str, Any]:
    _running(run, "cancel")
    if not run.state.cancel_requested:
        run.state.cancel_requested = True
        run.add_input([(EventType.WORKFLOW_EXECUTION_CANCEL_REQUESTED, {
            "reason": str(req.get("reason") or ""), "identity": req.get("identity", "")})])
        run.save()
    return {"workflow_id": run.wid, "run_id": run.rid}
