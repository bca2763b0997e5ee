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

from plait.protocol.events import EventType
from plait.server.errors import BadRequest, Conflict, NotFound
from plait.server.run import Ctx, Run
from plait.store.base import Txn
from plait.store.run_state import RunState, UpdateEntry

__all__ = ["accept", "close_pending", "complete", "outcome", "reject", "request",
           "requested", "wait_outcome"]

FINAL = {"completed", "rejected", "failed"}
RECHECK = 0.05


def request(ctx: Ctx, run: Run, req: dict[str, Any]) -> dict[str, Any]:
    uid, name = req.get("update_id"), req.get("update_name")
    if not isinstance(uid, str) or not uid or not isinstance(name, str) or not name:
        raise BadRequest("update_id and update_name are required")
    ups = run.state.updates
    if uid in ups:  # the same update again: its current state, never a second run
        return outcome(run.row.state, uid)
    if not run.running:
        raise Conflict(f"cannot update workflow {run.wid!r}: it is {run.row.status}",
                       code="workflow_not_running")
    ups[uid] = UpdateEntry(name, "requested", req.get("input") or [], req.get("header") or {})
    if not run.wt_out():
        run.ensure_wt()
    run.save()
    return outcome(run.row.state, uid)


def requested(state: RunState) -> list[dict[str, Any]]:
    """What a workflow task delivers: the updates not yet accepted or rejected."""
    return [{"update_id": uid, "update_name": u.name, "input": u.input or [],
             "header": u.header}
            for uid, u in state.updates.items() if u.status == "requested"]


def accept(run: Run, cmd: dict[str, Any]) -> None:
    uid = str(cmd.get("update_id"))
    u = run.state.updates.get(uid)
    if u is None:
        raise BadRequest(f"accept_update for unknown update {uid!r}")
    run.append(EventType.WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
               {"update_id": uid, "update_name": u.name, "input": u.input or []})
    u.status = "accepted"


def complete(run: Run, cmd: dict[str, Any]) -> None:
    uid = str(cmd.get("update_id"))
    attrs: dict[str, Any] = {"update_id": uid}
    if cmd.get("failure") is not None:
        attrs["failure"] = cmd["failure"]
    else:
        attrs["result"] = cmd.get("result")
    run.append(EventType.WORKFLOW_EXECUTION_UPDATE_COMPLETED, attrs)
    u = run.state.updates.setdefault(uid, UpdateEntry("", "completed"))
    u.status, u.input = "completed", None
    u.result, u.failure = attrs.get("result"), attrs.get("failure")


def reject(run: Run, rejections: list[dict[str, Any]]) -> None:
    for r in rejections:
        u = run.state.updates.get(str(r.get("update_id")))
        if u is not None and u.status == "requested":
            u.status, u.failure, u.input = "rejected", r.get("failure"), None


def close_pending(run: Run) -> None:
    for u in run.state.updates.values():
        if u.status in ("requested", "accepted"):
            u.status, u.input = "failed", None
            u.failure = {
                "message": f"the workflow closed ({run.row.status}) before the update "
                           "completed", "type": "WorkflowClosedError", "kind": "application",
                "non_retryable": True}


def outcome(state: RunState, uid: str) -> dict[str, Any]:
    u = state.updates.get(uid)
    if u is None:
        raise NotFound(f"no update {uid!r} on this workflow", code="update_not_found")
    out: dict[str, Any] = {"update_id": uid, "status": u.status}
    if u.status in ("rejected", "failed") or (u.status == "completed" and u.failure is not None):
        out["failure"] = u.failure
    elif u.status == "completed":
        out["result"] = u.result
    return out


def _read(txn: Txn, ns: str, wid: str, rid: str, uid: str) -> dict[str, Any]:
    row = txn.get_execution(ns, wid, rid)
    if row is None:
        raise NotFound(f"workflow {wid!r} not found", code="workflow_not_found")
    return outcome(row.state, uid)


async def wait_outcome(store: Any, fut: asyncio.Future[None], key: tuple[str, str, str, str],
                       timeout: float) -> dict[str, Any]:
    ns, wid, rid, uid = key
    deadline = time.monotonic() + timeout
    while True:
        got: dict[str, Any] = await store.read(lambda t: _read(t, ns, wid, rid, uid))
        left = deadline - time.monotonic()
        if got["status"] in FINAL or left <= 0:
            return got
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(RECHECK, left)):
                await asyncio.shield(fut)
