"""What every route shares: the service behind the app, the one error shape, reading a body
into its wire struct, and the checks the structs cannot make.

Every error leaves as ``{"error": {"code": ..., "message": ...}}`` with a 4xx/5xx status; a
bad request never disturbs another one."""

from __future__ import annotations

import logging
import math
import re
from typing import Any, TypeVar, cast

import msgspec
from aiohttp import web

from plait.protocol.commands import Command, ScheduleActivityCommand
from plait.protocol.common import RetryPolicy as WirePolicy
from plait.protocol.enums import ErrorCode
from plait.retry import RetryPolicy
from plait.server.decoding import NUL_MESSAGE, decode
from plait.server.errors import ApiError, BadRequest, UnsupportedMediaType
from plait.server.metrics import REQUESTS
from plait.server.service import Service
from plait.store.base import StoreBusy, StoreUnavailable

__all__ = ["SERVICE", "clamp", "command_policies", "error_response", "errors_middleware",
           "expected_error", "integer", "json_body", "json_response", "number", "read",
           "refuse_nul", "retry_policy", "svc"]

log = logging.getLogger("plait.server")


SERVICE: web.AppKey[Service] = web.AppKey("service", Service)


T = TypeVar("T")


_encode = msgspec.json.Encoder().encode


def json_body(data: Any) -> bytes:
    """``data`` (wire structs, plain values, and stored JSON as ``msgspec.Raw``) as JSON."""
    return _encode(data)


def json_response(data: Any, status: int = 200) -> web.Response:
    """``data`` as the answer's JSON body (:func:`json_body`)."""
    return web.Response(body=_encode(data), status=status, content_type="application/json")


def error_response(status: int, code: str, message: str) -> web.Response:
    return json_response({"error": {"code": code, "message": message}}, status)


def refuse_nul(request: web.Request) -> None:
    """400 for a NUL in the path or the query: no store can hold one in an id or name
    (PostgreSQL's text cannot). The access middleware calls it after the key check, before
    anything the path names is read."""
    if "\x00" in request.path or any("\x00" in k + v for k, v in request.query.items()):
        raise BadRequest(NUL_MESSAGE)


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    route = request.match_info.route.resource.canonical if request.match_info.route.resource \
        else "unmatched"
    try:
        resp: web.StreamResponse = await handler(request)
    except (ApiError, StoreUnavailable) as e:
        resp = error_response(*expected_error(e))
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[SERVICE].config.max_payload
        resp = error_response(413, ErrorCode.PAYLOAD_TOO_LARGE,
                              f"the request body exceeds the server's payload limit of "
                              f"{limit:,} bytes (--max-payload)")
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


def expected_error(e: ApiError | StoreUnavailable) -> tuple[int, str, str]:
    """(status, code, message) of an error the API answers by design, for a whole request
    and for one item of a batch alike."""
    if isinstance(e, ApiError):
        return e.status, e.code, e.message
    if isinstance(e, StoreBusy):
        return 503, ErrorCode.BUSY, str(e)
    return 503, ErrorCode.UNAVAILABLE, f"the database is unavailable: {e}"


FORM_TYPES = frozenset({"text/plain", "application/x-www-form-urlencoded",
                        "multipart/form-data"})
"""What a web page on another site may send without the browser asking first (no CORS
preflight). A body of these types is refused, so a hostile page cannot drive a server (say,
terminate runs) through the browser of someone who can reach it."""


async def read(request: web.Request, kind: type[T]) -> T:
    """The body as its wire struct, validated while it is parsed
    (:mod:`plait.server.decoding`)."""
    if request.content_type in FORM_TYPES:
        raise UnsupportedMediaType(f"a {request.content_type} body is not accepted; send JSON "
                                   "with Content-Type: application/json")
    return cast(T, decode(await request.read(), kind))


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


def retry_policy(policy: WirePolicy | None, where: str = "") -> None:
    """A retry policy's values make sense together (the struct checks their types)."""
    if policy is None:
        return
    try:
        RetryPolicy.from_wire(policy)
    except (TypeError, ValueError, OverflowError) as e:
        raise BadRequest(f"{where}retry_policy: {e}") from None


def command_policies(cmds: list[Command], where: str = "") -> None:
    for i, cmd in enumerate(cmds):
        if isinstance(cmd, ScheduleActivityCommand):
            retry_policy(cmd.retry_policy, f"{where}commands[{i}] (schedule_activity).")
