"""API keys: create, list, revoke (:mod:`plait.server.api.apikeys`)."""

from __future__ import annotations

from plait.protocol import tenancy
from plait.protocol.openapi import Operation, Param, Reply

__all__ = ["OPERATIONS"]

OPERATIONS: list[Operation] = [
    Operation(
        "POST",
        "/api/v1/api-keys",
        "createApiKey",
        summary="Make an API key for a namespace (or *) and a role; the key is in this "
                "answer only",
        tag="operations",
        request=tenancy.CreateApiKeyRequest,
        replies={201: Reply("The key and its row.", tenancy.CreatedApiKey)},
        errors=(400, 404, 413, 503),
    ),
    Operation(
        "GET",
        "/api/v1/api-keys",
        "listApiKeys",
        summary="The keys of the namespaces the caller administers (never the keys "
                "themselves)",
        tag="operations",
        replies={200: Reply("The keys.", tenancy.ApiKeyList)},
        errors=(404, 503),
    ),
    Operation(
        "POST",
        "/api/v1/api-keys/{key_id}/revoke",
        "revokeApiKey",
        summary="Revoke a key: at once on this server, within 15 s on others",
        tag="operations",
        params=[Param("key_id", where="path", required=True, description="The key's id.")],
        replies={200: Reply("Whether it was revoked now.", tenancy.RevokedApiKey)},
        errors=(400, 404, 413, 503),
    ),
    Operation(
        "GET",
        "/api/v1/csrf",
        "getCsrfToken",
        summary="The caller's key and the CSRF token its browser requests must carry",
        tag="operations",
        description=(
            "A request a browser sends (it carries `Origin` or `Sec-Fetch-Site`) with a "
            "method other than GET or HEAD must carry this token as `X-CSRF-Token`, or it is "
            "a 403 `permission_denied`. The token is bound to the key (the same on every "
            "server); from a server without `--auth` it is empty."
        ),
        replies={200: Reply("The key and its token.", tenancy.CsrfToken)},
        errors=(404, 503),
    ),
]
