"""The wire's enums carry exactly the strings the API always carried, and name every error
code the server can answer, so adopting them changes no byte on the wire."""

from __future__ import annotations

import re
from pathlib import Path

import orjson

from plait.protocol.enums import (
    CLOSED_STATUSES,
    ErrorCode,
    TaskKind,
    WorkflowStatus,
)
from plait.server import run

SERVER = Path(__file__).resolve().parents[2] / "src" / "plait" / "server"


def test_members_are_their_old_strings_on_the_wire() -> None:
    assert WorkflowStatus.RUNNING == "RUNNING" and run.RUNNING == WorkflowStatus.RUNNING
    assert orjson.dumps({"kind": TaskKind.ACTIVITY}) == b'{"kind":"activity"}'
    assert orjson.dumps(ErrorCode.STALE_TASK) == b'"stale_task"'


def test_closed_statuses_are_the_servers() -> None:
    assert set(run.CLOSED) == CLOSED_STATUSES
    assert {str(s) for s in WorkflowStatus} == set(run.CLOSED) | {run.RUNNING}


def test_every_code_the_server_names_is_an_error_code() -> None:
    """A new ``code="..."`` literal in the server without an enum member fails here."""
    named = set()
    for path in SERVER.rglob("*.py"):
        named |= set(re.findall(r'\bcode\s*=\s*"([a-z_]+)"', path.read_text()))
    assert named, "the pattern no longer finds the server's error codes"
    assert named <= {c.value for c in ErrorCode}, named - {c.value for c in ErrorCode}
