"""Micro benchmark: reading a request body, today's way against msgspec's.

Two bodies as the Python client and worker send them on the W1/W2 path: a start-workflow
request and a batch item completing a workflow task with one ``schedule_activity`` command
(what ``/api/v1/task-completions`` carries). Each is read by:

- ``before``: reading the body as before (orjson, object and NUL checks: ``json_object``, the
  old ``body()``) and the hand validators ``server/app.py`` had before the typed wire (copied
  here, trimmed to what these bodies touch, so the comparison stays reproducible);
- ``double parse``: the first typed wire (until the services took structs): orjson for the
  dict the service functions took, then msgspec into the struct, and the envelope check;
- ``now``: what the server does now (``plait.server.decoding.decode``): msgspec straight
  into the struct the service takes, and the payload envelope check;
- ``msgspec alone``: ``msgspec.json.decode(raw, type=Struct)``, which validates while it
  parses;
- ``msgspec+to_builtins``: the same, converted back to dicts (an alternative boundary, which
  would drop unknown keys and nulls the services get today).

Usage: ``python -m bench.wire_decode [--number N]``; prints microseconds per body (best of
``--repeat``).
"""

from __future__ import annotations

import argparse
import math
import re
import timeit
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
import orjson

from plait.protocol.completions import TaskCompletion
from plait.protocol.requests import StartWorkflowRequest
from plait.server.decoding import decode

__all__ = ["main"]

START: dict[str, Any] = {
    "workflow_id": "bench-12345", "workflow_type": "ThreeSteps", "task_queue": "bench",
    "input": [{"encoding": "json", "data": 12345}], "id_reuse_policy": "allow_duplicate",
    "id_conflict_policy": "fail", "search_attributes": None, "memo": None,
    "execution_timeout": None, "task_timeout": 10.0, "header": {},
    "request_id": str(uuid.uuid4()), "retry_policy": None, "wait_result": 30.0}

COMPLETION: dict[str, Any] = {
    "type": "workflow_complete", "token": "123456.1", "eager_activities": 1,
    "update_rejections": [], "eager_workflow": True,
    "commands": [{
        "kind": "schedule_activity", "activity_id": "1", "activity_type": "noop",
        "task_queue": "bench", "input": [{"encoding": "json", "data": 1}],
        "start_to_close_timeout": 10.0, "schedule_to_close_timeout": None,
        "schedule_to_start_timeout": None, "heartbeat_timeout": None, "retry_policy": None,
        "rate_limit_key": None, "header": {}}]}


# -- today's path (server/app.py before the typed wire, trimmed to what these bodies touch) ---
class BadRequest(Exception):
    pass


def _payloads(req: dict[str, Any], key: str) -> None:
    value = req.get(key)
    if value is None:
        return
    if not isinstance(value, list):
        raise BadRequest(key)
    for item in value:
        if item is not None and not (isinstance(item, dict) and isinstance(
                item.get("encoding"), str) and "data" in item):
            raise BadRequest(key)


def _optional_str(req: dict[str, Any], key: str) -> None:
    if req.get(key) is not None and not isinstance(req[key], str):
        raise BadRequest(key)


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        raise BadRequest("number")
    return float(value)


_STRINGS = ("activity_id", "activity_type", "task_queue", "timer_id", "marker_name",
            "workflow_id", "workflow_type", "run_id", "signal_name", "update_id", "seq",
            "rate_limit_key", "parent_close_policy", "id_reuse_policy")
_NUMBERS = ("start_to_close_timeout", "schedule_to_close_timeout",
            "schedule_to_start_timeout", "heartbeat_timeout", "duration",
            "execution_timeout", "task_timeout")
_OBJECTS = ("header", "memo", "search_attributes")
_TOKEN = re.compile(r"[0-9]{1,18}\.[0-9]{1,18}", re.ASCII)


def json_object(raw: bytes) -> dict[str, Any]:
    """The old ``body()``: parse with orjson, check for an object (and NUL, rarely)."""
    data = orjson.loads(raw) if raw else {}
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    return data


def old_start(raw: bytes) -> Any:
    req = json_object(raw)  # the old ``body()``, moved: parse, object check, NUL check
    for key in ("id_reuse_policy", "id_conflict_policy", "identity"):
        _optional_str(req, key)
    _payloads(req, "input")
    _number(req.get("wait_result"))
    return req


def old_completion(raw: bytes) -> Any:
    req = json_object(raw)
    if not isinstance(req.get("type"), str) or not _TOKEN.fullmatch(req.get("token", "")):
        raise BadRequest("token")
    if not isinstance(req.get("commands"), list):
        raise BadRequest("commands")
    for cmd in req["commands"]:
        if not isinstance(cmd, dict) or not isinstance(cmd.get("kind"), str):
            raise BadRequest("kind")
        for key in _STRINGS:
            _optional_str(cmd, key)
        for key in _NUMBERS:
            value = cmd.get(key)
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, (int, float))):
                raise BadRequest(key)
        for key in _OBJECTS:
            if cmd.get(key) is not None and not isinstance(cmd[key], dict):
                raise BadRequest(key)
        _payloads(cmd, "input")
    for r in req.get("update_rejections") or []:
        _optional_str(r, "update_id")
    return req


# -- the typed path -------------------------------------------------------------------------
start_decoder = msgspec.json.Decoder(StartWorkflowRequest)
completion_decoder = msgspec.json.Decoder(TaskCompletion)


def cases() -> dict[str, dict[str, Callable[[bytes], Any]]]:
    return {
        "start workflow": {
            "before: orjson+validators": old_start,
            "double parse: orjson+msgspec": lambda raw: (
                json_object(raw), decode(raw, StartWorkflowRequest)),
            "now: msgspec+envelopes": lambda raw: decode(raw, StartWorkflowRequest),
            "msgspec alone": start_decoder.decode,
            "msgspec+to_builtins": lambda raw: msgspec.to_builtins(start_decoder.decode(raw)),
        },
        "task completion": {
            "before: orjson+validators": old_completion,
            "double parse: orjson+msgspec": lambda raw: (
                json_object(raw), decode(raw, TaskCompletion)),
            "now: msgspec+envelopes": lambda raw: decode(raw, TaskCompletion),
            "msgspec alone": completion_decoder.decode,
            "msgspec+to_builtins": lambda raw: msgspec.to_builtins(
                completion_decoder.decode(raw)),
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--number", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=15, help="best of this many runs")
    args = parser.parse_args(argv)
    bodies = {"start workflow": orjson.dumps(START), "task completion": orjson.dumps(COMPLETION)}
    for name, ways in cases().items():
        raw = bodies[name]
        print(f"{name} ({len(raw)} bytes)")
        for way, fn in ways.items():
            best = min(timeit.repeat(lambda fn=fn, raw=raw: fn(raw), number=args.number,
                                     repeat=args.repeat))
            print(f"  {way:30s} {best / args.number * 1e6:7.2f} us")


if __name__ == "__main__":
    main()
