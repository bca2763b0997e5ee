"""Updates: request/response into a running workflow, recorded once accepted.

An update goes requested (kept in the run's state, delivered in the next workflow task) →
accepted (``WORKFLOW_EXECUTION_UPDATE_ACCEPTED``, after the worker's validator passed) or
rejected (no event) → completed (``WORKFLOW_EXECUTION_UPDATE_COMPLETED`` with the result or
error). The update id makes a request idempotent and its outcome fetchable later; updates
still open when the run closes fail with a named error.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from plait.protocol.commands import AcceptUpdateCommand, CompleteUpdateCommand
from plait.protocol.completions import UpdateRejection
from plait.protocol.events import EventType
from plait.protocol.jsoncodec import plain
from plait.protocol.requests import UpdateRequest
from plait.protocol.tasks import UpdateRequested
from plait.server.answers import UpdateAnswer
from plait.server.errors import BadRequest, Conflict, NotFound
from plait.server.run import Ctx, Run
from plait.store.base import Txn
from plait.store.run_state import RunState, UpdateEntry

__all__ = ["accept", "close_pending", "complete", "outcome", "reject", "request",
           "requested", "wait_outcome"]

FINAL = {"completed", "rejected", "failed"}
RECHECK = 0.05


def request(ctx: Ctx, run: Run, req: UpdateRequest) -> UpdateAnswer:
    uid = req.update_id
    ups = run.state.updates
    if uid in ups:  # the same update again: its current state, never a second run
        return outcome(run.row.state, uid)
    if not run.running:
        raise Conflict(f"cannot update workflow {run.wid!r}: it is {run.row.status}",
                       code="workflow_not_running")
    ups[uid] = UpdateEntry(req.update_name, "requested", req.input or [], req.header or {})
    if not run.wt_out():
        run.ensure_wt()
    run.save()
    return outcome(run.row.state, uid)


def requested(state: RunState) -> list[UpdateRequested]:
    """What a workflow task delivers: the updates not yet accepted or rejected."""
    return [UpdateRequested(update_id=uid, update_name=u.name, input=u.input or [],
                            header=u.header)
            for uid, u in state.updates.items() if u.status == "requested"]


def accept(run: Run, cmd: AcceptUpdateCommand) -> None:
    uid = cmd.update_id
    u = run.state.updates.get(uid)
    if u is None:
        raise BadRequest(f"accept_update for unknown update {uid!r}")
    attrs: dict[str, object] = {"update_id": uid, "update_name": u.name,
                                "input": u.input or []}
    if u.header:
        attrs["header"] = u.header
    run.append(EventType.WORKFLOW_EXECUTION_UPDATE_ACCEPTED, attrs)
    u.status = "accepted"


def complete(run: Run, cmd: CompleteUpdateCommand) -> None:
    uid = cmd.update_id
    failure = plain(cmd.failure) if cmd.failure is not None else None
    if failure is not None:
        run.append(EventType.WORKFLOW_EXECUTION_UPDATE_COMPLETED,
                   {"update_id": uid, "failure": failure})
    else:
        run.append(EventType.WORKFLOW_EXECUTION_UPDATE_COMPLETED,
                   {"update_id": uid, "result": cmd.result})
    u = run.state.updates.setdefault(uid, UpdateEntry("", "completed"))
    u.status, u.input = "completed", None
    u.result, u.failure = (None, failure) if failure is not None else (cmd.result, None)


def reject(run: Run, rejections: list[UpdateRejection]) -> None:
    for r in rejections:
        u = run.state.updates.get(str(r.update_id))
        if u is not None and u.status == "requested":
            u.status, u.input = "rejected", None
            u.failure = plain(r.failure) if r.failure is not None else None


def close_pending(run: Run) -> None:
    for u in run.state.updates.values():
        if u.status in ("requested", "accepted"):
            u.status, u.input = "failed", None
            u.failure = {
                "message": f"the workflow closed ({run.row.status}) before the update "
                           "completed", "type": "WorkflowClosedError", "kind": "application",
                "non_retryable": True}


def outcome(state: RunState, uid: str) -> UpdateAnswer:
    u = state.updates.get(uid)
    if u is None:
        raise NotFound(f"no update {uid!r} on this workflow", code="update_not_found")
    out: UpdateAnswer = {"update_id": uid, "status": u.status}
    if u.status in ("rejected", "failed") or (u.status == "completed" and u.failure is not None):
        out["failure"] = u.failure
    elif u.status == "completed":
        out["result"] = u.result
    return out


def _read(txn: Txn, ns: str, wid: str, rid: str, uid: str) -> UpdateAnswer:
    row = txn.get_execution(ns, wid, rid)
    if row is None:
        raise NotFound(f"workflow {wid!r} not found", code="workflow_not_found")
    return outcome(row.state, uid)


async def wait_outcome(store: Any, fut: asyncio.Future[None], key: tuple[str, str, str, str],
                       timeout: float, *, until_accepted: bool = False) -> UpdateAnswer:
    """The update's outcome once final (``until_accepted``: once accepted, or final), or as
    it is when ``timeout`` seconds have passed."""
    ns, wid, rid, uid = key
    deadline = time.monotonic() + timeout
    enough = FINAL | {"accepted"} if until_accepted else FINAL
    while True:
        got: UpdateAnswer = await store.read(lambda t: _read(t, ns, wid, rid, uid))
        left = deadline - time.monotonic()
        if got["status"] in enough or left <= 0:
            return got
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(RECHECK, left)):
                await asyncio.shield(fut)
