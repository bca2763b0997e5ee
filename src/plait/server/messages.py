"""Messages into a running workflow: signals and cancellation requests.

Both are inputs like any other: written to the history (or buffered while a workflow task is
out) in the transaction that acknowledges them, so an accepted signal is never lost.
"""

from __future__ import annotations

from plait.protocol.common import RunRef
from plait.protocol.events import EventType
from plait.protocol.requests import SignalRequest
from plait.server.errors import Conflict
from plait.server.limits import accept_signal
from plait.server.run import Ctx, Run
from plait.store.history import EventAttributes

__all__ = ["request_cancel", "signal", "signal_event"]


def _running(run: Run, what: str) -> None:
    if not run.running:
        raise Conflict(f"cannot {what} workflow {run.wid!r}: it is {run.row.status}",
                       code="workflow_not_running")


def signal_event(req: SignalRequest) -> EventAttributes:
    """The attributes of the signal's history event."""
    return {"signal_name": req.signal_name, "input": req.input or [],
            "header": req.header or {}, "identity": req.identity or ""}


def signal(ctx: Ctx, run: Run, req: SignalRequest) -> RunRef:
    _running(run, "signal")
    accept_signal(run)
    run.add_input([(EventType.WORKFLOW_EXECUTION_SIGNALED, signal_event(req))])
    run.save()
    return RunRef(workflow_id=run.wid, run_id=run.rid)


def request_cancel(ctx: Ctx, run: Run, reason: str, identity: str = "") -> RunRef:
    _running(run, "cancel")
    if not run.state.cancel_requested:
        run.state.cancel_requested = True
        run.add_input([(EventType.WORKFLOW_EXECUTION_CANCEL_REQUESTED, {
            "reason": reason, "identity": identity})])
        run.save()
    return RunRef(workflow_id=run.wid, run_id=run.rid)
