"""HTTP routes of the API (``/api/v1``), health, metrics and the web UI.

Each route reads its body into the wire struct the document names for it
(:mod:`plait.server.api_doc`, :mod:`plait.protocol`), so a malformed request is a 400 naming
the field before anything runs. Every error leaves as ``{"error": {"code": ..., "message":
...}}`` with a 4xx/5xx status; a bad request never disturbs another one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar, cast

import msgspec
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest

from plait.protocol.commands import Command, CompleteUpdateCommand
from plait.protocol.completions import (
    MAX_BATCH,
    CompleteActivityTaskRequest,
    CompleteWorkflowTaskRequest,
    FailActivityTaskRequest,
    FailWorkflowTaskRequest,
    HeartbeatActivityRequest,
    RespondQueryRequest,
    TaskCompletion,
    TokenRequest,
    UpdateRejection,
)
from plait.protocol.enums import CLOSED_STATUSES, ErrorCode, WorkflowStatus
from plait.protocol.jsoncodec import dumps, loads
from plait.protocol.requests import (
    CancelRequest,
    QueryRequest,
    SignalRequest,
    StartWorkflowRequest,
    TerminateRequest,
    UpdateRequest,
)
from plait.protocol.sessions import HeartbeatSessionRequest, OpenSessionRequest, PollRequest
from plait.retry import RetryPolicy
from plait.server import (
    api_doc,
    closing,
    describe,
    dispatch,
    lifecycle,
    messages,
    queries,
    results,
    sessions,
    steps,
    ui,
    updates,
)
from plait.server.decoding import NUL_MESSAGE, decode, json_object
from plait.server.errors import ApiError, BadRequest, NotFound
from plait.server.run import Ctx, Run
from plait.server.service import Service
from plait.store.base import StoreBusy, StoreUnavailable
from plait.store.search_index import MAX_FILTERS

__all__ = ["make_app"]

log = logging.getLogger("plait.server")
SERVICE: web.AppKey[Service] = web.AppKey("service", Service)
T = TypeVar("T")

REQUESTS = Counter("plait_http_requests_total", "HTTP requests by route and status",
                   ["route", "status"])
STARTED = Counter("plait_workflows_started_total", "Workflows started", ["namespace"])
TASKS = Counter("plait_tasks_dispatched_total", "Tasks handed to workers", ["kind"])
COMPLETIONS = Counter("plait_task_completions_total", "Task completions", ["kind", "outcome"])
CHAINED = Counter("plait_chained_steps_total",
                  "Workflow tasks reported with the activity result that unblocked them: "
                  "recorded, or refused and why", ["outcome"])


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=dumps(data), status=status, content_type="application/json")


def error_response(status: int, code: str, message: str) -> web.Response:
    return json_response({"error": {"code": code, "message": message}}, status)


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    route = request.match_info.route.resource.canonical if request.match_info.route.resource \
        else "unmatched"
    try:
        if "\x00" in request.path or any("\x00" in k + v for k, v in request.query.items()):
            raise BadRequest(NUL_MESSAGE)
        resp: web.StreamResponse = await handler(request)
    except (ApiError, StoreUnavailable) as e:
        resp = error_response(*_expected_error(e))
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[SERVICE].config.max_payload
        resp = error_response(413, ErrorCode.PAYLOAD_TOO_LARGE,
                              f"request body exceeds the limit of {limit} bytes")
    except web.HTTPException as e:
        message = e.text or e.reason
        if isinstance(e, web.HTTPMethodNotAllowed):
            message = f"{request.method} {request.path} is not served; use {e.headers['Allow']}"
        resp = error_response(e.status, e.reason.lower().replace(" ", "_"), message)
        if "Allow" in e.headers:  # a 405 says which methods the path has
            resp.headers["Allow"] = e.headers["Allow"]
    except Exception as e:  # a bug: answer, log, keep serving
        log.exception("internal error on %s %s", request.method, request.path)
        resp = error_response(500, ErrorCode.INTERNAL, f"internal server error: {type(e).__name__}")
    REQUESTS.labels(route, str(resp.status)).inc()
    return resp


def _expected_error(e: ApiError | StoreUnavailable) -> tuple[int, str, str]:
    """(status, code, message) of an error the API answers by design, for a whole request
    and for one item of a batch alike."""
    if isinstance(e, ApiError):
        return e.status, e.code, e.message
    if isinstance(e, StoreBusy):
        return 503, ErrorCode.BUSY, str(e)
    return 503, ErrorCode.UNAVAILABLE, f"the database is unavailable: {e}"


async def read(request: web.Request, kind: type[T]) -> tuple[T, dict[str, Any]]:
    """The body as its wire struct (validated) and as the dict the services take
    (:mod:`plait.server.decoding`)."""
    raw = await request.read()
    req = json_object(raw)
    return cast(T, decode(raw, kind, req)), req


def svc(request: web.Request) -> Service:
    return request.app[SERVICE]


# -- what the structs do not say --------------------------------------------------------------
# The structs check JSON types as the body is parsed; these read query strings, clamp the waits
# the server bounds rather than refuses, and check what only code can (a retry policy's sense).
def number(value: str | None, name: str, default: float, low: float, high: float) -> float:
    """A number from a query string, clamped to ``[low, high]``."""
    if value is None:
        return default
    try:
        parsed = float(value)
    except ValueError:
        raise BadRequest(f"{name} must be a number") from None
    if not math.isfinite(parsed):
        raise BadRequest(f"{name} must be a number")
    return clamp(parsed, default, low, high)


def integer(value: str | None, name: str, default: int, low: int, high: int) -> int:
    """A whole number from a query string, clamped to ``[low, high]``."""
    if value is None:
        return default
    if not re.fullmatch(r"-?[0-9]{1,18}", value, re.ASCII):
        raise BadRequest(f"{name} must be a whole number")
    return max(low, min(int(value), high))


def clamp(value: float | None, default: float, low: float, high: float) -> float:
    """A decoded number (None: ``default``) bounded to ``[low, high]``."""
    return default if value is None else max(low, min(float(value), high))


def retry_policy(req: dict[str, Any] | None, where: str = "") -> None:
    """A retry policy's values make sense together (the struct checks their types)."""
    value = (req or {}).get("retry_policy")
    if value is None:
        return
    try:
        RetryPolicy.from_dict(value)
    except (TypeError, ValueError, OverflowError) as e:
        raise BadRequest(f"{where}retry_policy: {e}") from None


def command_policies(cmds: list[dict[str, Any]], where: str = "") -> None:
    for i, cmd in enumerate(cmds):
        retry_policy(cmd, f"{where}commands[{i}] ({cmd.get('kind')}).")


def _deduped(ns: str, request_id: str | None, fn: Any) -> Any:
    """Wrap a state change so a repeated request id returns the first answer."""
    def op(ctx: Ctx) -> Any:
        if request_id:
            seen, stored = ctx.txn.stored_response(ns, request_id)
            if seen:
                return stored
        result = fn(ctx)
        if request_id:
            ctx.txn.store_response(ns, request_id, result, ctx.wall)
        return result
    return op


# -- workflows -----------------------------------------------------------------------------------
async def start_workflow(request: web.Request) -> web.Response:
    """Start a run; with ``wait_result``, also wait (that long at most) for its outcome, so
    ``execute_workflow`` needs one request rather than a start and a result long-poll."""
    ns = request.match_info["ns"]
    msg, req = await read(request, StartWorkflowRequest)
    retry_policy(req)
    wait = clamp(msg.wait_result, 0.0, 0.0, 60.0)
    service = svc(request)
    await service.ensure_namespace(ns)
    result = await service.write(
        _deduped(ns, msg.request_id, lambda ctx: lifecycle.start_workflow(ctx, ns, req)))
    if result.get("started"):
        STARTED.labels(ns).inc()
    if wait > 0:
        result = {**result, "outcome": await _outcome(
            service, ns, str(result["workflow_id"]), str(result["run_id"]), wait,
            running=bool(result.get("started")))}
    return json_response(result, 201 if result.get("started") else 200)


async def describe_workflow(request: web.Request) -> web.Response:
    ns, wid = request.match_info["ns"], request.match_info["wid"]
    rid = request.query.get("run_id") or None
    now = svc(request).clock.now()
    return json_response(await svc(request).store.read(
        lambda t: describe.describe(t, now, ns, wid, rid)))


async def workflow_history(request: web.Request) -> web.Response:
    ns, wid = request.match_info["ns"], request.match_info["wid"]
    rid = request.query.get("run_id") or None
    after = integer(request.query.get("after"), "after", 0, 0, 2**62)

    def read(t: Any) -> dict[str, Any]:
        run_id = rid or t.current_run(ns, wid)
        if run_id is None or t.get_execution(ns, wid, run_id) is None:
            raise NotFound(f"workflow {wid!r} not found in namespace {ns!r}",
                           code=ErrorCode.WORKFLOW_NOT_FOUND)
        return {"format": 1, "workflow_id": wid, "run_id": run_id,
                "events": t.events(ns, wid, run_id, after)}
    return json_response(await svc(request).store.read(read))


async def workflow_result(request: web.Request) -> web.Response:
    """Long-poll until the run closes (or ``wait`` seconds pass: then ``closed`` is false)."""
    ns, wid = request.match_info["ns"], request.match_info["wid"]
    rid = request.query.get("run_id") or None
    wait = number(request.query.get("wait"), "wait", 30.0, 0.0, 60.0)
    return json_response(await _outcome(svc(request), ns, wid, rid, wait))


async def _outcome(service: Service, ns: str, wid: str, rid: str | None,
                   wait: float, *, running: bool = False) -> dict[str, Any]:
    """The run's outcome, waiting up to ``wait`` s for it to close. ``running``: the caller
    just started run ``rid``, so there is nothing to read before waiting."""
    def read(t: Any) -> tuple[str, str, dict[str, Any] | None]:
        run_id = rid or t.current_run(ns, wid)
        row = t.get_execution(ns, wid, run_id) if run_id else None
        if row is None:
            raise NotFound(f"workflow {wid!r} not found in namespace {ns!r}",
                           code=ErrorCode.WORKFLOW_NOT_FOUND)
        return row.run_id, row.status, row.result
    if running and rid is not None:
        # Just started: it cannot close before this waits. Closing takes a claim, a worker
        # and a completion, each a round trip after the start's commit, while this handler
        # resumes in the loop turn right after that commit.
        run_id, status, result = rid, str(WorkflowStatus.RUNNING), None
    else:
        run_id, status, result = await service.store.read(read)
    if status not in CLOSED_STATUSES and wait > 0:
        outcome = await service.results.wait((ns, wid, run_id), wait)
        if outcome is not None:  # closed by this server: its outcome came with the close
            status, result = outcome["status"], outcome["result"]
        else:
            run_id, status, result = await service.store.read(read)
    return {"workflow_id": wid, "run_id": run_id, "status": status,
            "closed": status in CLOSED_STATUSES, "result": result}


async def terminate_workflow(request: web.Request) -> web.Response:
    ns, wid = request.match_info["ns"], request.match_info["wid"]
    msg, _ = await read(request, TerminateRequest)
    reason, rid = msg.reason or "terminated", msg.run_id or None
    return json_response(await svc(request).write(_deduped(
        ns, msg.request_id, lambda ctx: closing.terminate(ctx, ns, wid, rid, reason))))


async def signal_workflow(request: web.Request) -> web.Response:
    ns, wid = request.match_info["ns"], request.match_info["wid"]
    msg, req = await read(request, SignalRequest)
    rid = msg.run_id or None
    return json_response(await svc(request).write(_deduped(
        ns, msg.request_id,
        lambda ctx: messages.signal(ctx, Run.load(ctx, ns, wid, rid), req))))


async def cancel_workflow(request: web.Request) -> web.Response:
    ns, wid = request.match_info["ns"], request.match_info["wid"]
    msg, req = await read(request, CancelRequest)
    rid = msg.run_id or None
    return json_response(await svc(request).write(_deduped(
        ns, msg.request_id,
        lambda ctx: messages.request_cancel(ctx, Run.load(ctx, ns, wid, rid), req))))


QUERY_WAITERS: web.AppKey[dict[int, asyncio.Future[None]]] = web.AppKey("query_waiters", dict)


async def query_workflow(request: web.Request) -> web.Response:
    ns, wid = request.match_info["ns"], request.match_info["wid"]
    msg, req = await read(request, QueryRequest)
    rid = msg.run_id or None
    timeout = clamp(msg.timeout or None, 10.0, 0.1, 60.0)
    service = svc(request)
    task_id = await service.write(lambda ctx: queries.post(ctx, ns, wid, rid, req))
    waiters = request.app[QUERY_WAITERS]
    waiters[task_id] = asyncio.get_running_loop().create_future()
    try:
        got = await queries.wait_answer(service.store, waiters[task_id], task_id, timeout)
    finally:
        waiters.pop(task_id, None)
        await service.write(lambda ctx: ctx.txn.delete_task(task_id))
    if got is None:
        raise queries.QueryTimeout(f"no worker answered query {msg.query_name!r} within "
                                   f"{timeout:g} s; is a worker for workflow {wid!r} running?")
    if got.get("failure"):
        raise BadRequest((got["failure"] or {}).get("message") or "query failed",
                         code=got.get("code") or ErrorCode.QUERY_FAILED)
    return json_response({"result": got.get("result")})


UPDATE_WAITERS: web.AppKey[dict[str, list[asyncio.Future[None]]]] = web.AppKey(
    "update_waiters", dict)


async def _await_update(request: web.Request, ns: str, wid: str, rid: str, uid: str,
                        wait: float) -> dict[str, Any]:
    waiters = request.app[UPDATE_WAITERS]
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    waiters.setdefault(uid, []).append(fut)
    try:
        return await updates.wait_outcome(svc(request).store, fut, (ns, wid, rid, uid), wait)
    finally:
        waiters[uid].remove(fut)
        if not waiters[uid]:
            del waiters[uid]


def _wake_updates(request: web.Request, uids: list[str]) -> None:
    """Answer waiting callers on this server as soon as a completion settled their update
    (those on other servers re-read the row on their own)."""
    for uid in uids:
        for fut in request.app[UPDATE_WAITERS].get(str(uid), []):
            if not fut.done():
                fut.set_result(None)


async def update_workflow(request: web.Request) -> web.Response:
    ns, wid = request.match_info["ns"], request.match_info["wid"]
    msg, req = await read(request, UpdateRequest)
    rid = msg.run_id or None
    wait = clamp(msg.wait, 30.0, 0.0, 60.0)
    state = await svc(request).write(lambda ctx: _request_update(ctx, ns, wid, rid, req))
    if state["status"] not in updates.FINAL and wait > 0:
        state = await _await_update(request, ns, wid, state["run_id"], state["update_id"], wait)
    return json_response(state)


def _request_update(ctx: Ctx, ns: str, wid: str, rid: str | None,
                    req: dict[str, Any]) -> dict[str, Any]:
    run = Run.load(ctx, ns, wid, rid)
    return {**updates.request(ctx, run, req), "run_id": run.rid}


async def update_outcome(request: web.Request) -> web.Response:
    ns, wid, uid = request.match_info["ns"], request.match_info["wid"], request.match_info["uid"]
    rid = request.query.get("run_id") or None
    wait = number(request.query.get("wait"), "wait", 30.0, 0.0, 60.0)

    def read(t: Any) -> str:
        run_id = rid or t.current_run(ns, wid)
        if run_id is None:
            raise NotFound(f"workflow {wid!r} not found", code=ErrorCode.WORKFLOW_NOT_FOUND)
        return str(run_id)
    run_id = await svc(request).store.read(read)
    return json_response(await _await_update(request, ns, wid, run_id, uid, wait))


async def answer_query(request: web.Request) -> web.Response:
    msg, req = await read(request, RespondQueryRequest)
    task_id = await svc(request).write(lambda ctx: queries.answer(ctx, msg.token, req))
    fut = request.app[QUERY_WAITERS].get(task_id)
    if fut is not None and not fut.done():
        fut.set_result(None)
    return json_response({"recorded": True})


def _filters(q: Any) -> dict[str, Any]:
    f: dict[str, Any] = {"workflow_type": q.get("type"), "status": q.get("status")}
    f["search_attributes"] = _json_query(q.get("search_attributes"), "search_attributes", dict)
    if f["search_attributes"] and len(f["search_attributes"]) > MAX_FILTERS:
        raise BadRequest(f"at most {MAX_FILTERS} search attributes in one filter")
    for key in ("started_after", "started_before"):
        if q.get(key):
            try:
                f[key] = float(q[key])
            except ValueError:
                raise BadRequest(f"{key} must be a unix timestamp") from None
    if f["status"] and f["status"] not in frozenset(WorkflowStatus):
        raise BadRequest(f"unknown status {f['status']!r}")
    return f


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
    ns = request.match_info["ns"]
    filters = _filters(request.query)
    size = integer(request.query.get("page_size"), "page_size", 100, 1, 1000)
    after = _page_token(request.query.get("next_page_token"))

    def read(t: Any) -> dict[str, Any]:
        rows = t.list_executions(ns, filters, size, after)
        items = [describe.execution_summary(r) for r in rows]
        nxt = None
        if len(rows) == size:
            last = rows[-1]
            nxt = dumps([last.start_time, last.workflow_id, last.run_id]).decode()
        return {"workflows": items, "next_page_token": nxt}
    return json_response(await svc(request).store.read(read))


async def count_workflows(request: web.Request) -> web.Response:
    ns = request.match_info["ns"]
    filters = _filters(request.query)
    n = await svc(request).store.read(lambda t: t.count_executions(ns, filters))
    return json_response({"count": n})


# -- workers -------------------------------------------------------------------------------------
async def open_session(request: web.Request) -> web.Response:
    ns = request.match_info["ns"]
    msg, req = await read(request, OpenSessionRequest)
    req["task_queue"] = msg.task_queue or ""
    service = svc(request)
    expiry, ahead = service.config.session_expiry, service.leases.ahead
    return json_response(await service.write(
        lambda ctx: sessions.open_session(ctx, ns, req, expiry, ahead)), 201)


async def session_heartbeat(request: web.Request) -> web.Response:
    """Renew the lease and reconcile the tasks the worker holds. An idle worker's heartbeat
    on a server with a database of its own usually needs neither: then it costs no statement
    (:mod:`plait.server.leases`, :meth:`SessionLedger.holds_nothing`)."""
    service = svc(request)
    arrived = service.clock.now()
    sid = request.match_info["sid"]
    msg, _ = await read(request, HeartbeatSessionRequest)
    held = msg.held or []
    leases = service.leases
    renewed = leases.renew_in_memory(sid, time.time())
    reconcile = bool(held) or not leases.own_database or not service.ledger.holds_nothing(sid)
    if renewed and not reconcile:
        return json_response({"ok": True})
    expiry, ahead = service.config.session_expiry, leases.ahead
    return json_response(await service.write(
        lambda ctx: sessions.heartbeat(ctx, sid, held, expiry, arrived, ahead,
                                       renewing=not renewed, reconcile=reconcile)))


async def watch_session(request: web.Request) -> web.Response:
    """Held open up to ``wait`` seconds while the worker lives; the worker re-opens it at once.
    If the connection drops first (the handler is cancelled), the worker is presumed dead
    unless it comes back within the watch grace."""
    sid = request.match_info["sid"]
    wait = number(request.query.get("wait"), "wait", 25.0, 0.0, 60.0)
    service = svc(request)
    if not service.leases.renew_in_memory(sid, time.time()):
        expiry, ahead = service.config.session_expiry, service.leases.ahead
        await service.write(lambda ctx: sessions.renew(ctx, sid, expiry, ahead))
    try:
        await asyncio.sleep(wait)
    except asyncio.CancelledError:
        if not service.matching.stopping:
            service.watch_dropped(sid)
        raise
    return json_response({"ok": True})


async def close_session(request: web.Request) -> web.Response:
    sid = request.match_info["sid"]
    await svc(request).write(lambda ctx: sessions.close(ctx, sid))
    return json_response({"closed": True})


async def poll(request: web.Request) -> web.Response:
    ns, queue = request.match_info["ns"], request.match_info["queue"]
    msg, _ = await read(request, PollRequest)
    kind, session = str(msg.kind), msg.session_id or ""
    limit = int(clamp(msg.max_tasks or None, 1, 1, 256))
    wait = clamp(msg.wait, 30.0, 0.0, 60.0)
    service = svc(request)

    async def claim() -> tuple[list[Any], float | None]:
        tasks = await service.write(
            lambda ctx: dispatch.claim(ctx, ns, queue, kind, session, limit))
        if tasks:
            return tasks, None
        nxt = await service.store.read(lambda t: t.next_visible(ns, queue, kind, session))
        return [], nxt

    tasks = await service.matching.poll((ns, queue, kind), wait, claim)
    if tasks:
        TASKS.labels(kind).inc(len(tasks))
    return json_response({"tasks": tasks})


async def _complete_workflow_task(request: web.Request, msg: CompleteWorkflowTaskRequest,
                                  req: dict[str, Any]) -> Any:
    command_policies(req["commands"])
    req["eager_activities"] = int(clamp(msg.eager_activities, 0, 0, 256))
    out = await svc(request).write(
        lambda ctx: steps.complete_workflow_task(ctx, msg.token, req))
    COMPLETIONS.labels("workflow", "completed").inc()
    _wake_updates(request, _settled(msg.commands, msg.update_rejections))
    return out


def _settled(cmds: list[Command], rejections: list[UpdateRejection] | None) -> list[str]:
    """The updates a completion answers: their callers can stop waiting."""
    done = [c.update_id for c in cmds if isinstance(c, CompleteUpdateCommand)]
    return done + [r.update_id for r in rejections or () if r.update_id is not None]


async def _fail_workflow_task(request: web.Request, msg: FailWorkflowTaskRequest,
                              req: dict[str, Any]) -> Any:
    out = await svc(request).write(lambda ctx: steps.fail_workflow_task(ctx, msg.token, req))
    COMPLETIONS.labels("workflow", "failed").inc()
    return out


async def _complete_activity_task(request: web.Request, msg: CompleteActivityTaskRequest,
                                  req: dict[str, Any]) -> Any:
    step = msg.workflow_step
    if step is not None:  # a chained step (plait.server.chained)
        raw_step = req["workflow_step"]
        command_policies(raw_step["commands"], "workflow_step.")
        raw_step["upto"] = min(step.upto, 2**62)
        raw_step["eager_activities"] = int(clamp(step.eager_activities, 0, 0, 256))
    out = await svc(request).write(lambda ctx: results.complete_activity(ctx, msg.token, req))
    COMPLETIONS.labels("activity", "completed").inc()
    if step is None:
        return out
    answer = out.get("workflow_step") or {"refused": "run_closed"}
    CHAINED.labels("recorded" if "upto" in answer else str(answer["refused"])).inc()
    if "upto" in answer:
        COMPLETIONS.labels("workflow", "completed").inc()
        _wake_updates(request, _settled(step.commands, step.update_rejections))
    return out


async def _fail_activity_task(request: web.Request, msg: FailActivityTaskRequest,
                              req: dict[str, Any]) -> Any:
    out = await svc(request).write(lambda ctx: results.fail_activity(ctx, msg.token, req))
    COMPLETIONS.labels("activity", "failed").inc()
    return out


Completer = Callable[[web.Request, Any, dict[str, Any]], Awaitable[Any]]
COMPLETERS: dict[str, tuple[type[msgspec.Struct], Completer]] = {
    "workflow_complete": (CompleteWorkflowTaskRequest, _complete_workflow_task),
    "workflow_fail": (FailWorkflowTaskRequest, _fail_workflow_task),
    "activity_complete": (CompleteActivityTaskRequest, _complete_activity_task),
    "activity_fail": (FailActivityTaskRequest, _fail_activity_task)}
"""Each completion's body struct (its single route's) and the code that applies it."""


def _single(kind: str) -> Any:
    """The route of one completion: the batch route's item, alone."""
    struct, complete = COMPLETERS[kind]

    async def handler(request: web.Request) -> web.Response:
        msg, req = await read(request, struct)
        return json_response(await complete(request, msg, req))
    return handler


class _Batch(msgspec.Struct):
    """A batch, its items still unread: each is decoded on its own (as ``TaskCompletion``)
    so that one malformed item is answered alone, like any other error of one item."""

    completions: Annotated[list[msgspec.Raw], msgspec.Meta(max_length=MAX_BATCH)]


async def complete_tasks(request: web.Request) -> web.Response:
    """Many completions in one request: a busy worker saves a round trip per task.

    Each item is applied exactly as its single route would (its own fencing check, its own
    savepoint in the group commit) and answered on its own: one item's error does not touch
    the others, and the results come back in the order of the items. A batch that is no list
    of objects with known ``type``s is refused whole.
    """
    batch, req = await read(request, _Batch)
    items = req["completions"]
    for i, item in enumerate(items):
        kind = item.get("type") if isinstance(item, dict) else None
        if not isinstance(kind, str) or kind not in COMPLETERS:
            raise BadRequest(f"completions[{i}].type must be one of {sorted(COMPLETERS)}")
    results = await asyncio.gather(*(_completion(request, raw, item)
                                     for raw, item in zip(batch.completions, items,
                                                          strict=True)))
    return json_response({"results": results})


async def _completion(request: web.Request, raw: msgspec.Raw,
                      item: dict[str, Any]) -> dict[str, Any]:
    try:
        msg = decode(bytes(raw), TaskCompletion, item)
        return {"result": await COMPLETERS[item["type"]][1](request, msg, item)}
    except (ApiError, StoreUnavailable) as e:
        status, code, message = _expected_error(e)
        return {"error": {"status": status, "code": code, "message": message}}
    except Exception as e:  # a bug: this item fails loudly, the others stand
        log.exception("internal error completing a %s task", item["type"])
        return {"error": {"status": 500, "code": ErrorCode.INTERNAL,
                          "message": f"internal server error: {type(e).__name__}"}}


async def complete_async_activity_task(request: web.Request) -> web.Response:
    msg, _ = await read(request, TokenRequest)
    return json_response(await svc(request).write(
        lambda ctx: results.complete_async(ctx, msg.token)))


async def heartbeat_activity_task(request: web.Request) -> web.Response:
    msg, req = await read(request, HeartbeatActivityRequest)
    return json_response(await svc(request).write(
        lambda ctx: results.heartbeat_activity(ctx, msg.token, req)))


# -- operations ------------------------------------------------------------------------------
async def health(request: web.Request) -> web.Response:
    ok = await svc(request).store.healthy()
    if not ok:
        return error_response(503, ErrorCode.UNAVAILABLE, "the database is unavailable")
    return json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    resp = web.Response(body=generate_latest())
    resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return resp


async def openapi_document(request: web.Request) -> web.Response:
    """The OpenAPI document of this API, generated from the wire structs and the route table
    (:mod:`plait.server.api_doc`) the first time it is asked for."""
    return web.Response(body=_openapi_bytes(), content_type="application/json")


@functools.cache
def _openapi_bytes() -> bytes:
    return dumps(api_doc.document())


async def not_found(request: web.Request) -> web.Response:
    """Any other path under the API: 404, or 405 when the path exists with other methods."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource is not request.match_info.route.resource:
            allowed |= (await resource.resolve(request))[1]
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise NotFound(f"no route for {request.method} {request.path}", code=ErrorCode.NO_ROUTE)


def make_app(service: Service) -> web.Application:
    app = web.Application(middlewares=[errors_middleware],
                          client_max_size=service.config.max_payload)
    app[SERVICE] = service
    app[QUERY_WAITERS] = {}
    app[UPDATE_WAITERS] = {}
    api = "/api/v1"
    nsp = api + "/namespaces/{ns}"
    wf = nsp + "/workflows/{wid}"
    app.router.add_post(nsp + "/workflows", start_workflow)
    app.router.add_get(nsp + "/workflows", list_workflows)
    app.router.add_get(nsp + "/workflow-count", count_workflows)
    from plait.server import ratelimits  # imports this module's helpers

    ratelimits.add_routes(app, nsp)
    app.router.add_get(wf, describe_workflow)
    app.router.add_get(wf + "/history", workflow_history)
    app.router.add_get(wf + "/result", workflow_result)
    app.router.add_post(wf + "/terminate", terminate_workflow)
    app.router.add_post(wf + "/signal", signal_workflow)
    app.router.add_post(wf + "/cancel", cancel_workflow)
    app.router.add_post(wf + "/query", query_workflow)
    app.router.add_post(wf + "/update", update_workflow)
    app.router.add_get(wf + "/updates/{uid}", update_outcome)
    app.router.add_post(api + "/query-tasks/respond", answer_query)
    app.router.add_post(nsp + "/sessions", open_session)
    app.router.add_post(api + "/sessions/{sid}/heartbeat", session_heartbeat)
    app.router.add_delete(api + "/sessions/{sid}", close_session)
    app.router.add_get(api + "/sessions/{sid}/watch", watch_session)
    app.router.add_post(nsp + "/task-queues/{queue}/poll", poll)
    app.router.add_post(api + "/task-completions", complete_tasks)
    app.router.add_post(api + "/workflow-tasks/complete", _single("workflow_complete"))
    app.router.add_post(api + "/workflow-tasks/fail", _single("workflow_fail"))
    app.router.add_post(api + "/activity-tasks/complete", _single("activity_complete"))
    app.router.add_post(api + "/activity-tasks/fail", _single("activity_fail"))
    app.router.add_post(api + "/activity-tasks/heartbeat", heartbeat_activity_task)
    app.router.add_post(api + "/activity-tasks/complete-async", complete_async_activity_task)
    app.router.add_get(api + "/openapi.json", openapi_document)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    ui.add_routes(app)
    app.router.add_route("*", api + "/{tail:.*}", not_found)
    return app
