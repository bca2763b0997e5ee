"""The workflow task the server sends is the wire's :class:`WorkflowTask`: the server builds
its own struct (events kept as the JSON text they were stored as), so this pins that the two
cannot drift apart, field by field, and that what goes out decodes as what workers read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from plait.protocol.attributes import (
    WorkflowExecutionStartedAttributes,
    WorkflowTaskScheduledAttributes,
)
from plait.protocol.history import (
    Event,
    WorkflowExecutionStartedEvent,
    WorkflowTaskScheduledEvent,
)
from plait.protocol.requests import StartWorkflowRequest
from plait.protocol.sessions import OpenSessionRequest
from plait.protocol.tasks import Task, UpdateRequested, WorkflowTask
from plait.server import dispatch, lifecycle, sessions
from plait.server.answers import OutgoingWorkflowTask
from plait.server.service import Service
from plait.store.sqlite import SQLiteStore


def names(cls: type[msgspec.Struct]) -> list[str]:
    return [f.name for f in msgspec.structs.fields(cls)]


def test_the_fields_are_the_wire_task_fields_in_order() -> None:
    assert names(OutgoingWorkflowTask) == names(WorkflowTask)


def test_the_tag_is_the_wire_task_tag() -> None:
    ours, wire = OutgoingWorkflowTask.__struct_config__, WorkflowTask.__struct_config__
    assert (ours.tag_field, ours.tag) == (wire.tag_field, wire.tag) == ("kind", "workflow")


def events() -> list[Event]:
    return [
        WorkflowExecutionStartedEvent(
            event_id=1, timestamp="2026-01-31T12:00:00.123456Z",
            attributes=WorkflowExecutionStartedAttributes(
                workflow_type="Order", task_queue="q", input=[{"encoding": "json", "data": 1}],
                header={}, attempt=1, first_run_id="r1")),
        WorkflowTaskScheduledEvent(
            event_id=2, timestamp="2026-01-31T12:00:00.123457Z",
            attributes=WorkflowTaskScheduledAttributes(task_queue="q", attempt=1))]


def test_an_encoded_one_decodes_as_the_wire_task() -> None:
    stored = [msgspec.json.encode(e) for e in events()]  # the events as the store keeps them
    update = UpdateRequested(update_id="u1", update_name="set",
                             input=[{"encoding": "json", "data": 2}], header={"k": "v"})
    out = OutgoingWorkflowTask(
        token="7.2", namespace="default", workflow_id="w", run_id="r1", workflow_type="Order",
        task_queue="q", attempt=3, previous_upto=0, started_event_id=3,
        started_time=1769860800.5, events=[msgspec.Raw(s) for s in stored], updates=[update])
    body = msgspec.json.encode(out)
    task = msgspec.json.decode(body, type=WorkflowTask)
    assert task == WorkflowTask(
        token="7.2", namespace="default", workflow_id="w", run_id="r1", workflow_type="Order",
        task_queue="q", attempt=3, previous_upto=0, started_event_id=3,
        started_time=1769860800.5, events=events(), updates=[update])
    # A poll's answer is a list of tasks told apart by their tag: this one is a workflow task.
    assert msgspec.json.decode(b"[" + body + b"]", type=list[Task]) == [task]


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    store = SQLiteStore(str(tmp_path / "shape.db"))
    try:
        yield Service(store)
    finally:
        await store.close()


async def test_a_claimed_task_decodes_as_the_wire_task(service: Service) -> None:
    opened = await service.write(lambda ctx: sessions.open_session(
        ctx, "default", OpenSessionRequest(task_queue="q", workflow_types=["Order"]),
        expiry=30.0))
    sid = opened.session_id
    await service.write(lambda ctx: lifecycle.start_workflow(ctx, "default", StartWorkflowRequest(
        workflow_id="w", workflow_type="Order", task_queue="q",
        input=[{"encoding": "json", "data": 1}])))
    [out] = await service.write(lambda ctx: dispatch.claim(ctx, "default", "q", "workflow",
                                                           sid, 10))
    assert isinstance(out, OutgoingWorkflowTask)
    [task] = msgspec.json.decode(msgspec.json.encode([out]), type=list[Task])
    assert isinstance(task, WorkflowTask)
    assert (task.token, task.workflow_id, task.run_id, task.attempt, task.started_event_id) == (
        out.token, "w", out.run_id, 1, 3)
    assert [type(e) for e in task.events] == [WorkflowExecutionStartedEvent,
                                              WorkflowTaskScheduledEvent]
    assert [e.event_id for e in task.events] == [1, 2]
    started = task.events[0]
    assert isinstance(started, WorkflowExecutionStartedEvent)
    assert (started.attributes.workflow_type, started.attributes.input) == (
        "Order", [{"encoding": "json", "data": 1}])
