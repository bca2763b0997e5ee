"""Workflow routes: start, describe, history, result, signal, cancel, terminate, list, count."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from plait.protocol.common import RunRef
from plait.protocol.enums import CLOSED_STATUSES, ErrorCode, WorkflowStatus
from plait.protocol.events import HISTORY_FORMAT
from plait.protocol.jsoncodec import dumps, loads
from plait.protocol.requests import (
    CancelRequest,
    SignalRequest,
    StartWorkflowRequest,
    TerminateRequest,
)
from plait.protocol.responses import Count, WorkflowList
from plait.server import (
    closing,
    describe,
    lifecycle,
    messages,
)
from plait.server.answers import RunOutcome, StartAnswer, StoredHistory
from plait.server.api.conditional import conditional_json
from plait.server.api.http import clamp, integer, json_response, number, read, retry_policy, svc
from plait.server.dedupe import deduped
from plait.server.errors import BadRequest, NotFound
from plait.server.run import Run
from plait.server.service import Service
from plait.store.base import Txn
from plait.store.history import EventAttributes
from plait.store.search_index import MAX_FILTERS, ListFilter

__all__ = ["cancel_workflow", "count_workflows", "describe_workflow", "list_workflows",
           "signal_workflow", "start_workflow", "terminate_workflow", "workflow_history",
           "workflow_result"]

# -- workflows -----------------------------------------------------------------------------------
async def start_workflow(request: web.Request) -> web.Response:
    """Start a run; with ``wait_result``, also wait (that long at most) for its outcome, so
    ``execute_workflow`` needs one request rather than a start and a result long-poll."""
    ns = request.match_info["ns"]
    msg = await read(request, StartWorkflowRequest)
    retry_policy(msg.retry_policy)
    wait = clamp(msg.wait_result, 0.0, 0.0, 60.0)
    service = svc(request)
    await service.ensure_namespace(ns)
    result = await service.write(deduped(
        ns, msg.request_id, lambda ctx: lifecycle.start_workflow(ctx, ns, msg), StartAnswer,
        ahead=lambda txn: txn.current_run_ahead(ns, msg.workflow_id)))
    if wait > 0:
        result["outcome"] = await _outcome(service, ns, result["workflow_id"],
                                           result["run_id"], wait, running=result["started"])
    return json_response(result, 201 if result["started"] else 200)


async def describe_workflow(request: web.Request) -> web.Response:
    ns, wid = request.match_info["ns"], request.match_info["wid"]
    rid = request.query.get("run_id") or None
    now = svc(request).clock.now()
    return json_response(await svc(request).store.read(
        lambda t: describe.describe(t, now, ns, wid, rid)))


MAX_HISTORY_PAGE = 10_000
"""The most events one history page holds (``page_size``; absent: the whole history)."""


async def workflow_history(request: web.Request) -> web.Response:
    ns, wid = request.match_info["ns"], request.match_info["wid"]
    rid = request.query.get("run_id") or None
    after = integer(request.query.get("after"), "after", 0, 0, 2**62)
    size = integer(request.query.get("page_size"), "page_size", 0, 0, MAX_HISTORY_PAGE)

    def read(t: Txn) -> StoredHistory:
        run_id = rid or t.current_run(ns, wid)
        if run_id is None or t.get_execution(ns, wid, run_id) is None:
            raise NotFound(f"workflow {wid!r} not found in namespace {ns!r}",
                           code=ErrorCode.WORKFLOW_NOT_FOUND)
        return StoredHistory(format=HISTORY_FORMAT, workflow_id=wid, run_id=run_id,
                             events=t.events(ns, wid, run_id, after, size or None))
    return json_response(await svc(request).store.read(read))


async def workflow_result(request: web.Request) -> web.Response:
    """Long-poll until the run closes (or ``wait`` seconds pass: then ``closed`` is false)."""
    ns, wid = request.match_info["ns"], request.match_info["wid"]
    rid = request.query.get("run_id") or None
    wait = number(request.query.get("wait"), "wait", 30.0, 0.0, 60.0)
    return json_response(await _outcome(svc(request), ns, wid, rid, wait))


async def _outcome(service: Service, ns: str, wid: str, rid: str | None,
                   wait: float, *, running: bool = False) -> RunOutcome:
    """The run's outcome, waiting up to ``wait`` s for it to close. ``running``: the caller
    just started run ``rid``, so there is nothing to read before waiting."""
    def read(t: Any) -> tuple[str, str, EventAttributes | None]:
        run_id = rid or t.current_run(ns, wid)
        row = t.get_execution(ns, wid, run_id) if run_id else None
        if row is None:
            raise NotFound(f"workflow {wid!r} not found in namespace {ns!r}",
                           code=ErrorCode.WORKFLOW_NOT_FOUND)
        return row.run_id, row.status, row.result
    if rid is not None and (running or (wait > 0 and service.results.open((ns, wid, rid))
                                        and service.store.sees_every_commit())):
        # Just started: it cannot close before this waits. Closing takes a claim, a worker
        # and a completion, each a round trip after the start's commit, while this handler
        # resumes in the loop turn right after that commit. Or started by this server,
        # which sees it close: a close committed but not yet applied answers the wait.
        run_id, status, result = rid, str(WorkflowStatus.RUNNING), None
    else:
        run_id, status, result = await service.store.read(read)
    if status not in CLOSED_STATUSES and wait > 0:
        outcome = await service.results.wait((ns, wid, run_id), wait)
        if outcome is not None:  # closed by this server: its outcome came with the close
            status, result = outcome.status, outcome.result
        else:
            run_id, status, result = await service.store.read(read)
    return {"workflow_id": wid, "run_id": run_id, "status": status,
            "closed": status in CLOSED_STATUSES, "result": result}


async def terminate_workflow(request: web.Request) -> web.Response:
    ns, wid = request.match_info["ns"], request.match_info["wid"]
    msg = await read(request, TerminateRequest)
    reason, rid = msg.reason or "terminated", msg.run_id or None
    return json_response(await svc(request).write(deduped(
        ns, msg.request_id, lambda ctx: closing.terminate(ctx, ns, wid, rid, reason), RunRef)))


async def signal_workflow(request: web.Request) -> web.Response:
    ns, wid = request.match_info["ns"], request.match_info["wid"]
    msg = await read(request, SignalRequest)
    rid = msg.run_id or None
    return json_response(await svc(request).write(deduped(
        ns, msg.request_id,
        lambda ctx: messages.signal(ctx, Run.load(ctx, ns, wid, rid), msg), RunRef)))


async def cancel_workflow(request: web.Request) -> web.Response:
    ns, wid = request.match_info["ns"], request.match_info["wid"]
    msg = await read(request, CancelRequest)
    rid = msg.run_id or None
    return json_response(await svc(request).write(deduped(
        ns, msg.request_id, lambda ctx: messages.request_cancel(
            ctx, Run.load(ctx, ns, wid, rid), msg.reason or "", msg.identity or ""), RunRef)))


def _filters(q: Mapping[str, str]) -> ListFilter:
    attrs = _json_query(q.get("search_attributes"), "search_attributes", dict) or {}
    if len(attrs) > MAX_FILTERS:
        raise BadRequest(f"at most {MAX_FILTERS} search attributes in one filter")
    status = q.get("status") or None
    if status and status not in frozenset(WorkflowStatus):
        raise BadRequest(f"unknown status {status!r}")
    return ListFilter(workflow_type=q.get("type") or None, status=status,
                      search_attributes=attrs, started_after=_time(q, "started_after"),
                      started_before=_time(q, "started_before"))


def _time(q: Mapping[str, str], key: str) -> float | None:
    if not q.get(key):
        return None
    try:
        return float(q[key])
    except ValueError:
        raise BadRequest(f"{key} must be a unix timestamp") from None


def _json_query(raw: str | None, name: str, kind: type) -> Any:
    if not raw:
        return None
    try:
        value = loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, kind):
        raise BadRequest(f"{name} must be a JSON {kind.__name__.replace('dict', 'object')}")
    return value


def _page_token(raw: str | None) -> tuple[float, str, str] | None:
    token = _json_query(raw, "next_page_token", list)
    if token is None:
        return None
    if len(token) != 3 or isinstance(token[0], bool) \
            or not isinstance(token[0], (int, float)) \
            or not all(isinstance(t, str) for t in token[1:]):
        raise BadRequest("next_page_token is not one this server gave")
    return float(token[0]), token[1], token[2]


async def list_workflows(request: web.Request) -> web.Response:
    """One page of runs; conditional (:mod:`.conditional`), as live pages poll it."""
    ns = request.match_info["ns"]
    filters = _filters(request.query)
    size = integer(request.query.get("page_size"), "page_size", 100, 1, 1000)
    after = _page_token(request.query.get("next_page_token"))

    def read(t: Txn) -> WorkflowList:
        rows = t.list_executions(ns, filters, size, after)
        nxt = None
        if len(rows) == size:
            last = rows[-1]
            nxt = dumps([last.start_time, last.workflow_id, last.run_id]).decode()
        return WorkflowList(workflows=[describe.execution_summary(r) for r in rows],
                            next_page_token=nxt)
    return await conditional_json(request, ns, lambda: svc(request).store.read(read))


GROUPS = ("status",)
"""What ``group_by`` of a count may name."""


async def count_workflows(request: web.Request) -> web.Response:
    """How many runs match; with ``group_by=status``, also how many per status, from one
    query (a live list page shows every status's count). Conditional, as the list is."""
    ns = request.match_info["ns"]
    filters = _filters(request.query)
    group = request.query.get("group_by") or None
    if group is not None and group not in GROUPS:
        raise BadRequest(f"group_by must be one of: {', '.join(GROUPS)} (got {group!r})")
    store = svc(request).store

    async def read() -> Count:
        if group is None:
            return Count(count=await store.read(lambda t: t.count_executions(ns, filters)))
        per = await store.read(lambda t: t.count_executions_by_status(ns, filters))
        return Count(count=sum(per.values()),
                     by_status={s: per.get(s, 0) for s in WorkflowStatus})
    return await conditional_json(request, ns, read)
