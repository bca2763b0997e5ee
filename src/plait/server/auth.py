"""Who may call what: API keys, the role each route needs, and the one middleware that checks
both (API.md "Namespaces, API keys, TLS").

A key reads ``plait_<key_id>.<secret>``: ``key_id`` (16 hex digits) names its row, ``secret``
is 32 random bytes (base64url). The store keeps only the SHA-256 of the secret. A fast hash is
right here, unlike for passwords: a key has 256 bits of entropy from ``secrets``, so no
dictionary or brute-force search is possible whatever the hash's speed, and a slow KDF would
only cost every request its time. Rows are cached in process (:class:`KeyCache`) for
:data:`CACHE_SECONDS`: a revocation through this server is in force at once (it drops the
entry), through another server within that many seconds.

Every route is in :data:`ROUTE_ROLES` (a test checks that every route ``make_app`` registers
is). Public, without a key: ``/health`` and the console's page and files (no data; the console
asks for a key and reads through the API). A browser's state-changing request must also carry
its key's CSRF token (:mod:`plait.server.csrf`). The answer to a caller without a valid key
is 401 ``unauthenticated``, to a key without the role or the namespace 403
``permission_denied``; both are decided from the route and the
path's namespace alone, before anything is read, so neither says whether a workflow exists.
The namespace's own existence is checked after (404 ``namespace_not_found``), so a key of
another namespace cannot probe namespace names either.

Routes that name no namespace address a task by its token or a worker session by its id; a
key bound to one namespace may use them only for tasks and sessions of that namespace (one
read of the task or session rows: keys for ``*`` skip it).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from plait.protocol.enums import ErrorCode
from plait.server.api.http import SERVICE, error_response, refuse_nul
from plait.server.csrf import check_csrf
from plait.server.errors import ApiError
from plait.server.fencing import parse_token
from plait.server.key_rates import KeyRates
from plait.server.service import Service
from plait.store.api_keys import ApiKeyRow

__all__ = ["ADMIN", "ANY", "AUTH", "CACHE_SECONDS", "PUBLIC", "READ", "READ_OR_WORK",
           "ROUTE_ROLES", "SESSION_ROUTES", "TOKEN_ROUTES", "WORK", "WRITE", "WRITE_OR_WORK",
           "Auth", "AuthSettings", "KeyCache", "MadeKey", "PermissionDenied", "RateLimited", "Role",
           "Unauthenticated", "access_middleware", "covers", "hash_secret", "make_key",
           "parse_key", "principal_of", "roles_of"]

CACHE_SECONDS = 10.0
"""How long a key's row is trusted before it is read again (revocations elsewhere)."""
CACHE_MAX = 10_000
"""Entries kept at most (unknown key ids included): a flood of made-up ids cannot grow it."""
KEY_PREFIX = "plait_"
_KEY = re.compile(r"^plait_([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$")


class Role(enum.StrEnum):
    READER = "reader"
    WRITER = "writer"
    WORKER = "worker"
    ADMIN = "admin"


class Unauthenticated(ApiError):
    status = 401
    code = ErrorCode.UNAUTHENTICATED


class PermissionDenied(ApiError):
    status = 403
    code = ErrorCode.PERMISSION_DENIED


class RateLimited(ApiError):
    """The key made more requests than ``--key-rate-limit`` allows (429, ``Retry-After``)."""

    status = 429
    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, wait: float) -> None:
        super().__init__(message)
        self.retry_after = KeyRates.retry_after(wait)


# -- keys ------------------------------------------------------------------------------------
def hash_secret(secret: str) -> str:
    """The stored form of a key's secret: hex SHA-256 (see the module docstring for why a
    fast hash)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_key(key: str) -> tuple[str, str] | None:
    """(key_id, secret) of a well-formed key, else None."""
    m = _KEY.match(key)
    return (m.group(1), m.group(2)) if m else None


@dataclasses.dataclass(frozen=True)
class MadeKey:
    key: str
    """Shown once to whoever made it; never stored."""
    row: ApiKeyRow


def make_key(namespace: str, role: str, name: str = "", *, now: float,
             expires_in: float | None = None) -> MadeKey:
    """A new key and the row that stores it (only its hash)."""
    Role(role)  # ValueError for a role that is none
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    row = ApiKeyRow(key_id=key_id, name=name, namespace=namespace, role=role,
                    secret_hash=hash_secret(secret), created_at=now,
                    expires_at=None if expires_in is None else now + expires_in,
                    revoked_at=None)
    return MadeKey(f"{KEY_PREFIX}{key_id}.{secret}", row)


def covers(row: ApiKeyRow, namespace: str) -> bool:
    return row.namespace in ("*", namespace)


# -- the route table -------------------------------------------------------------------------
Roles = frozenset[Role] | None
"""The roles a route admits; None: no key needed."""
PUBLIC: Roles = None
ANY: Roles = frozenset(Role)
READ: Roles = frozenset({Role.READER, Role.WRITER, Role.ADMIN})
WRITE: Roles = frozenset({Role.WRITER, Role.ADMIN})
WORK: Roles = frozenset({Role.WORKER, Role.ADMIN})
WRITE_OR_WORK: Roles = frozenset({Role.WRITER, Role.WORKER, Role.ADMIN})
READ_OR_WORK: Roles = frozenset({Role.READER, Role.WRITER, Role.WORKER, Role.ADMIN})
ADMIN: Roles = frozenset({Role.ADMIN})

_NS = "/api/v1/namespaces/{ns}"
_WF = _NS + "/workflows/{wid}"
_SC = _NS + "/schedules/{sched}"
_BA = _NS + "/batches/{batch}"
ROUTE_ROLES: dict[tuple[str, str], Roles] = {
    # workflows
    ("POST", _NS + "/workflows"): WRITE,
    ("GET", _NS + "/workflows"): READ,
    ("GET", _NS + "/workflow-count"): READ,
    ("GET", _WF): READ,
    # a worker replays a run's history when it has not cached it
    ("GET", _WF + "/history"): READ_OR_WORK,
    ("GET", _WF + "/result"): READ,
    ("POST", _WF + "/terminate"): WRITE,
    ("POST", _WF + "/signal"): WRITE,
    ("POST", _WF + "/cancel"): WRITE,
    ("POST", _WF + "/query"): READ,
    ("POST", _WF + "/update"): WRITE,
    ("GET", _WF + "/updates/{uid}"): READ,
    # operating runs (API.md: pause, reset, delete are a writer's)
    ("POST", _WF + "/pause"): WRITE,
    ("POST", _WF + "/unpause"): WRITE,
    ("POST", _WF + "/reset"): WRITE,
    ("DELETE", _WF): WRITE,
    ("POST", _WF + "/activities/{aid}/pause"): WRITE,
    ("POST", _WF + "/activities/{aid}/unpause"): WRITE,
    ("POST", _WF + "/activities/{aid}/reset"): WRITE,
    # rate limits: read by readers, set by admins
    ("PUT", _NS + "/rate-limits"): ADMIN,
    ("GET", _NS + "/rate-limits"): READ,
    ("DELETE", _NS + "/rate-limits"): ADMIN,
    # schedules
    ("POST", _NS + "/schedules"): WRITE,
    ("GET", _NS + "/schedules"): READ,
    ("GET", _SC): READ,
    ("DELETE", _SC): WRITE,
    ("POST", _SC + "/update"): WRITE,
    ("POST", _SC + "/pause"): WRITE,
    ("POST", _SC + "/unpause"): WRITE,
    ("POST", _SC + "/trigger"): WRITE,
    ("POST", _SC + "/backfill"): WRITE,
    # batch jobs (API.md: batches are a writer's)
    ("POST", _NS + "/batches"): WRITE,
    ("GET", _NS + "/batches"): READ,
    ("GET", _BA): READ,
    ("POST", _BA + "/cancel"): WRITE,
    # workers
    ("POST", _NS + "/sessions"): WORK,
    ("POST", "/api/v1/sessions/{sid}/heartbeat"): WORK,
    ("DELETE", "/api/v1/sessions/{sid}"): WORK,
    ("GET", "/api/v1/sessions/{sid}/watch"): WORK,
    ("POST", _NS + "/task-queues/{queue}/poll"): WORK,
    # who polls a queue and what waits on it: what an operator (and the console) reads
    ("GET", _NS + "/task-queues/{queue}"): READ_OR_WORK,
    ("POST", "/api/v1/query-tasks/respond"): WORK,
    ("POST", "/api/v1/task-completions"): WORK,
    ("POST", "/api/v1/workflow-tasks/complete"): WORK,
    ("POST", "/api/v1/workflow-tasks/fail"): WORK,
    # an activity completed from outside (AsyncActivityHandle) is a writer's act
    ("POST", "/api/v1/activity-tasks/complete"): WRITE_OR_WORK,
    ("POST", "/api/v1/activity-tasks/fail"): WRITE_OR_WORK,
    ("POST", "/api/v1/activity-tasks/heartbeat"): WRITE_OR_WORK,
    ("POST", "/api/v1/activity-tasks/complete-async"): WORK,
    # namespaces and keys (the handlers check which namespaces a key covers)
    ("POST", "/api/v1/namespaces"): ADMIN,
    ("GET", "/api/v1/namespaces"): ANY,
    ("GET", _NS): READ,
    ("POST", _NS + "/update"): ADMIN,
    ("POST", "/api/v1/api-keys"): ADMIN,
    ("GET", "/api/v1/api-keys"): ADMIN,
    ("POST", "/api/v1/api-keys/{key_id}/revoke"): ADMIN,
    # the caller's own key and its CSRF token (the console's sign-in)
    ("GET", "/api/v1/csrf"): ANY,
    # the request stream: each request on it is checked as its own route is
    ("GET", "/api/v1/stream"): ANY,
    # the server itself
    ("GET", "/api/v1/openapi.json"): ANY,
    ("GET", "/health"): PUBLIC,
    ("GET", "/metrics"): ANY,  # PUBLIC with --public-metrics
    # the web UI's page and assets: the same files for everyone, no data (that comes from
    # the API, with the key the console asks for)
    ("GET", "/"): PUBLIC,
    ("GET", "/namespaces/{page}"): PUBLIC,
    ("GET", "/ui/{version}/{name}.js"): PUBLIC,
    ("GET", "/ui/{version}/style.css"): PUBLIC,
    ("*", "/api/v1/{tail}"): ANY,  # any other path: 404/405 only to a caller with a key
}
"""The roles each route (method, path as registered) admits. Reader < writer < admin; the
worker role is apart (it takes tasks, it does not steer workflows); admin holds every role in
its namespaces."""


def roles_of(method: str, path: str, *, public_metrics: bool = False) -> Roles:
    """The roles of a route; a route missing from the table admits admins only (a new route
    is closed until someone decides)."""
    if path == "/metrics" and public_metrics:
        return PUBLIC
    if method == "HEAD":
        method = "GET"
    if (method, path) in ROUTE_ROLES:
        return ROUTE_ROLES[(method, path)]
    return ROUTE_ROLES.get(("*", path), ADMIN)


TOKEN_ROUTES = frozenset({
    "/api/v1/task-completions", "/api/v1/workflow-tasks/complete", "/api/v1/workflow-tasks/fail",
    "/api/v1/activity-tasks/complete", "/api/v1/activity-tasks/fail",
    "/api/v1/activity-tasks/heartbeat", "/api/v1/activity-tasks/complete-async",
    "/api/v1/query-tasks/respond"})
"""Routes whose body names tasks by token (``token``, or ``completions[].token``)."""
SESSION_ROUTES = frozenset({"/api/v1/sessions/{sid}/heartbeat", "/api/v1/sessions/{sid}",
                            "/api/v1/sessions/{sid}/watch"})


class _Token(msgspec.Struct):
    token: Any = None


class _Tokens(msgspec.Struct):
    """Only the tokens of any task-addressed body (every other field is skipped). Lenient on
    purpose: a batch item this cannot read is one the route cannot run either, and one bad
    item must not hide the tokens of the others."""

    token: Any = None
    completions: list[msgspec.Raw] | None = None


_TOKENS = msgspec.json.Decoder(_Tokens)
_TOKEN = msgspec.json.Decoder(_Token)


def _task_ids(body: bytes) -> set[int]:
    """The task ids a body's tokens name, read as the routes read them
    (:func:`plait.server.fencing.parse_token`); none for a body that does not parse (the route
    refuses it whole)."""
    try:
        msg = _TOKENS.decode(body)
    except msgspec.DecodeError:
        return set()
    tokens = [msg.token]
    for raw in msg.completions or ():
        try:
            tokens.append(_TOKEN.decode(raw).token)
        except msgspec.DecodeError:
            continue
    ids = set()
    for token in tokens:
        if isinstance(token, str):
            try:
                task_id = parse_token(token)[0]
            except ApiError:
                continue
            if 0 <= task_id < 2 ** 63:
                ids.add(task_id)
    return ids


# -- checking keys ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class AuthSettings:
    public_metrics: bool = False
    """``/metrics`` answers without a key (``plait server --public-metrics``)."""
    cache_seconds: float = CACHE_SECONDS
    key_rate_limit: float | None = None
    """Requests per second each key may make on this server (``--key-rate-limit``); None:
    no limit (:mod:`plait.server.key_rates`)."""


class KeyCache:
    """Key rows by key id, each trusted for ``ttl`` seconds (a missing id too)."""

    def __init__(self, service: Service, ttl: float = CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.service = service
        self.ttl = ttl
        self.clock = clock
        self._rows: dict[str, tuple[float, ApiKeyRow | None]] = {}

    async def row(self, key_id: str) -> ApiKeyRow | None:
        now = self.clock()
        hit = self._rows.get(key_id)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        row = await self.service.store.read(lambda t: t.get_api_key(key_id))
        if len(self._rows) >= CACHE_MAX:
            self._rows.clear()
        self._rows[key_id] = (now, row)
        return row

    def forget(self, key_id: str) -> None:
        """The key changed through this server (revoked, made): read it again next time."""
        self._rows.pop(key_id, None)


class Auth:
    """The key check of a server started with ``--auth``."""

    def __init__(self, service: Service, settings: AuthSettings) -> None:
        self.service = service
        self.settings = settings
        self.keys = KeyCache(service, settings.cache_seconds)
        rate = settings.key_rate_limit
        self.rates = KeyRates(rate) if rate else None

    async def authenticate(self, header: str | None) -> ApiKeyRow:
        """The key of an ``Authorization: Bearer`` header, valid now; else 401."""
        if not header:
            raise Unauthenticated("this server requires an API key: send it as "
                                  "'Authorization: Bearer <key>' (api_key= or PLAIT_API_KEY)")
        scheme, _, key = header.partition(" ")
        parsed = parse_key(key.strip()) if scheme.lower() == "bearer" else None
        if parsed is None:
            raise Unauthenticated("the Authorization header does not hold a plait API key "
                                  "('Bearer plait_...')")
        key_id, secret = parsed
        row = await self.keys.row(key_id)
        if row is None or not hmac.compare_digest(row.secret_hash, hash_secret(secret)):
            raise Unauthenticated("unknown API key")
        if row.revoked_at is not None:
            raise Unauthenticated(f"API key {key_id} was revoked")
        if row.expires_at is not None and row.expires_at <= time.time():
            raise Unauthenticated(f"API key {key_id} has expired")
        return row

    async def authorize(self, request: web.Request, namespace: str | None) -> ApiKeyRow | None:
        """The caller's key if the route needs one and it admits the caller; else 401/403.
        Decided from the route, the path's namespace and the headers alone: nothing the path
        names is read (:meth:`check_addressed` does that, once the path is known sound)."""
        path = _route_path(request)
        roles = roles_of(request.method, path, public_metrics=self.settings.public_metrics)
        if roles is None:
            return None
        row = await self.authenticate(request.headers.get("Authorization"))
        if self.rates is not None:
            wait = self.rates.take(row.key_id)
            if wait:
                raise RateLimited(f"API key {row.key_id} is over this server's limit of "
                                  f"{self.rates.rate:g} requests per second "
                                  f"(--key-rate-limit); retry after {wait:.2f} s", wait)
        if Role(row.role) not in roles:
            raise PermissionDenied(f"API key {row.key_id} ({row.role}) may not call "
                                   f"{request.method} {path}")
        if namespace is not None and not covers(row, namespace):
            raise PermissionDenied(f"API key {row.key_id} does not cover namespace "
                                   f"{namespace!r}")
        check_csrf(request, row, PermissionDenied)
        return row

    async def check_addressed(self, request: web.Request, row: ApiKeyRow) -> None:
        """A task token or session id of another namespace: 403 (an unknown one goes on to
        the route, which answers as it does for any key). Keys for ``*`` and routes that
        name their namespace need no read."""
        if row.namespace == "*" or request.match_info.get("ns") is not None:
            return
        path = _route_path(request)
        store = self.service.store
        seen: set[str] = set()
        if path in SESSION_ROUTES:
            sid = request.match_info["sid"]
            session = await store.read(lambda t: t.get_session(sid))
            if session is not None:
                seen.add(session.namespace)
        elif path in TOKEN_ROUTES:
            ids = _task_ids(await request.read())  # kept: the route reads it again
            if ids:
                seen = await store.read(lambda t: {
                    task.namespace for task in map(t.get_task, ids) if task is not None})
        if any(not covers(row, ns) for ns in seen):
            raise PermissionDenied(f"API key {row.key_id} does not cover the namespace of "
                                   "this task or session")


def _route_path(request: web.Request) -> str:
    """The route as registered (what :data:`ROUTE_ROLES` names); the catch-all for a path no
    route matches."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "/api/v1/{tail}"


AUTH: web.AppKey[Auth] = web.AppKey("auth", Auth)
"""Set on the app of a server started with ``--auth``."""
_PRINCIPAL: web.RequestKey[ApiKeyRow | None] = web.RequestKey("api_key",
                                                              ApiKeyRow | None)  # type: ignore[arg-type]


def principal_of(request: web.Request) -> ApiKeyRow | None:
    """The key the request came with (None on a server without ``--auth``)."""
    return request.get(_PRINCIPAL)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The key first (with ``--auth``): a caller without a valid one learns nothing, not even
    that its path is malformed (401, 403). Then the path's strings (400 for a NUL), the task
    or session a namespaced key addresses (403), the namespace the path names (404)."""
    ns = request.match_info.get("ns")
    auth = request.app.get(AUTH)
    try:
        row = await auth.authorize(request, ns) if auth is not None else None
    except RateLimited as e:
        resp = error_response(e.status, e.code, e.message)
        resp.headers["Retry-After"] = e.retry_after
        return resp
    request[_PRINCIPAL] = row
    refuse_nul(request)
    if auth is not None and row is not None:
        await auth.check_addressed(request, row)
    if ns is not None:
        await request.app[SERVICE].ensure_namespace(ns)
    return await handler(request)
