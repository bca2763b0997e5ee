"""What the worker sends is encoded by msgspec from the wire structs, and the user's values
inside keep the bytes the orjson converter always gave them."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import msgspec

from plait._api import Api
from plait._worker.completions import Completions
from plait._worker.lease import Lease
from plait._worker.slots import Slots
from plait._worker.workflows import WorkflowTasks
from plait.protocol.commands import (
    CompleteWorkflowCommand,
    ScheduleActivityCommand,
    UpsertSearchAttributesCommand,
)
from plait.protocol.jsoncodec import dumps
from plait.protocol.payload import encode
from plait.protocol.transport import MockTransport, Request, Response
from plait.runtime.wire import UnreadableTask, decode_tasks, wire_command
from plait.runtime.wire import encode as encode_json

WHEN = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@dataclasses.dataclass
class Order:
    id: int
    at: dt.datetime
    weight: float


def test_payload_data_keeps_the_converters_bytes() -> None:
    order = Order(7, WHEN, 1e16)
    cmd = ScheduleActivityCommand(activity_id="1", activity_type="ship",
                                  input=[encode(order), encode("plain")], header={})
    sent = encode_json(wire_command(cmd))
    assert dumps(order) in sent  # "+00:00" and 1e+16, as orjson writes them
    assert msgspec.json.decode(sent)["input"][1] == {"encoding": "json", "data": "plain"}
    closing = encode_json(wire_command(CompleteWorkflowCommand(result=encode(WHEN))))
    assert closing == b'{"kind":"complete_workflow","result":{"encoding":"json","data":' \
                      b'"2026-01-01T00:00:00+00:00"}}'


def test_search_attributes_keep_the_converters_bytes() -> None:
    cmd = UpsertSearchAttributesCommand(search_attributes={"due": WHEN})
    assert encode_json(wire_command(cmd)) == \
        b'{"kind":"upsert_search_attributes","search_attributes":' + dumps({"due": WHEN}) + b"}"


def test_a_command_with_plain_values_is_sent_as_it_is() -> None:
    cmd = ScheduleActivityCommand(activity_id="1", activity_type="noop", input=[encode(1)],
                                  header={}, start_to_close_timeout=60.0)
    assert wire_command(cmd) is cmd  # the hot path copies nothing
    assert msgspec.json.decode(encode_json(cmd)) == {
        "kind": "schedule_activity", "activity_id": "1", "activity_type": "noop",
        "input": [{"encoding": "json", "data": 1}], "header": {},
        "start_to_close_timeout": 60.0}


async def test_a_task_with_an_unknown_event_type_is_failed_saying_so() -> None:
    """A newer server's event type: the worker fails the workflow task as ``unknown_event``
    (retried, shown), naming the event, instead of losing the poll's other tasks."""
    sent: list[dict[str, Any]] = []

    def server(request: Request) -> Response:
        items = request.json()["completions"]
        sent.extend(items)
        return Response.of({"results": [{"result": {"next_attempt_in": 1.0}}] * len(items)})

    api = Api(MockTransport(server))
    held: set[str] = set()
    tasks = WorkflowTasks({}, 10, api=api, completions=Completions(api), held=held,
                          task_queue="q", identity="me", own_activities=frozenset(),
                          activity_slots=Slots(1), eager=lambda: False,
                          start_activity=lambda t, s: None, lease=Lease(api, held))
    body = msgspec.json.encode({"tasks": [{
        "kind": "workflow", "token": "3.1", "namespace": "default", "workflow_id": "w",
        "run_id": "r", "workflow_type": "Greets", "task_queue": "q", "attempt": 1,
        "previous_upto": 0, "started_event_id": 2, "started_time": 0.0, "updates": [],
        "events": [{"event_id": 1, "event_type": "WORKFLOW_EXECUTION_TELEPORTED",
                    "timestamp": "2026-01-01T00:00:00Z", "attributes": {}}]}]})
    [task] = decode_tasks(body)
    assert isinstance(task, UnreadableTask)
    await tasks.run(task)
    [fail] = sent
    assert (fail["type"], fail["token"], fail["cause"]) == ("workflow_fail", "3.1",
                                                             "unknown_event")
    assert "WORKFLOW_EXECUTION_TELEPORTED" in fail["failure"]["message"]
    assert held == set()
