"""The one route -> roles table covers every route ``make_app`` registers (a new route
must be placed in it), and the key cache re-reads a key within its time to live (a key
revoked through another server stops working within 15 s here)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from plait.server.app import make_app
from plait.server.auth import (
    ADMIN,
    CACHE_SECONDS,
    ROUTE_ROLES,
    KeyCache,
    Role,
    hash_secret,
    make_key,
    parse_key,
    roles_of,
)
from plait.server.service import Service
from plait.store.sqlite import SQLiteStore


def registered(tmp_path: Path) -> set[tuple[str, str]]:
    service = Service(SQLiteStore(str(tmp_path / "t.db")))
    app = make_app(service)
    routes = {(r.method, r.resource.canonical) for r in app.router.routes()
              if r.resource is not None and r.method != "HEAD"}
    asyncio.run(service.store.close())
    return routes


def test_every_route_is_in_the_table(tmp_path: Path) -> None:
    routes = registered(tmp_path)
    missing = {r for r in routes if r not in ROUTE_ROLES}
    assert missing == set()
    stale = {r for r in ROUTE_ROLES if r not in routes}
    assert stale == set()  # and nothing in it that is not served


def test_roles() -> None:
    assert roles_of("GET", "/health") is None
    assert roles_of("GET", "/metrics") == frozenset(Role)
    assert roles_of("GET", "/metrics", public_metrics=True) is None
    assert roles_of("HEAD", "/api/v1/namespaces/{ns}/workflows") == \
        roles_of("GET", "/api/v1/namespaces/{ns}/workflows")
    assert roles_of("POST", "/api/v1/{tail}") == frozenset(Role)  # any other API path
    assert roles_of("PATCH", "/somewhere/else") == ADMIN  # closed until decided


def test_keys_are_random_and_only_their_hash_is_kept() -> None:
    a = make_key("ns", "reader", now=0.0)
    b = make_key("ns", "reader", now=0.0)
    assert a.key != b.key and a.row.key_id != b.row.key_id
    parsed = parse_key(a.key)
    assert parsed is not None and parsed[0] == a.row.key_id
    assert a.row.secret_hash == hash_secret(parsed[1]) and parsed[1] not in repr(a.row)
    assert parse_key(a.key + "x") is None and parse_key("Bearer " + a.key) is None
    assert CACHE_SECONDS <= 15


def test_the_cache_reads_a_key_again_after_its_ttl(tmp_path: Path) -> None:
    async def go() -> None:
        service = Service(SQLiteStore(str(tmp_path / "c.db")))
        now = [1000.0]
        cache = KeyCache(service, ttl=10.0, clock=lambda: now[0])
        made = make_key("*", "admin", now=time.time())
        await service.store.write(lambda t: t.insert_api_key(made.row))
        row = await cache.row(made.row.key_id)
        assert row is not None and row.revoked_at is None
        # revoked elsewhere (another server): still trusted here until the ttl passes
        await service.store.write(lambda t: t.revoke_api_key(made.row.key_id, time.time()))
        now[0] += 9.9
        cached = await cache.row(made.row.key_id)
        assert cached is not None and cached.revoked_at is None
        now[0] += 0.2
        fresh = await cache.row(made.row.key_id)
        assert fresh is not None and fresh.revoked_at is not None
        assert await cache.row("0000000000000000") is None
        await service.store.close()
    asyncio.run(go())


def test_token_bodies_are_read_as_the_routes_read_them() -> None:
    """Every token a route would act on is checked: written as parse_token reads it, and in
    a batch whose other items are malformed."""
    from plait.server.auth import _task_ids

    assert _task_ids(b'{"token": "12.3"}') == {12}
    assert _task_ids(b'{"token": "+12.3"}') == {12}  # int() takes a sign and spaces
    assert _task_ids(b'{"token": " 7.1"}') == {7}
    assert _task_ids(b'{"completions": [5, {"token": 9}, {"type": "x", "token": "4.1"},'
                     b' {"token": "8.2", "commands": "nonsense"}]}') == {4, 8}
    assert _task_ids(b'{"token": "x.1"}') == set()
    assert _task_ids(b'{"token": "99999999999999999999.1"}') == set()  # no such row anyway
    assert _task_ids(b'[1, 2]') == set() and _task_ids(b"") == set()


def test_the_openapi_document_declares_the_key_and_which_routes_need_none() -> None:
    """The bearer scheme is declared for every operation; exactly the routes the role table
    leaves public say ``security: []`` (the document and the check cannot disagree)."""
    from plait.server import api_doc

    doc = api_doc.document()
    scheme = doc["components"].get("securitySchemes", {})["apiKey"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert doc.get("security") == [{"apiKey": []}]
    public = {(method.upper(), path) for path, item in doc["paths"].items()
              for method, op in item.items() if op.get("security") == []}
    assert public == {route for route, roles in ROUTE_ROLES.items() if roles is None}
    assert ("GET", "/ui/{version}/{name}.js") in public and ("GET", "/health") in public


def test_csrf_tokens_are_bound_to_their_key() -> None:
    from plait.server.csrf import csrf_token

    a, b = make_key("ns", "writer", now=0.0), make_key("ns", "writer", now=0.0)
    assert csrf_token(a.row) == csrf_token(a.row) != csrf_token(b.row)
    secret = a.key.split(".", 1)[1]
    assert secret not in csrf_token(a.row) and a.row.secret_hash not in csrf_token(a.row)
