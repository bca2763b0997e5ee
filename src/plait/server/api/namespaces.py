"""Namespaces: created, listed, described and updated here, never implied by a call that
names one (API.md "Namespaces, API keys, TLS")."""

from __future__ import annotations

from aiohttp import web

from plait.protocol.enums import ErrorCode
from plait.protocol.tenancy import (
    CreateNamespaceRequest,
    NamespaceInfo,
    NamespaceList,
    UpdateNamespaceRequest,
)
from plait.server.api.http import json_response, read, svc
from plait.server.auth import PermissionDenied, covers, principal_of
from plait.server.errors import Conflict, NotFound
from plait.store.namespaces import NamespaceRow

__all__ = ["add_routes"]


def _info(row: NamespaceRow) -> NamespaceInfo:
    return NamespaceInfo(name=row.name, retention=row.retention_seconds,
                         description=row.description, created_at=row.created_at)


async def create_namespace(request: web.Request) -> web.Response:
    msg = await read(request, CreateNamespaceRequest)
    key = principal_of(request)
    if key is not None and key.namespace != "*":
        raise PermissionDenied(f"API key {key.key_id} covers namespace {key.namespace!r} "
                               "only; creating a namespace takes an admin key for '*'")
    service = svc(request)
    retention = msg.retention or service.config.retention_seconds
    made = await service.write(lambda ctx: ctx.txn.create_namespace(
        msg.name, retention, msg.description, ctx.wall))
    if not made:
        raise Conflict(f"namespace {msg.name!r} exists already",
                       code=ErrorCode.NAMESPACE_ALREADY_EXISTS)
    service.namespace_created(msg.name)
    row = await service.store.read(lambda t: t.describe_namespace(msg.name))
    assert row is not None
    return json_response(_info(row), 201)


async def list_namespaces(request: web.Request) -> web.Response:
    """Every namespace the caller's key covers (all of them without ``--auth``)."""
    rows = await svc(request).store.read(lambda t: t.list_namespaces())
    key = principal_of(request)
    return json_response(NamespaceList(namespaces=[
        _info(r) for r in rows if key is None or covers(key, r.name)]))


async def describe_namespace(request: web.Request) -> web.Response:
    ns = request.match_info["ns"]  # exists: the access middleware checked
    row = await svc(request).store.read(lambda t: t.describe_namespace(ns))
    if row is None:
        raise NotFound(f"namespace {ns!r} does not exist", code=ErrorCode.NAMESPACE_NOT_FOUND)
    return json_response(_info(row))


async def update_namespace(request: web.Request) -> web.Response:
    ns = request.match_info["ns"]
    msg = await read(request, UpdateNamespaceRequest)
    service = svc(request)
    await service.write(lambda ctx: ctx.txn.update_namespace(ns, msg.retention,
                                                             msg.description))
    row = await service.store.read(lambda t: t.describe_namespace(ns))
    if row is None:
        raise NotFound(f"namespace {ns!r} does not exist", code=ErrorCode.NAMESPACE_NOT_FOUND)
    return json_response(_info(row))


def add_routes(app: web.Application, api: str) -> None:
    r = app.router
    r.add_post(api + "/namespaces", create_namespace)
    r.add_get(api + "/namespaces", list_namespaces)
    r.add_get(api + "/namespaces/{ns}", describe_namespace)
    r.add_post(api + "/namespaces/{ns}/update", update_namespace)
