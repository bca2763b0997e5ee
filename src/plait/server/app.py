"""HTTP routes of the API (``/api/v1``), health, metrics and the web UI.

Every error leaves as ``{"error": {"code": ..., "message": ...}}`` with a 4xx/5xx status; a bad
request never disturbs another one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest

from plait.protocol.enums import CLOSED_STATUSES, ErrorCode, TaskKind, WorkflowStatus
from plait.protocol.jsoncodec import dumps, loads
from plait.retry import RetryPolicy
from plait.server import api_doc, dispatch, history, messages, queries, sessions, ui, updates
from plait.server.errors import ApiError, BadRequest, NotFound
from plait.server.run import Ctx
from plait.server.service import Service
from plait.store.base import StoreBusy, StoreUnavailable
from plait.store.search_index import MAX_FILTERS

__all__ = ["make_app"]

log = logging.getLogger("plait.server")
SERVICE: web.AppKey[Service] = web.AppKey("service", Service)

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


async def body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        data = loads(raw)
    except ValueError as e:
        raise BadRequest(f"request body is not valid JSON: {e}",
                         code=ErrorCode.MALFORMED_JSON) from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object", code=ErrorCode.MALFORMED_JSON)
    if b"\\u0000" in raw and _has_nul(data):  # rare: look only when the bytes suggest it
        raise BadRequest(NUL_MESSAGE)
    return data


NUL_MESSAGE = "ids, names and other strings must not contain NUL characters (payload data may)"


def _has_nul(data: Any) -> bool:
    """Whether a NUL character is in a string outside payload envelopes. Ids and names become
    database text, which PostgreSQL refuses to hold NUL in; payloads are stored as JSON, so
    their contents may have any character."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return True
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict) and not ("encoding" in value and "data" in value):
            for key, item in value.items():
                if "\x00" in key:
                    return True
                stack.append(item)
    return False


def svc(request: web.Request) -> Service:
    return request.app[SERVICE]


# -- request validation ----------------------------------------------------------------------
# The HTTP layer checks the fields it reads itself (and the types of what it hands on), so a
# malformed request is a 400 here rather than an exception deep inside a transaction.
_TOKEN = re.compile(r"[0-9]{1,18}\.[0-9]{1,18}", re.ASCII)


def number(value: Any, name: str, default: float, low: float, high: float) -> float:
    """A number from a JSON body or a query string, clamped to ``[low, high]``."""
    if value is None:
        return default
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise BadRequest(f"{name} must be a number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        raise BadRequest(f"{name} must be a number")
    return max(low, min(float(value), high))


def integer(value: Any, name: str, default: int, low: int, high: int) -> int:
    """A whole number from a JSON body or a query string, clamped to ``[low, high]``."""
    if value is None:
        return default
    whole_str = isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,18}", value, re.ASCII)
    if whole_str or (isinstance(value, float) and value.is_integer()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name} must be a whole number")
    return max(low, min(value, high))


def optional_str(req: dict[str, Any], key: str) -> str | None:
    value = req.get(key)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{key} must be a string")
    return value or None


def objects(req: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """A list of JSON objects (absent or null: empty)."""
    value = req.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise BadRequest(f"{key} must be a list of JSON objects")
    return value


def strings(req: dict[str, Any], key: str) -> list[str]:
    """A list of strings (absent or null: empty)."""
    value = req.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{key} must be a list of strings")
    return value


def optional_object(req: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = req.get(key)
    if value is not None and not isinstance(value, dict):
        raise BadRequest(f"{key} must be a JSON object")
    return value


def payloads(req: dict[str, Any], key: str, where: str = "") -> None:
    """Every payload is an envelope ``{"encoding", "data"}``; the server never looks inside."""
    value = req.get(key)
    if value is None:
        return
    if not isinstance(value, list):
        raise BadRequest(f"{where}{key} must be a list of payloads")
    for i, item in enumerate(value):
        payload(item, f"{where}{key}[{i}]")


def payload(value: Any, name: str) -> None:
    if value is not None and not (isinstance(value, dict) and isinstance(
            value.get("encoding"), str) and "data" in value):
        raise BadRequest(f'{name} must be a payload envelope {{"encoding", "data"}}')


def failure(req: dict[str, Any], key: str, where: str = "") -> None:
    value = req.get(key)
    if value is not None and not (isinstance(value, dict)
                                  and isinstance(value.get("message"), str)):
        raise BadRequest(f"{where}{key} must be a failure: an object with a message")
    if value is not None:
        payloads(value, "details", f"{where}{key}.")


def retry_policy(req: dict[str, Any], where: str = "") -> None:
    value = req.get("retry_policy")
    if value is None:
        return
    try:
        if not isinstance(value, dict):
            raise TypeError("must be a JSON object")
        RetryPolicy.from_dict(value)
    except (TypeError, ValueError, OverflowError) as e:
        raise BadRequest(f"{where}retry_policy: {e}") from None


# The fields commands may carry, by the JSON type the server needs (null means absent).
_COMMAND_STRINGS = ("activity_id", "activity_type", "task_queue", "timer_id", "marker_name",
                    "workflow_id", "workflow_type", "run_id", "signal_name", "update_id", "seq",
                    "rate_limit_key", "parent_close_policy", "id_reuse_policy")
_COMMAND_NUMBERS = ("start_to_close_timeout", "schedule_to_close_timeout",
                    "schedule_to_start_timeout", "heartbeat_timeout", "duration",
                    "execution_timeout", "task_timeout")
_COMMAND_OBJECTS = ("header", "memo", "search_attributes")


def commands(req: dict[str, Any]) -> list[dict[str, Any]]:
    """A completion's commands, checked for the JSON types of their fields (what each
    command means is checked where it is applied)."""
    if not isinstance(req.get("commands"), list):
        raise BadRequest("commands must be a list")
    cmds = objects(req, "commands")
    for i, cmd in enumerate(cmds):
        kind = cmd.get("kind")
        if not isinstance(kind, str):
            raise BadRequest(f"commands[{i}] needs a kind (a string)")
        where = f"commands[{i}] ({kind})."
        for key in _COMMAND_STRINGS:
            if cmd.get(key) is not None and not isinstance(cmd[key], str):
                raise BadRequest(f"{where}{key} must be a string")
        for key in _COMMAND_NUMBERS:
            value = cmd.get(key)
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, (int, float))):
                raise BadRequest(f"{where}{key} must be a number")
        for key in _COMMAND_OBJECTS:
            optional_object(cmd, key)
        if kind == "record_marker":
            optional_object(cmd, "details")
        if kind == "start_timer" and cmd.get("duration") is None:
            raise BadRequest(f"{where}duration is required (seconds)")
        payloads(cmd, "input", where)
        payload(cmd.get("result"), where + "result")
        failure(cmd, "failure", where)
        retry_policy(cmd, where)
    return cmds


def task_token(req: dict[str, Any]) -> str:
    """The fencing token ``<task id>.<dispatch number>`` a worker got with its task."""
    token = req.get("token")
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise BadRequest(f"malformed task token {token!r}; expected <task id>.<dispatch no>",
                         code=ErrorCode.BAD_TOKEN)
    return token


def _deduped(ns: str, req: dict[str, Any], fn: Any) -> Any:
    """Wrap a state change so a repeated request id returns the first answer."""
    request_id = optional_str(req, "request_id")

    def op(ctx: Ctx) -> Any:
        if request_id:
            stored = ctx.txn.scalar("get_request", ns=ns, request_id=request_id)
            if stored is not None:
                return loads(stored)
        result = fn(ctx)
        if request_id:
            ctx.txn.exec("insert_request", ns=ns, request_id=request_id,
                         response=ctx.txn.json(result), now=ctx.wall)
        return result
    return op


# -- workflows -----------------------------------------------------------------------------------
async def start_workflow(request: web.Request) -> web.Response:
    """Start a run; with ``wait_result``, also wait (that long at most) for its outcome, so
    ``execute_workflow`` needs one request rather than a start and a result long-poll."""
    ns = request.match_info["ns"]
    req = await body(request)
    for key in ("id_reuse_policy", "id_conflict_policy", "identity"):
        optional_str(req, key)
    payloads(req, "input")
    signal = optional_object(req, "start_signal")
    if signal is not None:
        payloads(signal, "input", "start_signal.")
    retry_policy(req)
    wait = number(req.get("wait_result"), "wait_result", 0.0, 0.0, 60.0)
    service = svc(request)
    await service.ensure_namespace(ns)
    result = await service.write(
        _deduped(ns, req, lambda ctx: history.start_workflow(ctx, ns, req)))
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
        lambda t: history.describe(t, now, ns, wid, rid)))


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
    req = await body(request)
    reason = str(req.get("reason") or "terminated")
    rid = optional_str(req, "run_id")
    return json_response(await svc(request).write(_deduped(
        ns, req, lambda ctx: history.terminate(ctx, ns, wid, rid, reason))))


async def signal_workflow(request: web.Request) -> web.Response:
    ns, wid = request.match_info["ns"], request.match_info["wid"]
    req = await body(request)
    payloads(req, "input")
    rid = optional_str(req, "run_id")
    return json_response(await svc(request).write(_deduped(
        ns, req, lambda ctx: messages.signal(ctx, history.load_run(ctx, ns, wid, rid), req))))


async def cancel_workflow(request: web.Request) -> web.Response:
    ns, wid = request.match_info["ns"], request.match_info["wid"]
    req = await body(request)
    rid = optional_str(req, "run_id")
    return json_response(await svc(request).write(_deduped(
        ns, req, lambda ctx: messages.request_cancel(ctx, history.load_run(ctx, ns, wid, rid),
                                                     req))))


QUERY_WAITERS: web.AppKey[dict[int, asyncio.Future[None]]] = web.AppKey("query_waiters", dict)


async def query_workflow(request: web.Request) -> web.Response:
    ns, wid = request.match_info["ns"], request.match_info["wid"]
    req = await body(request)
    payloads(req, "input")
    rid = optional_str(req, "run_id")
    timeout = number(req.get("timeout") or None, "timeout", 10.0, 0.1, 60.0)
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
        raise queries.QueryTimeout(f"no worker answered query {req.get('query_name')!r} within "
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


def _wake_updates(request: web.Request, uids: Any) -> None:
    """Answer waiting callers on this server as soon as a completion settled their update
    (those on other servers re-read the row on their own)."""
    for uid in uids:
        for fut in request.app[UPDATE_WAITERS].get(str(uid), []):
            if not fut.done():
                fut.set_result(None)


async def update_workflow(request: web.Request) -> web.Response:
    ns, wid = request.match_info["ns"], request.match_info["wid"]
    req = await body(request)
    payloads(req, "input")
    rid = optional_str(req, "run_id")
    wait = number(req.get("wait"), "wait", 30.0, 0.0, 60.0)
    state = await svc(request).write(lambda ctx: _request_update(ctx, ns, wid, rid, req))
    if state["status"] not in updates.FINAL and wait > 0:
        state = await _await_update(request, ns, wid, state["run_id"], state["update_id"], wait)
    return json_response(state)


def _request_update(ctx: Ctx, ns: str, wid: str, rid: str | None,
                    req: dict[str, Any]) -> dict[str, Any]:
    run = history.load_run(ctx, ns, wid, rid)
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
    req = await body(request)
    token = task_token(req)
    payload(req.get("result"), "result")
    failure(req, "failure")
    code = optional_str(req, "code")
    if code is not None and not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", code, re.ASCII):
        raise BadRequest("code must be a lower-case word such as query_failed")
    task_id = await svc(request).write(lambda ctx: queries.answer(ctx, token, req))
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
        items = [history.execution_summary(r) for r in rows]
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
    req = await body(request)
    req["task_queue"] = optional_str(req, "task_queue") or ""
    optional_str(req, "identity")
    strings(req, "workflow_types")
    strings(req, "activity_types")
    service = svc(request)
    expiry, ahead = service.config.session_expiry, service.leases.ahead
    return json_response(await service.write(
        lambda ctx: sessions.open_session(ctx, ns, req, expiry, ahead)), 201)


async def session_heartbeat(request: web.Request) -> web.Response:
    """Renew the lease and reconcile the tasks the worker holds. An idle worker's heartbeat
    on a server with a database of its own usually needs neither: then it costs no statement
    (:mod:`plait.server.leases`, :func:`sessions.holds_nothing`)."""
    service = svc(request)
    arrived = service.clock.now()
    sid = request.match_info["sid"]
    req = await body(request)
    held = strings(req, "held")
    leases = service.leases
    renewed = leases.renew_in_memory(sid, time.time())
    reconcile = bool(held) or not leases.own_database or not sessions.holds_nothing(sid)
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
    req = await body(request)
    kind = req.get("kind")
    if not isinstance(kind, str) or kind not in frozenset(TaskKind):
        raise BadRequest("kind must be 'workflow', 'activity' or 'query'")
    session = optional_str(req, "session_id") or ""
    limit = integer(req.get("max_tasks") or None, "max_tasks", 1, 1, 256)
    wait = number(req.get("wait"), "wait", 30.0, 0.0, 60.0)
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


async def _complete_workflow_task(request: web.Request, req: dict[str, Any]) -> Any:
    token = task_token(req)
    cmds = commands(req)
    rejections = objects(req, "update_rejections")
    for i, r in enumerate(rejections):
        optional_str(r, "update_id")
        failure(r, "failure", f"update_rejections[{i}].")
    req["eager_activities"] = integer(req.get("eager_activities"), "eager_activities", 0, 0,
                                      256)
    out = await svc(request).write(lambda ctx: history.complete_workflow_task(ctx, token, req))
    COMPLETIONS.labels("workflow", "completed").inc()
    settled = [c.get("update_id") for c in cmds if c["kind"] == "complete_update"]
    settled += [r.get("update_id") for r in rejections]
    if settled:
        _wake_updates(request, settled)
    return out


async def _fail_workflow_task(request: web.Request, req: dict[str, Any]) -> Any:
    token = task_token(req)
    failure(req, "failure")
    optional_str(req, "cause")
    out = await svc(request).write(lambda ctx: history.fail_workflow_task(ctx, token, req))
    COMPLETIONS.labels("workflow", "failed").inc()
    return out


async def _complete_activity_task(request: web.Request, req: dict[str, Any]) -> Any:
    token = task_token(req)
    payload(req.get("result"), "result")
    optional_str(req, "task_queue")
    step = _workflow_step(req)
    out = await svc(request).write(lambda ctx: dispatch.complete_activity(ctx, token, req))
    COMPLETIONS.labels("activity", "completed").inc()
    if step is None:
        return out
    answer = out.get("workflow_step") or {"refused": "run_closed"}
    CHAINED.labels("recorded" if "upto" in answer else str(answer["refused"])).inc()
    if "upto" in answer:
        COMPLETIONS.labels("workflow", "completed").inc()
        settled = [c.get("update_id") for c in step["commands"]
                   if c["kind"] == "complete_update"]
        if settled:
            _wake_updates(request, settled)
    return out


def _workflow_step(req: dict[str, Any]) -> dict[str, Any] | None:
    """A chained step (:mod:`plait.server.chained`), checked like a workflow task's
    completion; None when the item has none."""
    step = req.get("workflow_step")
    if step is None:
        return None
    if not isinstance(step, dict):
        raise BadRequest("workflow_step must be an object")
    commands(step)
    if step.get("upto") is None:
        raise BadRequest("workflow_step.upto is required: the last event the worker has seen")
    step["upto"] = integer(step["upto"], "workflow_step.upto", 0, 0, 2**62)
    started = step.get("started_time")
    if isinstance(started, bool) or not isinstance(started, (int, float)):
        raise BadRequest("workflow_step.started_time must be a number (seconds since epoch)")
    step["eager_activities"] = integer(step.get("eager_activities"),
                                       "workflow_step.eager_activities", 0, 0, 256)
    return step


async def _fail_activity_task(request: web.Request, req: dict[str, Any]) -> Any:
    token = task_token(req)
    failure(req, "failure")
    out = await svc(request).write(lambda ctx: dispatch.fail_activity(ctx, token, req))
    COMPLETIONS.labels("activity", "failed").inc()
    return out


Completer = Callable[[web.Request, dict[str, Any]], Awaitable[Any]]
COMPLETERS: dict[str, Completer] = {
    "workflow_complete": _complete_workflow_task, "workflow_fail": _fail_workflow_task,
    "activity_complete": _complete_activity_task, "activity_fail": _fail_activity_task}
MAX_BATCH = 512


def _single(kind: str) -> Any:
    """The route of one completion: the batch route's item, alone."""
    async def handler(request: web.Request) -> web.Response:
        return json_response(await COMPLETERS[kind](request, await body(request)))
    return handler


async def complete_tasks(request: web.Request) -> web.Response:
    """Many completions in one request: a busy worker saves a round trip per task.

    Each item is applied exactly as its single route would (its own fencing check, its own
    savepoint in the group commit) and answered on its own: one item's error does not touch
    the others, and the results come back in the order of the items.
    """
    req = await body(request)
    if "completions" not in req:
        raise BadRequest("completions is required: a list of task outcomes")
    items = objects(req, "completions")
    if len(items) > MAX_BATCH:
        raise BadRequest(f"at most {MAX_BATCH} completions per request")
    for i, item in enumerate(items):
        kind = item.get("type")
        if not isinstance(kind, str) or kind not in COMPLETERS:
            raise BadRequest(f"completions[{i}].type must be one of {sorted(COMPLETERS)}")
    results = await asyncio.gather(*(_completion(request, item) for item in items))
    return json_response({"results": results})


async def _completion(request: web.Request, item: dict[str, Any]) -> dict[str, Any]:
    try:
        return {"result": await COMPLETERS[item["type"]](request, item)}
    except (ApiError, StoreUnavailable) as e:
        status, code, message = _expected_error(e)
        return {"error": {"status": status, "code": code, "message": message}}
    except Exception as e:  # a bug: this item fails loudly, the others stand
        log.exception("internal error completing a %s task", item["type"])
        return {"error": {"status": 500, "code": ErrorCode.INTERNAL,
                          "message": f"internal server error: {type(e).__name__}"}}


async def complete_async_activity_task(request: web.Request) -> web.Response:
    req = await body(request)
    token = task_token(req)
    return json_response(await svc(request).write(
        lambda ctx: dispatch.complete_async(ctx, token)))


async def heartbeat_activity_task(request: web.Request) -> web.Response:
    req = await body(request)
    token = task_token(req)
    payloads(req, "details")
    return json_response(await svc(request).write(
        lambda ctx: dispatch.heartbeat_activity(ctx, token, req)))


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
