"""The server's typed-dict answers name only fields their documenting wire struct has, so a
key added on one side without the other fails here rather than on a client."""

from __future__ import annotations

import msgspec
import pytest

from plait.protocol import completions, history, responses, tasks
from plait.server import answers


def _fields(struct: type[msgspec.Struct]) -> list[str]:
    return [f.encode_name for f in msgspec.structs.fields(struct)]


@pytest.mark.parametrize(("answer", "struct"), [
    (answers.RunOutcome, responses.WorkflowResult),
    (answers.StartAnswer, responses.StartWorkflowResponse),
    (answers.WorkflowTaskAnswer, completions.CompleteWorkflowTaskResponse),
    (answers.RefusedStep, completions.WorkflowStepAnswer),
    (answers.ActivityResultAnswer, completions.CompleteActivityTaskResponse),
    (answers.UpdateAnswer, responses.UpdateOutcome),
    (answers.Description, responses.WorkflowDescription),
])
def test_every_key_of_an_answer_is_a_field_of_its_struct(answer: type,
                                                         struct: type[msgspec.Struct]) -> None:
    assert set(answer.__annotations__) <= set(_fields(struct))


@pytest.mark.parametrize(("outgoing", "struct"), [
    (answers.OutgoingWorkflowTask, tasks.WorkflowTask),
    (answers.StoredHistory, history.History),
])
def test_a_struct_sent_with_stored_events_has_the_documented_fields(
        outgoing: type[msgspec.Struct], struct: type[msgspec.Struct]) -> None:
    assert _fields(outgoing) == _fields(struct)
    assert outgoing.__struct_config__.tag == struct.__struct_config__.tag


def test_a_workflow_task_with_stored_events_decodes_as_the_documented_task() -> None:
    event = (b'{"event_id":1,"event_type":"WORKFLOW_EXECUTION_STARTED",'
             b'"timestamp":"2026-01-01T00:00:00Z","attributes":{"workflow_type":"W",'
             b'"task_queue":"q","input":[],"header":{},"attempt":1,"first_run_id":"r"}}')
    sent = answers.OutgoingWorkflowTask(
        token="1.1", namespace="default", workflow_id="w", run_id="r", workflow_type="W",
        task_queue="q", attempt=1, previous_upto=0, started_event_id=3, started_time=1.0,
        events=[msgspec.Raw(event)], updates=[])
    got = msgspec.json.decode(msgspec.json.encode(sent), type=tasks.Task)
    assert isinstance(got, tasks.WorkflowTask)
    assert got.events[0].event_id == 1 and got.events[0].attributes.workflow_type == "W"
