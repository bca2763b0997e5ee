"""What every fuzz run shares: the profile (CI or long), the checks every answer must pass,
and how a generated case is prepared (long-polls cut short, live handles put in).

Each test module builds its own schemathesis schema from :data:`SPEC` with :func:`config`, so
the variants (without keys, with keys, refused) keep one profile and one set of checks.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import schemathesis
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from plait.server import api_doc
from tests.fuzz.live import Live, every_other

__all__ = [
    "CHECKS",
    "CI",
    "EXAMPLES",
    "SEED",
    "SPEC",
    "WAITS",
    "config",
    "error_shape",
    "no_server_error",
    "prepare",
    "shorten_wait",
]

EXAMPLES = int(os.environ.get("PLAIT_FUZZ_EXAMPLES", "0"))
"""0 is the CI profile; more is the long profile."""
CI = EXAMPLES == 0
SEED = int(os.environ.get("PLAIT_FUZZ_SEED", "20250131"))

SPEC: dict[str, Any] = json.loads(json.dumps(api_doc.document()))


def config(ci_examples: int = 6, *, coverage: bool = True) -> schemathesis.Config:
    """``ci_examples`` per operation in the CI profile (``PLAIT_FUZZ_EXAMPLES`` in the long
    one); ``coverage`` adds schemathesis' coverage cases (the boundaries and wrong types of
    every field: most of a CI run's requests)."""
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "max-examples": ci_examples if CI else EXAMPLES,
                "deterministic": CI,
                "mode": "all",
                "database": "none",
            },
            "phases": {"stateful": {"enabled": False}, "coverage": {"enabled": coverage}},
        }
    )


# -- checks ---------------------------------------------------------------------------------
def no_server_error(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    if response.status_code < 500:
        return
    if (
        response.status_code == 504
        and case.operation.definition.raw.get("operationId") == "queryWorkflow"
    ):
        return  # documented: no worker answered the query in time
    raise AssertionError(f"server error {response.status_code}: {response.text[:500]}")


def error_shape(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    if response.status_code < 400:
        return
    ctype = (
        response.headers.get("content-type", [""])[0]
        if isinstance(response.headers.get("content-type"), list)
        else response.headers.get("content-type", "")
    )
    assert str(ctype).startswith("application/json"), f"error with content type {ctype!r}"
    body = json.loads(response.content)
    assert isinstance(body, dict) and set(body) == {"error"}, body
    err = body["error"]
    assert isinstance(err, dict) and set(err) == {"code", "message"}, body
    assert isinstance(err["code"], str) and err["code"], body
    assert isinstance(err["message"], str) and err["message"], body


CHECKS = [
    no_server_error,
    error_shape,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

PICK = every_other()
TOKEN_KIND = {
    "completeWorkflowTask": "workflow",
    "failWorkflowTask": "workflow",
    "completeActivityTask": "activity",
    "failActivityTask": "activity",
    "heartbeatActivityTask": "activity",
    "handOverActivityTask": "activity",
    "respondQueryTask": "query",
}
WID_OPS = {
    "describeWorkflow",
    "getWorkflowHistory",
    "getWorkflowResult",
    "signalWorkflow",
    "queryWorkflow",
    "updateWorkflow",
    "getUpdateOutcome",
    "cancelWorkflow",
}


WAITS = {
    "queryWorkflow": ("body", "timeout"),
    "updateWorkflow": ("body", "wait"),
    "pollTasks": ("body", "wait"),
    "getWorkflowResult": ("query", "wait"),
    "getUpdateOutcome": ("query", "wait"),
}
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
