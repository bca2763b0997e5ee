"""The fuzzer against a server that checks API keys (``start_local(auth=True)``, as
``plait server --auth``), over every operation of the served OpenAPI document.

Two variants, on one server:

* **Refused** (first, on an untouched server): every generated request is sent five times,
  with no key, a header that holds no plait key, a well-formed key the server never made, a
  revoked key, and a ``reader`` key of another namespace. Half the requests that name a
  workflow name one that exists. Every operation but the public ones (``/health``, the
  console's page and files: ``security: []``) must answer 401 ``unauthenticated`` to the
  first four and 403 ``permission_denied`` to the reader, except the few any valid key may
  call (list namespaces, this document, metrics, the CSRF token); never a 404 that would say
  whether the workflow exists (only ``no_route``, for a generated path no route matches, which
  says nothing). Then nothing has changed: the workflows, histories, schedules, batches, rate
  limits, namespaces and keys read the same with the admin key.
* **Keyed**: every request carries an admin key, alternately the environment's key for every
  namespace (``*``) and an admin key of ``default`` only (whose task tokens and sessions the
  server checks against the tasks' namespaces), with live task tokens and sessions as in
  :mod:`tests.fuzz.test_api_fuzz`.

Every answer, in both: no 5xx (but a query's documented 504), the one error shape, and a
status, content type and body that the document declares (it declares 401 and 403 on every
operation that takes a key). No request carries ``Origin`` or ``Sec-Fetch-Site``: like the
client, workers and the CLI, the fuzzer is no browser, so the server wants no CSRF token.
Afterwards the same server runs a workflow end to end with the environment's client.

Profiles as in :mod:`tests.fuzz.test_api_fuzz`: the CI profile runs 3 examples per operation
with coverage cases for the keyed variant and 2 without them for the refused one (40-60 s
in all, about 11,000 requests); ``PLAIT_FUZZ_EXAMPLES`` (and ``PLAIT_FUZZ_SEED``,
``PLAIT_FUZZ_DB``) apply to both.
"""

from __future__ import annotations

import collections
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import requests
import schemathesis

from plait import Worker, activity, workflow
from tests.fuzz.cases import CHECKS, SPEC, WAITS, config, prepare, shorten_wait
from tests.fuzz.live import Live, LiveServer, ServerErrors, capture_server_errors, every_other
from tests.fuzz.test_api_fuzz import EXPIRY  # the live tokens' session outlives the run

keyed_schema = schemathesis.openapi.from_dict(SPEC, config=config(3))
refused_schema = schemathesis.openapi.from_dict(SPEC, config=config(2, coverage=False))

OTHER = "fuzz-other"
"""The namespace of the reader key: never one the refused requests name."""
BROWSER = ("origin", "sec-fetch-site", "x-csrf-token")
UNKNOWN_KEY = "plait_0123456789abcdef." + "A" * 43
CALLS: list[tuple[str, int, float]] = []
"""(operation, status, seconds) of every request; refused ones name their caller."""


@dataclass(frozen=True)
class Keys:
    admin: str
    """The environment's: admin of every namespace."""
    default_admin: str
    """Admin of ``default`` only."""
    refused: dict[str, str | None]
    """Credentials the server must refuse (401), by name."""
    reader: str
    """A reader of :data:`OTHER` (403 outside it)."""


# -- the live server -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    if os.environ.get("PLAIT_FUZZ_DB") == "postgres":  # a fresh database on PLAIT_TEST_PG
        from tests.store.pgdb import fresh_database

        with fresh_database() as url, LiveServer(session_expiry=EXPIRY, db=url, auth=True) as s:
            yield s
        return
    with LiveServer(session_expiry=EXPIRY, auth=True) as s:
        yield s


@pytest.fixture(scope="module")
def errors(server: LiveServer) -> Iterator[ServerErrors]:
    with capture_server_errors() as handler:
        yield handler


@pytest.fixture(scope="module")
def keys(server: LiveServer) -> Keys:
    assert server.env is not None and server.env.api_key is not None
    admin = Live(server.address, server.env.api_key)
    admin.call("POST", "/api/v1/namespaces", {"name": OTHER})

    def make(ns: str, role: str) -> dict[str, str]:
        made: dict[str, str] = admin.call(
            "POST", "/api/v1/api-keys", {"namespace": ns, "role": role, "name": f"fuzz-{ns}-{role}"}
        )
        return made

    revoked = make("*", "admin")
    admin.call("POST", f"/api/v1/api-keys/{revoked['key_id']}/revoke")
    return Keys(
        admin=server.env.api_key,
        default_admin=make("default", "admin")["key"],
        reader=make(OTHER, "reader")["key"],
        refused={
            "no key": None,
            "not a key": "Bearer not-a-plait-key",
            "unknown key": f"Bearer {UNKNOWN_KEY}",
            "revoked key": f"Bearer {revoked['key']}",
        },
    )


@pytest.fixture(scope="module")
def live(server: LiveServer, keys: Keys) -> Live:
    return Live(server.address, keys.admin)


def snapshot(live: Live) -> dict[str, Any]:
    """What a refused request must not change, read with the admin key."""
    seen: dict[str, Any] = {
        "namespaces": live.call("GET", "/api/v1/namespaces"),
        "keys": live.call("GET", "/api/v1/api-keys"),
        "target": live.call(
            "GET", f"/api/v1/namespaces/default/workflows/{live.target_id}/history"
        ),
    }
    for ns in ("default", OTHER):
        base = f"/api/v1/namespaces/{ns}"
        seen[ns] = [
            live.call("GET", base + path)
            for path in ("/workflow-count", "/workflows", "/schedules", "/batches", "/rate-limits")
        ]
    return seen


@pytest.fixture(scope="module")
def before(live: Live) -> dict[str, Any]:
    return snapshot(live)


def send(
    case: schemathesis.Case,
    server: LiveServer,
    authorization: str | None,
) -> schemathesis.Response:
    """The case as the client would send it: this credential, and no browser headers."""
    headers = {
        k: v
        for k, v in (case.headers or {}).items()
        if k.lower() not in ("authorization", *BROWSER)
    }
    if authorization is not None:
        headers["Authorization"] = authorization
    case.headers = headers
    response = case.call(base_url=server.address, timeout=30)
    sent = {k.lower(): v for k, v in response.request.headers.items()}
    assert not set(BROWSER) & set(sent), sent
    assert sent.get("authorization") == authorization, sent
    return response


# -- refused: no key, a bad key, a key of another namespace -----------------------------------
AIM = every_other()
WID_PARAMS = {"ns", "wid"}


def aim(case: schemathesis.Case, target: str) -> None:
    """Half the requests that name a workflow name one that exists (the answer must not say
    so); none names the reader's own namespace."""
    op = case.operation.definition.raw["operationId"]
    path = case.path_parameters
    if path is None:
        return
    if set(path) >= WID_PARAMS and AIM(op):
        path.update(ns="default", wid=target)
    elif path.get("ns") == OTHER:
        path["ns"] = "default"


ANY_KEY = {"listNamespaces", "getOpenApi", "metrics", "getCsrfToken", "openRequestStream"}
"""What API.md lets any valid key call (a reader of another namespace too), and the request
stream, which any valid key may open because every request on it is checked as its own route
(tests/integration/test_request_stream.py). Written here, not read from the server's role
table, so a route the table opens by mistake fails this test."""


def expected(case: schemathesis.Case, reader: bool) -> int | None:
    """The refusal an operation owes this caller; None where it may answer: the operations
    the document marks public (``security: []``), and for the reader, :data:`ANY_KEY`."""
    raw = case.operation.definition.raw
    if raw.get("security") == [] or (reader and raw["operationId"] in ANY_KEY):
        return None
    return 403 if reader else 401


@refused_schema.parametrize()
def test_refused(
    case: schemathesis.Case,
    server: LiveServer,
    keys: Keys,
    live: Live,
    before: dict[str, Any],
    errors: ServerErrors,
) -> None:
    aim(case, live.target_id)
    op = case.operation.definition.raw["operationId"]
    if op in WAITS:
        shorten_wait(case, op)  # a refusal is immediate; a wrongful wait must not stall
    for who, authorization in [*keys.refused.items(), ("reader", f"Bearer {keys.reader}")]:
        response = send(case, server, authorization)
        CALLS.append((f"{op} ({who})", response.status_code, 0.0))
        logged, errors.records = errors.describe(), []
        case.validate_response(response, checks=CHECKS)
        assert not logged, logged
        want = expected(case, reader=who == "reader")
        if want is None:
            continue
        code = response.json()["error"]["code"] if response.status_code >= 400 else None
        if who == "reader" and (response.status_code, code) == (404, "no_route"):
            continue  # a generated path no route matches: says nothing about a workflow
        assert (response.status_code, code) == (
            want,
            "unauthenticated" if want == 401 else "permission_denied",
        ), (who, response.status_code, response.text[:300])


def test_refused_requests_changed_nothing(live: Live, before: dict[str, Any]) -> None:
    assert any("(" in op for op, _, _ in CALLS), "the refused variant sent no request"
    assert snapshot(live) == before


# -- keyed: an admin key on every request ------------------------------------------------------
WIDE = every_other()


@keyed_schema.parametrize()
def test_keyed(
    case: schemathesis.Case, server: LiveServer, keys: Keys, live: Live, errors: ServerErrors
) -> None:
    kind = prepare(case, live)
    op = case.operation.definition.raw["operationId"]
    key = keys.admin if WIDE(op) else keys.default_admin
    started = time.monotonic()
    response = send(case, server, f"Bearer {key}")
    CALLS.append((op, response.status_code, time.monotonic() - started))
    if kind is not None and (response.status_code < 300 or response.status_code == 409):
        live.used(kind)
    if op == "closeSession":
        live.forget_session("fuzz")
    logged, errors.records = errors.describe(), []
    case.validate_response(response, checks=CHECKS)
    assert not logged, logged
    assert response.status_code != 401, response.text[:300]  # a valid key is never refused


# -- afterwards: the server still works ---------------------------------------------------------
@activity.defn
async def shout(word: str) -> str:
    return word.upper()


@workflow.defn
class AfterAuthFuzz:
    @workflow.run
    async def run(self, word: str) -> str:
        loud = await workflow.execute_activity(
            shout, word, start_to_close_timeout=timedelta(seconds=10)
        )
        return f"{loud}!"


def test_server_still_runs_a_workflow(server: LiveServer) -> None:
    statuses: dict[str, collections.Counter[int]] = {}
    for op, status, _ in CALLS:
        who = op.partition(" (")[2].rstrip(")") or "admin"
        statuses.setdefault(who, collections.Counter())[status] += 1
    for who, seen in statuses.items():
        print(
            f"{who:12} {sum(seen.values()):6} requests  "
            + " ".join(f"{k}x{v}" for k, v in sorted(seen.items()))
        )

    async def end_to_end() -> str:
        env = server.env
        assert env is not None
        async with Worker(
            env.client, task_queue="after-auth-fuzz", workflows=[AfterAuthFuzz], activities=[shout]
        ):
            handle = await env.client.start_workflow(
                AfterAuthFuzz.run,
                "keys",
                id=f"after-auth-fuzz-{time.time_ns()}",
                task_queue="after-auth-fuzz",
            )
            result: str = await handle.result(timeout=timedelta(seconds=30))
            return result

    assert server.run(end_to_end()) == "KEYS!"
    assert requests.get(server.address + "/health", timeout=10).status_code == 200
