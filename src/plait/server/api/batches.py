"""Batch job routes: start, list, describe, cancel (:mod:`plait.server.batches`).

Starting and cancelling carry a request id and are deduplicated like every other mutating
call; a start wakes this server's batch runner, so the first page runs at once.
"""

from __future__ import annotations

from aiohttp import web

from plait.protocol.batches import BatchDescription, CancelBatchRequest, StartBatchRequest
from plait.server import batches
from plait.server.api.http import integer, json_response, read, svc
from plait.server.dedupe import deduped
from plait.server.errors import BadRequest

__all__ = ["add_routes"]


async def start(request: web.Request) -> web.Response:
    ns = request.match_info["ns"]
    msg = await read(request, StartBatchRequest)
    service = svc(request)
    await service.ensure_namespace(ns)
    desc = await service.write(
        deduped(ns, msg.request_id, lambda ctx: batches.start(ctx, ns, msg), BatchDescription)
    )
    service.batches.hint()
    return json_response(desc, 201)


async def describe(request: web.Request) -> web.Response:
    ns, bid = request.match_info["ns"], request.match_info["batch"]
    return json_response(await svc(request).store.read(lambda t: batches.describe(t, ns, bid)))


async def cancel(request: web.Request) -> web.Response:
    ns, bid = request.match_info["ns"], request.match_info["batch"]
    msg = await read(request, CancelBatchRequest)
    return json_response(
        await svc(request).write(
            deduped(ns, msg.request_id, lambda ctx: batches.cancel(ctx, ns, bid), BatchDescription)
        )
    )


async def list_batches(request: web.Request) -> web.Response:
    ns = request.match_info["ns"]
    size = integer(request.query.get("page_size"), "page_size", 100, 1, 1000)
    after = _page_token(request.query.get("next_page_token") or "")
    return json_response(
        await svc(request).store.read(lambda t: batches.list_page(t, ns, after, size))
    )


def _page_token(raw: str) -> tuple[float, str] | None:
    if not raw:
        return None
    created, sep, bid = raw.partition(":")
    try:
        if not sep or not bid:
            raise ValueError
        return float(created), bid
    except ValueError:
        raise BadRequest("next_page_token is not one this server gave") from None


def add_routes(app: web.Application, prefix: str) -> None:
    """Under ``prefix`` (``/api/v1/namespaces/{ns}``)."""
    one = prefix + "/batches/{batch}"
    r = app.router
    r.add_post(prefix + "/batches", start)
    r.add_get(prefix + "/batches", list_batches)
    r.add_get(one, describe)
    r.add_post(one + "/cancel", cancel)
