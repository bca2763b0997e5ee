"""API keys: made, listed and revoked by admins (:mod:`plait.server.auth` checks them).

An admin key manages the keys of the namespaces it covers; only an admin key for ``*`` makes
or revokes keys for ``*``. The key itself is in the answer to its creation only.
"""

from __future__ import annotations

import time

from aiohttp import web

from plait.protocol.enums import ErrorCode
from plait.protocol.tenancy import (
    ApiKeyInfo,
    ApiKeyList,
    CreateApiKeyRequest,
    CreatedApiKey,
    CsrfToken,
    RevokedApiKey,
)
from plait.server.api.http import json_response, read, svc
from plait.server.auth import AUTH, PermissionDenied, make_key, principal_of
from plait.server.csrf import csrf_token
from plait.server.errors import NotFound
from plait.store.api_keys import ApiKeyRow

__all__ = ["add_routes", "key_info"]


def key_info(row: ApiKeyRow) -> ApiKeyInfo:
    return ApiKeyInfo(key_id=row.key_id, name=row.name, namespace=row.namespace,
                      role=row.role,  # type: ignore[arg-type]  # the store holds roles only
                      created_at=row.created_at, expires_at=row.expires_at,
                      revoked_at=row.revoked_at)


def _may_manage(request: web.Request, namespace: str) -> bool:
    key = principal_of(request)
    return key is None or key.namespace in ("*", namespace)


async def create_key(request: web.Request) -> web.Response:
    msg = await read(request, CreateApiKeyRequest)
    key = principal_of(request)
    if not _may_manage(request, msg.namespace):
        assert key is not None
        raise PermissionDenied(f"API key {key.key_id} cannot make keys for namespace "
                               f"{msg.namespace!r}")
    service = svc(request)
    if msg.namespace != "*":
        await service.ensure_namespace(msg.namespace)

    made = make_key(msg.namespace, msg.role, msg.name, now=time.time(),
                    expires_in=msg.expires_in)
    await service.write(lambda ctx: ctx.txn.insert_api_key(made.row))
    info = key_info(made.row)
    return json_response(CreatedApiKey(key=made.key, key_id=info.key_id, name=info.name,
                                       namespace=info.namespace, role=info.role,
                                       created_at=info.created_at, expires_at=info.expires_at,
                                       revoked_at=None), 201)


async def list_keys(request: web.Request) -> web.Response:
    rows = await svc(request).store.read(lambda t: t.list_api_keys())
    return json_response(ApiKeyList(api_keys=[
        key_info(r) for r in rows if _may_manage(request, r.namespace)]))


async def revoke_key(request: web.Request) -> web.Response:
    key_id = request.match_info["key_id"]
    service = svc(request)
    row = await service.store.read(lambda t: t.get_api_key(key_id))
    # A key of a namespace the caller does not manage is "not found" to it, as is a key that
    # does not exist: an admin of one namespace cannot probe the key ids of others.
    if row is None or not _may_manage(request, row.namespace):
        raise NotFound(f"no API key {key_id!r}", code=ErrorCode.NOT_FOUND)
    revoked = await service.write(lambda ctx: ctx.txn.revoke_api_key(key_id, time.time()))
    auth = request.app.get(AUTH)
    if auth is not None:
        auth.keys.forget(key_id)  # in force on this server at once
    return json_response(RevokedApiKey(key_id=key_id, revoked=revoked))


async def csrf(request: web.Request) -> web.Response:
    """The caller's key and its CSRF token: what the console reads when it signs in (a wrong
    key is a 401 here, before anything else is shown)."""
    key = principal_of(request)
    if key is None:
        return json_response(CsrfToken(csrf_token=""))
    return json_response(CsrfToken(csrf_token=csrf_token(key), key_id=key.key_id,
                                   role=key.role,  # type: ignore[arg-type]
                                   namespace=key.namespace))


def add_routes(app: web.Application, api: str) -> None:
    r = app.router
    r.add_get(api + "/csrf", csrf)
    r.add_post(api + "/api-keys", create_key)
    r.add_get(api + "/api-keys", list_keys)
    r.add_post(api + "/api-keys/{key_id}/revoke", revoke_key)
