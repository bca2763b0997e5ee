"""Property-based fuzzing of the whole HTTP API against its OpenAPI document.

schemathesis generates requests for every operation in the served document (valid ones and
invalid ones) and sends them to a real in-process server. Every response must:

* never be a 5xx (a 500 is a bug; the only 5xx the API documents is a query's 504 timeout),
* have a status, content type and body that the document declares for the operation,
* if it is an error, have the one shape ``{"error": {"code", "message"}}``.

Then the same server must still run a real workflow end to end.

Profiles: the CI profile (default) runs a few derandomized examples per operation, about
30-60 s in all. ``PLAIT_FUZZ_EXAMPLES=500 pytest tests/fuzz`` runs a long, randomized
session (``PLAIT_FUZZ_SEED`` fixes its seed to replay a failure). ``PLAIT_FUZZ_DB=postgres``
fuzzes a server on a fresh PostgreSQL database (``PLAIT_TEST_PG``) instead of SQLite.
"""

from __future__ import annotations

import collections
import json
import math
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from plait import Worker, activity, workflow
from plait.server import api_doc
from tests.fuzz.live import Live, LiveServer, ServerErrors, capture_server_errors, every_other

EXAMPLES = int(os.environ.get("PLAIT_FUZZ_EXAMPLES", "0"))
"""0 is the CI profile; more is the long profile."""
CI = EXAMPLES == 0
SEED = int(os.environ.get("PLAIT_FUZZ_SEED", "20250131"))

SPEC: dict[str, Any] = json.loads(json.dumps(api_doc.document()))


def config() -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "seed": SEED,
        "generation": {"max-examples": 6 if CI else EXAMPLES, "deterministic": CI,
                       "mode": "all", "database": "none"},
        "phases": {"stateful": {"enabled": False}},
    })


schema = schemathesis.openapi.from_dict(SPEC, config=config())


# -- checks ---------------------------------------------------------------------------------
def no_server_error(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    if response.status_code < 500:
        return
    if response.status_code == 504 and case.operation.definition.raw.get(
            "operationId") == "queryWorkflow":
        return  # documented: no worker answered the query in time
    raise AssertionError(f"server error {response.status_code}: {response.text[:500]}")


def error_shape(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    if response.status_code < 400:
        return
    ctype = response.headers.get("content-type", [""])[0] if isinstance(
        response.headers.get("content-type"), list) else response.headers.get("content-type", "")
    assert str(ctype).startswith("application/json"), f"error with content type {ctype!r}"
    body = json.loads(response.content)
    assert isinstance(body, dict) and set(body) == {"error"}, body
    err = body["error"]
    assert isinstance(err, dict) and set(err) == {"code", "message"}, body
    assert isinstance(err["code"], str) and err["code"], body
    assert isinstance(err["message"], str) and err["message"], body


CHECKS = [no_server_error, error_shape, status_code_conformance, content_type_conformance,
          response_schema_conformance]


# -- the live server -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    if os.environ.get("PLAIT_FUZZ_DB") == "postgres":  # a fresh database on PLAIT_TEST_PG
        from tests.store.pgdb import fresh_database

        with fresh_database() as url, LiveServer(db=url) as s:
            yield s
        return
    with LiveServer() as s:
        yield s


@pytest.fixture(scope="module")
def errors(server: LiveServer) -> Iterator[ServerErrors]:
    with capture_server_errors() as handler:
        yield handler


@pytest.fixture(scope="module")
def live(server: LiveServer) -> Live:
    return Live(server.address)


PICK = every_other()
TOKEN_KIND = {
    "completeWorkflowTask": "workflow", "failWorkflowTask": "workflow",
    "completeActivityTask": "activity", "failActivityTask": "activity",
    "heartbeatActivityTask": "activity", "handOverActivityTask": "activity",
    "respondQueryTask": "query",
}
WID_OPS = {"describeWorkflow", "getWorkflowHistory", "getWorkflowResult", "signalWorkflow",
           "queryWorkflow", "updateWorkflow", "getUpdateOutcome", "cancelWorkflow"}


WAITS = {"queryWorkflow": ("body", "timeout"), "updateWorkflow": ("body", "wait"),
         "pollTasks": ("body", "wait"), "getWorkflowResult": ("query", "wait"),
         "getUpdateOutcome": ("query", "wait")}
"""Where each long-poll takes its wait. Any call may meet a live workflow (the fuzzer starts
some itself), so a wait left out (or null, or 0 for a query's timeout), which would mean the
server's default of 10-30 s, is made short too."""
CAP = 0.05


def shorten_wait(case: schemathesis.Case, op: str) -> None:
    where, key = WAITS[op]
    if where == "query" and case.query is None:
        case.query = {}
    params = case.body if where == "body" else case.query
    if not isinstance(params, dict):
        return
    value = params.get(key)
    if value in (None, 0, "0", "", False):
        params[key] = CAP if where == "body" else str(CAP)
        return
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return  # invalid: the server must refuse it
    if math.isfinite(seconds) and seconds > CAP:
        params[key] = CAP if where == "body" else str(CAP)


def prepare(case: schemathesis.Case, live: Live) -> str | None:
    """Cut long-polls short and put live handles into half the cases; returns the kind of
    live token used, if any."""
    op = case.operation.definition.raw["operationId"]
    if op in WAITS:
        shorten_wait(case, op)
    if not PICK(op):
        return None
    body = case.body if isinstance(case.body, dict) else None
    kind = TOKEN_KIND.get(op)
    if kind is not None and body is not None and "token" in body:
        body["token"] = live.token(kind)
        return kind
    path = case.path_parameters
    if op in WID_OPS and path is not None:
        path.update(ns="default", wid=live.target_id)
    elif op in ("heartbeatSession", "closeSession") and path is not None:
        path["sid"] = live.session()
    elif op == "pollTasks" and body is not None and "session_id" in body:
        body["session_id"] = live.session()
        if path is not None:
            path["ns"] = "default"
    return None


CALLS: list[tuple[str, int, float]] = []


@schema.parametrize()
def test_api_fuzz(case: schemathesis.Case, server: LiveServer, live: Live,
                  errors: ServerErrors) -> None:
    kind = prepare(case, live)
    started = time.monotonic()
    response = case.call(base_url=server.address, timeout=30)
    op = case.operation.definition.raw["operationId"]
    CALLS.append((op, response.status_code, time.monotonic() - started))
    if kind is not None and (response.status_code < 300 or response.status_code == 409):
        live.used(kind)  # consumed (or gone): the next case needs a new one
    if op == "closeSession":
        live.forget_session("fuzz")
    logged, errors.records = errors.describe(), []
    case.validate_response(response, checks=CHECKS)
    assert not logged, logged


# -- afterwards: the server still works -------------------------------------------------------
@activity.defn
async def shout(word: str) -> str:
    return word.upper()


@workflow.defn
class AfterFuzz:
    @workflow.run
    async def run(self, word: str) -> str:
        loud = await workflow.execute_activity(shout, word,
                                               start_to_close_timeout=timedelta(seconds=10))
        return f"{loud}!"


def test_server_still_runs_a_workflow(server: LiveServer, live: Live) -> None:
    assert CALLS, "the fuzzer sent no request"
    print(f"{len(CALLS)} requests; {live.fetches} live tokens in {live.fetch_time:.2f} s")
    by_op: dict[str, list[float]] = {}
    statuses: dict[str, collections.Counter[int]] = {}
    for op, status, seconds in CALLS:
        by_op.setdefault(op, []).append(seconds)
        statuses.setdefault(op, collections.Counter())[status] += 1
    for op, times in sorted(by_op.items(), key=lambda kv: -sum(kv[1])):
        seen = " ".join(f"{k}x{v}" for k, v in sorted(statuses[op].items()))
        print(f"{op:24} {len(times):5} requests {sum(times):6.2f} s  {seen}")

    async def end_to_end() -> str:
        env = server.env
        assert env is not None
        async with Worker(env.client, task_queue="after-fuzz", workflows=[AfterFuzz],
                          activities=[shout]):
            handle = await env.client.start_workflow(AfterFuzz.run, "plait",
                                                     id=f"after-fuzz-{time.time_ns()}",
                                                     task_queue="after-fuzz")
            result: str = await handle.result(timeout=timedelta(seconds=30))
            return result
    assert server.run(end_to_end()) == "PLAIT!"
