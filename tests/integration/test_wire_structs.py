"""Each route reads its body with the struct the document names for it: for every field of
every documented request, a value of the wrong JSON type is refused with a 400 naming that
field. Payload envelopes still pass through untouched, keys a codec adds included."""

from __future__ import annotations

from typing import Any

import aiohttp
import msgspec
import pytest

from plait.protocol.openapi import Operation
from plait.server import api_doc
from plait.testing import WorkflowEnvironment

WRONG: list[Any] = ["x", 5, 1.5, True, [], {}]
"""Candidates for a value a field must refuse."""


def wrong_value(kind: Any) -> Any:
    """A JSON value the field type refuses, or None when it takes anything (``Any``)."""
    for value in WRONG:
        try:
            msgspec.convert(value, kind)
        except msgspec.ValidationError:
            return value
    return None


def field_cases() -> list[tuple[str, str, str, Any]]:
    """(operation, route, field, a value it must refuse) for every documented body field."""
    cases = []
    for op in api_doc.OPERATIONS:
        if op.request is None or op.operation_id == "completeTasks":  # items: tested below
            continue
        for field in msgspec.structs.fields(op.request):
            bad = wrong_value(field.type)
            if bad is not None:
                cases.append((op.operation_id, path_of(op), field.encode_name, bad))
    return cases


def path_of(op: Operation) -> str:
    return op.method + " " + op.path.format(ns="default", wid="w", sid="s", queue="q",
                                            sched="sc", aid="a", batch="b")


@pytest.mark.parametrize(("op", "route", "field", "bad"), field_cases(),
                         ids=lambda v: v if isinstance(v, str) else repr(v))
async def test_every_documented_field_is_checked_by_its_route(
        env: WorkflowEnvironment, op: str, route: str, field: str, bad: Any) -> None:
    method, path = route.split(" ", 1)
    async with aiohttp.ClientSession() as http, \
            http.request(method, env.address + path, json={field: bad}) as r:
        body = await r.json()
    assert r.status == 400, (op, field, body)
    code, message = body["error"]["code"], body["error"]["message"]
    if field == "token":
        assert code == "bad_token", body
    else:
        assert code == "bad_request" and field in message, (op, field, body)


async def test_a_batch_item_of_the_wrong_shape_is_answered_alone(
        env: WorkflowEnvironment) -> None:
    async with aiohttp.ClientSession() as http, http.post(
            env.address + "/api/v1/task-completions",
            json={"completions": [{"type": "activity_fail", "token": "1.1", "failure": 5}]},
    ) as r:
        body = await r.json()
    assert r.status == 200, body
    error = body["results"][0]["error"]
    assert error["status"] == 400 and "failure" in error["message"], error


async def test_envelope_keys_a_codec_adds_reach_the_history(env: WorkflowEnvironment,
                                                            queue: str) -> None:
    sealed = {"encoding": "binary/encrypted", "data": "AAEC", "key_id": "k2", "extra": [1]}
    ns = env.address + "/api/v1/namespaces/default"
    async with aiohttp.ClientSession() as http:
        async with http.post(ns + "/workflows", json={
                "workflow_id": "sealed", "workflow_type": "T", "task_queue": queue,
                "input": [sealed], "identity": None, "unknown_field": 1}) as r:
            assert r.status == 201, await r.json()
        async with http.post(ns + "/workflows/sealed/signal", json={
                "signal_name": "s", "input": [sealed]}) as r:
            assert r.status == 200, await r.json()
        async with http.get(ns + "/workflows/sealed/history") as r:
            events = (await r.json())["events"]
    started = events[0]["attributes"]
    assert started["input"] == [sealed]
    signaled = [e for e in events if e["event_type"] == "WORKFLOW_EXECUTION_SIGNALED"]
    assert signaled[0]["attributes"]["input"] == [sealed]
