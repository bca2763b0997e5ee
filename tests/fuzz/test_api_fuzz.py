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

This server checks no keys; :mod:`tests.fuzz.test_api_fuzz_auth` fuzzes one that does
(``--auth``), with refused callers and with admin keys.
"""

from __future__ import annotations

import collections
import os
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import schemathesis

from plait import Worker, activity, workflow
from tests.fuzz.cases import CHECKS, SPEC, config, prepare
from tests.fuzz.live import Live, LiveServer, ServerErrors, capture_server_errors

schema = schemathesis.openapi.from_dict(SPEC, config=config())


# -- the live server -------------------------------------------------------------------------
# The session holding the live tokens never heartbeats (a heartbeat that does not list a
# token would give its task up). With the default 30 s expiry it expired during a run on a
# loaded machine: a poll just before the expiry was answered, and the task it brought was
# taken back before the harness could complete it (409 stale_task in the token's setup).
# The fuzzer's own sessions do not depend on expiring.
EXPIRY = 3600.0


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    if os.environ.get("PLAIT_FUZZ_DB") == "postgres":  # a fresh database on PLAIT_TEST_PG
        from tests.store.pgdb import fresh_database

        with fresh_database() as url, LiveServer(session_expiry=EXPIRY, db=url) as s:
            yield s
        return
    with LiveServer(session_expiry=EXPIRY) as s:
        yield s


@pytest.fixture(scope="module")
def errors(server: LiveServer) -> Iterator[ServerErrors]:
    with capture_server_errors() as handler:
        yield handler


@pytest.fixture(scope="module")
def live(server: LiveServer) -> Live:
    return Live(server.address)


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
