"""Namespaces and API keys: what the tenancy API reads and answers (API.md "Namespaces, API
keys, TLS")."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct

__all__ = ["ApiKeyInfo", "ApiKeyList", "CreateApiKeyRequest", "CreateNamespaceRequest",
           "CreatedApiKey", "CsrfToken", "NamespaceInfo", "NamespaceList", "RevokedApiKey", "Role",
           "UpdateNamespaceRequest"]

Role = Literal["reader", "writer", "worker", "admin"]
Retention = Annotated[float, Meta(ge=1, description="Seconds a closed run is kept (at least 1).")]
"""At least a second: a smaller one means nothing, and PostgreSQL cannot store the tiniest
floats (5e-324 was a 500)."""
NamespaceName = Annotated[str, Meta(min_length=1, max_length=200,
                                    pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
"""Letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit."""


class CreateNamespaceRequest(Struct, kw_only=True):
    name: NamespaceName
    retention: Retention | None = None
    """Default: the server's (7 days)."""
    description: str = ""


class UpdateNamespaceRequest(Struct, kw_only=True):
    """What to change; a field left out is kept."""

    retention: Retention | None = None
    description: str | None = None


class NamespaceInfo(Struct, kw_only=True):
    name: str
    retention: float
    description: str
    created_at: float
    """Unix time; 0 for one that existed before namespaces were created explicitly."""


class NamespaceList(Struct, kw_only=True):
    namespaces: list[NamespaceInfo]


class CreateApiKeyRequest(Struct, kw_only=True):
    namespace: Annotated[str, Meta(min_length=1, description="A namespace, or * for all.")]
    role: Role
    name: str = ""
    expires_in: Annotated[float, Meta(gt=0)] | None = None
    """Seconds from now; null: never."""


class ApiKeyInfo(Struct, kw_only=True):
    """A key as listed: never the key itself."""

    key_id: str
    name: str
    namespace: str
    role: Role
    created_at: float
    expires_at: float | None
    revoked_at: float | None


class CreatedApiKey(ApiKeyInfo, kw_only=True):
    key: str
    """The key: shown this once, only its hash is stored."""


class ApiKeyList(Struct, kw_only=True):
    api_keys: list[ApiKeyInfo]


class RevokedApiKey(Struct, kw_only=True):
    key_id: str
    revoked: bool
    """False when it was revoked already."""


class CsrfToken(Struct, kw_only=True):
    """The caller's key, as the console shows it, and the token its browser requests that
    change state must carry (:mod:`plait.server.csrf`)."""

    csrf_token: str
    """Send as ``X-CSRF-Token``; empty from a server without ``--auth`` (no key to bind it
    to, and nothing to send)."""
    key_id: str | None = None
    role: Role | None = None
    namespace: str | None = None
    """The namespace the key covers, or ``*``."""
