"""The OpenAPI document (``server/openapi.json``) is valid, is what the server serves, and
names exactly the routes ``make_app`` registers, the command kinds and the event types: the
spec and the code cannot drift apart."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import aiohttp
import pytest
from openapi_spec_validator import validate

from plait.protocol.events import CommandKind, EventType
from plait.server.app import make_app
from plait.server.service import Service
from plait.store import open_store
from plait.testing import WorkflowEnvironment

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def load_spec() -> dict[str, Any]:
    raw = resources.files("plait.server").joinpath("openapi.json").read_text()
    spec: dict[str, Any] = json.loads(raw)
    return spec


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return load_spec()


def test_spec_is_valid_openapi_31(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1")
    validate(spec)


async def app_routes() -> set[tuple[str, str]]:
    store = open_store(":memory:")
    try:
        app = make_app(Service(store))
    finally:
        await store.close()
    routes = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method == "HEAD":  # aiohttp adds HEAD to every GET route
            continue
        if route.method == "*":  # the catch-all under /api/v1 that answers 404 no_route
            assert path == "/api/v1/{tail}", path
            continue
        routes.add((route.method, path))
    return routes


def spec_routes(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in spec["paths"].items()
            for method in item if method in METHODS}


async def test_every_route_is_in_the_spec_and_vice_versa(spec: dict[str, Any]) -> None:
    served, documented = await app_routes(), spec_routes(spec)
    assert served - documented == set(), "routes missing from server/openapi.json"
    assert documented - served == set(), "documented routes that make_app does not register"


def test_every_operation_documents_its_errors(spec: dict[str, Any]) -> None:
    """Each operation names its statuses, and every JSON error response is the one shape."""
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            assert op.get("operationId") and op.get("summary"), (method, path)
            assert "default" not in op["responses"], (method, path)
            if path.startswith("/api/v1/") and path != "/api/v1/openapi.json":
                assert {"404", "503"} <= set(op["responses"]), (method, path)
                if method == "post":
                    assert {"400", "413"} <= set(op["responses"]), (method, path)
            for status, resp in op["responses"].items():
                if status.startswith(("4", "5")):
                    ref = resp.get("$ref") or ""
                    schema = (resp.get("content") or {}).get("application/json", {}).get(
                        "schema", {})
                    assert ref.startswith("#/components/responses/") or \
                        schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
    for name, resp in spec["components"]["responses"].items():
        assert resp["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"}, name


def test_commands_and_events_match_the_protocol(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    kinds = set(schemas["Command"]["discriminator"]["mapping"])
    assert kinds == {k.value for k in CommandKind}
    for kind, ref in schemas["Command"]["discriminator"]["mapping"].items():
        assert schemas[ref.rsplit("/", 1)[1]]["properties"]["kind"]["const"] == kind
    assert {b["$ref"] for b in schemas["Command"]["oneOf"]} == \
        set(schemas["Command"]["discriminator"]["mapping"].values())
    assert schemas["EventType"]["enum"] == [e.value for e in EventType]
    branches = {b["properties"]["event_type"]["const"] for b in schemas["Event"]["oneOf"]}
    assert branches == {e.value for e in EventType}


async def test_the_server_serves_the_packaged_spec(env: WorkflowEnvironment) -> None:
    async with aiohttp.ClientSession() as http, \
            http.get(env.address + "/api/v1/openapi.json") as r:
        assert r.status == 200 and r.content_type == "application/json"
        assert await r.json() == load_spec()
